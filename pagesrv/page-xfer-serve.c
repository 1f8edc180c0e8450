/* page-xfer: the server half. Answers from a page store without decoding: frames go out as they
 * are stored, with their checksums, and the client checks them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "page-xfer-int.h"

#define PG PGS_PAGE_SIZE

/* The HELLO checks both kinds of server share: want is the dump this server serves (NULL: any,
 * a receiving server), got (if not NULL) takes the client's uuid. */
static int accept_hello(struct pxf_conn *c, const uint8_t *want, uint8_t *got)
{
	struct pxf_msg m;
	char text[128];
	void *p;
	int ret;

	ret = pxf_recv(c, &m, false);
	if (ret < 0)
		return ret;
	if (m.type != PXF_HELLO || m.len < 4) {
		pxf_send_error(c, m.tag, EINVAL, "expected HELLO");
		return pxf_fail(c, -EBADMSG, "the client did not start with HELLO");
	}
	if (pxf_get32(m.p) != PXF_VERSION) {
		snprintf(text, sizeof(text), "version %u is not spoken here (version %u)",
			 pxf_get32(m.p), PXF_VERSION);
		pxf_send_error(c, m.tag, EPROTO, text);
		return pxf_fail(c, -EPROTO, "client speaks version %u", pxf_get32(m.p));
	}
	if (m.len != 8 + PGS_UUID_LEN) {
		pxf_send_error(c, m.tag, EINVAL, "malformed HELLO");
		return pxf_fail(c, -EBADMSG, "HELLO of %u bytes", m.len);
	}
	if (pxf_get32(m.p + 4) != PG) {
		pxf_send_error(c, m.tag, EPROTO, "page size differs");
		return pxf_fail(c, -EPROTO, "client page size %u", pxf_get32(m.p + 4));
	}
	if (want && memcmp(m.p + 8, want, PGS_UUID_LEN)) {
		pxf_send_error(c, m.tag, ESTALE, "these images belong to another dump");
		return pxf_fail(c, -ESTALE, "the client asks for another dump");
	}
	if (got)
		memcpy(got, m.p + 8, PGS_UUID_LEN);
	pxf_begin(c, PXF_HELLO_OK, 0, m.tag);
	pxf_put32(c, PXF_VERSION);
	pxf_put32(c, PG);
	p = pxf_reserve(c, PGS_UUID_LEN);
	if (p)
		memcpy(p, m.p + 8, PGS_UUID_LEN);
	return pxf_end(c);
}

int pxf_accept_hello(struct pxf_conn *c, const uint8_t *uuid)
{
	return accept_hello(c, uuid, NULL);
}

int pxf_accept_hello_any(struct pxf_conn *c, uint8_t *uuid_out)
{
	return accept_hello(c, NULL, uuid_out);
}

int pxf_recv_request(struct pxf_conn *c, struct pxf_msg *m)
{
	int ret = pxf_recv(c, m, true);

	if (ret == -EBADMSG) { /* tell the client why before the caller closes */
		char why[sizeof(c->err)];

		memcpy(why, c->err, sizeof(why));
		pxf_send_error(c, 0, EINVAL, why);
		memcpy(c->err, why, sizeof(why));
	}
	return ret;
}

static int serve_index(struct pxf_conn *c, uint64_t tag, const struct pxf_backend *b)
{
	size_t n = b->ops->nr_entries(b->priv), i = 0;
	int ret;

	do {
		size_t chunk = n - i > PXF_MAX_INDEX_CHUNK ? PXF_MAX_INDEX_CHUNK : n - i, k;

		pxf_begin(c, PXF_INDEX, i + chunk < n ? PXF_F_MORE : 0, tag);
		pxf_put32(c, chunk);
		pxf_put32(c, 0);
		for (k = 0; k < chunk; k++) {
			const struct pgs_entry *e = b->ops->entry(b->priv, i + k);

			pxf_put64(c, e->vaddr);
			pxf_put32(c, e->nr_pages);
			pxf_put32(c, e->flags);
		}
		ret = pxf_end(c);
		if (ret)
			return ret;
		i += chunk;
	} while (i < n);
	return 0;
}

/* The first entry that ends above vaddr. */
static size_t first_entry(const struct pxf_backend *b, uint64_t vaddr)
{
	size_t lo = 0, hi = b->ops->nr_entries(b->priv);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pgs_entry *e = b->ops->entry(b->priv, mid);

		if (e->vaddr + (uint64_t)e->nr_pages * PG <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void put_item(struct pxf_conn *c, uint64_t vaddr, uint32_t nr, uint32_t kind, uint32_t len,
		     uint32_t csum)
{
	pxf_put64(c, vaddr);
	pxf_put32(c, nr);
	pxf_put32(c, kind); /* u16 kind, u16 0 */
	pxf_put32(c, len);
	pxf_put32(c, csum);
}

/* One present entry as an item: header, then the backend's bytes, checked, then the header's
 * kind, length and checksum filled in. 0, or -errno with text set. */
static int put_frame(struct pxf_conn *c, const struct pxf_backend *b, size_t k,
		     const struct pgs_entry *e, char *text, size_t tlen)
{
	size_t at = pxf_mark(c), cap = (size_t)e->nr_pages * PG;
	uint32_t csum = 0;
	bool raw = false;
	void *data;
	ssize_t n;

	put_item(c, e->vaddr, e->nr_pages, 0, 0, 0);
	data = pxf_reserve(c, cap);
	if (!data)
		return 0; /* pxf_end reports the lack of memory */
	n = b->ops->read_stored(b->priv, k, data, cap, &raw, &csum);
	if (n < 0 || n == 0 || (size_t)n > cap || (raw ? (size_t)n != cap : (size_t)n >= cap)) {
		snprintf(text, tlen, "cannot read the frame at 0x%llx",
			 (unsigned long long)e->vaddr);
		return n < 0 ? (int)n : -EIO;
	}
	pxf_patch32(c, at + 12, raw ? PXF_ITEM_RAW : PXF_ITEM_ZSTD);
	pxf_patch32(c, at + 16, (uint32_t)n);
	pxf_patch32(c, at + 20, csum);
	pxf_truncate(c, at + PXF_ITEM_SIZE + n);
	return 0;
}

static int serve_pages(struct pxf_conn *c, uint64_t tag, const struct pxf_backend *b,
		       uint64_t vaddr, uint32_t nr_pages)
{
	uint64_t end = vaddr + (uint64_t)nr_pages * PG, cur = vaddr;
	size_t n = b->ops->nr_entries(b->priv), k, first = first_entry(b, vaddr), count_at;
	uint32_t items = 0;
	char text[96];
	int ret;

	for (k = first; k < n && b->ops->entry(b->priv, k)->vaddr < end; k++) {
		const struct pgs_entry *e = b->ops->entry(b->priv, k);

		if (!(e->flags & PGS_PE_PRESENT)) {
			snprintf(text, sizeof(text), "pages at 0x%llx are in the parent image set",
				 (unsigned long long)e->vaddr);
			return pxf_send_error(c, tag, ENOENT, text);
		}
	}
	pxf_begin(c, PXF_PAGES, 0, tag);
	count_at = pxf_mark(c);
	pxf_put32(c, 0); /* nr_items, patched below */
	pxf_put32(c, 0);
	for (k = first; k < n && b->ops->entry(b->priv, k)->vaddr < end; k++) {
		const struct pgs_entry *e = b->ops->entry(b->priv, k);

		if (e->vaddr > cur) {
			put_item(c, cur, (e->vaddr - cur) / PG, PXF_ITEM_HOLE, 0, 0);
			items++;
		}
		ret = put_frame(c, b, k, e, text, sizeof(text));
		if (ret)
			return pxf_send_error(c, tag, -ret, text);
		items++;
		cur = e->vaddr + (uint64_t)e->nr_pages * PG;
	}
	if (cur < end) {
		put_item(c, cur, (end - cur) / PG, PXF_ITEM_HOLE, 0, 0);
		items++;
	}
	pxf_patch32(c, count_at, items);
	return pxf_end(c);
}

/* pxf_serve's page stores as a backend. */
static size_t store_nr(void *priv)
{
	return pgs_nr_entries(priv);
}

static const struct pgs_entry *store_entry(void *priv, size_t i)
{
	return pgs_entry(priv, i);
}

static ssize_t store_read(void *priv, size_t i, void *dst, size_t cap, bool *raw, uint32_t *csum)
{
	const struct pgs_entry *e = pgs_entry(priv, i);

	*raw = e->flags & PGS_PE_RAW;
	*csum = e->csum;
	return pgs_read_stored(priv, i, dst, cap);
}

static const struct pxf_backend_ops store_ops = {
    .nr_entries = store_nr,
    .entry = store_entry,
    .read_stored = store_read,
};

struct store_lookup {
	pxf_lookup_fn lookup;
	void *arg;
};

static int lookup_store(void *arg, uint64_t id, struct pxf_backend *b)
{
	struct store_lookup *sl = arg;
	struct pgs_ctx *ctx = sl->lookup(sl->arg, id);

	if (!ctx)
		return -ENOENT;
	b->ops = &store_ops;
	b->priv = ctx;
	return 0;
}

int pxf_serve(struct pxf_conn *c, pxf_lookup_fn lookup, void *arg)
{
	struct store_lookup sl = {lookup, arg};

	return pxf_serve_backend(c, lookup_store, &sl);
}

int pxf_serve_backend(struct pxf_conn *c, pxf_backend_lookup_fn lookup, void *arg)
{
	struct pxf_backend b;
	struct pxf_msg m;
	uint64_t id, vaddr;
	uint32_t nr;
	int ret;

	for (;;) {
		ret = pxf_recv_request(c, &m);
		if (ret <= 0)
			return ret;
		switch (m.type) {
		case PXF_GET_INDEX:
			if (m.len != 8)
				goto bad;
			id = pxf_get64(m.p);
			if (lookup(arg, id, &b))
				ret = pxf_send_error(c, m.tag, ENOENT, "no such memory owner");
			else
				ret = serve_index(c, m.tag, &b);
			break;
		case PXF_GET_PAGES:
			if (m.len != 24 || pxf_get32(m.p + 20))
				goto bad;
			id = pxf_get64(m.p);
			vaddr = pxf_get64(m.p + 8);
			nr = pxf_get32(m.p + 16);
			if (!nr || nr > PXF_MAX_REQ_PAGES || vaddr % PG ||
			    vaddr > UINT64_MAX - (uint64_t)nr * PG)
				goto bad;
			if (lookup(arg, id, &b))
				ret = pxf_send_error(c, m.tag, ENOENT, "no such memory owner");
			else
				ret = serve_pages(c, m.tag, &b, vaddr, nr);
			break;
		default:
			goto bad;
		}
		if (ret)
			return ret;
	}
bad:
	pxf_send_error(c, m.tag, EINVAL, "malformed or unexpected request");
	return pxf_fail(c, -EBADMSG, "malformed or unexpected request (type %u, %u bytes)", m.type,
			m.len);
}
