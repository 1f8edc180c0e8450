/* Fuzzing the page-xfer decoders for a bounded time, from a seeded PRNG (no external fuzzer).
 *
 * Real conversations are recorded first (a real client and a real server joined through a relay
 * that keeps both byte streams): the client's API, the remote-store client, and pushed images.
 * Then, until the time is up, one side of a conversation is replayed mutated (bit flips, boundary
 * values in length fields, cuts, insertions, splices) or replaced by random bytes, against the
 * real other side. Every call must return 0, 1 or a -errno and the side under test must end;
 * a crash or a hang fails the test (each test runs in a child with an alarm). The unmutated
 * recording must replay to exactly the model's pages, so the harness itself cannot go blind.
 *
 * PXF_FUZZ_SECONDS sets the time per test (default 5 s), PXF_FUZZ_SEED the seed (default: the
 * time, printed so that a failure can be replayed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/pgs-util.h"
#include "lib/unit.h"
#include "page-xfer.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE
#define OWNER 4242
#define TIMEOUT_MS 500
#define MAX_INPUT (256u << 10)

/* ---- PRNG, buffers ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static size_t rnd_below(size_t n)
{
	return n ? rnd() % n : 0;
}

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		UT_NONNULL(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double fuzz_seconds(void)
{
	const char *e = getenv("PXF_FUZZ_SECONDS");

	return e && atof(e) > 0 ? atof(e) : 5.0;
}

static void seed_rng(const char *what)
{
	const char *e = getenv("PXF_FUZZ_SEED");

	rng_state = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
	if (!rng_state)
		rng_state = 1;
	unit_log("%s: PXF_FUZZ_SEED=%llu", what, (unsigned long long)rng_state);
	signal(SIGPIPE, SIG_IGN);
}

/* ---- the fixture: a page store and what it must read back as ---- */

struct fix {
	char dir[256];
	int dfd, putfd;
	char putdir[300];
	struct model m;
	struct pgs_ctx *ctx;
	struct pgs_entry *src_ents; /* the store's present entries, for the live-memory server */
	size_t src_nr;
};

static struct fix F;

static struct pgs_ctx *lookup(void *arg, uint64_t id)
{
	(void)arg;
	return id == OWNER ? F.ctx : NULL;
}

static int src_index(void *arg, uint64_t id, const struct pgs_entry **ents, size_t *nr)
{
	(void)arg;
	if (id != OWNER)
		return -ENOENT;
	*ents = F.src_ents;
	*nr = F.src_nr;
	return 0;
}

static int src_read(void *arg, uint64_t id, size_t i, void *dst)
{
	const struct pgs_entry *e = &F.src_ents[i];
	int ret;

	(void)arg;
	if (id != OWNER || i >= F.src_nr)
		return -EINVAL;
	ret = pgs_read(F.ctx, e->vaddr, e->nr_pages, dst);
	if (ret == 0)
		memset(dst, 0, (size_t)e->nr_pages * PG);
	return ret < 0 ? ret : 0;
}

static const struct pxf_src_ops src_ops = {.index = src_index, .read = src_read};

static void fix_open(void)
{
	size_t i, n;

	memset(&F, 0, sizeof(F));
	F.dfd = unit_mkdtemp(F.dir, sizeof(F.dir));
	model_write(&F.m, F.dfd, "4242", 600, 8, 77);
	UT_OK(pgs_open_local(&F.ctx, F.dfd, "4242", unit_uuid));
	n = pgs_nr_entries(F.ctx);
	F.src_ents = calloc(n + 1, sizeof(*F.src_ents));
	UT_NONNULL(F.src_ents);
	for (i = 0; i < n; i++) {
		const struct pgs_entry *e = pgs_entry(F.ctx, i);

		if ((e->flags & PGS_PE_PRESENT) && !(e->flags & PGS_PE_PARENT))
			F.src_ents[F.src_nr++] = *e;
	}
	UT_ASSERT(F.src_nr > 0);
	snprintf(F.putdir, sizeof(F.putdir), "%s/put", F.dir);
	UT_OK(mkdir(F.putdir, 0700));
	F.putfd = open(F.putdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	UT_GE(F.putfd, 0);
}

/* ---- the sides of a conversation ---- */

enum server_kind { SRV_STORE, SRV_SRC, SRV_PUT };

/* Runs a server on fd until it ends; every return must be 0 or a -errno. */
static int run_server(enum server_kind kind, int fd)
{
	struct pxf_conn *c = NULL;
	uint8_t uuid[PGS_UUID_LEN];
	unsigned int files = 0;
	int ret;

	UT_OK(pxf_conn_create(&c, fd, TIMEOUT_MS));
	if (kind == SRV_PUT)
		ret = pxf_accept_hello_any(c, uuid);
	else
		ret = pxf_accept_hello(c, unit_uuid);
	if (!ret && kind == SRV_STORE)
		ret = pxf_serve(c, lookup, NULL);
	else if (!ret && kind == SRV_SRC)
		ret = pxf_serve_src(c, &src_ops, NULL, 1, NULL);
	else if (!ret)
		ret = pxf_serve_put(c, F.putfd, &files);
	if (ret > 0 || ret < -4095)
		UT_FAIL("server %d returned %d (%s)", kind, ret, pxf_last_error(c));
	UT_ASSERT(strlen(pxf_last_error(c)) < 320);
	pxf_conn_free(c);
	return ret;
}

static void check_ret(const char *what, int ret, bool exact, int want)
{
	if (ret > 1 || ret < -4095)
		UT_FAIL("%s returned %d", what, ret);
	if (exact && ret != want)
		UT_FAIL("%s returned %s on the recorded conversation, expected %s", what,
			unit_errno_name(ret), unit_errno_name(want));
}

/* The ranges every client conversation asks for: fixed, so recordings and replays agree. */
static void range_of(unsigned int k, size_t *page, size_t *nr)
{
	static const size_t nrs[] = {1, 3, 8, 17, 40, 64};

	*nr = nrs[k % 6];
	*page = (k * 97 + 13) % (F.m.n - *nr);
}

#define NR_READS 12

/* The client of page-xfer.h's connection API; with check, every answer must be the model's. */
static void client_conn(int fd, bool check)
{
	uint8_t *got = unit_xmalloc(64 * PG), *want = unit_xmalloc(64 * PG);
	struct pgs_entry *ents = NULL;
	struct pxf_conn *c = NULL;
	struct pxf_pages p;
	size_t nr, page, n;
	unsigned int k;
	int ret, exp;

	UT_OK(pxf_conn_create(&c, fd, TIMEOUT_MS));
	ret = pxf_hello(c, unit_uuid);
	check_ret("pxf_hello", ret, check, 0);
	ret = pxf_get_index(c, OWNER, &ents, &nr);
	check_ret("pxf_get_index", ret, check, 0);
	if (!ret) {
		if (check)
			UT_EQ(nr, pgs_nr_entries(F.ctx));
		free(ents);
	}
	ret = pxf_get_index(c, OWNER + 1, &ents, &nr);
	check_ret("pxf_get_index(other)", ret, check, -ENOENT);
	if (!ret)
		free(ents);
	for (k = 0; k < NR_READS; k++) {
		range_of(k, &page, &n);
		exp = model_expect(&F.m, page, n, want);
		ret = pxf_read(c, OWNER, F.m.base + page * PG, n, got);
		check_ret("pxf_read", ret, check, exp);
		if (check && exp == 1)
			UT_MEMEQ(got, want, n * PG);
	}
	/* pipelined: two requests out, then their answers */
	for (k = 0; k < 2; k++) {
		range_of(k + 3, &page, &n);
		ret = pxf_send_get_pages(c, 1000 + k, OWNER, F.m.base + page * PG, n);
		check_ret("pxf_send_get_pages", ret, check, 0);
	}
	for (k = 0; k < 2; k++) {
		range_of(k + 3, &page, &n);
		exp = model_expect(&F.m, page, n, want);
		ret = pxf_recv_pages(c, 1000 + k, F.m.base + page * PG, n, &p);
		check_ret("pxf_recv_pages", ret, check, exp == -ENOENT ? -ENOENT : 0);
		if (ret)
			continue;
		ret = pxf_pages_decode(c, &p, F.m.base + page * PG, n, got);
		check_ret("pxf_pages_decode", ret, check, exp);
		if (check && exp == 1)
			UT_MEMEQ(got, want, n * PG);
	}
	UT_ASSERT(strlen(pxf_last_error(c)) < 320);
	pxf_conn_free(c);
	free(got);
	free(want);
}

/* The remote-store client (page-remote.c); it owns fd. */
static void client_remote(int fd, bool check)
{
	uint8_t *got = unit_xmalloc(PGS_MAX_FRAME_PAGES * PG), *want = unit_xmalloc(64 * PG);
	struct pxf_client *cl = NULL;
	struct pxf_source *s = NULL;
	size_t page, n, i;
	unsigned int k;
	int ret, exp;

	ret = pxf_client_open(&cl, fd, unit_uuid, TIMEOUT_MS);
	check_ret("pxf_client_open", ret, check, 0);
	if (ret)
		goto out;
	ret = pxf_source_open(&s, cl, OWNER);
	check_ret("pxf_source_open", ret, check, 0);
	if (ret)
		goto out_client;
	if (check)
		UT_EQ(pxf_source_nr_entries(s), pgs_nr_entries(F.ctx));
	for (k = 0; k < NR_READS; k++) {
		range_of(k, &page, &n);
		exp = model_expect(&F.m, page, n, want);
		ret = pxf_source_read(s, F.m.base + page * PG, n, got);
		check_ret("pxf_source_read", ret, check, exp);
		if (check && exp == 1)
			UT_MEMEQ(got, want, n * PG);
	}
	for (i = 0; i < pxf_source_nr_entries(s) && i < 6; i++) {
		const struct pgs_entry *e = pxf_source_entry(s, i);

		UT_LE(e->nr_pages, PGS_MAX_FRAME_PAGES);
		ret = pxf_source_read_frame(s, i, got);
		if (ret > 1 || ret < -4095)
			UT_FAIL("pxf_source_read_frame returned %d", ret);
	}
	UT_ASSERT(strlen(pxf_client_last_error(cl)) < 320);
	pxf_source_close(s);
out_client:
	pxf_client_close(cl);
out:
	free(got);
	free(want);
}

/* Pushing two small images. */
static void client_put(int fd, bool check)
{
	struct pxf_conn *c = NULL;
	char path[400];
	uint8_t data[9000];
	int ffd, ret;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 5));
	snprintf(path, sizeof(path), "%s/src.img", F.dir);
	ffd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	UT_GE(ffd, 0);
	UT_EQ(write(ffd, data, sizeof(data)), sizeof(data));
	UT_OK(pxf_conn_create(&c, fd, TIMEOUT_MS));
	ret = pxf_hello(c, unit_uuid);
	check_ret("pxf_hello(put)", ret, check, 0);
	ret = pxf_put_file(c, "pages-1.img", ffd, sizeof(data));
	check_ret("pxf_put_file", ret, check, 0);
	ret = pxf_put_file(c, "core-1.img", ffd, 100);
	check_ret("pxf_put_file", ret, check, 0);
	pxf_conn_free(c);
	close(ffd);
}

enum client_kind { CL_CONN, CL_REMOTE, CL_PUT };

static void run_client(enum client_kind kind, int fd, bool check)
{
	if (kind == CL_CONN)
		client_conn(fd, check);
	else if (kind == CL_REMOTE)
		client_remote(fd, check); /* closes fd */
	else
		client_put(fd, check);
}

/* ---- recording ---- */

struct relay {
	int cl, srv; /* the relay's ends towards the client and the server */
	struct buf from_client, from_server;
};

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	bool cl_open = true, srv_open = true;
	uint8_t b[65536];

	while (cl_open || srv_open) {
		struct pollfd p[2] = {{r->cl, cl_open ? POLLIN : 0, 0},
				      {r->srv, srv_open ? POLLIN : 0, 0}};
		ssize_t n;

		if (poll(p, 2, 5000) <= 0)
			break;
		if (p[0].revents) {
			n = read(r->cl, b, sizeof(b));
			if (n <= 0) {
				cl_open = false;
				shutdown(r->srv, SHUT_WR);
			} else {
				buf_add(&r->from_client, b, n);
				if (send(r->srv, b, n, MSG_NOSIGNAL) != n)
					cl_open = false;
			}
		}
		if (p[1].revents) {
			n = read(r->srv, b, sizeof(b));
			if (n <= 0) {
				srv_open = false;
				shutdown(r->cl, SHUT_WR);
			} else {
				buf_add(&r->from_server, b, n);
				if (send(r->cl, b, n, MSG_NOSIGNAL) != n)
					srv_open = false;
			}
		}
	}
	return NULL;
}

struct srv_thread {
	enum server_kind kind;
	int fd, ret;
};

static void *srv_main(void *arg)
{
	struct srv_thread *s = arg;

	s->ret = run_server(s->kind, s->fd);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* One real conversation, both streams kept in *r. */
static void record(enum client_kind ck, enum server_kind sk, struct relay *r)
{
	struct srv_thread st = {.kind = sk};
	pthread_t rt, tt;
	int a[2], b[2];

	memset(r, 0, sizeof(*r));
	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a));
	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b));
	r->cl = a[1];
	r->srv = b[0];
	st.fd = b[1];
	UT_OK(pthread_create(&tt, NULL, srv_main, &st));
	UT_OK(pthread_create(&rt, NULL, relay_main, r));
	run_client(ck, a[0], true);
	if (ck != CL_REMOTE)
		shutdown(a[0], SHUT_RDWR);
	UT_OK(pthread_join(rt, NULL));
	UT_OK(pthread_join(tt, NULL));
	UT_EQ(st.ret, 0);
	if (ck != CL_REMOTE)
		close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	UT_ASSERT(r->from_client.n > 0 && r->from_server.n > 0);
	unit_log("recorded: client %zu bytes, server %zu bytes", r->from_client.n,
		 r->from_server.n);
}

/* ---- mutation ---- */

static const uint32_t boundary[] = {
    0,		1,	     2,		  7,	       8,	  20,
    24,		255,	     4095,	  4096,	       4097,	  0x7fff,
    0x8000,	0xffff,	     0x10000,	  512,	       1024,	  1025,
    0x7fffffff, 0x80000000u, 0xfffffffeu, 0xffffffffu, PXF_MAGIC, PXF_MAX_PAGES_PAYLOAD};

static void mutate(struct buf *out, const struct buf *in, const struct buf *other)
{
	unsigned int rounds = 1 + rnd_below(4), r;

	out->n = 0;
	if (rnd_below(16) == 0) { /* random bytes, sometimes behind a valid first header */
		size_t n = rnd_below(4096), keep = rnd_below(2) ? 20 : 0, i;

		buf_add(out, in->p, keep < in->n ? keep : in->n);
		for (i = 0; i < n; i++) {
			uint8_t c = rnd();

			buf_add(out, &c, 1);
		}
		return;
	}
	buf_add(out, in->p, in->n);
	for (r = 0; r < rounds && out->n; r++) {
		size_t at = rnd_below(out->n), n;
		uint32_t v;

		switch (rnd_below(8)) {
		case 0: /* bit flip */
			out->p[at] ^= 1u << rnd_below(8);
			break;
		case 1: /* a byte */
			out->p[at] = rnd();
			break;
		case 2: /* a boundary value in a 32-bit field, aligned as the headers are */
			at &= ~(size_t)3;
			if (at + 4 > out->n)
				break;
			v = boundary[rnd_below(UNIT_ARRAY_SIZE(boundary))];
			if (rnd_below(3) == 0)
				v += (uint32_t)rnd_below(3) - 1;
			memcpy(out->p + at, &v, 4);
			break;
		case 3: /* cut the stream */
			out->n = at;
			break;
		case 4: /* drop a chunk */
			n = rnd_below(out->n - at + 1);
			memmove(out->p + at, out->p + at + n, out->n - at - n);
			out->n -= n;
			break;
		case 5: { /* duplicate a chunk in place */
			struct buf t = {0};

			n = rnd_below(out->n - at < 256 ? out->n - at + 1 : 256);
			buf_add(&t, out->p, at + n);
			buf_add(&t, out->p + at, out->n - at);
			free(out->p);
			*out = t;
			break;
		}
		case 6: /* splice in bytes from the other side's stream */
			if (!other->n)
				break;
			n = rnd_below(64);
			if (n > other->n)
				n = other->n;
			if (at + n > out->n)
				n = out->n - at;
			memcpy(out->p + at, other->p + rnd_below(other->n - n + 1), n);
			break;
		default: /* a header field near the start of a message: type, flags, len */
			at = (at / 20) * 20 + 4 + 4 * rnd_below(2);
			if (at + 4 > out->n)
				break;
			v = rnd_below(2) ? boundary[rnd_below(UNIT_ARRAY_SIZE(boundary))]
					 : (uint32_t)rnd_below(12);
			memcpy(out->p + at, &v, 4);
			break;
		}
	}
	if (out->n > MAX_INPUT)
		out->n = MAX_INPUT;
}

/* ---- replay: one side from bytes, the other for real ---- */

struct feeder {
	int fd;
	const struct buf *in;
	size_t drained;
};

/* Sends the bytes, then half-closes, then drains until the side under test closes. */
static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	uint8_t b[65536];
	size_t off = 0;
	ssize_t n;

	while (off < f->in->n) {
		n = send(f->fd, f->in->p + off, f->in->n - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += n;
	}
	shutdown(f->fd, SHUT_WR);
	while ((n = read(f->fd, b, sizeof(b))) > 0)
		f->drained += n;
	return NULL;
}

/* Runs the side under test against bytes; returns how long it took, in seconds. With check, the
 * bytes are a recording: the client must get the model's answers, the server must end cleanly. */
static double replay(bool server_side, int kind, const struct buf *in, bool check)
{
	struct feeder fd = {.in = in};
	double t0 = now_s();
	pthread_t th;
	int sv[2];

	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	fd.fd = sv[1];
	UT_OK(pthread_create(&th, NULL, feeder_main, &fd));
	if (server_side) {
		int ret = run_server(kind, sv[0]);

		if (check && ret)
			UT_FAIL("server %d on its recorded input: %s", kind, unit_errno_name(ret));
	} else {
		run_client(kind, sv[0], check);
	}
	/* the side under test is done: the feeder's read ends */
	shutdown(sv[0], SHUT_RDWR);
	shutdown(sv[1], SHUT_RDWR);
	UT_OK(pthread_join(th, NULL));
	if (!(!server_side && kind == CL_REMOTE))
		close(sv[0]);
	close(sv[1]);
	return now_s() - t0;
}

static void fuzz(bool server_side, int kind, const struct relay *r, double seconds)
{
	const struct buf *in = server_side ? &r->from_client : &r->from_server;
	const struct buf *other = server_side ? &r->from_server : &r->from_client;
	struct buf m = {0};
	double t0 = now_s(), slowest = 0, t;
	unsigned long runs = 0;

	/* the side under test must also take its own conversation back byte for byte */
	replay(server_side, kind, in, true);
	while (now_s() - t0 < seconds) {
		mutate(&m, in, other);
		t = replay(server_side, kind, &m, false);
		if (t > slowest)
			slowest = t;
		/* every wait is bounded by TIMEOUT_MS per message; much more is a hang */
		if (t > 20.0 * TIMEOUT_MS / 1000)
			UT_FAIL("one input took %.1f s (seed state %llu)", t,
				(unsigned long long)rng_state);
		runs++;
	}
	unit_log("%s %d: %lu inputs in %.1f s, slowest %.3f s", server_side ? "server" : "client",
		 kind, runs, now_s() - t0, slowest);
	UT_GE(runs, 10);
	free(m.p);
}

static void relay_free(struct relay *r)
{
	free(r->from_client.p);
	free(r->from_server.p);
}

static void test_fuzz_client(void)
{
	double s = fuzz_seconds() / 2;
	struct relay r;

	seed_rng("client");
	fix_open();
	record(CL_CONN, SRV_STORE, &r);
	fuzz(false, CL_CONN, &r, s);
	relay_free(&r);
	record(CL_REMOTE, SRV_STORE, &r);
	fuzz(false, CL_REMOTE, &r, s);
	relay_free(&r);
}

static void test_fuzz_server(void)
{
	double s = fuzz_seconds() / 5;
	struct relay r;

	seed_rng("server");
	fix_open();
	record(CL_CONN, SRV_STORE, &r);
	fuzz(true, SRV_STORE, &r, s);
	fuzz(true, SRV_SRC, &r, s);
	relay_free(&r);
	record(CL_REMOTE, SRV_STORE, &r);
	fuzz(true, SRV_SRC, &r, s);
	fuzz(true, SRV_STORE, &r, s);
	relay_free(&r);
	record(CL_PUT, SRV_PUT, &r);
	fuzz(true, SRV_PUT, &r, s);
	relay_free(&r);
}

static const struct unit_test tests[] = {
    {"fuzz client decoders", test_fuzz_client, 0},
    {"fuzz server decoders", test_fuzz_server, 0},
};

UNIT_MAIN(tests)
