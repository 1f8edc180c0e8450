/* page-xfer: the server half. Answers from a page store without decoding: frames go out as they
 * are stored, with their checksums, and the client checks them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "page-xfer-int.h"

#define PG PGS_PAGE_SIZE

int pxf_accept_hello(struct pxf_conn *c, const uint8_t *uuid)
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
	if (memcmp(m.p + 8, uuid, PGS_UUID_LEN)) {
		pxf_send_error(c, m.tag, ESTALE, "these images belong to another dump");
		return pxf_fail(c, -ESTALE, "the client asks for another dump");
	}
	pxf_begin(c, PXF_HELLO_OK, 0, m.tag);
	pxf_put32(c, PXF_VERSION);
	pxf_put32(c, PG);
	p = pxf_reserve(c, PGS_UUID_LEN);
	if (p)
		memcpy(p, uuid, PGS_UUID_LEN);
	return pxf_end(c);
}

static int serve_index(struct pxf_conn *c, uint64_t tag, struct pgs_ctx *ctx)
{
	size_t n = pgs_nr_entries(ctx), i = 0;
	int ret;

	do {
		size_t chunk = n - i > PXF_MAX_INDEX_CHUNK ? PXF_MAX_INDEX_CHUNK : n - i, k;

		pxf_begin(c, PXF_INDEX, i + chunk < n ? PXF_F_MORE : 0, tag);
		pxf_put32(c, chunk);
		pxf_put32(c, 0);
		for (k = 0; k < chunk; k++) {
			const struct pgs_entry *e = pgs_entry(ctx, i + k);

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
static size_t first_entry(struct pgs_ctx *ctx, uint64_t vaddr)
{
	size_t lo = 0, hi = pgs_nr_entries(ctx);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pgs_entry *e = pgs_entry(ctx, mid);

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

static int serve_pages(struct pxf_conn *c, uint64_t tag, struct pgs_ctx *ctx, uint64_t vaddr,
		       uint32_t nr_pages)
{
	uint64_t end = vaddr + (uint64_t)nr_pages * PG, cur = vaddr;
	size_t n = pgs_nr_entries(ctx), k, first = first_entry(ctx, vaddr), count_at;
	uint32_t items = 0;
	char text[96];
	ssize_t got;

	for (k = first; k < n && pgs_entry(ctx, k)->vaddr < end; k++) {
		if (pgs_entry(ctx, k)->flags & PGS_PE_PARENT) {
			snprintf(text, sizeof(text), "pages at 0x%llx are in the parent image set",
				 (unsigned long long)pgs_entry(ctx, k)->vaddr);
			return pxf_send_error(c, tag, ENOENT, text);
		}
	}
	pxf_begin(c, PXF_PAGES, 0, tag);
	count_at = pxf_mark(c);
	pxf_put32(c, 0); /* nr_items, patched below */
	pxf_put32(c, 0);
	for (k = first; k < n && pgs_entry(ctx, k)->vaddr < end; k++) {
		const struct pgs_entry *e = pgs_entry(ctx, k);
		void *data;

		if (e->vaddr > cur) {
			put_item(c, cur, (e->vaddr - cur) / PG, PXF_ITEM_HOLE, 0, 0);
			items++;
		}
		put_item(c, e->vaddr, e->nr_pages,
			 (e->flags & PGS_PE_RAW) ? PXF_ITEM_RAW : PXF_ITEM_ZSTD, e->len, e->csum);
		items++;
		data = pxf_reserve(c, e->len);
		if (data) {
			got = pgs_read_stored(ctx, k, data, e->len);
			if (got != (ssize_t)e->len) {
				snprintf(text, sizeof(text), "cannot read the frame at 0x%llx",
					 (unsigned long long)e->vaddr);
				return pxf_send_error(c, tag, got < 0 ? (int)-got : EIO, text);
			}
		}
		cur = e->vaddr + (uint64_t)e->nr_pages * PG;
	}
	if (cur < end) {
		put_item(c, cur, (end - cur) / PG, PXF_ITEM_HOLE, 0, 0);
		items++;
	}
	pxf_patch32(c, count_at, items);
	return pxf_end(c);
}

int pxf_serve(struct pxf_conn *c, pxf_lookup_fn lookup, void *arg)
{
	struct pgs_ctx *ctx;
	struct pxf_msg m;
	uint64_t id, vaddr;
	uint32_t nr;
	int ret;

	for (;;) {
		ret = pxf_recv(c, &m, true);
		if (ret == -EBADMSG) { /* tell the client why before the caller closes */
			char why[sizeof(c->err)];

			memcpy(why, c->err, sizeof(why));
			pxf_send_error(c, 0, EINVAL, why);
			memcpy(c->err, why, sizeof(why));
			return ret;
		}
		if (ret <= 0)
			return ret;
		switch (m.type) {
		case PXF_GET_INDEX:
			if (m.len != 8)
				goto bad;
			id = pxf_get64(m.p);
			ctx = lookup(arg, id);
			if (!ctx)
				ret = pxf_send_error(c, m.tag, ENOENT, "no such memory owner");
			else
				ret = serve_index(c, m.tag, ctx);
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
			ctx = lookup(arg, id);
			if (!ctx)
				ret = pxf_send_error(c, m.tag, ENOENT, "no such memory owner");
			else
				ret = serve_pages(c, m.tag, ctx, vaddr, nr);
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
