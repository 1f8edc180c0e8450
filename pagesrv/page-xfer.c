/* page-xfer: connection, bounded message I/O, and the client half (see page-xfer.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>

#include "page-xfer-int.h"

#define PG PGS_PAGE_SIZE
#define PE_KNOWN (PGS_PE_PRESENT | PGS_PE_LAZY | PGS_PE_PARENT | PGS_PE_RAW)
/* 4M entries: 256 GiB of 64 KiB frames; a server that sends more is lying */
#define MAX_INDEX_ENTRIES (1u << 22)

int pxf_conn_create(struct pxf_conn **cp, int fd, int timeout_ms)
{
	struct pxf_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	c->next_tag = 1;
	*cp = c;
	return 0;
}

void pxf_conn_free(struct pxf_conn *c)
{
	if (!c)
		return;
	frame_codec_free(c->codec);
	free(c->rbuf);
	free(c->wbuf);
	free(c->items);
	free(c->dbuf);
	free(c);
}

const char *pxf_last_error(const struct pxf_conn *c)
{
	return c->err[0] ? c->err : "no error";
}

int pxf_fail(struct pxf_conn *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return err;
}

uint32_t pxf_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

uint64_t pxf_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline (0: none) passes. */
static int wait_fd(struct pxf_conn *c, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = c->fd, .events = events};
	int ret, left = -1;

	for (;;) {
		if (deadline) {
			int64_t d = deadline - now_ms();

			if (d <= 0)
				return pxf_fail(c, -ETIMEDOUT, "the peer did not %s within %d ms",
						events == POLLIN ? "send" : "receive",
						c->timeout_ms);
			left = d > 1 << 30 ? 1 << 30 : (int)d;
		}
		ret = poll(&pfd, 1, left);
		if (ret > 0)
			return 0;
		if (ret < 0 && errno != EINTR)
			return pxf_fail(c, -errno, "poll: %s", strerror(errno));
	}
}

/* Reads exactly len bytes. *got counts what arrived, so a caller can tell a clean end. */
static int read_full(struct pxf_conn *c, void *buf, size_t len, int64_t deadline, size_t *got)
{
	uint8_t *p = buf;
	int ret;

	*got = 0;
	while (*got < len) {
		ssize_t n;

		ret = wait_fd(c, POLLIN, deadline);
		if (ret)
			return ret;
		n = recv(c->fd, p + *got, len - *got, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return pxf_fail(c, -errno, "recv: %s", strerror(errno));
		if (n == 0) {
			c->peer_closed = true;
			return pxf_fail(c, -ECONNRESET,
					"the peer closed the connection mid-message");
		}
		*got += n;
	}
	return 0;
}

static int write_full(struct pxf_conn *c, const void *buf, size_t len)
{
	int64_t deadline = c->timeout_ms ? now_ms() + c->timeout_ms : 0;
	const uint8_t *p = buf;
	int ret;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ret = wait_fd(c, POLLOUT, deadline);
			if (ret)
				return ret;
			continue;
		}
		if (n < 0)
			return pxf_fail(c, errno == EPIPE ? -ECONNRESET : -errno, "send: %s",
					strerror(errno));
		p += n;
		len -= n;
	}
	return 0;
}

/* The largest payload each type may have: checked before a byte of it is read. */
static uint32_t max_payload(uint16_t type)
{
	switch (type) {
	case PXF_HELLO:
	case PXF_HELLO_OK:
		return 256;
	case PXF_GET_INDEX:
		return 8;
	case PXF_INDEX:
		return 8 + 16 * PXF_MAX_INDEX_CHUNK;
	case PXF_GET_PAGES:
		return 24;
	case PXF_PAGES:
		return PXF_MAX_PAGES_PAYLOAD;
	case PXF_ERROR:
		return 8 + PXF_MAX_ERROR_TEXT;
	case PXF_PUT_FILE:
		return 16 + PXF_MAX_NAME + PXF_MAX_PUT_DATA;
	case PXF_PUT_OK:
		return 8;
	default:
		return 0;
	}
}

int pxf_recv(struct pxf_conn *c, struct pxf_msg *m, bool allow_eof)
{
	int64_t deadline = c->timeout_ms ? now_ms() + c->timeout_ms : 0;
	uint8_t hdr[PXF_HDR_SIZE];
	size_t got;
	int ret;

	c->peer_error = false;
	c->peer_closed = false;
	ret = read_full(c, hdr, sizeof(hdr), deadline, &got);
	/* a clean end between messages is no error; a reset (a link that broke) is */
	if (ret == -ECONNRESET && got == 0 && allow_eof && c->peer_closed) {
		c->err[0] = 0;
		return 0;
	}
	if (ret)
		return ret;
	if (pxf_get32(hdr) != PXF_MAGIC)
		return pxf_fail(c, -EBADMSG, "not a page-xfer message (magic 0x%08x)",
				pxf_get32(hdr));
	m->type = hdr[4] | hdr[5] << 8;
	m->flags = hdr[6] | hdr[7] << 8;
	m->len = pxf_get32(hdr + 8);
	m->tag = pxf_get64(hdr + 12);
	if (!max_payload(m->type))
		return pxf_fail(c, -EBADMSG, "unknown message type %u", m->type);
	if (m->flags & ~(m->type == PXF_INDEX ? PXF_F_MORE : 0))
		return pxf_fail(c, -EBADMSG, "message type %u with flags 0x%x", m->type, m->flags);
	if (m->len > max_payload(m->type))
		return pxf_fail(c, -EBADMSG, "message type %u of %u bytes (at most %u)", m->type,
				m->len, max_payload(m->type));
	if (m->len > c->rcap) {
		uint8_t *nb = realloc(c->rbuf, m->len);

		if (!nb)
			return pxf_fail(c, -ENOMEM, "out of memory");
		c->rbuf = nb;
		c->rcap = m->len;
	}
	ret = read_full(c, c->rbuf, m->len, deadline, &got);
	if (ret)
		return ret;
	m->p = c->rbuf;
	c->rlen = m->len;
	return 1;
}

static bool grow_w(struct pxf_conn *c, size_t n)
{
	size_t ncap;
	uint8_t *nb;

	if (c->wlen + n <= c->wcap)
		return true;
	ncap = c->wcap ? c->wcap : 4096;
	while (ncap < c->wlen + n)
		ncap *= 2;
	nb = realloc(c->wbuf, ncap);
	if (!nb)
		return false;
	c->wbuf = nb;
	c->wcap = ncap;
	return true;
}

void pxf_begin(struct pxf_conn *c, uint16_t type, uint16_t flags, uint64_t tag)
{
	c->wlen = 0;
	pxf_put32(c, PXF_MAGIC);
	pxf_put32(c, type | (uint32_t)flags << 16);
	pxf_put32(c, 0); /* len, set by pxf_end */
	pxf_put64(c, tag);
}

void *pxf_reserve(struct pxf_conn *c, size_t n)
{
	void *p;

	if (c->wlen == SIZE_MAX)
		return NULL;
	if (!grow_w(c, n)) {
		c->wlen = SIZE_MAX; /* remembered until pxf_end */
		return NULL;
	}
	p = c->wbuf + c->wlen;
	c->wlen += n;
	return p;
}

void pxf_put32(struct pxf_conn *c, uint32_t v)
{
	void *p = pxf_reserve(c, 4);

	v = htole32(v);
	if (p)
		memcpy(p, &v, 4);
}

void pxf_put64(struct pxf_conn *c, uint64_t v)
{
	void *p = pxf_reserve(c, 8);

	v = htole64(v);
	if (p)
		memcpy(p, &v, 8);
}

size_t pxf_mark(const struct pxf_conn *c)
{
	return c->wlen;
}

void pxf_patch32(struct pxf_conn *c, size_t at, uint32_t v)
{
	if (c->wlen == SIZE_MAX)
		return;
	v = htole32(v);
	memcpy(c->wbuf + at, &v, 4);
}

void pxf_truncate(struct pxf_conn *c, size_t at)
{
	if (c->wlen != SIZE_MAX && at <= c->wlen)
		c->wlen = at;
}

int pxf_end(struct pxf_conn *c)
{
	if (c->wlen == SIZE_MAX)
		return pxf_fail(c, -ENOMEM, "out of memory building a message");
	pxf_patch32(c, 8, c->wlen - PXF_HDR_SIZE);
	return write_full(c, c->wbuf, c->wlen);
}

int pxf_send_error(struct pxf_conn *c, uint64_t tag, int err, const char *text)
{
	size_t n = text ? strlen(text) : 0;
	void *p;

	if (n > PXF_MAX_ERROR_TEXT)
		n = PXF_MAX_ERROR_TEXT;
	if (err <= 0 || err > 4095)
		err = EIO;
	pxf_begin(c, PXF_ERROR, 0, tag);
	pxf_put32(c, err);
	pxf_put32(c, n);
	p = pxf_reserve(c, n);
	if (p && n)
		memcpy(p, text, n);
	return pxf_end(c);
}

int pxf_take_error(struct pxf_conn *c, const struct pxf_msg *m)
{
	uint32_t err, n;

	if (m->len < 8)
		return pxf_fail(c, -EBADMSG, "ERROR message of %u bytes", m->len);
	err = pxf_get32(m->p);
	n = pxf_get32(m->p + 4);
	if (!err || err > 4095 || n > PXF_MAX_ERROR_TEXT || m->len != 8 + n)
		return pxf_fail(c, -EBADMSG, "malformed ERROR message");
	pxf_fail(c, -(int)err, "the peer says: %.*s (%s)", (int)n, (const char *)m->p + 8,
		 strerror(err));
	c->peer_error = true;
	return -(int)err;
}

/* The next message, which must answer tag with type (or be an ERROR for it). */
static int recv_answer(struct pxf_conn *c, uint64_t tag, uint16_t type, struct pxf_msg *m)
{
	int ret = pxf_recv(c, m, false);

	if (ret < 0)
		return ret;
	if (m->tag != tag)
		return pxf_fail(c, -EBADMSG, "answer for tag %llu, expected %llu",
				(unsigned long long)m->tag, (unsigned long long)tag);
	if (m->type == PXF_ERROR)
		return pxf_take_error(c, m);
	if (m->type != type)
		return pxf_fail(c, -EBADMSG, "message type %u, expected %u", m->type, type);
	return 0;
}

int pxf_hello(struct pxf_conn *c, const uint8_t *uuid)
{
	uint64_t tag = c->next_tag++;
	struct pxf_msg m;
	void *p;
	int ret;

	pxf_begin(c, PXF_HELLO, 0, tag);
	pxf_put32(c, PXF_VERSION);
	pxf_put32(c, PG);
	p = pxf_reserve(c, PGS_UUID_LEN);
	if (p)
		memcpy(p, uuid, PGS_UUID_LEN);
	ret = pxf_end(c);
	if (ret)
		return ret;
	ret = recv_answer(c, tag, PXF_HELLO_OK, &m);
	if (ret)
		return ret;
	if (m.len < 4)
		return pxf_fail(c, -EBADMSG, "HELLO_OK of %u bytes", m.len);
	if (pxf_get32(m.p) != PXF_VERSION)
		return pxf_fail(c, -EPROTO, "the server speaks version %u, this is version %u",
				pxf_get32(m.p), PXF_VERSION);
	if (m.len != 8 + PGS_UUID_LEN)
		return pxf_fail(c, -EBADMSG, "HELLO_OK of %u bytes", m.len);
	if (pxf_get32(m.p + 4) != PG)
		return pxf_fail(c, -EPROTO, "the server's page size is %u", pxf_get32(m.p + 4));
	if (memcmp(m.p + 8, uuid, PGS_UUID_LEN))
		return pxf_fail(c, -ESTALE, "the server serves another dump");
	return 0;
}

static int check_index_entry(struct pxf_conn *c, const struct pgs_entry *e, uint64_t prev_end)
{
	if (!e->nr_pages || e->vaddr % PG || e->vaddr > UINT64_MAX - (uint64_t)e->nr_pages * PG)
		return pxf_fail(c, -EBADMSG, "index entry at 0x%llx: bad range",
				(unsigned long long)e->vaddr);
	if (e->vaddr < prev_end)
		return pxf_fail(c, -EBADMSG, "index entry at 0x%llx overlaps or is out of order",
				(unsigned long long)e->vaddr);
	if ((e->flags & ~PE_KNOWN) ||
	    !!(e->flags & PGS_PE_PRESENT) == !!(e->flags & PGS_PE_PARENT) ||
	    ((e->flags & PGS_PE_PRESENT) && e->nr_pages > PGS_MAX_FRAME_PAGES))
		return pxf_fail(c, -EBADMSG, "index entry at 0x%llx: bad flags or size",
				(unsigned long long)e->vaddr);
	return 0;
}

int pxf_get_index(struct pxf_conn *c, uint64_t id, struct pgs_entry **entsp, size_t *nrp)
{
	uint64_t tag = c->next_tag++, prev_end = 0;
	struct pgs_entry *ents = NULL;
	size_t nr = 0, cap = 0;
	struct pxf_msg m;
	int ret;

	pxf_begin(c, PXF_GET_INDEX, 0, tag);
	pxf_put64(c, id);
	ret = pxf_end(c);
	if (ret)
		return ret;
	do {
		uint32_t n, i;

		ret = recv_answer(c, tag, PXF_INDEX, &m);
		if (ret)
			goto out_free;
		ret = -EBADMSG;
		if (m.len < 8 || pxf_get32(m.p + 4)) {
			pxf_fail(c, ret, "malformed INDEX message");
			goto out_free;
		}
		n = pxf_get32(m.p);
		if (n > PXF_MAX_INDEX_CHUNK || m.len != 8 + 16 * n || nr + n > MAX_INDEX_ENTRIES) {
			pxf_fail(c, ret, "INDEX of %u entries in %u bytes", n, m.len);
			goto out_free;
		}
		if (nr + n > cap) {
			struct pgs_entry *ne;

			cap = nr + n > 2 * cap ? nr + n : 2 * cap;
			ne = realloc(ents, cap * sizeof(*ne));
			if (!ne) {
				ret = pxf_fail(c, -ENOMEM, "out of memory");
				goto out_free;
			}
			ents = ne;
		}
		for (i = 0; i < n; i++) {
			const uint8_t *q = m.p + 8 + 16 * i;
			struct pgs_entry *e = &ents[nr];

			memset(e, 0, sizeof(*e));
			e->vaddr = pxf_get64(q);
			e->nr_pages = pxf_get32(q + 8);
			e->flags = pxf_get32(q + 12);
			ret = check_index_entry(c, e, prev_end);
			if (ret)
				goto out_free;
			prev_end = e->vaddr + (uint64_t)e->nr_pages * PG;
			nr++;
		}
	} while (m.flags & PXF_F_MORE);
	*entsp = ents;
	*nrp = nr;
	return 0;

out_free:
	free(ents);
	return ret;
}

int pxf_send_get_pages(struct pxf_conn *c, uint64_t tag, uint64_t id, uint64_t vaddr,
		       uint32_t nr_pages)
{
	if (!nr_pages || nr_pages > PXF_MAX_REQ_PAGES || vaddr % PG ||
	    vaddr > UINT64_MAX - (uint64_t)nr_pages * PG)
		return pxf_fail(c, -EINVAL, "bad page range");
	pxf_begin(c, PXF_GET_PAGES, 0, tag);
	pxf_put64(c, id);
	pxf_put64(c, vaddr);
	pxf_put32(c, nr_pages);
	pxf_put32(c, 0);
	return pxf_end(c);
}

/* One item of a PAGES answer against the rules; cur is where the previous one ended. */
static int check_item(struct pxf_conn *c, const struct pxf_item *it, bool first, uint64_t vaddr,
		      uint64_t cur, uint64_t end)
{
	uint64_t bytes = (uint64_t)it->nr_pages * PG;

	if (!it->nr_pages || it->vaddr % PG || it->vaddr > UINT64_MAX - bytes)
		return pxf_fail(c, -EBADMSG, "item at 0x%llx: bad range",
				(unsigned long long)it->vaddr);
	/* tiling: each item starts where the last ended; only a first frame may start earlier */
	if (!(it->vaddr == cur || (first && it->kind != PXF_ITEM_HOLE && it->vaddr < vaddr)) ||
	    it->vaddr + bytes <= cur)
		return pxf_fail(c, -EBADMSG, "item at 0x%llx does not continue at 0x%llx",
				(unsigned long long)it->vaddr, (unsigned long long)cur);
	if (it->kind == PXF_ITEM_HOLE) {
		if (it->len || it->csum || it->vaddr + bytes > end)
			return pxf_fail(c, -EBADMSG, "hole at 0x%llx: bad length or extent",
					(unsigned long long)it->vaddr);
		return 0;
	}
	if (it->nr_pages > PGS_MAX_FRAME_PAGES || !it->len ||
	    (it->kind == PXF_ITEM_RAW ? it->len != bytes : it->len >= bytes))
		return pxf_fail(c, -EBADMSG, "frame at 0x%llx: %u bytes for %u pages",
				(unsigned long long)it->vaddr, it->len, it->nr_pages);
	return 0;
}

int pxf_recv_pages(struct pxf_conn *c, uint64_t tag, uint64_t vaddr, uint32_t nr_pages,
		   struct pxf_pages *pp)
{
	uint64_t end = vaddr + (uint64_t)nr_pages * PG, cur = vaddr;
	size_t off = 8, nr, i;
	struct pxf_msg m;
	int ret;

	ret = recv_answer(c, tag, PXF_PAGES, &m);
	if (ret)
		return ret;
	if (m.len < 8 || pxf_get32(m.p + 4))
		return pxf_fail(c, -EBADMSG, "malformed PAGES message");
	nr = pxf_get32(m.p);
	if (nr > (m.len - 8) / PXF_ITEM_SIZE || nr > 2 * (size_t)nr_pages + 2)
		return pxf_fail(c, -EBADMSG, "PAGES with %zu items in %u bytes", nr, m.len);
	if (nr > c->icap) {
		struct pxf_item *ni = realloc(c->items, nr * sizeof(*ni));

		if (!ni)
			return pxf_fail(c, -ENOMEM, "out of memory");
		c->items = ni;
		c->icap = nr;
	}
	for (i = 0; i < nr; i++) {
		struct pxf_item *it = &c->items[i];
		const uint8_t *q = m.p + off;

		if (cur >= end)
			return pxf_fail(c, -EBADMSG, "items past the end of the range");
		if (m.len - off < PXF_ITEM_SIZE)
			return pxf_fail(c, -EBADMSG, "item %zu cut short", i);
		it->vaddr = pxf_get64(q);
		it->nr_pages = pxf_get32(q + 8);
		it->kind = q[12] | q[13] << 8;
		it->len = pxf_get32(q + 16);
		it->csum = pxf_get32(q + 20);
		if (it->kind > PXF_ITEM_RAW || q[14] || q[15])
			return pxf_fail(c, -EBADMSG, "item %zu of unknown kind", i);
		off += PXF_ITEM_SIZE;
		if (it->len > m.len - off)
			return pxf_fail(c, -EBADMSG, "item %zu runs past the message", i);
		ret = check_item(c, it, i == 0, vaddr, cur, end);
		if (ret)
			return ret;
		it->data = m.p + off;
		off += it->len;
		cur = it->vaddr + (uint64_t)it->nr_pages * PG;
	}
	if (cur < end)
		return pxf_fail(c, -EBADMSG, "items end at 0x%llx, before the range does",
				(unsigned long long)cur);
	if (off != m.len)
		return pxf_fail(c, -EBADMSG, "%zu bytes after the last item", m.len - off);
	pp->nr = nr;
	pp->items = c->items;
	return 0;
}

static int decode_item(const struct pxf_item *it, void *dst, struct frame_codec *codec, char *err,
		       size_t errlen)
{
	size_t dlen = (size_t)it->nr_pages * PG;
	int ret;

	if (frame_csum(it->data, it->len) != it->csum) {
		snprintf(err, errlen, "frame at 0x%llx fails its checksum",
			 (unsigned long long)it->vaddr);
		return -EBADMSG;
	}
	ret = frame_decode(codec, it->data, it->len, it->kind == PXF_ITEM_RAW, dst, dlen);
	if (ret)
		snprintf(err, errlen, "frame at 0x%llx does not decode",
			 (unsigned long long)it->vaddr);
	return ret;
}

int pxf_decode_items(const struct pxf_item *items, size_t nr, uint64_t vaddr, uint32_t nr_pages,
		     void *dst, struct frame_codec *codec, uint8_t *dbuf, char *err, size_t errlen)
{
	uint64_t end = vaddr + (uint64_t)nr_pages * PG;
	uint8_t *out = dst;
	bool data = false;
	size_t i;
	int ret;

	for (i = 0; i < nr; i++)
		data |= items[i].kind != PXF_ITEM_HOLE;
	if (!data)
		return 0;
	for (i = 0; i < nr; i++) {
		const struct pxf_item *it = &items[i];
		uint64_t it_end = it->vaddr + (uint64_t)it->nr_pages * PG;
		uint64_t from = it->vaddr > vaddr ? it->vaddr : vaddr;
		uint64_t to = it_end < end ? it_end : end;

		if (it->kind == PXF_ITEM_HOLE) {
			memset(out + (from - vaddr), 0, to - from);
			continue;
		}
		if (from == it->vaddr && to == it_end) {
			ret = decode_item(it, out + (from - vaddr), codec, err, errlen);
		} else {
			ret = decode_item(it, dbuf, codec, err, errlen);
			if (!ret)
				memcpy(out + (from - vaddr), dbuf + (from - it->vaddr), to - from);
		}
		if (ret)
			return ret;
	}
	return 1;
}

int pxf_pages_decode(struct pxf_conn *c, const struct pxf_pages *p, uint64_t vaddr,
		     uint32_t nr_pages, void *dst)
{
	int ret;

	if (!c->codec) {
		ret = frame_codec_create(&c->codec, 0);
		if (ret)
			return pxf_fail(c, ret, "cannot make a decoder");
	}
	if (!c->dbuf) {
		c->dbuf = malloc(PGS_MAX_FRAME_PAGES * PG);
		if (!c->dbuf)
			return pxf_fail(c, -ENOMEM, "out of memory");
	}
	return pxf_decode_items(p->items, p->nr, vaddr, nr_pages, dst, c->codec, c->dbuf, c->err,
				sizeof(c->err));
}

int pxf_read(struct pxf_conn *c, uint64_t id, uint64_t vaddr, unsigned long nr_pages, void *dst)
{
	uint64_t tag = c->next_tag++;
	struct pxf_pages p;
	int ret;

	if (nr_pages > PXF_MAX_REQ_PAGES)
		return pxf_fail(c, -EINVAL, "more than %u pages in one request", PXF_MAX_REQ_PAGES);
	ret = pxf_send_get_pages(c, tag, id, vaddr, nr_pages);
	if (ret)
		return ret;
	ret = pxf_recv_pages(c, tag, vaddr, nr_pages, &p);
	if (ret)
		return ret;
	return pxf_pages_decode(c, &p, vaddr, nr_pages, dst);
}
