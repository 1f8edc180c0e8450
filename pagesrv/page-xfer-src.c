/* page-xfer: the server half for memory that is not stored (see pxf_serve_src in page-xfer.h).
 * Every entry asked for is read whole and encoded here, so the frames the client gets are cut
 * exactly as the index says, and their checksums are computed on the bytes sent.
 *
 * Adapting the level: per answer, raw costs len / link and compressed costs len / compressor +
 * ratio * len / link + the client's decoding (about a third of the compressing here). The link's
 * cost per byte is what sending a big answer took (a send that does not block says the link is
 * faster than we are), the compressor's what compressing took; both are averages that move with
 * each measure. Without a measure of the link yet, answers are compressed; every 32nd bulk answer
 * is compressed anyway so that a link that slows down is noticed. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "page-xfer-int.h"

#define PG PGS_PAGE_SIZE

struct src_srv {
	struct pxf_conn *c;
	const struct pxf_src_ops *ops;
	void *arg;
	struct frame_codec *codec;
	bool raw;			    /* this answer goes uncompressed */
	bool fixed_raw;			    /* level PXF_LEVEL_RAW */
	struct pxf_adapt *adapt;	    /* NULL: never raw unless fixed_raw */
	uint8_t *page_buf;		    /* one whole entry, decoded */
	uint64_t comp_t, comp_in, comp_out; /* this answer's compressing */
};

#define ADAPT_MIN_BYTES (256u << 10) /* answers smaller than this say nothing of the link */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A moving average; races between connections lose a sample at worst. */
static void ewma(_Atomic uint64_t *avg, uint64_t v)
{
	uint64_t old = atomic_load(avg);

	atomic_store(avg, old ? (7 * old + 3 * v) / 10 : v);
}

static bool choose_raw(struct src_srv *s, uint32_t nr_pages)
{
	struct pxf_adapt *a = s->adapt;
	uint64_t link, comp, ratio;

	if (s->fixed_raw)
		return true;
	if (!a)
		return false;
	link = atomic_load(&a->link_ps);
	comp = atomic_load(&a->comp_ps);
	ratio = atomic_load(&a->ratio);
	if (!link || !comp)
		return false;
	if (nr_pages * PG >= ADAPT_MIN_BYTES && atomic_fetch_add(&a->answers, 1) % 32 == 31)
		return false; /* measure the compressor and the link again */
	/* raw: link; compressed: compressor + a third of it to decode + ratio * link */
	return link * (1000000 - ratio) / 1000000 < comp * 4 / 3;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int send_index(struct pxf_conn *c, uint64_t tag, const struct pgs_entry *ents, size_t n)
{
	size_t i = 0;
	int ret;

	do {
		size_t chunk = n - i > PXF_MAX_INDEX_CHUNK ? PXF_MAX_INDEX_CHUNK : n - i, k;

		pxf_begin(c, PXF_INDEX, i + chunk < n ? PXF_F_MORE : 0, tag);
		pxf_put32(c, chunk);
		pxf_put32(c, 0);
		for (k = 0; k < chunk; k++) {
			pxf_put64(c, ents[i + k].vaddr);
			pxf_put32(c, ents[i + k].nr_pages);
			pxf_put32(c, PGS_PE_PRESENT | (ents[i + k].flags & PGS_PE_LAZY));
		}
		ret = pxf_end(c);
		if (ret)
			return ret;
		i += chunk;
	} while (i < n);
	return 0;
}

static size_t first_entry(const struct pgs_entry *ents, size_t n, uint64_t vaddr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ents[mid].vaddr + (uint64_t)ents[mid].nr_pages * PG <= vaddr)
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
	pxf_put32(c, kind);
	pxf_put32(c, len);
	pxf_put32(c, csum);
}

/* One entry as one frame item. Returns the number of items added, or -errno with a text for the
 * client in why. */
static int put_entry(struct src_srv *s, uint64_t id, size_t i, const struct pgs_entry *e, char *why,
		     size_t wlen)
{
	size_t len = (size_t)e->nr_pages * PG, hdr;
	bool raw = true;
	uint8_t *dst;
	ssize_t n;
	int ret;

	hdr = pxf_mark(s->c);
	put_item(s->c, e->vaddr, e->nr_pages, 0, 0, 0);
	dst = pxf_reserve(s->c, len);
	if (!dst)
		return 1; /* pxf_end reports the -ENOMEM */
	/* raw answers are read straight into the message: one copy less per byte */
	ret = s->ops->read(s->arg, id, i, s->raw ? dst : s->page_buf);
	if (ret) {
		snprintf(why, wlen, "cannot read the pages at 0x%llx",
			 (unsigned long long)e->vaddr);
		return ret < 0 && ret > -4096 ? ret : -EIO;
	}
	/* zero pages cost nothing to compress; a hole would contradict the index */
	if (s->raw && !all_zero(dst, len)) {
		n = len;
	} else {
		uint64_t t0 = now_ns();

		if (s->raw) /* all zero: compress it from a copy */
			memset(s->page_buf, 0, len);
		n = frame_encode(s->codec, s->page_buf, len, dst, len, &raw);
		if (n < 0) {
			snprintf(why, wlen, "cannot compress the pages at 0x%llx",
				 (unsigned long long)e->vaddr);
			return -EIO;
		}
		s->comp_t += now_ns() - t0;
		s->comp_in += len;
		s->comp_out += n;
	}
	/* give back what compression saved */
	s->c->wlen -= len - n;
	pxf_patch32(s->c, hdr + 12, raw ? PXF_ITEM_RAW : PXF_ITEM_ZSTD);
	pxf_patch32(s->c, hdr + 16, (uint32_t)n);
	pxf_patch32(s->c, hdr + 20, frame_csum(dst, n));
	return 1;
}

static int send_pages(struct src_srv *s, uint64_t tag, uint64_t id, const struct pgs_entry *ents,
		      size_t n, uint64_t vaddr, uint32_t nr_pages)
{
	uint64_t end = vaddr + (uint64_t)nr_pages * PG, cur = vaddr;
	size_t k, count_at;
	uint32_t items = 0, items_pages = 0;
	uint64_t t0;
	size_t sent;
	char why[96];
	int ret;

	s->raw = choose_raw(s, nr_pages);
	s->comp_t = s->comp_in = s->comp_out = 0;
	pxf_begin(s->c, PXF_PAGES, 0, tag);
	count_at = pxf_mark(s->c);
	pxf_put32(s->c, 0);
	pxf_put32(s->c, 0);
	for (k = first_entry(ents, n, vaddr); k < n && ents[k].vaddr < end; k++) {
		const struct pgs_entry *e = &ents[k];

		if (e->vaddr > cur) {
			put_item(s->c, cur, (e->vaddr - cur) / PG, PXF_ITEM_HOLE, 0, 0);
			items++;
		}
		ret = put_entry(s, id, k, e, why, sizeof(why));
		if (ret < 0) /* the answer built so far is dropped: the client gets why */
			return pxf_send_error(s->c, tag, -ret, why);
		items += ret;
		items_pages += e->nr_pages;
		cur = e->vaddr + (uint64_t)e->nr_pages * PG;
	}
	if (cur < end) {
		put_item(s->c, cur, (end - cur) / PG, PXF_ITEM_HOLE, 0, 0);
		items++;
	}
	pxf_patch32(s->c, count_at, items);
	sent = pxf_mark(s->c);
	t0 = now_ns();
	ret = pxf_end(s->c);
	if (!s->adapt || ret)
		return ret;
	atomic_fetch_add(&s->adapt->page_bytes, (uint64_t)items_pages * PG);
	atomic_fetch_add(&s->adapt->wire_bytes, sent);
	if (sent >= ADAPT_MIN_BYTES)
		ewma(&s->adapt->link_ps, (now_ns() - t0) * 1000 / sent + 1);
	if (s->comp_in >= ADAPT_MIN_BYTES) {
		ewma(&s->adapt->comp_ps, s->comp_t * 1000 / s->comp_in + 1);
		ewma(&s->adapt->ratio, s->comp_out * 1000000 / s->comp_in);
	}
	return 0;
}

static int serve_loop(struct src_srv *s)
{
	struct pxf_conn *c = s->c;
	const struct pgs_entry *ents;
	uint64_t id, vaddr;
	struct pxf_msg m;
	size_t n;
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
			if (s->ops->index(s->arg, id, &ents, &n))
				ret = pxf_send_error(c, m.tag, ENOENT, "no such memory owner");
			else
				ret = send_index(c, m.tag, ents, n);
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
			if (s->ops->request)
				s->ops->request(s->arg, id, vaddr, nr);
			if (s->ops->index(s->arg, id, &ents, &n))
				ret = pxf_send_error(c, m.tag, ENOENT, "no such memory owner");
			else
				ret = send_pages(s, m.tag, id, ents, n, vaddr, nr);
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

int pxf_serve_src(struct pxf_conn *c, const struct pxf_src_ops *ops, void *arg, int level,
		  struct pxf_adapt *adapt)
{
	struct src_srv s = {.c = c, .ops = ops, .arg = arg, .fixed_raw = level == PXF_LEVEL_RAW};
	int ret;

	s.adapt = adapt; /* with a fixed level, only its byte counts */
	ret = frame_codec_create(&s.codec, s.fixed_raw ? 1 : level);
	if (ret)
		return pxf_fail(c, ret, "cannot make an encoder (level %d)", level);
	s.page_buf = malloc(PGS_MAX_FRAME_PAGES * PG);
	if (!s.page_buf) {
		frame_codec_free(s.codec);
		return pxf_fail(c, -ENOMEM, "out of memory");
	}
	ret = serve_loop(&s);
	free(s.page_buf);
	frame_codec_free(s.codec);
	return ret;
}
