/* Remote page stores over TCP loopback: a page server on an image directory, clients that read
 * like local stores from several threads, failures that stick, and fault-path numbers. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/pgs-util.h"
#include "lib/unit.h"
#include "page-xfer.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE
#define OWNER 4242

struct server {
	int lfd;
	int dirfd;
	pthread_t th;
	int ret;
	int conn_fd; /* the accepted connection, for tests that cut it */
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pxf_store_dir *d = NULL;
	struct pxf_conn *c = NULL;
	int fd;

	s->ret = pxf_tcp_accept(s->lfd, 5000, &fd);
	if (s->ret)
		return NULL;
	s->conn_fd = fd;
	s->ret = pxf_store_dir_open(&d, s->dirfd, unit_uuid);
	if (!s->ret)
		s->ret = pxf_conn_create(&c, fd, 10000);
	if (!s->ret)
		s->ret = pxf_accept_hello(c, unit_uuid);
	if (!s->ret)
		s->ret = pxf_serve(c, pxf_store_dir_lookup, d);
	pxf_conn_free(c);
	pxf_store_dir_close(d);
	shutdown(fd, SHUT_RDWR);
	return NULL;
}

struct fixture {
	char dir[256];
	struct model m;
	struct server srv;
	struct pxf_client *cl;
	struct pxf_source *src;
	struct pgs_ctx *local;
};

static void start(struct fixture *f, size_t n, uint64_t seed)
{
	unsigned short port;
	int fd;

	memset(f, 0, sizeof(*f));
	f->srv.dirfd = unit_mkdtemp(f->dir, sizeof(f->dir));
	f->srv.conn_fd = -1;
	model_write(&f->m, f->srv.dirfd, "4242", n, 0, seed);
	UT_OK(pgs_open_local(&f->local, f->srv.dirfd, "4242", unit_uuid));
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &f->srv.lfd, &port));
	UT_GT(port, 0);
	UT_OK(pthread_create(&f->srv.th, NULL, server_main, &f->srv));
	UT_OK(pxf_tcp_connect("127.0.0.1", port, 2000, &fd));
	UT_OK(pxf_client_open(&f->cl, fd, unit_uuid, 5000));
	UT_OK(pxf_source_open(&f->src, f->cl, OWNER));
}

static void stop(struct fixture *f)
{
	pxf_source_close(f->src);
	pxf_client_close(f->cl); /* the server sees the end and returns */
	UT_OK(pthread_join(f->srv.th, NULL));
	close(f->srv.lfd);
	pgs_close(f->local);
	model_free(&f->m);
	close(f->srv.dirfd);
	unit_rmdir(f->dir);
}

static void test_like_local(void)
{
	uint8_t *a = unit_xmalloc(3000 * PG), *b = unit_xmalloc(3000 * PG);
	struct pxf_source *none = NULL;
	struct fixture f;
	uint64_t s = 9;
	size_t i, n;

	start(&f, 3000, 41);
	n = pxf_source_nr_entries(f.src);
	UT_EQ(n, pgs_nr_entries(f.local));
	for (i = 0; i < n; i++) {
		const struct pgs_entry *r = pxf_source_entry(f.src, i), *l = pgs_entry(f.local, i);

		UT_EQ(r->vaddr, l->vaddr);
		UT_EQ(r->nr_pages, l->nr_pages);
		UT_EQ(r->flags, l->flags);
		if (!(l->flags & PGS_PE_PRESENT)) {
			UT_ERR(pxf_source_read_frame(f.src, i, a), -EINVAL);
			continue;
		}
		UT_OK(pxf_source_read_frame(f.src, i, a));
		UT_OK(pgs_read_frame(f.local, i, b));
		UT_MEMEQ(a, b, l->nr_pages * PG);
	}
	UT_EQ(pxf_source_entry(f.src, n), NULL);
	for (i = 0; i < f.m.n; i += 37)
		UT_EQ(pxf_source_find(f.src, f.m.base + i * PG),
		      pgs_find(f.local, f.m.base + i * PG));
	for (i = 0; i < 300; i++) {
		size_t nr, page;
		int ret, exp;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		nr = 1 + s % (i % 10 ? 50 : 3000);
		page = (s >> 24) % (f.m.n - nr + 1);
		memset(a, 0xa5, nr * PG);
		exp = model_expect(&f.m, page, nr, b);
		ret = pxf_source_read(f.src, f.m.base + page * PG, nr, a);
		if (ret != exp)
			UT_FAIL("read(page %zu, %zu) = %s, expected %s (%s)", page, nr,
				unit_errno_name(ret), unit_errno_name(exp),
				pxf_client_last_error(f.cl));
		if (exp == 1)
			UT_MEMEQ(a, b, nr * PG);
		else
			UT_EQ(a[0], 0xa5);
	}
	/* an owner the server does not have: an answer, and the client goes on */
	UT_ERR(pxf_source_open(&none, f.cl, 7), -ENOENT);
	UT_OK(pxf_source_read_frame(f.src, 0, a) == -EINVAL ? 0
							    : pxf_source_read_frame(f.src, 0, a));
	stop(&f);
	UT_EQ(f.srv.ret, 0);
	free(a);
	free(b);
}

struct reader {
	struct fixture *f;
	uint64_t seed;
	int bad;
	double lat_max;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t *a = malloc(PGS_MAX_FRAME_PAGES * PG), *b = malloc(PGS_MAX_FRAME_PAGES * PG);
	size_t n = pxf_source_nr_entries(r->f->src);
	uint64_t s = r->seed;
	int i;

	if (!a || !b) {
		r->bad = -1;
		goto out;
	}
	for (i = 0; i < 1500 && !r->bad; i++) {
		size_t k;
		int ret;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		k = s % n;
		if (!(pxf_source_entry(r->f->src, k)->flags & PGS_PE_PRESENT))
			continue;
		ret = pxf_source_read_frame(r->f->src, k, a);
		if (ret || pgs_read_frame(r->f->local, k, b) ||
		    memcmp(a, b, pxf_source_entry(r->f->src, k)->nr_pages * PG))
			r->bad = i + 1;
	}
out:
	free(a);
	free(b);
	return NULL;
}

static void test_threads(void)
{
	struct reader r[3];
	pthread_t th[3];
	struct fixture f;
	int i;

	start(&f, 3000, 42);
	for (i = 0; i < 3; i++) {
		r[i] = (struct reader){&f, 77 + i, 0, 0};
		UT_OK(pthread_create(&th[i], NULL, reader_main, &r[i]));
	}
	for (i = 0; i < 3; i++) {
		UT_OK(pthread_join(th[i], NULL));
		if (r[i].bad)
			UT_FAIL("thread %d: read %d went wrong (%s)", i, r[i].bad,
				pxf_client_last_error(f.cl));
	}
	stop(&f);
}

/* The server goes away mid-session: the next call fails, and so does every later one. */
static void test_broken_sticks(void)
{
	uint8_t *a = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG);
	struct pxf_source *again = NULL;
	struct fixture f;
	size_t k;
	int ret;

	start(&f, 500, 43);
	for (k = 0; !(pxf_source_entry(f.src, k)->flags & PGS_PE_PRESENT); k++)
		;
	UT_OK(pxf_source_read_frame(f.src, k, a));
	shutdown(f.srv.conn_fd, SHUT_RDWR);
	ret = pxf_source_read_frame(f.src, k, a);
	UT_ASSERT(ret == -ECONNRESET || ret == -EPIPE);
	UT_ERR(pxf_source_read_frame(f.src, k, a), ret);
	UT_ERR(pxf_source_open(&again, f.cl, OWNER), ret);
	unit_log("after the server left: %s", pxf_client_last_error(f.cl));
	stop(&f);
	free(a);
}

static void test_connect_errors(void)
{
	unsigned short port;
	int lfd, fd;

	/* a port nobody listens on: bind one, close it, connect */
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &lfd, &port));
	close(lfd);
	UT_ERR(pxf_tcp_connect("127.0.0.1", port, 1000, &fd), -ECONNREFUSED);
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &lfd, &port));
	UT_ERR(pxf_tcp_accept(lfd, 100, &fd), -ETIMEDOUT);
	close(lfd);
}

static const char *loadavg(void)
{
	static char buf[64];
	FILE *fp = fopen("/proc/loadavg", "r");

	buf[0] = 0;
	if (fp) {
		if (!fgets(buf, sizeof(buf), fp))
			buf[0] = 0;
		fclose(fp);
	}
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* What a remote fault costs here: one default frame over TCP loopback, decoded. */
static void test_fault_latency(void)
{
	uint8_t *a = unit_xmalloc(PXF_MAX_REQ_PAGES * PG);
	double lat[2000], t0, tb;
	struct fixture f;
	size_t n, k, got = 0, pages = 0;

	start(&f, 16384, 44);
	n = pxf_source_nr_entries(f.src);
	for (k = 0; got < 2000; k = (k + 7) % n) {
		if (!(pxf_source_entry(f.src, k)->flags & PGS_PE_PRESENT))
			continue;
		t0 = unit_now();
		UT_OK(pxf_source_read_frame(f.src, k, a));
		lat[got++] = unit_now() - t0;
	}
	qsort(lat, got, sizeof(lat[0]), cmp_double);
	t0 = unit_now();
	for (k = 0; k + PXF_MAX_REQ_PAGES <= f.m.n; k += PXF_MAX_REQ_PAGES) {
		int ret = pxf_source_read(f.src, f.m.base + k * PG, PXF_MAX_REQ_PAGES, a);

		UT_ASSERT(ret >= 0 || ret == -ENOENT);
		pages += PXF_MAX_REQ_PAGES;
	}
	tb = unit_now() - t0;
	unit_log("TCP loopback, one frame (<= %u pages) fetched and decoded: p50 %.1f us, p90 %.1f "
		 "us, p99 %.1f us, max %.1f us (load %s); bulk %.2f GB/s of address range (holes "
		 "included) in %u-page "
		 "requests, one thread",
		 PGS_DEFAULT_FRAME_PAGES, lat[got / 2] * 1e6, lat[got * 9 / 10] * 1e6,
		 lat[got * 99 / 100] * 1e6, lat[got - 1] * 1e6, loadavg(), pages * PG / tb / 1e9,
		 PXF_MAX_REQ_PAGES);
	stop(&f);
	free(a);
}

/* Many owners in one directory: each found, once, whatever the order of the questions. */
static void test_store_dir(void)
{
	static const uint64_t ids[] = {5, 1, 300, 3, 100, 2, 77};
	struct pgs_ctx *first[UNIT_ARRAY_SIZE(ids)];
	struct pxf_store_dir *d = NULL;
	char dir[256], id[32];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	uint8_t page[PG];
	size_t i, k;

	for (i = 0; i < UNIT_ARRAY_SIZE(ids); i++) {
		struct pgs_writer_opts o = {.uuid = unit_uuid};
		struct pgs_writer *w = NULL;

		snprintf(id, sizeof(id), "%llu", (unsigned long long)ids[i]);
		UT_OK(pgs_writer_open(&w, dfd, id, &o));
		memset(page, (int)ids[i], sizeof(page));
		for (k = 0; k <= i; k++) /* owner i has i + 1 single-page frames */
			UT_OK(pgs_writer_add(w, 0x100000 + k * 2 * PG, 1, page, 0));
		UT_OK(pgs_writer_commit(w, NULL));
		pgs_writer_free(w);
	}
	UT_OK(pxf_store_dir_open(&d, dfd, unit_uuid));
	for (i = 0; i < UNIT_ARRAY_SIZE(ids); i++) {
		first[i] = pxf_store_dir_lookup(d, ids[i]);
		UT_NONNULL(first[i]);
		UT_EQ(pgs_nr_entries(first[i]), i + 1);
	}
	for (k = 0; k < 3; k++)
		for (i = UNIT_ARRAY_SIZE(ids); i-- > 0;)
			UT_ASSERT(pxf_store_dir_lookup(d, ids[i]) == first[i]);
	UT_ASSERT(pxf_store_dir_lookup(d, 4) == NULL);
	UT_ASSERT(pxf_store_dir_lookup(d, 0) == NULL);
	pxf_store_dir_close(d);
	/* another dump's directory: nothing is served */
	memset(page, 9, PGS_UUID_LEN);
	UT_OK(pxf_store_dir_open(&d, dfd, page));
	UT_ASSERT(pxf_store_dir_lookup(d, 5) == NULL);
	pxf_store_dir_close(d);
	pxf_store_dir_close(NULL);
	close(dfd);
	unit_rmdir(dir);
}

struct run_arg {
	struct pxf_server_opts o;
	pthread_t th;
	int ret;
	int ends, fails;
};

static void on_end(void *arg, int err, const char *why)
{
	struct run_arg *r = arg;

	(void)why;
	__atomic_add_fetch(&r->ends, 1, __ATOMIC_RELAXED);
	if (err)
		__atomic_add_fetch(&r->fails, 1, __ATOMIC_RELAXED);
}

static void *run_main(void *arg)
{
	struct run_arg *r = arg;

	r->ret = pxf_server_run(&r->o);
	return NULL;
}

/* One client of the whole server: connect, read every frame, compare, close. */
static void whole_client(unsigned short port, struct pgs_ctx *local, const uint8_t *uuid, int want)
{
	uint8_t *a = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG),
		*b = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG);
	struct pxf_client *cl = NULL;
	struct pxf_source *src = NULL;
	size_t k;
	int fd;

	UT_OK(pxf_tcp_connect("127.0.0.1", port, 2000, &fd));
	UT_ERR(pxf_client_open(&cl, fd, uuid, 5000), want);
	if (want)
		goto out;
	UT_OK(pxf_source_open(&src, cl, OWNER));
	for (k = 0; k < pxf_source_nr_entries(src); k++) {
		if (!(pxf_source_entry(src, k)->flags & PGS_PE_PRESENT))
			continue;
		UT_OK(pxf_source_read_frame(src, k, a));
		UT_OK(pgs_read_frame(local, k, b));
		UT_MEMEQ(a, b, pxf_source_entry(src, k)->nr_pages * PG);
	}
	pxf_source_close(src);
	pxf_client_close(cl);
out:
	free(a);
	free(b);
}

static void test_server_run(void)
{
	struct pgs_ctx *local = NULL;
	unsigned short port;
	struct run_arg r;
	int stop[2];
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	uint8_t other[PGS_UUID_LEN];
	struct model m;

	model_write(&m, dfd, "4242", 1500, 0, 45);
	UT_OK(pgs_open_local(&local, dfd, "4242", unit_uuid));
	memset(other, 0x77, sizeof(other));

	/* until stopped: three clients one after another, one of them for another dump */
	memset(&r, 0, sizeof(r));
	UT_OK(pipe(stop));
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &r.o.lfd, &port));
	r.o.dirfd = dfd;
	r.o.uuid = unit_uuid;
	r.o.stop_fd = stop[0];
	r.o.timeout_ms = 5000;
	r.o.on_client_end = on_end;
	r.o.arg = &r;
	UT_OK(pthread_create(&r.th, NULL, run_main, &r));
	whole_client(port, local, unit_uuid, 0);
	whole_client(port, local, other, -ESTALE);
	whole_client(port, local, unit_uuid, 0);
	UT_EQ(write(stop[1], "x", 1), 1);
	UT_OK(pthread_join(r.th, NULL));
	UT_EQ(r.ret, 0);
	UT_EQ(r.ends, 3);
	UT_EQ(r.fails, 1);
	close(stop[0]);
	close(stop[1]);
	close(r.o.lfd);

	/* once: two connections at the same time, then none: the server is done */
	memset(&r, 0, sizeof(r));
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &r.o.lfd, &port));
	r.o.dirfd = dfd;
	r.o.uuid = unit_uuid;
	r.o.stop_fd = -1;
	r.o.once = true;
	UT_OK(pthread_create(&r.th, NULL, run_main, &r));
	{
		struct pxf_client *c1 = NULL, *c2 = NULL;
		int fd1, fd2;

		UT_OK(pxf_tcp_connect("127.0.0.1", port, 2000, &fd1));
		UT_OK(pxf_client_open(&c1, fd1, unit_uuid, 5000));
		UT_OK(pxf_tcp_connect("127.0.0.1", port, 2000, &fd2));
		UT_OK(pxf_client_open(&c2, fd2, unit_uuid, 5000));
		pxf_client_close(c1);
		usleep(300000); /* the server must still be there for c2 */
		whole_client(port, local, unit_uuid, 0);
		pxf_client_close(c2);
	}
	UT_OK(pthread_join(r.th, NULL));
	UT_EQ(r.ret, 0);
	close(r.o.lfd);

	/* once, and the only client is refused: that is the result */
	memset(&r, 0, sizeof(r));
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &r.o.lfd, &port));
	r.o.dirfd = dfd;
	r.o.uuid = unit_uuid;
	r.o.stop_fd = -1;
	r.o.once = true;
	UT_OK(pthread_create(&r.th, NULL, run_main, &r));
	whole_client(port, local, other, -ESTALE);
	UT_OK(pthread_join(r.th, NULL));
	UT_EQ(r.ret, -ESTALE);
	close(r.o.lfd);

	pgs_close(local);
	model_free(&m);
	close(dfd);
	unit_rmdir(dir);
}

static const struct unit_test tests[] = {
    {"a remote store reads like the local one", test_like_local, 0},
    {"three threads share one client", test_threads, 0},
    {"a broken connection stays broken", test_broken_sticks, 0},
    {"connect and accept errors", test_connect_errors, 0},
    {"an image directory of many owners", test_store_dir, 0},
    {"a whole server: clients, stop, once", test_server_run, 0},
    {"remote fault latency", test_fault_latency, 0},
};

UNIT_MAIN(tests)
