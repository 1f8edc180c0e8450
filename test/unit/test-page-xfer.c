/* page-xfer over a socketpair: a real server and client agree with the page store; a hostile
 * client and a hostile server each get clean errors, never a crash or a hang. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <endian.h>

#include "lib/pgs-util.h"
#include "lib/unit.h"
#include "page-xfer.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE
#define OWNER 4242

/* ---- a real server in a thread ---- */

struct server {
	int fd;
	struct pgs_ctx *ctx;
	pthread_t th;
	int hello_ret, serve_ret;
	char why[320];
};

static struct pgs_ctx *lookup(void *arg, uint64_t id)
{
	struct server *s = arg;

	return id == OWNER ? s->ctx : NULL;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pxf_conn *c = NULL;

	if (pxf_conn_create(&c, s->fd, 5000)) {
		s->hello_ret = -ENOMEM;
		return NULL;
	}
	s->hello_ret = pxf_accept_hello(c, unit_uuid);
	if (!s->hello_ret)
		s->serve_ret = pxf_serve(c, lookup, s);
	snprintf(s->why, sizeof(s->why), "%s", pxf_last_error(c));
	pxf_conn_free(c);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

struct fixture {
	char dir[256];
	int dfd;
	struct model m;
	struct server srv;
	int cfd;
	struct pxf_conn *c;
};

static void start(struct fixture *f, size_t n, uint64_t seed)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->dfd = unit_mkdtemp(f->dir, sizeof(f->dir));
	model_write(&f->m, f->dfd, "4242", n, 0, seed);
	UT_OK(pgs_open_local(&f->srv.ctx, f->dfd, "4242", unit_uuid));
	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	f->cfd = sv[0];
	f->srv.fd = sv[1];
	UT_OK(pthread_create(&f->srv.th, NULL, server_main, &f->srv));
	UT_OK(pxf_conn_create(&f->c, f->cfd, 5000));
}

static void stop(struct fixture *f)
{
	shutdown(f->cfd, SHUT_WR);
	UT_OK(pthread_join(f->srv.th, NULL));
	pxf_conn_free(f->c);
	close(f->cfd);
	close(f->srv.fd);
	pgs_close(f->srv.ctx);
	model_free(&f->m);
	close(f->dfd);
	unit_rmdir(f->dir);
}

static void test_round_trip(void)
{
	uint8_t *got = unit_xmalloc(PXF_MAX_REQ_PAGES * PG),
		*want = unit_xmalloc(PXF_MAX_REQ_PAGES * PG);
	struct pgs_entry *ents = NULL;
	struct fixture f;
	uint64_t s = 3;
	size_t nr, i;

	start(&f, 3000, 31);
	UT_OK(pxf_hello(f.c, unit_uuid));
	UT_OK(pxf_get_index(f.c, OWNER, &ents, &nr));
	UT_EQ(nr, pgs_nr_entries(f.srv.ctx));
	for (i = 0; i < nr; i++) {
		const struct pgs_entry *e = pgs_entry(f.srv.ctx, i);

		UT_EQ(ents[i].vaddr, e->vaddr);
		UT_EQ(ents[i].nr_pages, e->nr_pages);
		UT_EQ(ents[i].flags, e->flags);
	}
	free(ents);
	UT_ERR(pxf_get_index(f.c, OWNER + 1, &ents, &nr), -ENOENT);
	for (i = 0; i < 600; i++) {
		size_t n, page;
		int exp, ret;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		n = 1 + s % (i % 5 ? 40 : PXF_MAX_REQ_PAGES);
		if (n > f.m.n)
			n = f.m.n;
		page = (s >> 24) % (f.m.n - n + 1);
		memset(got, 0xa5, n * PG);
		exp = model_expect(&f.m, page, n, want);
		ret = pxf_read(f.c, OWNER, f.m.base + page * PG, n, got);
		if (ret != exp)
			UT_FAIL("pxf_read(page %zu, %zu) = %s, expected %s (%s)", page, n,
				unit_errno_name(ret), unit_errno_name(exp), pxf_last_error(f.c));
		if (exp == 1)
			UT_MEMEQ(got, want, n * PG);
		else
			UT_EQ(got[0], 0xa5);
	}
	/* an unknown owner is an answer, not the end of the connection */
	UT_ERR(pxf_read(f.c, 1, f.m.base, 1, got), -ENOENT);
	UT_ERR(pxf_read(f.c, OWNER, f.m.base, PXF_MAX_REQ_PAGES + 1, got), -EINVAL);
	UT_GE(pxf_read(f.c, OWNER, f.m.base, 1, got), 0);
	stop(&f);
	UT_EQ(f.srv.hello_ret, 0);
	UT_EQ(f.srv.serve_ret, 0);
	free(got);
	free(want);
}

static void test_pipelined(void)
{
	uint8_t *got = unit_xmalloc(64 * PG), *want = unit_xmalloc(64 * PG);
	struct pxf_pages p;
	struct fixture f;
	uint64_t t;

	start(&f, 2000, 32);
	UT_OK(pxf_hello(f.c, unit_uuid));
	for (t = 0; t < 16; t++)
		UT_OK(pxf_send_get_pages(f.c, 100 + t, OWNER, f.m.base + t * 64 * PG, 64));
	for (t = 0; t < 16; t++) {
		int exp = model_expect(&f.m, t * 64, 64, want), ret;

		ret = pxf_recv_pages(f.c, 100 + t, f.m.base + t * 64 * PG, 64, &p);
		if (exp == -ENOENT) {
			UT_EQ(ret, -ENOENT);
			continue;
		}
		UT_OK(ret);
		UT_EQ(pxf_pages_decode(f.c, &p, f.m.base + t * 64 * PG, 64, got), exp);
		if (exp == 1)
			UT_MEMEQ(got, want, 64 * PG);
	}
	stop(&f);
	free(got);
	free(want);
}

static void test_hello_mismatch(void)
{
	uint8_t other[PGS_UUID_LEN];
	struct fixture f;

	start(&f, 100, 33);
	memcpy(other, unit_uuid, sizeof(other));
	other[0] ^= 0xff;
	UT_ERR(pxf_hello(f.c, other), -ESTALE);
	UT_NONNULL(strstr(pxf_last_error(f.c), "another dump"));
	stop(&f);
	UT_EQ(f.srv.hello_ret, -ESTALE);
}

/* ---- raw bytes, for peers that lie ---- */

struct wire {
	uint8_t b[1 << 16];
	size_t n;
};

static void w_bytes(struct wire *w, const void *p, size_t n)
{
	UT_LE(w->n + n, sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w32(struct wire *w, uint32_t v)
{
	v = htole32(v);
	w_bytes(w, &v, 4);
}

static void w64(struct wire *w, uint64_t v)
{
	v = htole64(v);
	w_bytes(w, &v, 8);
}

static void w_hdr(struct wire *w, uint32_t magic, uint16_t type, uint16_t flags, uint32_t len,
		  uint64_t tag)
{
	w32(w, magic);
	w32(w, type | (uint32_t)flags << 16);
	w32(w, len);
	w64(w, tag);
}

static void w_item(struct wire *w, uint64_t vaddr, uint32_t nr, uint32_t kind, uint32_t len,
		   uint32_t csum)
{
	w64(w, vaddr);
	w32(w, nr);
	w32(w, kind);
	w32(w, len);
	w32(w, csum);
}

struct pair {
	int a, b; /* a: the side under test, b: the liar */
	struct pxf_conn *c;
};

static void pair_open(struct pair *p, int timeout_ms)
{
	int sv[2];

	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	p->a = sv[0];
	p->b = sv[1];
	UT_OK(pxf_conn_create(&p->c, p->a, timeout_ms));
}

static void pair_close(struct pair *p)
{
	pxf_conn_free(p->c);
	close(p->a);
	if (p->b >= 0)
		close(p->b);
}

static void send_wire(struct pair *p, const struct wire *w)
{
	UT_EQ(write(p->b, w->b, w->n), w->n);
}

/* What the side under test sent back: the first message's type and, for ERROR, its errno. */
static void peer_answer(struct pair *p, uint16_t *type, uint32_t *err)
{
	uint8_t buf[4096];
	ssize_t n;

	n = recv(p->b, buf, sizeof(buf), MSG_DONTWAIT);
	UT_GE(n, 20);
	*type = buf[4] | buf[5] << 8;
	*err = n >= 24 ? le32toh(*(uint32_t *)(buf + 20)) : 0;
}

/* A client that breaks the protocol, against pxf_serve: error, ERROR sent, no hang. */
static void hostile_request(const char *what, const struct wire *w, bool close_after, int want)
{
	struct pair p;
	uint16_t type;
	uint32_t err;
	int ret;

	pair_open(&p, 300);
	send_wire(&p, w);
	if (close_after)
		shutdown(p.b, SHUT_WR);
	ret = pxf_serve(p.c, lookup, NULL);
	if (ret != want)
		UT_FAIL("%s: pxf_serve returned %s, expected %s (%s)", what, unit_errno_name(ret),
			unit_errno_name(want), pxf_last_error(p.c));
	if (want == -EBADMSG) {
		peer_answer(&p, &type, &err);
		UT_EQ(type, PXF_ERROR);
		UT_EQ(err, EINVAL);
	}
	unit_log("%-36s -> %s", what, pxf_last_error(p.c));
	pair_close(&p);
}

static void get_pages(struct wire *w, uint32_t len, uint64_t vaddr, uint32_t nr, uint32_t rsv)
{
	w->n = 0;
	w_hdr(w, PXF_MAGIC, PXF_GET_PAGES, 0, len, 7);
	w64(w, OWNER);
	w64(w, vaddr);
	w32(w, nr);
	w32(w, rsv);
}

static void test_hostile_client(void)
{
	struct wire w;

	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_GET_PAGES, 0, 1u << 30, 1);
	hostile_request("oversized length", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC ^ 1, PXF_GET_PAGES, 0, 24, 1);
	hostile_request("wrong magic", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, 99, 0, 0, 1);
	hostile_request("unknown type", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_GET_PAGES, PXF_F_MORE, 24, 1);
	hostile_request("flags on a request", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_PAGES, 0, 8, 1);
	w64(&w, 0);
	hostile_request("an answer sent as a request", &w, false, -EBADMSG);
	get_pages(&w, 24, 0x1000, 0, 0);
	hostile_request("zero pages", &w, false, -EBADMSG);
	get_pages(&w, 24, 0x1000, PXF_MAX_REQ_PAGES + 1, 0);
	hostile_request("too many pages", &w, false, -EBADMSG);
	get_pages(&w, 24, 0x1001, 1, 0);
	hostile_request("unaligned address", &w, false, -EBADMSG);
	get_pages(&w, 24, UINT64_MAX & ~(PG - 1), 2, 0);
	hostile_request("range that wraps", &w, false, -EBADMSG);
	get_pages(&w, 24, 0x1000, 1, 5);
	hostile_request("reserved field set", &w, false, -EBADMSG);
	get_pages(&w, 20, 0x1000, 1, 0);
	w.n -= 4;
	hostile_request("request too short", &w, false, -EBADMSG);
	get_pages(&w, 24, 0x1000, 1, 0);
	w.n = 10;
	hostile_request("header cut, peer gone", &w, true, -ECONNRESET);
	get_pages(&w, 24, 0x1000, 1, 0);
	w.n = 30;
	hostile_request("payload cut, peer gone", &w, true, -ECONNRESET);
	hostile_request("payload cut, peer silent", &w, false, -ETIMEDOUT);
	w.n = 0;
	hostile_request("nothing, peer gone", &w, true, 0);
}

static void test_hostile_hello(void)
{
	struct pair p;
	struct wire w;
	uint16_t type;
	uint32_t err;

	/* a client of another version */
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_HELLO, 0, 24, 1);
	w32(&w, PXF_VERSION + 1);
	w32(&w, PG);
	w_bytes(&w, unit_uuid, PGS_UUID_LEN);
	send_wire(&p, &w);
	UT_ERR(pxf_accept_hello(p.c, unit_uuid), -EPROTO);
	peer_answer(&p, &type, &err);
	UT_EQ(type, PXF_ERROR);
	UT_EQ(err, EPROTO);
	pair_close(&p);
	/* a request before HELLO */
	pair_open(&p, 300);
	get_pages(&w, 24, 0x1000, 1, 0);
	send_wire(&p, &w);
	UT_ERR(pxf_accept_hello(p.c, unit_uuid), -EBADMSG);
	pair_close(&p);
	/* a HELLO of the right version but the wrong size */
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_HELLO, 0, 8, 1);
	w32(&w, PXF_VERSION);
	w32(&w, PG);
	send_wire(&p, &w);
	UT_ERR(pxf_accept_hello(p.c, unit_uuid), -EBADMSG);
	pair_close(&p);

	/* a server of another version, and one that answers for another dump */
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_HELLO_OK, 0, 24, 1);
	w32(&w, PXF_VERSION + 1);
	w32(&w, PG);
	w_bytes(&w, unit_uuid, PGS_UUID_LEN);
	send_wire(&p, &w);
	UT_ERR(pxf_hello(p.c, unit_uuid), -EPROTO);
	pair_close(&p);
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_ERROR, 0, 8 + 5, 1);
	w32(&w, EPROTO);
	w32(&w, 5);
	w_bytes(&w, "nope!", 5);
	send_wire(&p, &w);
	UT_ERR(pxf_hello(p.c, unit_uuid), -EPROTO);
	UT_NONNULL(strstr(pxf_last_error(p.c), "nope!"));
	pair_close(&p);
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_HELLO_OK, 0, 24, 1);
	w32(&w, PXF_VERSION);
	w32(&w, PG);
	w_bytes(&w, "0123456789abcdef", PGS_UUID_LEN);
	send_wire(&p, &w);
	UT_ERR(pxf_hello(p.c, unit_uuid), -ESTALE);
	pair_close(&p);
	/* silence */
	pair_open(&p, 200);
	UT_ERR(pxf_hello(p.c, unit_uuid), -ETIMEDOUT);
	pair_close(&p);
}

/* A server that answers GET_PAGES(tag 1, 0x10000, 4 pages) with w: pxf_read must say want. */
static void hostile_answer(const char *what, const struct wire *w, bool close_after, int want)
{
	uint8_t dst[4 * PG];
	struct pair p;
	int ret;

	pair_open(&p, 300);
	send_wire(&p, w);
	if (close_after)
		shutdown(p.b, SHUT_WR);
	memset(dst, 0xa5, sizeof(dst));
	ret = pxf_read(p.c, OWNER, 0x10000, 4, dst);
	if (ret != want)
		UT_FAIL("%s: pxf_read returned %s, expected %s (%s)", what, unit_errno_name(ret),
			unit_errno_name(want), pxf_last_error(p.c));
	unit_log("%-36s -> %s", what, pxf_last_error(p.c));
	pair_close(&p);
}

/* A PAGES answer with the given items (at most 4), frame bytes taken from data. */
static void pages(struct wire *w, uint64_t tag, int nr, const uint64_t *va, const uint32_t *np,
		  const uint32_t *kind, const uint32_t *len, const uint32_t *csum,
		  const uint8_t *data)
{
	size_t total = 8;
	int i;

	for (i = 0; i < nr; i++)
		total += PXF_ITEM_SIZE + len[i];
	w->n = 0;
	w_hdr(w, PXF_MAGIC, PXF_PAGES, 0, total, tag);
	w32(w, nr);
	w32(w, 0);
	for (i = 0; i < nr; i++) {
		w_item(w, va[i], np[i], kind[i], len[i], csum[i]);
		w_bytes(w, data, len[i]);
	}
}

static void test_hostile_server(void)
{
	uint8_t raw[4 * PG], enc[4 * PG], dst[4 * PG];
	struct frame_codec *codec = NULL;
	uint32_t zlen, zcs, rcs;
	struct wire w;
	ssize_t n;
	bool israw;

	unit_fill_heaplike(raw, sizeof(raw), 1);
	UT_OK(frame_codec_create(&codec, 1));
	n = frame_encode(codec, raw, sizeof(raw), enc, sizeof(enc), &israw);
	UT_GT(n, 0);
	UT_ASSERT(!israw);
	zlen = n;
	zcs = frame_csum(enc, zlen);
	rcs = frame_csum(raw, sizeof(raw));
	frame_codec_free(codec);

	/* the honest answers first: they must pass, or the lies below prove nothing */
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	hostile_answer("honest zstd frame", &w, false, 1);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_RAW},
	      (uint32_t[]){4 * PG}, (uint32_t[]){rcs}, raw);
	hostile_answer("honest raw frame", &w, false, 1);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_HOLE},
	      (uint32_t[]){0}, (uint32_t[]){0}, raw);
	hostile_answer("honest hole", &w, false, 0);
	pages(&w, 1, 2, (uint64_t[]){0x10000, 0x12000}, (uint32_t[]){2, 4},
	      (uint32_t[]){PXF_ITEM_HOLE, PXF_ITEM_RAW}, (uint32_t[]){0, 4 * PG},
	      (uint32_t[]){0, rcs}, raw);
	hostile_answer("honest hole + frame sticking out", &w, false, 1);

	/* now the lies */
	pages(&w, 2, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	hostile_answer("answer for another tag", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs ^ 1}, enc);
	hostile_answer("checksum mismatch", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){5}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	hostile_answer("frame claims more pages than it has", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_RAW},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	hostile_answer("raw frame of the wrong size", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){1}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	hostile_answer("zstd frame larger than its pages", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x11000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_RAW},
	      (uint32_t[]){4 * PG}, (uint32_t[]){rcs}, raw);
	hostile_answer("range not covered at its start", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){2}, (uint32_t[]){PXF_ITEM_HOLE},
	      (uint32_t[]){0}, (uint32_t[]){0}, raw);
	hostile_answer("range not covered at its end", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){8}, (uint32_t[]){PXF_ITEM_HOLE},
	      (uint32_t[]){0}, (uint32_t[]){0}, raw);
	hostile_answer("hole past the range", &w, false, -EBADMSG);
	pages(&w, 1, 2, (uint64_t[]){0x10000, 0x11000}, (uint32_t[]){2, 3},
	      (uint32_t[]){PXF_ITEM_HOLE, PXF_ITEM_HOLE}, (uint32_t[]){0, 0}, (uint32_t[]){0, 0},
	      raw);
	hostile_answer("overlapping items", &w, false, -EBADMSG);
	pages(&w, 1, 2, (uint64_t[]){0x10000, 0x14000}, (uint32_t[]){4, 1},
	      (uint32_t[]){PXF_ITEM_HOLE, PXF_ITEM_HOLE}, (uint32_t[]){0, 0}, (uint32_t[]){0, 0},
	      raw);
	hostile_answer("items past the range", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){7}, (uint32_t[]){0},
	      (uint32_t[]){0}, raw);
	hostile_answer("unknown item kind", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_HOLE},
	      (uint32_t[]){0}, (uint32_t[]){0}, raw);
	w.b[20] = 3; /* nr_items says 3, there is one */
	hostile_answer("item count beyond the message", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	w.b[8] += 1; /* one byte more in the header's length than the items use */
	w.b[w.n++] = 0;
	hostile_answer("bytes after the last item", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	w.b[PXF_HDR_SIZE + 8 + 16] = 0xff; /* item len: beyond the message */
	w.b[PXF_HDR_SIZE + 8 + 17] = 0xff;
	hostile_answer("item length beyond the message", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_PAGES, 0, PXF_MAX_PAGES_PAYLOAD + 1, 1);
	hostile_answer("oversized length", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_INDEX, 0, 8, 1);
	w64(&w, 0);
	hostile_answer("wrong answer type", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_ERROR, 0, 8, 1);
	w32(&w, 0);
	w32(&w, 0);
	hostile_answer("ERROR with errno 0", &w, false, -EBADMSG);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_ERROR, 0, 10, 1);
	w32(&w, EIO);
	w32(&w, 100);
	w32(&w, 0);
	w.n -= 2;
	hostile_answer("ERROR text length lies", &w, false, -EBADMSG);
	pages(&w, 1, 1, (uint64_t[]){0x10000}, (uint32_t[]){4}, (uint32_t[]){PXF_ITEM_ZSTD},
	      (uint32_t[]){zlen}, (uint32_t[]){zcs}, enc);
	w.n -= 100;
	hostile_answer("answer cut, server gone", &w, true, -ECONNRESET);
	hostile_answer("answer cut, server silent", &w, false, -ETIMEDOUT);
	(void)dst;
}

static void test_hostile_index(void)
{
	struct pgs_entry *ents = NULL;
	struct pair p;
	struct wire w;
	size_t nr;

	/* overlapping entries */
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_INDEX, 0, 8 + 32, 1);
	w32(&w, 2);
	w32(&w, 0);
	w64(&w, 0x10000), w32(&w, 4), w32(&w, PGS_PE_PRESENT);
	w64(&w, 0x12000), w32(&w, 4), w32(&w, PGS_PE_PRESENT);
	send_wire(&p, &w);
	UT_ERR(pxf_get_index(p.c, OWNER, &ents, &nr), -EBADMSG);
	pair_close(&p);
	/* a count that does not match the length */
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_INDEX, 0, 8 + 16, 1);
	w32(&w, 2);
	w32(&w, 0);
	w64(&w, 0x10000), w32(&w, 4), w32(&w, PGS_PE_PRESENT);
	send_wire(&p, &w);
	UT_ERR(pxf_get_index(p.c, OWNER, &ents, &nr), -EBADMSG);
	pair_close(&p);
	/* MORE, then silence */
	pair_open(&p, 200);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_INDEX, PXF_F_MORE, 8 + 16, 1);
	w32(&w, 1);
	w32(&w, 0);
	w64(&w, 0x10000), w32(&w, 4), w32(&w, PGS_PE_PRESENT);
	send_wire(&p, &w);
	UT_ERR(pxf_get_index(p.c, OWNER, &ents, &nr), -ETIMEDOUT);
	pair_close(&p);
	/* a frame entry larger than any frame, and an entry with unknown flags */
	pair_open(&p, 300);
	w.n = 0;
	w_hdr(&w, PXF_MAGIC, PXF_INDEX, 0, 8 + 16, 1);
	w32(&w, 1);
	w32(&w, 0);
	w64(&w, 0x10000), w32(&w, PGS_MAX_FRAME_PAGES + 1), w32(&w, PGS_PE_PRESENT);
	send_wire(&p, &w);
	UT_ERR(pxf_get_index(p.c, OWNER, &ents, &nr), -EBADMSG);
	pair_close(&p);
	pair_open(&p, 300);
	w.b[PXF_HDR_SIZE + 8 + 8] = 4;
	w.b[PXF_HDR_SIZE + 8 + 12] = 0x41;
	send_wire(&p, &w);
	UT_ERR(pxf_get_index(p.c, OWNER, &ents, &nr), -EBADMSG);
	pair_close(&p);
}

/* Numbers for the report, over a unix socketpair on this machine. */
static void test_throughput(void)
{
	uint8_t *buf = unit_xmalloc(PXF_MAX_REQ_PAGES * PG);
	struct fixture f;
	double t0, tb, tl;
	size_t i, pages = 0;

	start(&f, 16384, 34);
	UT_OK(pxf_hello(f.c, unit_uuid));
	t0 = unit_now();
	for (i = 0; i + 256 <= f.m.n; i += 256) {
		int ret = pxf_read(f.c, OWNER, f.m.base + i * PG, 256, buf);

		UT_ASSERT(ret >= 0 || ret == -ENOENT);
		pages += 256;
	}
	tb = unit_now() - t0;
	t0 = unit_now();
	for (i = 0; i < 2000; i++)
		UT_ASSERT(pxf_read(f.c, OWNER, f.m.base + (i * 7 % f.m.n) * PG, 1, buf) >= -ENOENT);
	tl = unit_now() - t0;
	unit_log("socketpair, server thread: bulk %.2f GB/s of pages (256-page requests), "
		 "one-page request %.1f us round trip with decode",
		 pages * PG / tb / 1e9, tl / 2000 * 1e6);
	stop(&f);
	free(buf);
}

static const struct unit_test tests[] = {
    {"client and server agree with the page store", test_round_trip, 0},
    {"pipelined requests", test_pipelined, 0},
    {"hello with another dump's uuid", test_hello_mismatch, 0},
    {"hostile client: lengths, fields, cuts, silence", test_hostile_client, 0},
    {"hostile hello: versions, sizes, uuids, silence", test_hostile_hello, 0},
    {"hostile server: PAGES answers that lie", test_hostile_server, 0},
    {"hostile server: INDEX answers that lie", test_hostile_index, 0},
    {"throughput", test_throughput, 0},
};

UNIT_MAIN(tests)
