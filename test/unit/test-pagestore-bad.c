/* The page store given damaged, cut, mismatched or lying images: every case is a clean error with
 * a reason, never a crash, never data that is not what was written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img-file.h"
#include "lib/pgs-util.h"
#include "lib/unit.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE

struct fixture {
	char dir[256];
	int dfd;
	struct model m;
	uint8_t *map, *pages; /* the good files */
	size_t map_size, pages_size;
	struct raw_index ri;
};

static void setup(struct fixture *f, size_t n)
{
	f->dfd = unit_mkdtemp(f->dir, sizeof(f->dir));
	model_write(&f->m, f->dfd, "1", n, 0, 21);
	f->map = file_read(f->dfd, "pagemap-1.img", &f->map_size);
	f->pages = file_read(f->dfd, "pages-1.img", &f->pages_size);
	raw_index_load(&f->ri, f->dfd, "1");
	UT_GT(f->ri.nr, 10);
}

static void restore_files(struct fixture *f)
{
	file_write(f->dfd, "pagemap-1.img", f->map, f->map_size);
	file_write(f->dfd, "pages-1.img", f->pages, f->pages_size);
}

static void teardown(struct fixture *f)
{
	model_free(&f->m);
	raw_index_free(&f->ri);
	free(f->map);
	free(f->pages);
	close(f->dfd);
	unit_rmdir(f->dir);
}

/* Opening must fail with err, and say why. */
static void expect_open_error(struct fixture *f, int err, const char *what)
{
	struct pgs_ctx *ctx = NULL;
	const char *why;
	uint64_t off;
	int ret;

	ret = pgs_open_local(&ctx, f->dfd, "1", unit_uuid);
	if (ret != err) {
		pgs_close(ret ? NULL : ctx);
		UT_FAIL("%s: open returned %s, expected %s", what, unit_errno_name(ret),
			unit_errno_name(err));
	}
	why = pgs_last_error(&off);
	UT_NONNULL(why);
	UT_ASSERT(strlen(why) > 10);
}

static int first_present(const struct raw_index *r, size_t from)
{
	size_t i;

	for (i = from; i < r->nr; i++)
		if (r->e[i].flags & PGS_PE_PRESENT)
			return (int)i;
	UT_FAIL("no present entry after %zu", from);
}

static void test_missing(void)
{
	struct fixture f;
	struct pgs_ctx *ctx = NULL;

	setup(&f, 500);
	UT_ERR(pgs_open_local(&ctx, f.dfd, "2", NULL), -ENOENT);
	UT_ASSERT(strstr(pgs_last_error(NULL), "pagemap-2.img"));
	UT_OK(unlinkat(f.dfd, "pages-1.img", 0));
	UT_ERR(pgs_open_local(&ctx, f.dfd, "1", NULL), -ENOENT);
	UT_ASSERT(strstr(pgs_last_error(NULL), "pages-1.img"));
	UT_OK(mkdirat(f.dfd, "pages-1.img", 0700));
	UT_ERR(pgs_open_local(&ctx, f.dfd, "1", NULL), -EBADMSG);
	UT_OK(unlinkat(f.dfd, "pages-1.img", AT_REMOVEDIR));
	teardown(&f);
}

static void test_uuid_mismatch(void)
{
	uint8_t other[PGS_UUID_LEN];
	struct pgs_ctx *ctx = NULL;
	struct fixture f;

	setup(&f, 500);
	memcpy(other, unit_uuid, sizeof(other));
	other[15] ^= 1;
	UT_ERR(pgs_open_local(&ctx, f.dfd, "1", other), -EBADMSG);
	UT_ASSERT(strstr(pgs_last_error(NULL), "another dump"));
	UT_OK(pgs_open_local(&ctx, f.dfd, "1", unit_uuid));
	pgs_close(ctx);
	f.ri.uuid_len = 15;
	raw_index_store(&f.ri, f.dfd, "1");
	expect_open_error(&f, -EBADMSG, "15-byte uuid");
	teardown(&f);
}

static void test_truncated_pages(void)
{
	static const size_t cuts[] = {0, 4, 7, 8, 9, 100};
	struct fixture f;
	size_t i;

	setup(&f, 500);
	for (i = 0; i < UNIT_ARRAY_SIZE(cuts) + 3; i++) {
		size_t len = i < UNIT_ARRAY_SIZE(cuts) ? cuts[i] : f.pages_size - (i - 5) * 1000;

		file_write(f.dfd, "pages-1.img", f.pages, len);
		expect_open_error(&f, -EBADMSG, "truncated pages file");
	}
	file_write(f.dfd, "pages-1.img", f.pages, f.pages_size - 1);
	expect_open_error(&f, -EBADMSG, "pages file one byte short");
	UT_ASSERT(strstr(pgs_last_error(NULL), "truncated"));
	/* one byte too many is no better: not what was written */
	{
		uint8_t *longer = unit_xmalloc(f.pages_size + 1);

		memcpy(longer, f.pages, f.pages_size);
		longer[f.pages_size] = 0;
		file_write(f.dfd, "pages-1.img", longer, f.pages_size + 1);
		expect_open_error(&f, -EBADMSG, "pages file one byte long");
		free(longer);
	}
	teardown(&f);
}

static void test_truncated_index(void)
{
	struct fixture f;
	size_t len;

	setup(&f, 300);
	/* every cut, including those at a record boundary */
	for (len = 0; len < f.map_size; len++) {
		file_write(f.dfd, "pagemap-1.img", f.map, len);
		expect_open_error(&f, -EBADMSG, "truncated index");
	}
	teardown(&f);
}

static void test_bad_headers(void)
{
	struct fixture f;
	uint8_t *buf;

	setup(&f, 300);
	buf = unit_xmalloc(f.pages_size > f.map_size ? f.pages_size : f.map_size);
	memcpy(buf, f.pages, f.pages_size);
	buf[0] ^= 0xff;
	file_write(f.dfd, "pages-1.img", buf, f.pages_size);
	expect_open_error(&f, -EBADMSG, "pages magic");
	memcpy(buf, f.pages, f.pages_size);
	buf[4] = 2;
	file_write(f.dfd, "pages-1.img", buf, f.pages_size);
	expect_open_error(&f, -EPROTO, "pages version");
	restore_files(&f);
	/* the two files swapped */
	file_write(f.dfd, "pagemap-1.img", f.pages, f.pages_size);
	expect_open_error(&f, -EBADMSG, "pages file as index");
	restore_files(&f);
	memcpy(buf, f.map, f.map_size);
	buf[4] = 9;
	file_write(f.dfd, "pagemap-1.img", buf, f.map_size);
	expect_open_error(&f, -EPROTO, "index version");
	free(buf);
	teardown(&f);
}

/* Writes f->ri with one change made by fn, and expects open to refuse it. */
static void lie(struct fixture *f, const char *what, void (*fn)(struct raw_index *r, int i))
{
	struct raw_index r = f->ri;
	int i = first_present(&f->ri, f->ri.nr / 2);

	r.e = unit_xmalloc(f->ri.nr * sizeof(*r.e) + sizeof(*r.e));
	memcpy(r.e, f->ri.e, f->ri.nr * sizeof(*r.e));
	fn(&r, i);
	raw_index_store(&r, f->dfd, "1");
	expect_open_error(f, -EBADMSG, what);
	unit_log("%-40s -> %s", what, pgs_last_error(NULL));
	free(r.e);
}

static void l_overlap(struct raw_index *r, int i)
{
	r->e[i].vaddr = r->e[i - 1].vaddr + (r->e[i - 1].nr_pages - 1) * PG;
}
static void l_unsorted(struct raw_index *r, int i)
{
	struct raw_entry t = r->e[i];

	r->e[i] = r->e[i - 1];
	r->e[i - 1] = t;
}
static void l_duplicate(struct raw_index *r, int i)
{
	r->e[i - 1] = r->e[i];
}
static void l_zero_pages(struct raw_index *r, int i)
{
	r->e[i].nr_pages = 0;
}
static void l_unaligned(struct raw_index *r, int i)
{
	r->e[i].vaddr += 8;
}
static void l_wraps(struct raw_index *r, int i)
{
	r->nr = i + 1;
	r->nr_entries = i + 1;
	r->e[i].vaddr = UINT64_MAX & ~(PG - 1);
}
static void l_too_many_pages(struct raw_index *r, int i)
{
	r->e[i].nr_pages = PGS_MAX_FRAME_PAGES + 1;
	r->e[i].flags |= PGS_PE_RAW;
	r->e[i].len = r->e[i].nr_pages * PG;
}
static void l_len_bound(struct raw_index *r, int i)
{
	r->e[i].len = r->e[i].nr_pages * PG + 1;
}
static void l_len_zero(struct raw_index *r, int i)
{
	r->e[i].len = 0;
}
static void l_raw_len(struct raw_index *r, int i)
{
	r->e[i].flags |= PGS_PE_RAW;
}
static void l_off_past_end(struct raw_index *r, int i)
{
	r->e[i].off = r->pages_size - r->e[i].len + 1;
}
static void l_off_huge(struct raw_index *r, int i)
{
	r->e[i].off = UINT64_MAX - 2;
}
static void l_off_in_header(struct raw_index *r, int i)
{
	r->e[i].off = 4;
}
static void l_no_csum(struct raw_index *r, int i)
{
	r->e[i].has_csum = false;
}
static void l_no_off(struct raw_index *r, int i)
{
	r->e[i].has_off = false;
}
static void l_both(struct raw_index *r, int i)
{
	r->e[i].flags |= PGS_PE_PARENT;
}
static void l_neither(struct raw_index *r, int i)
{
	r->e[i].flags &= ~PGS_PE_PRESENT;
}
static void l_unknown_flag(struct raw_index *r, int i)
{
	r->e[i].flags |= 0x100;
}
static void l_parent_with_frame(struct raw_index *r, int i)
{
	r->e[i].flags = PGS_PE_PARENT;
}
static void l_page_size(struct raw_index *r, int i)
{
	(void)i;
	r->page_size = 65536;
}
static void l_frame_pages(struct raw_index *r, int i)
{
	(void)i;
	r->frame_pages = PGS_MAX_FRAME_PAGES * 2;
}
static void l_count_low(struct raw_index *r, int i)
{
	(void)i;
	r->nr_entries--;
}
static void l_count_high(struct raw_index *r, int i)
{
	(void)i;
	r->nr_entries++;
}
static void l_no_count(struct raw_index *r, int i)
{
	(void)i;
	r->has_nr_entries = false;
}
static void l_pages_size(struct raw_index *r, int i)
{
	(void)i;
	r->pages_size++;
}

static void test_lying_index(void)
{
	static const struct {
		const char *what;
		void (*fn)(struct raw_index *r, int i);
	} lies[] = {
	    {"overlapping entries", l_overlap},
	    {"entries out of order", l_unsorted},
	    {"the same entry twice", l_duplicate},
	    {"entry of zero pages", l_zero_pages},
	    {"unaligned address", l_unaligned},
	    {"entry past the end of the address space", l_wraps},
	    {"frame of more than PGS_MAX_FRAME_PAGES", l_too_many_pages},
	    {"stored length beyond the bound", l_len_bound},
	    {"stored length zero", l_len_zero},
	    {"raw frame of the wrong size", l_raw_len},
	    {"frame past the end of the pages file", l_off_past_end},
	    {"frame offset that wraps", l_off_huge},
	    {"frame inside the header", l_off_in_header},
	    {"present entry without csum", l_no_csum},
	    {"present entry without offset", l_no_off},
	    {"both present and parent", l_both},
	    {"neither present nor parent", l_neither},
	    {"unknown flag", l_unknown_flag},
	    {"parent entry naming a frame", l_parent_with_frame},
	    {"page size", l_page_size},
	    {"frame size in the head", l_frame_pages},
	    {"fewer entries than counted", l_count_low},
	    {"more entries than counted", l_count_high},
	    {"no entry count", l_no_count},
	    {"frames file size", l_pages_size},
	};
	struct pgs_ctx *ctx = NULL;
	struct fixture f;
	size_t i;

	setup(&f, 600);
	/* the unchanged index, rewritten by the test's own writer, is accepted */
	raw_index_store(&f.ri, f.dfd, "1");
	UT_OK(pgs_open_local(&ctx, f.dfd, "1", unit_uuid));
	pgs_close(ctx);
	for (i = 0; i < UNIT_ARRAY_SIZE(lies); i++)
		lie(&f, lies[i].what, lies[i].fn);
	teardown(&f);
}

/* Offsets and checksums that stay inside the file but do not match the frame: found on read. */
static void test_lying_offsets(void)
{
	uint8_t *buf = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG);
	struct pgs_ctx *ctx = NULL;
	struct raw_entry *a, *b;
	struct fixture f;
	int i, j;

	setup(&f, 600);
	i = first_present(&f.ri, 0);
	j = first_present(&f.ri, i + 1);
	a = &f.ri.e[i];
	b = &f.ri.e[j];
	/* entry i points at frame j's bytes (same length so only the content is wrong) */
	a->off = b->off;
	a->len = b->len;
	a->flags = (a->flags & ~PGS_PE_RAW) | (b->flags & PGS_PE_RAW);
	if (a->nr_pages * PG <= a->len)
		a->nr_pages = b->nr_pages;
	raw_index_store(&f.ri, f.dfd, "1");
	UT_OK(pgs_open_local(&ctx, f.dfd, "1", unit_uuid));
	UT_ERR(pgs_read_frame(ctx, i, buf), -EBADMSG);
	UT_ERR(pgs_read(ctx, a->vaddr, 1, buf), -EBADMSG);
	pgs_close(ctx);
	raw_index_free(&f.ri);
	raw_index_load(&f.ri, f.dfd, "1");
	/* a wrong checksum */
	restore_files(&f);
	raw_index_free(&f.ri);
	raw_index_load(&f.ri, f.dfd, "1");
	f.ri.e[j].csum ^= 0x80;
	raw_index_store(&f.ri, f.dfd, "1");
	UT_OK(pgs_open_local(&ctx, f.dfd, "1", unit_uuid));
	UT_ERR(pgs_read_frame(ctx, j, buf), -EBADMSG);
	UT_OK(pgs_read_frame(ctx, i, buf));
	pgs_close(ctx);
	free(buf);
	teardown(&f);
}

/* A flipped byte in every frame: each is caught by its checksum, raw or compressed. */
static void test_corrupted_frames(void)
{
	uint8_t *buf = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG), *bad;
	struct pgs_ctx *ctx = NULL;
	struct fixture f;
	size_t i, raw = 0;

	setup(&f, 800);
	bad = unit_xmalloc(f.pages_size);
	memcpy(bad, f.pages, f.pages_size);
	for (i = 0; i < f.ri.nr; i++) {
		const struct raw_entry *e = &f.ri.e[i];

		if (e->flags & PGS_PE_PRESENT)
			bad[e->off + (i * 131) % e->len] ^= 1 << (i % 8);
	}
	file_write(f.dfd, "pages-1.img", bad, f.pages_size);
	UT_OK(pgs_open_local(&ctx, f.dfd, "1", unit_uuid));
	for (i = 0; i < f.ri.nr; i++) {
		const struct raw_entry *e = &f.ri.e[i];

		if (!(e->flags & PGS_PE_PRESENT))
			continue;
		raw += !!(e->flags & PGS_PE_RAW);
		UT_ERR(pgs_read_frame(ctx, i, buf), -EBADMSG);
		UT_ERR(pgs_read(ctx, e->vaddr, e->nr_pages, buf), -EBADMSG);
		UT_ERR(pgs_read(ctx, e->vaddr + PG * (e->nr_pages - 1), 1, buf), -EBADMSG);
	}
	UT_GT(raw, 0);
	pgs_close(ctx);
	free(bad);
	free(buf);
	teardown(&f);
}

/* Random damage anywhere in the index: refused, or, where it still parses and obeys the rules,
 * reads that stay within their answers. Nothing crashes. */
static void test_index_fuzz(void)
{
	uint8_t *bad, *buf = unit_xmalloc(64 * PG);
	struct fixture f;
	size_t t, refused = 0, opened = 0;
	uint64_t s = 5;

	setup(&f, 300);
	bad = unit_xmalloc(f.map_size);
	for (t = 0; t < 3000; t++) {
		struct pgs_ctx *ctx = NULL;
		size_t k, flips = 1 + t % 3;
		int ret;

		memcpy(bad, f.map, f.map_size);
		for (k = 0; k < flips; k++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			bad[s % f.map_size] ^= (uint8_t)(s >> 32) | 1;
		}
		file_write(f.dfd, "pagemap-1.img", bad, f.map_size);
		ret = pgs_open_local(&ctx, f.dfd, "1", NULL);
		if (ret) {
			if (ret != -EBADMSG && ret != -EPROTO)
				UT_FAIL("open returned %s", unit_errno_name(ret));
			refused++;
			continue;
		}
		opened++;
		for (k = 0; k < pgs_nr_entries(ctx); k++) {
			const struct pgs_entry *e = pgs_entry(ctx, k);
			uint64_t n = e->nr_pages > 64 ? 64 : e->nr_pages;

			ret = pgs_read(ctx, e->vaddr, n, buf);
			if (ret != 1 && ret != -EBADMSG && ret != -ENOENT)
				UT_FAIL("read returned %s", unit_errno_name(ret));
		}
		pgs_close(ctx);
	}
	unit_log("3000 damaged indexes: %zu refused at open, %zu opened (damage in fields "
		 "that still make sense, such as the owner or a checksum)",
		 refused, opened);
	UT_GT(refused, opened);
	free(bad);
	free(buf);
	teardown(&f);
}

/* Rewrites the index with every entry record passed through fn (which may grow it by 16 bytes). */
static void rewrite_records(struct fixture *f, size_t (*fn)(uint8_t *rec, size_t len))
{
	uint8_t *out = unit_xmalloc(f->map_size * 2 + 4096);
	const uint8_t *data;
	struct img_file in;
	size_t n = 8, k = 0;
	uint32_t len;

	UT_OK(imgf_open_mem(&in, f->map, f->map_size, "pagemap-1.img", PGS_PAGEMAP_MAGIC));
	memcpy(out, f->map, 8);
	while (imgf_next_raw(&in, &data, &len) == 1) {
		size_t nl = len;

		memcpy(out + n + 4, data, len);
		if (k++) /* not the head */
			nl = fn(out + n + 4, len);
		out[n] = nl, out[n + 1] = nl >> 8, out[n + 2] = nl >> 16, out[n + 3] = nl >> 24;
		n += 4 + nl;
	}
	imgf_close(&in);
	file_write(f->dfd, "pagemap-1.img", out, n);
	free(out);
}

static size_t r_unknown_field(uint8_t *rec, size_t len)
{
	rec[len] = 15 << 3; /* field 15, varint 1: unknown to this version */
	rec[len + 1] = 1;
	return len + 2;
}

static size_t r_wide_nr_pages(uint8_t *rec, size_t len)
{
	/* nr_pages again (the last one counts), as a 33-bit number */
	memcpy(rec + len, "\x10\x80\x80\x80\x80\x10", 6);
	return len + 6;
}

static size_t r_long_varint(uint8_t *rec, size_t len)
{
	memcpy(rec + len, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11);
	return len + 11;
}

static size_t r_cut_varint(uint8_t *rec, size_t len)
{
	rec[len] = 0x08;
	rec[len + 1] = 0x80;
	return len + 2;
}

static size_t r_no_flags(uint8_t *rec, size_t len)
{
	size_t i = 0, o = 0;

	/* copies every field but 3 (flags), all varints */
	while (i < len) {
		size_t start = i;
		uint8_t key = rec[i++];

		while (rec[i++] & 0x80)
			;
		if (key >> 3 != 3) {
			memmove(rec + o, rec + start, i - start);
			o += i - start;
		}
	}
	return o;
}

/* The short entry parser and the general one must agree: unknown fields are read the general
 * way, anything odd is refused. */
static void test_record_encodings(void)
{
	struct pgs_ctx *ctx = NULL;
	struct fixture f;
	size_t i;

	setup(&f, 400);
	rewrite_records(&f, r_unknown_field);
	UT_OK(pgs_open_local(&ctx, f.dfd, "1", unit_uuid));
	UT_EQ(pgs_nr_entries(ctx), f.ri.nr);
	for (i = 0; i < f.ri.nr; i++) {
		UT_EQ(pgs_entry(ctx, i)->vaddr, f.ri.e[i].vaddr);
		UT_EQ(pgs_entry(ctx, i)->csum, f.ri.e[i].csum);
	}
	model_check(&f.m, ctx, 5);
	pgs_close(ctx);
	rewrite_records(&f, r_wide_nr_pages);
	expect_open_error(&f, -EBADMSG, "33-bit nr_pages");
	rewrite_records(&f, r_long_varint);
	expect_open_error(&f, -EBADMSG, "11-byte varint");
	rewrite_records(&f, r_cut_varint);
	expect_open_error(&f, -EBADMSG, "cut varint");
	rewrite_records(&f, r_no_flags);
	expect_open_error(&f, -EBADMSG, "required field missing");
	teardown(&f);
}

static const struct unit_test tests[] = {
    {"missing images", test_missing, 0},
    {"uuid mismatch", test_uuid_mismatch, 0},
    {"truncated pages file", test_truncated_pages, 0},
    {"index truncated at every length", test_truncated_index, 0},
    {"wrong magic and version", test_bad_headers, 0},
    {"indexes that break a rule", test_lying_index, 0},
    {"offsets and checksums that lie", test_lying_offsets, 0},
    {"corrupted frames", test_corrupted_frames, 0},
    {"random damage to the index", test_index_fuzz, 0},
    {"entry records: unknown fields, wide and cut varints", test_record_encodings, 0},
};

UNIT_MAIN(tests)
