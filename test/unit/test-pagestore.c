/* The page store, working as meant: the writer's frame rules, reads of frames and of ranges over
 * holes, parent pages and entry boundaries, several threads at once, and numbers for the report. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/pgs-util.h"
#include "lib/unit.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE

static void round_trip(unsigned int frame_pages, size_t n, uint64_t seed)
{
	struct pgs_ctx *ctx = NULL;
	struct model m;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));

	model_write(&m, dfd, "42", n, frame_pages, seed);
	UT_OK(pgs_open_local(&ctx, dfd, "42", unit_uuid));
	model_check(&m, ctx, seed);
	unit_log("frame_pages %u: %zu pages, %llu stored in %llu frames (%llu zero, %llu parent), "
		 "%.3f of raw",
		 m.frame_pages, n, (unsigned long long)m.st.pages_stored,
		 (unsigned long long)m.st.frames, (unsigned long long)m.st.pages_zero,
		 (unsigned long long)m.st.pages_parent,
		 (double)m.st.bytes_stored / (m.st.bytes_raw ? m.st.bytes_raw : 1));
	pgs_close(ctx);
	/* no uuid given: not checked */
	UT_OK(pgs_open_local(&ctx, dfd, "42", NULL));
	pgs_close(ctx);
	model_free(&m);
	close(dfd);
	unit_rmdir(dir);
}

static void test_round_trip_default(void)
{
	round_trip(0, 3000, 1);
	round_trip(0, 3000, 2);
}

static void test_round_trip_frame_sizes(void)
{
	round_trip(1, 1500, 3);
	round_trip(3, 1500, 4);
	round_trip(64, 2000, 5);
	round_trip(PGS_MAX_FRAME_PAGES, 2500, 6);
}

/* The same pages in one call or one page per call: the same frames, byte for byte. */
static void test_batching_does_not_matter(void)
{
	const size_t n = 200;
	uint8_t *data = unit_xmalloc(n * PG);
	struct pgs_ctx *a = NULL, *b = NULL;
	struct pgs_writer *w = NULL;
	uint64_t base = 0x10000000;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	size_t i;

	unit_fill_heaplike(data, n * PG, 9);
	for (i = 0; i < n; i += 7)
		memset(data + i * PG, 0, PG);
	UT_OK(pgs_writer_open(&w, dfd, "a", NULL));
	UT_OK(pgs_writer_add(w, base, n, data, 0));
	UT_OK(pgs_writer_commit(w, NULL));
	pgs_writer_free(w);
	UT_OK(pgs_writer_open(&w, dfd, "b", NULL));
	for (i = 0; i < n; i++)
		UT_OK(pgs_writer_add(w, base + i * PG, 1, data + i * PG, 0));
	UT_OK(pgs_writer_commit(w, NULL));
	pgs_writer_free(w);

	UT_OK(pgs_open_local(&a, dfd, "a", NULL));
	UT_OK(pgs_open_local(&b, dfd, "b", NULL));
	UT_EQ(pgs_nr_entries(a), pgs_nr_entries(b));
	for (i = 0; i < pgs_nr_entries(a); i++) {
		const struct pgs_entry *ea = pgs_entry(a, i), *eb = pgs_entry(b, i);

		UT_EQ(ea->vaddr, eb->vaddr);
		UT_EQ(ea->nr_pages, eb->nr_pages);
		UT_EQ(ea->flags, eb->flags);
		UT_EQ(ea->len, eb->len);
		UT_EQ(ea->csum, eb->csum);
	}
	UT_EQ(pgs_entry(a, pgs_nr_entries(a)), NULL);
	pgs_close(a);
	pgs_close(b);
	free(data);
	close(dfd);
	unit_rmdir(dir);
}

static void test_zero_and_random(void)
{
	const size_t n = 64;
	uint8_t *data = calloc(n, PG), *buf = unit_xmalloc(n * PG);
	struct pgs_writer *w = NULL;
	struct pgs_ctx *ctx = NULL;
	struct pgs_stats st;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	size_t i;

	UT_NONNULL(data);
	/* all zero: nothing stored, every read is a hole */
	UT_OK(pgs_writer_open(&w, dfd, "z", NULL));
	UT_OK(pgs_writer_add(w, 0x400000, n, data, PGS_PE_LAZY));
	UT_OK(pgs_writer_commit(w, &st));
	pgs_writer_free(w);
	UT_EQ(st.pages_seen, n);
	UT_EQ(st.pages_zero, n);
	UT_EQ(st.pages_stored, 0);
	UT_EQ(st.frames, 0);
	UT_OK(pgs_open_local(&ctx, dfd, "z", NULL));
	UT_EQ(pgs_nr_entries(ctx), 0);
	UT_EQ(pgs_read(ctx, 0x400000, n, buf), 0);
	pgs_close(ctx);

	/* random: stored raw, read back at copy speed */
	unit_fill_random(data, n * PG, 5);
	UT_OK(pgs_writer_open(&w, dfd, "r", NULL));
	UT_OK(pgs_writer_add(w, 0x400000, n, data, 0));
	UT_OK(pgs_writer_commit(w, &st));
	pgs_writer_free(w);
	UT_EQ(st.bytes_stored, n * PG);
	UT_OK(pgs_open_local(&ctx, dfd, "r", NULL));
	UT_EQ(pgs_nr_entries(ctx), n / PGS_DEFAULT_FRAME_PAGES);
	for (i = 0; i < pgs_nr_entries(ctx); i++)
		UT_EQ(pgs_entry(ctx, i)->flags, PGS_PE_PRESENT | PGS_PE_RAW);
	UT_EQ(pgs_read(ctx, 0x400000, n, buf), 1);
	UT_MEMEQ(buf, data, n * PG);
	pgs_close(ctx);
	free(data);
	free(buf);
	close(dfd);
	unit_rmdir(dir);
}

static void test_parent(void)
{
	uint8_t page[PG], buf[4 * PG];
	struct pgs_writer *w = NULL;
	struct pgs_ctx *ctx = NULL;
	struct pgs_stats st;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));

	memset(page, 7, sizeof(page));
	UT_OK(pgs_writer_open(&w, dfd, "p", NULL));
	UT_OK(pgs_writer_add_parent(w, 0x100000, 2, 0));
	UT_OK(pgs_writer_add_parent(w, 0x102000, 3, 0)); /* merges with the one before */
	UT_OK(pgs_writer_add_parent(w, 0x105000, 1, PGS_PE_LAZY));
	UT_OK(pgs_writer_add(w, 0x106000, 1, page, 0));
	UT_OK(pgs_writer_add_parent(w, 0x108000, 1, 0));
	UT_OK(pgs_writer_commit(w, &st));
	pgs_writer_free(w);
	UT_EQ(st.pages_parent, 7);
	UT_EQ(st.pages_stored, 1);
	UT_OK(pgs_open_local(&ctx, dfd, "p", NULL));
	UT_EQ(pgs_nr_entries(ctx), 4);
	UT_EQ(pgs_entry(ctx, 0)->nr_pages, 5);
	UT_EQ(pgs_entry(ctx, 0)->flags, PGS_PE_PARENT);
	UT_EQ(pgs_entry(ctx, 1)->flags, PGS_PE_PARENT | PGS_PE_LAZY);
	UT_ERR(pgs_read_frame(ctx, 0, buf), -EINVAL);
	UT_ERR(pgs_read_frame(ctx, 99, buf), -EINVAL);
	UT_ERR(pgs_read_stored(ctx, 0, buf, sizeof(buf)), -EINVAL);
	UT_ERR(pgs_read(ctx, 0x104000, 1, buf), -ENOENT);
	/* a range that touches a parent page anywhere is not read at all */
	memset(buf, 0xa5, sizeof(buf));
	UT_ERR(pgs_read(ctx, 0x105000, 4, buf), -ENOENT);
	UT_EQ(buf[PG], 0xa5);
	UT_EQ(pgs_read(ctx, 0x106000, 2, buf), 1);
	UT_MEMEQ(buf, page, PG);
	UT_EQ(buf[PG], 0);
	pgs_close(ctx);
	close(dfd);
	unit_rmdir(dir);
}

static void test_writer_misuse(void)
{
	struct pgs_writer_opts o = {.frame_pages = PGS_MAX_FRAME_PAGES + 1};
	uint8_t page[PG];
	struct pgs_writer *w = NULL;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	size_t size;

	memset(page, 1, sizeof(page));
	UT_ERR(pgs_writer_open(&w, dfd, "x", &o), -EINVAL);
	o.frame_pages = 0;
	o.level = 1000;
	UT_ERR(pgs_writer_open(&w, dfd, "x", &o), -EINVAL);
	UT_ERR(pgs_writer_open(&w, -1, "x", NULL), -EBADF);
	UT_OK(pgs_writer_open(&w, dfd, "x", NULL));
	UT_ERR(pgs_writer_add(w, 0x1001, 1, page, 0), -EINVAL);
	UT_ERR(pgs_writer_add(w, 0x1000, 0, page, 0), -EINVAL);
	UT_ERR(pgs_writer_add(w, 0x1000, 1, page, PGS_PE_PRESENT), -EINVAL);
	UT_ERR(pgs_writer_add(w, UINT64_MAX & ~(PG - 1), 2, page, 0), -EINVAL);
	UT_OK(pgs_writer_add(w, 0x5000, 1, page, 0));
	UT_ERR(pgs_writer_add(w, 0x5000, 1, page, 0), -EINVAL); /* not increasing */
	UT_ERR(pgs_writer_add_parent(w, 0x4000, 1, 0), -EINVAL);
	/* until commit, only temporary files exist; freeing removes them */
	UT_EQ(faccessat(dfd, "pagemap-x.img", F_OK, 0), -1);
	pgs_writer_free(w);
	UT_EQ(unlinkat(dfd, ".pagemap-x.img.tmp", 0), -1);
	UT_EQ(unlinkat(dfd, ".pages-x.img.tmp", 0), -1);

	UT_OK(pgs_writer_open(&w, dfd, "x", NULL));
	UT_OK(pgs_writer_add(w, 0x5000, 1, page, 0));
	UT_OK(pgs_writer_commit(w, NULL));
	UT_ERR(pgs_writer_add(w, 0x9000, 1, page, 0), -EINVAL);
	UT_ERR(pgs_writer_commit(w, NULL), -EINVAL);
	pgs_writer_free(w);
	pgs_writer_free(NULL);
	free(file_read(dfd, "pagemap-x.img", &size));
	UT_GT(size, 8);
	close(dfd);
	unit_rmdir(dir);
}

/* Threads change how fast frames are made, never which: the files are the same byte for byte. */
static void test_threads_same_files(void)
{
	static const unsigned int fps[] = {1, 16, 512};
	static const unsigned int threads[] = {2, 3, 8};
	char dir[256], id[16];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	size_t f, t;

	for (f = 0; f < UNIT_ARRAY_SIZE(fps); f++) {
		uint8_t *map1, *pages1;
		size_t map1_size, pages1_size;
		struct pgs_ctx *ctx = NULL;
		struct model m;

		model_write_threads(&m, dfd, "one", 2500, fps[f], 50 + f, 1);
		map1 = file_read(dfd, "pagemap-one.img", &map1_size);
		pages1 = file_read(dfd, "pages-one.img", &pages1_size);
		for (t = 0; t < UNIT_ARRAY_SIZE(threads); t++) {
			struct model mt;
			uint8_t *map, *pages;
			size_t map_size, pages_size;

			snprintf(id, sizeof(id), "t%u", threads[t]);
			model_write_threads(&mt, dfd, id, 2500, fps[f], 50 + f, threads[t]);
			snprintf(id, sizeof(id), "pagemap-t%u.img", threads[t]);
			map = file_read(dfd, id, &map_size);
			snprintf(id, sizeof(id), "pages-t%u.img", threads[t]);
			pages = file_read(dfd, id, &pages_size);
			UT_EQ(map_size, map1_size);
			UT_EQ(pages_size, pages1_size);
			UT_MEMEQ(map, map1, map_size);
			UT_MEMEQ(pages, pages1, pages_size);
			UT_EQ(mt.st.frames, m.st.frames);
			free(map);
			free(pages);
			if (t == UNIT_ARRAY_SIZE(threads) - 1) {
				snprintf(id, sizeof(id), "t%u", threads[t]);
				UT_OK(pgs_open_local(&ctx, dfd, id, unit_uuid));
				model_check(&mt, ctx, 3);
				pgs_close(ctx);
			}
			model_free(&mt);
		}
		free(map1);
		free(pages1);
		model_free(&m);
	}
	close(dfd);
	unit_rmdir(dir);
}

struct reader_arg {
	const struct model *m;
	struct pgs_ctx *ctx;
	uint64_t seed;
	int bad;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	uint8_t *got = malloc(64 * PG), *want = malloc(64 * PG);
	uint64_t s = a->seed;
	int i;

	if (!got || !want) {
		a->bad = -1;
		goto out;
	}
	for (i = 0; i < 3000 && !a->bad; i++) {
		size_t nr, page;
		int exp, ret;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		nr = 1 + s % 64;
		page = (s >> 20) % (a->m->n - nr);
		exp = model_expect(a->m, page, nr, want);
		ret = pgs_read(a->ctx, a->m->base + page * PG, nr, got);
		if (ret != exp || (exp == 1 && memcmp(got, want, nr * PG)))
			a->bad = i + 1;
	}
out:
	free(got);
	free(want);
	return NULL;
}

static void test_threads(void)
{
	struct reader_arg args[4];
	pthread_t th[4];
	struct pgs_ctx *ctx = NULL;
	struct model m;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir)), i;

	model_write(&m, dfd, "t", 4000, 0, 11);
	UT_OK(pgs_open_local(&ctx, dfd, "t", unit_uuid));
	for (i = 0; i < 4; i++) {
		args[i] = (struct reader_arg){&m, ctx, 1000 + i, 0};
		UT_OK(pthread_create(&th[i], NULL, reader, &args[i]));
	}
	for (i = 0; i < 4; i++) {
		UT_OK(pthread_join(th[i], NULL));
		if (args[i].bad)
			UT_FAIL("thread %d: read %d went wrong", i, args[i].bad);
	}
	pgs_close(ctx);
	model_free(&m);
	close(dfd);
	unit_rmdir(dir);
}

/* Numbers for the report: 64 MiB of heap-like pages, default frames. */
static void test_throughput(void)
{
	const size_t n = 16384, batch = 256;
	uint8_t *data = unit_xmalloc(n * PG), *out = unit_xmalloc(n * PG);
	struct pgs_writer *w = NULL;
	struct pgs_ctx *ctx = NULL;
	struct pgs_stats st;
	double t0, tw, to, tr, tf;
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	size_t i;

	unit_fill_heaplike(data, n * PG, 77);
	for (i = 0; i < n; i += 5) /* a fifth of the pages are zero */
		memset(data + i * PG, 0, PG);
	memset(out, 1, n * PG);
	t0 = unit_now();
	UT_OK(pgs_writer_open(&w, dfd, "b", NULL));
	for (i = 0; i < n; i += batch)
		UT_OK(pgs_writer_add(w, 0x7f0000000000ull + i * PG, batch, data + i * PG, 0));
	UT_OK(pgs_writer_commit(w, &st));
	pgs_writer_free(w);
	tw = unit_now() - t0;
	t0 = unit_now();
	UT_OK(pgs_open_local(&ctx, dfd, "b", NULL));
	to = unit_now() - t0;
	t0 = unit_now();
	UT_EQ(pgs_read(ctx, 0x7f0000000000ull, n, out), 1);
	tr = unit_now() - t0;
	UT_MEMEQ(out, data, n * PG);
	/* one page at a time, as faults without fault-around would ask */
	t0 = unit_now();
	for (i = 0; i < 2048; i++)
		UT_GE(pgs_read(ctx, 0x7f0000000000ull + i * 8 * PG, 1, out), 0);
	tf = unit_now() - t0;
	unit_log("64 MiB heap-like, 20%% zero pages: write %.2f GB/s (%.3f of raw stored), "
		 "open %.2f ms for %zu entries, read all %.2f GB/s, one page %.1f us",
		 n * PG / tw / 1e9, (double)st.bytes_stored / st.bytes_raw, to * 1e3,
		 pgs_nr_entries(ctx), n * PG / tr / 1e9, tf / 2048 * 1e6);
	pgs_close(ctx);
	free(data);
	free(out);
	close(dfd);
	unit_rmdir(dir);
}

static const struct unit_test tests[] = {
    {"round trip with holes, zero and parent pages (default frames)", test_round_trip_default, 0},
    {"round trip, frames of 1, 3, 64 and 512 pages", test_round_trip_frame_sizes, 0},
    {"batching does not change the frames", test_batching_does_not_matter, 0},
    {"zero pages are never stored, random pages are stored raw", test_zero_and_random, 0},
    {"parent pages", test_parent, 0},
    {"writer misuse is refused", test_writer_misuse, 0},
    {"four threads read one store", test_threads, 0},
    {"compression threads write the same files", test_threads_same_files, 0},
    {"throughput", test_throughput, 0},
};

UNIT_MAIN(tests)
