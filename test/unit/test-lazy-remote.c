/* The lazy-pages core with pages from a page server: a server thread serves a page store over
 * page-xfer on loopback, the daemon thread fetches from it into this process's memory. Contents,
 * holes, a server of another dump, and the numbers: remote fault latency and fill speed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/unit.h"
#include "lazy-pages.h"
#include "page-xfer.h"
#include "uffd.h"
#include "lazy-task.h"

#define PG PGS_PAGE_SIZE

static const uint8_t uuid[PGS_UUID_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

struct server {
	int lfd;
	unsigned short port;
	struct pxf_store_dir *sd;
	pthread_t thr;
};

static void *serve_one(void *arg)
{
	struct server *s = ((void **)arg)[0];
	int fd = (int)(long)((void **)arg)[1];
	struct pxf_conn *c = NULL;

	free(arg);
	if (!pxf_conn_create(&c, fd, 10000) && !pxf_accept_hello(c, uuid))
		pxf_serve(c, pxf_store_dir_lookup, s->sd);
	pxf_conn_free(c);
	close(fd);
	return NULL;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int fd;

	while (!pxf_tcp_accept(s->lfd, 0, &fd)) {
		void **a = malloc(2 * sizeof(void *));
		pthread_t t;

		a[0] = s;
		a[1] = (void *)(long)fd;
		pthread_create(&t, NULL, serve_one, a);
		pthread_detach(t);
	}
	return NULL;
}

struct fx {
	char dir[256];
	int dfd;
	unsigned char *map, *want;
	size_t npages;
	struct server srv;
	struct lp_remote *r;
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

static void fx_init(struct fx *f, size_t npages, unsigned int frame)
{
	struct pgs_writer_opts o = {.level = 1, .frame_pages = frame, .uuid = uuid};
	struct pgs_writer *w = NULL;
	size_t pg;

	memset(f, 0, sizeof(*f));
	f->dfd = unit_mkdtemp(f->dir, sizeof(f->dir));
	f->npages = npages;
	f->want = unit_xmalloc(npages * PG);
	f->map =
	    mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(f->map != MAP_FAILED);
	unit_fill_heaplike(f->want, npages * PG, npages);
	for (pg = 0; pg < npages; pg++)
		if (pg % 37 == 36 || (pg >= 200 && pg < 300))
			memset(f->want + pg * PG, 0, PG);
	UT_OK(pgs_writer_open(&w, f->dfd, "100", &o));
	UT_OK(pgs_writer_add(w, (uint64_t)f->map, npages, f->want, PGS_PE_LAZY));
	UT_OK(pgs_writer_commit(w, NULL));
	pgs_writer_free(w);
	UT_OK(pxf_store_dir_open(&f->srv.sd, f->dfd, uuid));
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &f->srv.lfd, &f->srv.port));
	UT_OK(-pthread_create(&f->srv.thr, NULL, server_main, &f->srv));
}

static void *run(void *arg)
{
	struct fx *f = arg;

	f->ret = lp_run(f->d);
	return NULL;
}

/* pid and uffd: the task to serve; fd < 0: this process's own mapping. */
static void fx_start_task(struct fx *f, int workers, pid_t pid, int fd)
{
	struct lp_config cfg = {.nr_workers = workers, .timeout_s = 10};
	struct lp_range r = {(uint64_t)f->map, (uint64_t)f->map + f->npages * PG};
	const struct lp_src_ops *ops;
	void *priv;

	if (fd < 0) {
		fd = uffd_open(O_CLOEXEC | O_NONBLOCK);
		UT_GE(fd, 0);
		UT_OK(uffd_api(fd, UFFD_WANTED_FEATURES, NULL));
		UT_OK(uffd_register(fd, r.start, r.end - r.start, UFFDIO_REGISTER_MODE_MISSING,
				    NULL));
	}
	UT_OK(lp_remote_create(&f->r, "127.0.0.1", f->srv.port, uuid, 10));
	UT_OK(lp_create(&f->d, &cfg));
	UT_OK(lp_open_remote(f->r, 100, &ops, &priv));
	UT_OK(lp_add_task(f->d, pid, fd, &r, 1, ops, priv));
	lp_tasks_done(f->d);
	UT_OK(-pthread_create(&f->thr, NULL, run, f));
}

static void fx_start(struct fx *f, int workers)
{
	fx_start_task(f, workers, getpid(), -1);
}

static void fx_finish(struct fx *f, struct lp_stats *st)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	if (pthread_timedjoin_np(f->thr, NULL, &ts))
		UT_FAIL("the daemon did not finish within 30 s");
	if (st) {
		UT_OK(f->ret);
		lp_get_stats(f->d, st);
	}
	lp_free(f->d);
	lp_remote_free(f->r);
}

static void check_all(struct fx *f)
{
	size_t pg;

	for (pg = 0; pg < f->npages; pg++)
		if (memcmp(f->map + pg * PG, f->want + pg * PG, PG))
			UT_FAIL("page %zu differs%s", pg,
				zero_page(f->map + pg * PG) ? " (reads as zero)" : "");
}

static void test_remote_faults_and_prefetch(void)
{
	struct lp_stats st;
	struct fx f;
	size_t pg;

	fx_init(&f, 4096, 16);
	fx_start(&f, 2);
	for (pg = f.npages; pg-- > 0;) /* against the prefetcher's order */
		if (memcmp(f.map + pg * PG, f.want + pg * PG, PG))
			UT_FAIL("page %zu differs", pg);
	fx_finish(&f, &st);
	check_all(&f);
	unit_log("faults %llu (%llu pages, %llu zero), prefetched %llu, already there %llu",
		 (unsigned long long)st.faults, (unsigned long long)st.fault_pages,
		 (unsigned long long)st.zero_pages, (unsigned long long)st.prefetch_pages,
		 (unsigned long long)st.exist_pages);
}

static void test_remote_other_dump(void)
{
	static const uint8_t other[PGS_UUID_LEN] = {1};
	struct lp_remote *r = NULL;
	struct fx f;

	fx_init(&f, 64, 16);
	UT_ERR(lp_remote_create(&r, "127.0.0.1", f.srv.port, other, 5), -ESTALE);
	UT_ERR(lp_remote_create(&r, "127.0.0.1", 1, uuid, 5), -ECONNREFUSED);
}

/* A frame damaged on the server's disk: the client finds the checksum wrong, the task is killed
 * at that page and never reads zeros. */
static void test_remote_damaged_frame(void)
{
	struct pgs_ctx *ctx = NULL;
	const struct pgs_entry *e;
	struct lazy_task lt;
	size_t bad_pg;
	struct fx f;
	int status, fd;
	char b = 0;
	long i;

	fx_init(&f, 1024, 16);
	UT_OK(pgs_open_local(&ctx, f.dfd, "100", uuid));
	i = pgs_find(ctx, (uint64_t)f.map + 500 * PG);
	UT_GE(i, 0);
	e = pgs_entry(ctx, i);
	bad_pg = (e->vaddr - (uint64_t)f.map) / PG;
	fd = openat(f.dfd, "pages-100.img", O_RDWR);
	UT_GE(fd, 0);
	UT_EQ(pread(fd, &b, 1, e->off + e->len / 2), 1);
	b ^= 0x5a;
	UT_EQ(pwrite(fd, &b, 1, e->off + e->len / 2), 1);
	close(fd);
	pgs_close(ctx);
	lazy_task_spawn(&lt, f.map, f.npages, f.want, 0);
	fx_start_task(&f, -1, lt.pid, lt.uffd);
	lazy_task_go(&lt);
	UT_EQ(lazy_task_collect(&lt, &status), bad_pg);
	UT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	fx_finish(&f, NULL);
	UT_ERR(f.ret, -EBADMSG);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void latency(unsigned int frame)
{
	enum { N = 500 };
	static double lat[N];
	struct lp_stats st;
	struct fx f;
	size_t pg;
	int n = 0;

	fx_init(&f, N * frame * 2, frame);
	fx_start(&f, -1);
	for (pg = 0; pg < f.npages && n < N; pg += frame * 2) {
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
	unit_log("remote, frames of %2u pages: %d faults seen by the task p50 %.1f us p99 %.1f us; "
		 "daemon service p50 %.1f us p99 %.1f us",
		 frame, n, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6, st.lat_p50_ns / 1e3,
		 st.lat_p99_ns / 1e3);
}

static void test_remote_latency_and_fill(void)
{
	struct lp_stats st;
	struct fx f;
	double t0;

	latency(1);
	latency(16);
	fx_init(&f, 16384, 16);
	t0 = unit_now();
	fx_start(&f, 0);
	fx_finish(&f, &st);
	unit_log("remote fill of 64 MiB: %.1f ms (%.2f GB/s), %llu frames", (unit_now() - t0) * 1e3,
		 f.npages * PG / (unit_now() - t0) / 1e9, (unsigned long long)st.frames);
	check_all(&f);
}

static const struct unit_test tests[] = {
    {"remote faults and prefetch", test_remote_faults_and_prefetch, UNIT_F_UFFD},
    {"remote: another dump's server, no server", test_remote_other_dump, 0},
    {"remote damaged frame: killed, never zero", test_remote_damaged_frame, UNIT_F_UFFD},
    {"remote fault latency and fill speed", test_remote_latency_and_fill, UNIT_F_UFFD},
};

UNIT_MAIN(tests)
