/* pxf_serve_src, the server of memory that is not stored (the post-copy source): what a client
 * reads through it equals the memory, whatever the level (raw, zstd, adapting); zero entries,
 * gaps, frames that stick out of the range; an owner it does not know; a read that fails is an
 * ERROR for that request and the connection goes on; hostile requests close the connection. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/unit.h"
#include "page-xfer.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE
#define OWNER 777
#define BASE 0x7f0000000000ULL
#define NPAGES 256 /* the memory: 1 MiB from BASE */

static const uint8_t uuid[PGS_UUID_LEN] = "post-copy-uuid!";

struct mem {
	uint8_t *data; /* NPAGES pages as at BASE */
	struct pgs_entry ents[64];
	size_t nr;
	uint64_t fail_vaddr; /* read of the entry there fails */
	int reads;
};

/* Entries as the dump cuts them: aligned windows of 16 pages, with gaps. */
static void mem_init(struct mem *m, uint64_t seed)
{
	size_t pg;

	memset(m, 0, sizeof(*m));
	m->data = unit_xmalloc(NPAGES * PG);
	unit_fill_heaplike(m->data, NPAGES * PG, seed);
	memset(m->data + 32 * PG, 0, 16 * PG);			/* an entry that reads as zero */
	unit_fill_random(m->data + 64 * PG, 16 * PG, seed + 1); /* one that does not compress */
	for (pg = 0; pg < NPAGES; pg += 16) {
		struct pgs_entry *e = &m->ents[m->nr];

		if (pg == 96 || pg == 160) /* gaps: not in the index */
			continue;
		e->vaddr = BASE + pg * PG;
		e->nr_pages = pg == 128 ? 5 : 16; /* a short one: pages 133..143 are a gap */
		e->flags = PGS_PE_PRESENT | PGS_PE_LAZY;
		m->nr++;
	}
}

static int m_index(void *arg, uint64_t id, const struct pgs_entry **ents, size_t *nr)
{
	struct mem *m = arg;

	if (id != OWNER)
		return -ENOENT;
	*ents = m->ents;
	*nr = m->nr;
	return 0;
}

static int m_read(void *arg, uint64_t id, size_t i, void *dst)
{
	struct mem *m = arg;
	const struct pgs_entry *e = &m->ents[i];

	if (id != OWNER || i >= m->nr)
		return -ENOENT;
	if (e->vaddr == m->fail_vaddr)
		return -EFAULT;
	m->reads++;
	memcpy(dst, m->data + (e->vaddr - BASE), (size_t)e->nr_pages * PG);
	return 0;
}

static const struct pxf_src_ops ops = {.index = m_index, .read = m_read};

struct server {
	int fd;
	struct mem *m;
	int level;
	struct pxf_adapt *adapt;
	int ret;
	pthread_t th;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pxf_conn *c = NULL;

	s->ret = pxf_conn_create(&c, s->fd, 10000);
	if (!s->ret)
		s->ret = pxf_accept_hello(c, uuid);
	if (!s->ret)
		s->ret = pxf_serve_src(c, &ops, s->m, s->level, s->adapt);
	pxf_conn_free(c);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static struct pxf_conn *start(struct server *s, struct mem *m, int level, struct pxf_adapt *a,
			      int *cfd)
{
	struct pxf_conn *c;
	int sv[2];

	UT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	s->fd = sv[0];
	s->m = m;
	s->level = level;
	s->adapt = a;
	UT_OK(pthread_create(&s->th, NULL, server_main, s));
	*cfd = sv[1];
	UT_OK(pxf_conn_create(&c, sv[1], 10000));
	UT_OK(pxf_hello(c, uuid));
	return c;
}

static void stop(struct server *s, struct pxf_conn *c, int cfd)
{
	pxf_conn_free(c);
	close(cfd);
	pthread_join(s->th, NULL);
	close(s->fd);
}

/* The memory as a client must see it: index entries' pages, zero elsewhere. */
static void expected(const struct mem *m, uint8_t *want)
{
	size_t i;

	memset(want, 0, NPAGES * PG);
	for (i = 0; i < m->nr; i++)
		memcpy(want + (m->ents[i].vaddr - BASE), m->data + (m->ents[i].vaddr - BASE),
		       (size_t)m->ents[i].nr_pages * PG);
}

static void check_reads(int level, struct pxf_adapt *a)
{
	uint8_t *want = unit_xmalloc(NPAGES * PG), *got = unit_xmalloc(NPAGES * PG);
	struct pgs_entry *ents = NULL;
	struct server s;
	struct pxf_conn *c;
	struct mem m;
	size_t nr, i;
	int cfd, pass;

	mem_init(&m, 42 + level);
	expected(&m, want);
	c = start(&s, &m, level, a, &cfd);
	UT_OK(pxf_get_index(c, OWNER, &ents, &nr));
	UT_EQ(nr, m.nr);
	for (i = 0; i < nr; i++) {
		UT_EQ(ents[i].vaddr, m.ents[i].vaddr);
		UT_EQ(ents[i].nr_pages, m.ents[i].nr_pages);
		UT_EQ(ents[i].flags, PGS_PE_PRESENT | PGS_PE_LAZY);
	}
	/* twice: the second pass runs on what an adapting server measured in the first */
	for (pass = 0; pass < 2; pass++) {
		/* the whole memory in one request, then ranges that cut entries and gaps */
		memset(got, 0xaa, NPAGES * PG);
		UT_EQ(pxf_read(c, OWNER, BASE, NPAGES, got), 1);
		UT_MEMEQ(got, want, NPAGES * PG);
		for (i = 0; i + 7 <= NPAGES; i += 7) {
			int r;

			memset(got, 0, 7 * PG);
			r = pxf_read(c, OWNER, BASE + i * PG, 7, got);
			UT_GE(r, 0);
			/* 1: data with holes zero-filled; 0: all hole, got left as it was (zero) */
			UT_MEMEQ(got, want + i * PG, 7 * PG);
		}
		/* every entry alone, as the fault path asks */
		for (i = 0; i < nr; i++) {
			size_t len = (size_t)ents[i].nr_pages * PG;

			UT_EQ(pxf_read(c, OWNER, ents[i].vaddr, ents[i].nr_pages, got), 1);
			UT_MEMEQ(got, want + (ents[i].vaddr - BASE), len);
		}
	}
	free(ents);
	stop(&s, c, cfd);
	UT_EQ(s.ret, 0);
	free(m.data);
	free(want);
	free(got);
}

static void test_raw(void)
{
	check_reads(PXF_LEVEL_RAW, NULL);
}

static void test_zstd(void)
{
	check_reads(1, NULL);
}

static void test_adapt(void)
{
	struct pxf_adapt a;

	memset(&a, 0, sizeof(a));
	check_reads(1, &a);
	/* a whole-memory answer (1 MiB) is big enough to measure the link and the compressor */
	UT_GT(a.link_ps, 0);
	UT_GT(a.comp_ps, 0);
	UT_GT(a.ratio, 0);
	UT_LE(a.ratio, 1000000);
	unit_log("socketpair: sending %.3f ns/byte, compressing %.3f ns/byte, ratio %.3f",
		 a.link_ps / 1e3, a.comp_ps / 1e3, a.ratio / 1e6);
}

/* A failed read is an ERROR for that request only; an unknown owner is ENOENT. */
static void test_errors_keep_serving(void)
{
	uint8_t *got = unit_xmalloc(NPAGES * PG);
	struct pgs_entry *ents = NULL;
	struct server s;
	struct pxf_conn *c;
	struct mem m;
	size_t nr;
	int cfd;

	mem_init(&m, 7);
	m.fail_vaddr = BASE + 48 * PG;
	c = start(&s, &m, 1, NULL, &cfd);
	UT_ERR(pxf_get_index(c, OWNER + 1, &ents, &nr), -ENOENT);
	UT_ERR(pxf_read(c, OWNER + 1, BASE, 1, got), -ENOENT);
	UT_ERR(pxf_read(c, OWNER, BASE + 40 * PG, 16, got), -EFAULT);
	UT_ASSERT(strstr(pxf_last_error(c), "cannot read the pages"));
	UT_EQ(pxf_read(c, OWNER, BASE, 16, got), 1);
	UT_MEMEQ(got, m.data, 16 * PG);
	stop(&s, c, cfd);
	UT_EQ(s.ret, 0);
	free(m.data);
	free(got);
}

/* Requests a client must never send: the server answers EINVAL and closes. */
static void test_hostile_requests(void)
{
	static const struct {
		const char *name;
		uint64_t vaddr;
		uint32_t nr;
	} bad[] = {
	    {"zero pages", BASE, 0},
	    {"unaligned", BASE + 1, 1},
	    {"too many pages", BASE, PXF_MAX_REQ_PAGES + 1},
	    {"wraps around", ~0ULL & ~(PG - 1), 2},
	};
	size_t k;

	for (k = 0; k < UNIT_ARRAY_SIZE(bad); k++) {
		uint8_t hdr[PXF_HDR_SIZE + 24] = {0}, ans[512];
		struct server s;
		struct pxf_conn *c;
		struct mem m;
		uint32_t v32;
		uint64_t v64;
		ssize_t n;
		int cfd;

		mem_init(&m, k);
		c = start(&s, &m, 1, NULL, &cfd);
		v32 = PXF_MAGIC;
		memcpy(hdr, &v32, 4);
		v32 = PXF_GET_PAGES;
		memcpy(hdr + 4, &v32, 4);
		v32 = 24;
		memcpy(hdr + 8, &v32, 4);
		v64 = 99;
		memcpy(hdr + 12, &v64, 8);
		v64 = OWNER;
		memcpy(hdr + 20, &v64, 8);
		memcpy(hdr + 28, &bad[k].vaddr, 8);
		memcpy(hdr + 36, &bad[k].nr, 4);
		UT_EQ(write(cfd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
		n = recv(cfd, ans, sizeof(ans), MSG_WAITALL);
		UT_GE(n, PXF_HDR_SIZE + 8);
		memcpy(&v32, ans + 4, 4);
		UT_EQ(v32 & 0xffff, PXF_ERROR);
		memcpy(&v32, ans + PXF_HDR_SIZE, 4);
		UT_EQ(v32, EINVAL);
		pthread_join(s.th, NULL);
		UT_ERR(s.ret, -EBADMSG);
		pxf_conn_free(c);
		close(cfd);
		close(s.fd);
		free(m.data);
		unit_log("%s: refused, connection closed", bad[k].name);
	}
}

/* Random messages, some with a valid header: the server answers, refuses or closes, never
 * crashes or hangs (each connection ends when we close ours). Bounded to about a second. */
static void test_fuzz(void)
{
	uint64_t seed = 0x5eed, x;
	double t0 = unit_now();
	int iters = 0;

	while (unit_now() - t0 < 1.0 && iters < 3000) {
		uint8_t msg[PXF_HDR_SIZE + 64];
		struct server s;
		struct pxf_conn *c;
		struct mem m;
		size_t len;
		uint32_t v;
		int cfd, k;

		mem_init(&m, iters);
		c = start(&s, &m, iters % 2 ? 1 : PXF_LEVEL_RAW, NULL, &cfd);
		unit_fill_random(msg, sizeof(msg), seed + iters);
		memcpy(&x, msg, 8);
		len = PXF_HDR_SIZE + x % 65;
		if (x & 0x100) { /* a plausible header, random the rest */
			v = PXF_MAGIC;
			memcpy(msg, &v, 4);
			v = 1 + (x >> 16) % 8; /* type, flags 0 */
			memcpy(msg + 4, &v, 4);
			v = (x >> 24) % 40;
			memcpy(msg + 8, &v, 4);
			if (x & 0x200) { /* a GET_PAGES of the right size */
				v = PXF_GET_PAGES;
				memcpy(msg + 4, &v, 4);
				v = 24;
				memcpy(msg + 8, &v, 4);
				len = PXF_HDR_SIZE + 24;
			}
		}
		for (k = 0; k < 3 && len; k++)
			if (send(cfd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
				break;
		shutdown(cfd, SHUT_WR);
		pthread_join(s.th, NULL);
		UT_ASSERT(s.ret <= 0 && s.ret > -4096);
		pxf_conn_free(c);
		close(cfd);
		close(s.fd);
		free(m.data);
		iters++;
	}
	unit_log("%d random connections", iters);
	UT_GT(iters, 100);
}

static const struct unit_test tests[] = {
    {"raw frames read back equal", test_raw, 0},
    {"zstd frames read back equal", test_zstd, 0},
    {"adapting level reads back equal and measures", test_adapt, 0},
    {"a failed read or unknown owner: error, then serving goes on", test_errors_keep_serving, 0},
    {"hostile requests: EINVAL and closed", test_hostile_requests, 0},
    {"random messages never crash the server", test_fuzz, 0},
};

UNIT_MAIN(tests)
