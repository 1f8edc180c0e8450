/* The lazy-pages core on real page stores: pages written with the page-store writer (zstd frames),
 * opened the way the daemon opens them, served into this process's memory by a daemon thread.
 * Contents, holes, eager (non-lazy) pages, fault-around, a damaged frame, and the numbers: fault
 * latency per frame size and prefetch speed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/unit.h"
#include "lazy-pages.h"
#include "uffd.h"
#include "lazy-task.h"

#define PG PGS_PAGE_SIZE

static const uint8_t uuid[PGS_UUID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

struct fx {
	char dir[256];
	int dfd;
	unsigned char *map, *want;
	size_t npages;
	struct lp_local local;
	struct lp_daemon *d;
	pthread_t thr;
	int ret;
};

static int zero_page(const unsigned char *p)
{
	size_t i;

	for (i = 0; i < PG; i++)
		if (p[i])
			return 0;
	return 1;
}

static void write_store(struct fx *f, const char *id, unsigned int frame, int random)
{
	struct pgs_writer_opts o = {.level = 1, .frame_pages = frame, .uuid = uuid};
	struct pgs_writer *w = NULL;
	size_t pg;

	if (random)
		unit_fill_random(f->want, f->npages * PG, f->npages);
	else
		unit_fill_heaplike(f->want, f->npages * PG, f->npages);
	/* pages 0-15 are eager (restore writes them), the rest lazy; holes: every 37th page and
	 * 200-299 */
	for (pg = 0; pg < f->npages; pg++)
		if (pg % 37 == 36 || (pg >= 200 && pg < 300))
			memset(f->want + pg * PG, 0, PG);
	UT_OK(pgs_writer_open(&w, f->dfd, id, &o));
	UT_OK(pgs_writer_add(w, (uint64_t)f->map, 16, f->want, 0));
	UT_OK(pgs_writer_add(w, (uint64_t)f->map + 16 * PG, f->npages - 16, f->want + 16 * PG,
			     PGS_PE_LAZY));
	UT_OK(pgs_writer_commit(w, NULL));
	pgs_writer_free(w);
}

static void fx_init(struct fx *f, size_t npages, unsigned int frame, int random)
{
	memset(f, 0, sizeof(*f));
	f->dfd = unit_mkdtemp(f->dir, sizeof(f->dir));
	f->npages = npages;
	f->want = unit_xmalloc(npages * PG);
	f->map =
	    mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(f->map != MAP_FAILED);
	write_store(f, "100", frame, random);
	f->local.dirfd = f->dfd;
	f->local.dir = f->dir;
	f->local.uuid = uuid;
}

static void *run(void *arg)
{
	struct fx *f = arg;

	f->ret = lp_run(f->d);
	return NULL;
}

static int reg_self(unsigned char *map, size_t len)
{
	int fd = uffd_open(O_CLOEXEC | O_NONBLOCK);

	UT_GE(fd, 0);
	UT_OK(uffd_api(fd, UFFD_WANTED_FEATURES, NULL));
	UT_OK(uffd_register(fd, (uint64_t)map, len, UFFDIO_REGISTER_MODE_MISSING, NULL));
	return fd;
}

/* As restore does: eager pages written, then the mapping registered and handed over. */
static void fx_start(struct fx *f, pid_t pid, int uffd, int workers)
{
	struct lp_config cfg = {.nr_workers = workers};
	struct lp_range r = {(uint64_t)f->map, (uint64_t)f->map + f->npages * PG};
	const struct lp_src_ops *ops;
	void *priv;

	UT_OK(lp_create(&f->d, &cfg));
	UT_OK(lp_open_local(&f->local, 100, &ops, &priv));
	UT_OK(lp_add_task(f->d, pid, uffd, &r, 1, ops, priv));
	lp_tasks_done(f->d);
	UT_OK(-pthread_create(&f->thr, NULL, run, f));
}

static void fx_finish(struct fx *f, struct lp_stats *st)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	if (pthread_timedjoin_np(f->thr, NULL, &ts))
		UT_FAIL("the daemon did not finish within 30 s");
	if (st)
		lp_get_stats(f->d, st);
	lp_free(f->d);
	f->d = NULL;
}

static void fx_free(struct fx *f)
{
	munmap(f->map, f->npages * PG);
	free(f->want);
	close(f->dfd);
	unit_rmdir(f->dir);
}

static void check_all(struct fx *f)
{
	size_t pg;

	for (pg = 0; pg < f->npages; pg++)
		if (memcmp(f->map + pg * PG, f->want + pg * PG, PG))
			UT_FAIL("page %zu differs%s", pg,
				zero_page(f->map + pg * PG) ? " (reads as zero)" : "");
}

static int resident(void *addr)
{
	unsigned char v = 0;

	UT_OK(mincore(addr, PG, &v));
	return v & 1;
}

static void test_faults_from_images(void)
{
	struct lp_stats st;
	struct fx f;
	size_t pg, holes = 0, lazy = 0;

	fx_init(&f, 1024, 16, 0);
	memcpy(f.map, f.want, 16 * PG); /* the eager pages */
	fx_start(&f, getpid(), reg_self(f.map, f.npages * PG), -1);
	/* page 16 opens a frame of lazy pages (16-31); 31 comes with it, 32 not */
	UT_EQ(f.map[16 * PG + 5], f.want[16 * PG + 5]);
	/* the faulting page goes in first and its thread runs on while the rest of the frame
	 * follows: give the daemon a moment */
	for (pg = 0; pg < 1000 && !resident(f.map + 31 * PG); pg++)
		usleep(1000);
	UT_ASSERT(resident(f.map + 31 * PG));
	UT_ASSERT(!resident(f.map + 32 * PG));
	check_all(&f);
	fx_finish(&f, &st);
	for (pg = 16; pg < f.npages; pg++) {
		holes += zero_page(f.want + pg * PG);
		lazy += !zero_page(f.want + pg * PG);
	}
	unit_log("faults %llu: %llu pages in %llu frames, %llu zero pages (%zu hole pages)",
		 (unsigned long long)st.faults, (unsigned long long)st.fault_pages,
		 (unsigned long long)st.frames, (unsigned long long)st.zero_pages, holes);
	UT_EQ(st.fault_pages, lazy);
	UT_EQ(st.zero_pages, holes);
	UT_LT(st.faults, lazy); /* fault-around saved faults */
	fx_free(&f);
}

static void prefetch(size_t mib, unsigned int frame, int random)
{
	struct lp_stats st;
	struct fx f;
	double t0;

	fx_init(&f, mib * 256, frame, random);
	memcpy(f.map, f.want, 16 * PG);
	t0 = unit_now();
	fx_start(&f, getpid(), reg_self(f.map, f.npages * PG), 0);
	fx_finish(&f, &st);
	unit_log("%zu MiB %s, %u-page frames: all in after %.1f ms (%.2f GB/s), %llu frames, "
		 "%llu faults",
		 mib, random ? "random" : "heap-like", frame, (unit_now() - t0) * 1e3,
		 f.npages * PG / (unit_now() - t0) / 1e9, (unsigned long long)st.frames,
		 (unsigned long long)st.faults);
	UT_EQ(st.faults, 0);
	check_all(&f);
	fx_free(&f);
}

static void test_prefetch_from_images(void)
{
	prefetch(64, 16, 0);
	prefetch(64, 64, 0);
	prefetch(64, 16, 1);
}

/* Flips a byte in the middle of the frame that holds page pg of store "100" in dfd; returns the
 * first page of that frame. */
static size_t damage_frame(int dfd, uint64_t base, size_t pg)
{
	struct pgs_ctx *ctx = NULL;
	const struct pgs_entry *e;
	size_t first;
	char b = 0;
	long i;
	int fd;

	UT_OK(pgs_open_local(&ctx, dfd, "100", uuid));
	i = pgs_find(ctx, base + pg * PG);
	UT_GE(i, 0);
	e = pgs_entry(ctx, i);
	first = (e->vaddr - base) / PG;
	fd = openat(dfd, "pages-100.img", O_RDWR);
	UT_GE(fd, 0);
	UT_EQ(pread(fd, &b, 1, e->off + e->len / 2), 1);
	b ^= 0x5a;
	UT_EQ(pwrite(fd, &b, 1, e->off + e->len / 2), 1);
	close(fd);
	pgs_close(ctx);
	return first;
}

/* The frame holding page 500 is damaged on disk: a task that reads its memory in order gets
 * every page before that frame right and dies (SIGKILL) at it, never seeing zeros. */
static void test_damaged_frame(void)
{
	struct lazy_task lt;
	struct fx f;
	size_t bad_pg;
	int status;

	fx_init(&f, 1024, 16, 0);
	bad_pg = damage_frame(f.dfd, (uint64_t)f.map, 500);
	lazy_task_spawn(&lt, f.map, f.npages, f.want, 16);
	fx_start(&f, lt.pid, lt.uffd, -1);
	lazy_task_go(&lt);
	UT_EQ(lazy_task_collect(&lt, &status), bad_pg);
	UT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	fx_finish(&f, NULL);
	UT_ERR(f.ret, -EBADMSG);
	unit_log("damaged frame at page %zu: task killed there, every page before it right",
		 bad_pg);
	fx_free(&f);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void latency(unsigned int frame)
{
	enum { N = 1000 };
	static double lat[N];
	struct lp_stats st;
	struct fx f;
	size_t pg;
	int n = 0;

	fx_init(&f, 16 + N * frame * 2, frame, 0);
	memcpy(f.map, f.want, 16 * PG);
	fx_start(&f, getpid(), reg_self(f.map, f.npages * PG), -1);
	for (pg = 16; pg < f.npages && n < N; pg += frame * 2) {
		double t0;

		if (zero_page(f.want + pg * PG))
			continue;
		t0 = unit_now();
		*(volatile unsigned char *)(f.map + pg * PG);
		lat[n++] = unit_now() - t0;
	}
	check_all(&f);
	fx_finish(&f, &st);
	qsort(lat, n, sizeof(*lat), cmp_d);
	unit_log("zstd frames of %2u pages: %d faults seen by the task p50 %.1f us p99 %.1f us; "
		 "daemon service p50 %.1f us p99 %.1f us",
		 frame, n, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6, st.lat_p50_ns / 1e3,
		 st.lat_p99_ns / 1e3);
	fx_free(&f);
}

/* Faults while two workers prefetch 256 MiB: the fault path must not queue behind them. Pages
 * are touched in a scattered order so most still need a fault. */
static void latency_under_prefetch(void)
{
	enum { N = 2000 };
	static double lat[N];
	struct lp_stats st;
	struct fx f;
	size_t k;
	int n = 0;

	fx_init(&f, 65536, 16, 0);
	memcpy(f.map, f.want, 16 * PG);
	fx_start(&f, getpid(), reg_self(f.map, f.npages * PG), 2);
	for (k = 0; k < N; k++) {
		size_t pg = 16 + (k * 7919 * 16) % (f.npages - 16);
		double t0 = unit_now();

		*(volatile unsigned char *)(f.map + pg * PG);
		lat[n++] = unit_now() - t0;
	}
	fx_finish(&f, &st);
	check_all(&f);
	qsort(lat, n, sizeof(*lat), cmp_d);
	unit_log("under prefetch of 256 MiB: %d touches (%llu faults) p50 %.1f us p99 %.1f us "
		 "max %.1f us; daemon service p50 %.1f us p99 %.1f us",
		 n, (unsigned long long)st.faults, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6,
		 lat[n - 1] * 1e6, st.lat_p50_ns / 1e3, st.lat_p99_ns / 1e3);
	fx_free(&f);
}

/* A task reading the second half of 128 MiB in order while prefetch starts from the first: the
 * frames after each fault are fetched ahead, so it faults on a fraction of its frames. */
static void sequential_reader(void)
{
	struct lp_stats st;
	struct fx f;
	size_t pg, frames = 0;
	double t0;

	fx_init(&f, 32768, 16, 0);
	memcpy(f.map, f.want, 16 * PG);
	fx_start(&f, getpid(), reg_self(f.map, f.npages * PG), 2);
	t0 = unit_now();
	for (pg = f.npages / 2; pg < f.npages; pg++) {
		*(volatile unsigned char *)(f.map + pg * PG);
		frames += pg % 16 == 0;
	}
	t0 = unit_now() - t0;
	fx_finish(&f, &st);
	check_all(&f);
	unit_log("sequential read of 64 MiB during prefetch: %.1f ms, %llu faults for ~%zu frames",
		 t0 * 1e3, (unsigned long long)st.faults, frames);
	fx_free(&f);
}

static void test_fault_latency(void)
{
	sequential_reader();
	latency_under_prefetch();
	latency(1);
	latency(4);
	latency(16);
}

/* A source that notes which entries are read, in order, around the real one. */
struct spy {
	const struct lp_src_ops *ops;
	void *priv;
	size_t log[4096];
	int n;
};

static struct spy spy;

static size_t spy_nr(void *p)
{
	return spy.ops->nr_entries(p);
}

static const struct pgs_entry *spy_entry(void *p, size_t i)
{
	return spy.ops->entry(p, i);
}

static int spy_read(void *p, size_t i, void *dst, int reader)
{
	int k = __atomic_fetch_add(&spy.n, 1, __ATOMIC_RELAXED);

	if (k < 4096)
		spy.log[k] = i;
	return spy.ops->read_frame(p, i, dst, reader);
}

static void spy_close(void *p)
{
	spy.ops->close(p);
}

static const struct lp_src_ops spy_ops = {
    .nr_entries = spy_nr, .entry = spy_entry, .read_frame = spy_read, .close = spy_close};

/* Restore 1 records the pages faulted on (900, 500, 700 first); restore 2 of the same images
 * prefetches those frames before any other. */
static void test_working_set_order(void)
{
	static const size_t first[] = {900, 500, 700};
	struct lp_config cfg = {.nr_workers = -1};
	struct lp_range r;
	struct pgs_ctx *ctx = NULL;
	struct timespec ts;
	struct fx f;
	size_t k;
	int round;

	fx_init(&f, 1024, 16, 0);
	UT_OK(pgs_open_local(&ctx, f.dfd, "100", uuid));
	r.start = (uint64_t)f.map;
	r.end = r.start + f.npages * PG;
	for (round = 0; round < 2; round++) {
		memset(&spy, 0, sizeof(spy));
		memcpy(f.map, f.want, 16 * PG); /* the eager pages, as restore writes them */
		UT_OK(lp_create(&f.d, &cfg));
		UT_OK(lp_order_load(f.d, f.dfd));
		UT_OK(lp_open_local(&f.local, 100, &spy.ops, &spy.priv));
		UT_OK(lp_add_task(f.d, getpid(), reg_self(f.map, f.npages * PG), &r, 1, &spy_ops,
				  spy.priv));
		lp_tasks_done(f.d);
		UT_OK(-pthread_create(&f.thr, NULL, run, &f));
		if (round == 0) {
			for (k = 0; k < 3; k++)
				UT_EQ(f.map[first[k] * PG], f.want[first[k] * PG]);
			check_all(&f);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 30;
		if (pthread_timedjoin_np(f.thr, NULL, &ts))
			UT_FAIL("the daemon did not finish within 30 s");
		UT_OK(f.ret);
		UT_OK(lp_order_save(f.d));
		lp_free(f.d);
		check_all(&f);
		if (round == 0)
			UT_OK(faccessat(f.dfd, "lazy-order.img", R_OK, 0));
		munmap(f.map, f.npages * PG);
		UT_ASSERT(mmap(f.map, f.npages * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == f.map);
		cfg.nr_workers = 1;
	}
	/* round 2: prefetch only, one worker: the first frames read are the working set's */
	UT_GE(spy.n, 3);
	for (k = 0; k < 3; k++) {
		long i = pgs_find(ctx, (uint64_t)f.map + first[k] * PG);

		UT_EQ(spy.log[k], i);
	}
	pgs_close(ctx);
	fx_free(&f);
}

/* A pre-dump chain: grandparent G has every page, parent P rewrote 100-299 (150-159 to zero),
 * the dump C rewrote 200-399; the rest of each says "in the parent". */
static void write_level(int dfd, const uint8_t *u, uint64_t base, const uint8_t *data, size_t lo,
			size_t hi, size_t n)
{
	struct pgs_writer_opts o = {.level = 1, .frame_pages = 16, .uuid = u};
	struct pgs_writer *w = NULL;

	UT_OK(pgs_writer_open(&w, dfd, "100", &o));
	if (lo)
		UT_OK(pgs_writer_add_parent(w, base, lo, PGS_PE_LAZY));
	UT_OK(pgs_writer_add(w, base + lo * PG, hi - lo, data + lo * PG, PGS_PE_LAZY));
	if (hi < n)
		UT_OK(pgs_writer_add_parent(w, base + hi * PG, n - hi, PGS_PE_LAZY));
	UT_OK(pgs_writer_commit(w, NULL));
	pgs_writer_free(w);
}

static void chain(int workers)
{
	enum { N = 2048 }; /* runs of parent pages longer than a frame */
	static const uint8_t ug[PGS_UUID_LEN] = {7}, up[PGS_UUID_LEN] = {8};
	struct lp_local lg = {0}, lpar = {0};
	uint8_t *g = unit_xmalloc(N * PG), *pp = unit_xmalloc(N * PG), *c = unit_xmalloc(N * PG);
	char dg[256], dp[256];
	struct lp_stats st;
	struct fx f;
	size_t pg;

	fx_init(&f, N, 16, 0); /* C's store gets rewritten below */
	unit_fill_heaplike(g, N * PG, 1);
	unit_fill_heaplike(pp, N * PG, 2);
	unit_fill_heaplike(c, N * PG, 3);
	memset(pp + 150 * PG, 0, 10 * PG);
	lg.dirfd = unit_mkdtemp(dg, sizeof(dg));
	lg.dir = dg;
	lg.uuid = ug;
	lpar.dirfd = unit_mkdtemp(dp, sizeof(dp));
	lpar.dir = dp;
	lpar.uuid = up;
	lpar.parent = &lg;
	f.local.parent = &lpar;
	write_level(lg.dirfd, ug, (uint64_t)f.map, g, 0, N, N);
	write_level(lpar.dirfd, up, (uint64_t)f.map, pp, 100, 300, N);
	write_level(f.dfd, uuid, (uint64_t)f.map, c, 200, 400, N);
	for (pg = 0; pg < N; pg++) {
		const uint8_t *src = pg >= 200 && pg < 400 ? c : pg >= 100 && pg < 300 ? pp : g;

		memcpy(f.want + pg * PG, src + pg * PG, PG);
	}
	fx_start(&f, getpid(), reg_self(f.map, N * PG), workers);
	if (workers < 0)
		check_all(&f);
	fx_finish(&f, &st);
	UT_OK(f.ret);
	check_all(&f);
	unit_log("%s: %llu pages by faults, %llu prefetched, %llu zero",
		 workers < 0 ? "faults" : "prefetch", (unsigned long long)st.fault_pages,
		 (unsigned long long)st.prefetch_pages, (unsigned long long)st.zero_pages);
	close(lg.dirfd);
	close(lpar.dirfd);
	unit_rmdir(dg);
	unit_rmdir(dp);
	free(g);
	free(pp);
	free(c);
	fx_free(&f);
}

static void test_pre_dump_chain(void)
{
	chain(-1);
	chain(2);
}

static const struct unit_test tests[] = {
    {"faults from images", test_faults_from_images, UNIT_F_UFFD},
    {"prefetch from images", test_prefetch_from_images, UNIT_F_UFFD},
    {"damaged frame: killed, never zero", test_damaged_frame, UNIT_F_UFFD},
    {"fault latency on zstd frames", test_fault_latency, UNIT_F_UFFD},
    {"working set recorded, then prefetched first", test_working_set_order, UNIT_F_UFFD},
    {"pages from a pre-dump chain", test_pre_dump_chain, UNIT_F_UFFD},
};

UNIT_MAIN(tests)
