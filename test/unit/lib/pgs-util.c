/* Page-store test helpers: see pgs-util.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img-file.h"
#include "pagemap.pb-c.h"
#include "pgs-util.h"
#include "unit.h"

#define PG PGS_PAGE_SIZE

const uint8_t unit_uuid[PGS_UUID_LEN] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
					 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool is_zero(const uint8_t *p, size_t len)
{
	return !p[0] && !memcmp(p, p + 1, len - 1);
}

/* Hands pages [from, to) of the model to the writer in batches of random size and flags. */
static void add_data(struct model *m, struct pgs_writer *w, size_t from, size_t to, uint64_t *s)
{
	while (from < to) {
		size_t nr = 1 + rnd(s) % 48, i;
		uint32_t flags = rnd(s) % 4 ? PGS_PE_LAZY : 0;

		if (nr > to - from)
			nr = to - from;
		for (i = from; i < from + nr; i++)
			m->lazy[i] = flags;
		UT_OK(pgs_writer_add(w, m->base + from * PG, nr, m->ref + from * PG, flags));
		from += nr;
	}
}

void model_write(struct model *m, int dirfd, const char *id, size_t n, unsigned int frame_pages,
		 uint64_t seed)
{
	model_write_threads(m, dirfd, id, n, frame_pages, seed, 1);
}

void model_write_threads(struct model *m, int dirfd, const char *id, size_t n,
			 unsigned int frame_pages, uint64_t seed, unsigned int threads)
{
	struct pgs_writer_opts o = {.level = 1,
				    .frame_pages = frame_pages,
				    .uuid = unit_uuid,
				    .owner = "pid 1",
				    .threads = threads};
	struct pgs_writer *w = NULL;
	uint64_t s = seed * 2654435761u + 12345;
	size_t p = 0, i;

	memset(m, 0, sizeof(*m));
	m->base = 0x7f0000000000ull + (seed % 7) * PG; /* not always window-aligned */
	m->n = n;
	m->frame_pages = frame_pages ? frame_pages : PGS_DEFAULT_FRAME_PAGES;
	m->ref = calloc(n, PG);
	m->state = calloc(n, 1);
	m->lazy = calloc(n, 1);
	UT_ASSERT(m->ref && m->state && m->lazy);
	UT_OK(pgs_writer_open(&w, dirfd, id, &o));
	while (p < n) {
		size_t len = 1 + rnd(&s) % 160;
		int kind = rnd(&s) % 10;

		if (len > n - p)
			len = n - p;
		if (kind < 2) { /* a gap */
			p += len;
			continue;
		}
		if (kind < 3) { /* unchanged since the parent */
			uint32_t flags = rnd(&s) % 2 ? PGS_PE_LAZY : 0;

			memset(m->state + p, PS_PARENT, len);
			UT_OK(pgs_writer_add_parent(w, m->base + p * PG, len, flags));
			p += len;
			continue;
		}
		for (i = p; i < p + len; i++) {
			uint8_t *pg = m->ref + i * PG;
			uint64_t r = rnd(&s);

			if (r % 8 == 0) {
				m->zero_pages++; /* stays zero: dropped by the writer */
				continue;
			}
			if (kind == 3)
				unit_fill_random(pg, PG, r);
			else
				unit_fill_heaplike(pg, PG, r);
			if (r % 13 == 0) { /* almost zero: one byte set, at the very end */
				memset(pg, 0, PG - 1);
				pg[PG - 1] |= 1;
			}
			if (is_zero(pg, PG)) { /* heap-like data can make a zero page */
				m->zero_pages++;
				continue;
			}
			m->state[i] = PS_DATA;
		}
		add_data(m, w, p, p + len, &s);
		p += len;
	}
	UT_OK(pgs_writer_commit(w, &m->st));
	pgs_writer_free(w);
}

void model_free(struct model *m)
{
	free(m->ref);
	free(m->state);
	free(m->lazy);
}

int model_expect(const struct model *m, size_t page, size_t nr, uint8_t *dst)
{
	bool data = false;
	size_t i;

	for (i = page; i < page + nr; i++) {
		if (m->state[i] == PS_PARENT)
			return -ENOENT;
		if (m->state[i] == PS_DATA)
			data = true;
	}
	if (!data)
		return 0;
	memcpy(dst, m->ref + page * PG, nr * PG);
	return 1;
}

static void check_entries(const struct model *m, struct pgs_ctx *ctx)
{
	size_t n = pgs_nr_entries(ctx), k, i, present = 0, parent = 0, data = 0;
	uint8_t *buf = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG);
	const struct pgs_entry *prev = NULL;
	uint64_t fp = m->frame_pages;

	for (k = 0; k < n; k++) {
		const struct pgs_entry *e = pgs_entry(ctx, k);
		size_t first = (e->vaddr - m->base) / PG;

		UT_NONNULL(e);
		UT_GE(e->vaddr, m->base);
		UT_LE(first + e->nr_pages, m->n);
		if (prev)
			UT_GE(e->vaddr, prev->vaddr + prev->nr_pages * PG);
		if (e->flags & PGS_PE_PARENT) {
			for (i = first; i < first + e->nr_pages; i++)
				UT_EQ(m->state[i], PS_PARENT);
			parent += e->nr_pages;
			prev = e;
			continue;
		}
		UT_ASSERT(e->flags & PGS_PE_PRESENT);
		/* at most frame_pages, inside one aligned window, no gap, one set of flags */
		UT_LE(e->nr_pages, fp);
		UT_EQ(e->vaddr / PG / fp, (e->vaddr / PG + e->nr_pages - 1) / fp);
		UT_OK(pgs_read_frame(ctx, k, buf));
		for (i = first; i < first + e->nr_pages; i++) {
			UT_EQ(m->state[i], PS_DATA);
			UT_EQ(m->lazy[i], e->flags & PGS_PE_LAZY);
			UT_ASSERT(!is_zero(buf + (i - first) * PG, PG));
		}
		UT_MEMEQ(buf, m->ref + first * PG, e->nr_pages * PG);
		if (e->flags & PGS_PE_RAW)
			UT_EQ(e->len, e->nr_pages * PG);
		/* frames are as large as the rules allow: two that could have been one are not */
		if (prev && (prev->flags & PGS_PE_PRESENT) &&
		    prev->vaddr + prev->nr_pages * PG == e->vaddr &&
		    (prev->flags & PGS_PE_LAZY) == (e->flags & PGS_PE_LAZY))
			UT_NE(prev->vaddr / PG / fp, e->vaddr / PG / fp);
		present += e->nr_pages;
		prev = e;
	}
	for (i = 0; i < m->n; i++)
		data += m->state[i] == PS_DATA;
	UT_EQ(present, data);
	UT_EQ(present, m->st.pages_stored);
	UT_EQ(parent, m->st.pages_parent);
	UT_EQ(m->zero_pages, m->st.pages_zero);
	UT_EQ(m->st.pages_seen, present + parent + m->zero_pages);
	UT_EQ(m->st.bytes_raw, present * PG);
	free(buf);
}

static void check_range(const struct model *m, struct pgs_ctx *ctx, size_t page, size_t nr,
			uint8_t *got, uint8_t *want)
{
	int exp, ret;

	memset(got, 0xa5, nr * PG);
	exp = model_expect(m, page, nr, want);
	ret = pgs_read(ctx, m->base + page * PG, nr, got);
	if (ret != exp)
		UT_FAIL("pgs_read(page %zu, %zu pages) returned %s, expected %s", page, nr,
			unit_errno_name(ret), unit_errno_name(exp));
	if (exp == 1)
		UT_MEMEQ(got, want, nr * PG);
	else if (got[0] != 0xa5 || memcmp(got, got + 1, nr * PG - 1))
		UT_FAIL("pgs_read(page %zu, %zu pages) wrote into dst and returned %d", page, nr,
			ret);
}

void model_check(const struct model *m, struct pgs_ctx *ctx, uint64_t seed)
{
	const size_t maxr = 3 * PGS_MAX_FRAME_PAGES;
	uint8_t *got = unit_xmalloc(maxr * PG), *want = unit_xmalloc(maxr * PG);
	uint64_t s = seed + 99;
	size_t i;

	check_entries(m, ctx);
	for (i = 0; i < m->n; i++) {
		long k = pgs_find(ctx, m->base + i * PG);

		if (m->state[i] == PS_HOLE)
			UT_EQ(k, -ENOENT);
		else
			UT_GE(k, 0);
		check_range(m, ctx, i, 1, got, want);
	}
	/* below and above everything */
	UT_EQ(pgs_find(ctx, m->base - PG), -ENOENT);
	UT_EQ(pgs_find(ctx, m->base + m->n * PG), -ENOENT);
	UT_EQ(pgs_read(ctx, m->base - 4 * PG, 4, got), 0);
	for (i = 0; i < 400; i++) {
		size_t nr = 1 + rnd(&s) % (i % 4 ? 40 : maxr), page;

		if (nr > m->n)
			nr = m->n;
		page = rnd(&s) % (m->n - nr + 1);
		check_range(m, ctx, page, nr, got, want);
	}
	free(got);
	free(want);
}

uint8_t *file_read(int dirfd, const char *name, size_t *size)
{
	struct stat st;
	uint8_t *buf;
	int fd;

	fd = openat(dirfd, name, O_RDONLY);
	if (fd < 0)
		UT_FAIL("open %s: %s", name, strerror(errno));
	UT_OK(fstat(fd, &st));
	buf = unit_xmalloc(st.st_size);
	UT_EQ(pread(fd, buf, st.st_size, 0), st.st_size);
	close(fd);
	*size = st.st_size;
	return buf;
}

void file_write(int dirfd, const char *name, const void *buf, size_t size)
{
	int fd;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		UT_FAIL("open %s: %s", name, strerror(errno));
	UT_EQ(write(fd, buf, size), size);
	close(fd);
}

void raw_index_load(struct raw_index *r, int dirfd, const char *id)
{
	ProtobufCMessage *msg;
	struct img_file f;
	PagemapHead *h;
	char name[256];
	size_t cap = 0;

	memset(r, 0, sizeof(*r));
	snprintf(name, sizeof(name), "pagemap-%s.img", id);
	UT_OK(imgf_open_read(&f, dirfd, name, PGS_PAGEMAP_MAGIC));
	UT_OK(imgf_read_one(&f, &pagemap_head__descriptor, &msg));
	h = (PagemapHead *)msg;
	r->page_size = h->page_size;
	r->uuid_len = h->dump_uuid.len < PGS_UUID_LEN ? h->dump_uuid.len : PGS_UUID_LEN;
	memcpy(r->uuid, h->dump_uuid.data, r->uuid_len);
	r->has_frame_pages = h->has_frame_pages;
	r->frame_pages = h->frame_pages;
	r->has_nr_entries = h->has_nr_entries;
	r->nr_entries = h->nr_entries;
	r->has_pages_size = h->has_pages_size;
	r->pages_size = h->pages_size;
	protobuf_c_message_free_unpacked(msg, NULL);
	while (imgf_read_msg(&f, &pagemap_entry__descriptor, &msg) == 1) {
		PagemapEntry *pe = (PagemapEntry *)msg;
		struct raw_entry *e;

		if (r->nr == cap) {
			cap = cap ? cap * 2 : 64;
			r->e = realloc(r->e, cap * sizeof(*r->e));
			UT_NONNULL(r->e);
		}
		e = &r->e[r->nr++];
		e->vaddr = pe->vaddr;
		e->nr_pages = pe->nr_pages;
		e->flags = pe->flags;
		e->has_off = pe->has_off;
		e->off = pe->off;
		e->has_len = pe->has_len;
		e->len = pe->len;
		e->has_csum = pe->has_csum;
		e->csum = pe->csum;
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	imgf_close(&f);
}

void raw_index_store(const struct raw_index *r, int dirfd, const char *id)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	struct img_file f;
	char name[256];
	size_t i;

	snprintf(name, sizeof(name), "pagemap-%s.img", id);
	UT_OK(imgf_open_write(&f, dirfd, name, PGS_PAGEMAP_MAGIC));
	h.page_size = r->page_size;
	h.dump_uuid.len = r->uuid_len;
	h.dump_uuid.data = (uint8_t *)r->uuid;
	h.has_frame_pages = r->has_frame_pages;
	h.frame_pages = r->frame_pages;
	h.has_nr_entries = r->has_nr_entries;
	h.nr_entries = r->nr_entries;
	h.has_pages_size = r->has_pages_size;
	h.pages_size = r->pages_size;
	UT_OK(imgf_write_msg(&f, &h.base));
	for (i = 0; i < r->nr; i++) {
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;
		const struct raw_entry *e = &r->e[i];

		pe.vaddr = e->vaddr;
		pe.nr_pages = e->nr_pages;
		pe.flags = e->flags;
		pe.has_off = e->has_off;
		pe.off = e->off;
		pe.has_len = e->has_len;
		pe.len = e->len;
		pe.has_csum = e->has_csum;
		pe.csum = e->csum;
		UT_OK(imgf_write_msg(&f, &pe.base));
	}
	UT_OK(imgf_commit(&f));
	imgf_close(&f);
}

void raw_index_free(struct raw_index *r)
{
	free(r->e);
	r->e = NULL;
}
