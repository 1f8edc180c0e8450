/* page-xfer's on-demand server (pxf_serve_backend), as a post-copy source uses it: frames made
 * from live memory when asked, checked by the client; a backend that lies is caught. */
#include <errno.h>
#include <pthread.h>
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

#define LIVE_PAGES 256

struct live {
	uint8_t *mem; /* "the frozen task's memory" */
	uint64_t base;
	struct pgs_entry ents[LIVE_PAGES];
	size_t nr;
	struct frame_codec *codec;
	int lie; /* 0: honest; 1: too long; 2: raw of the wrong size; 3: -EIO */
	int calls;
};

static size_t live_nr(void *priv)
{
	return ((struct live *)priv)->nr;
}

static const struct pgs_entry *live_entry(void *priv, size_t i)
{
	return &((struct live *)priv)->ents[i];
}

static ssize_t live_read(void *priv, size_t i, void *dst, size_t cap, bool *raw, uint32_t *csum)
{
	struct live *l = priv;
	const struct pgs_entry *e = &l->ents[i];
	ssize_t n;

	l->calls++;
	if (l->lie == 3)
		return -EIO;
	n = frame_encode(l->codec, l->mem + (e->vaddr - l->base), e->nr_pages * PG, dst, cap, raw);
	if (n > 0)
		*csum = frame_csum(dst, n);
	if (l->lie == 1)
		return cap + 1;
	if (l->lie == 2) {
		*raw = true;
		return n > 1 ? n - 1 : 1;
	}
	return n;
}

static const struct pxf_backend_ops live_ops = {
    .nr_entries = live_nr,
    .entry = live_entry,
    .read_stored = live_read,
};

static int live_lookup(void *arg, uint64_t id, struct pxf_backend *b)
{
	if (id != OWNER)
		return -ENOENT;
	b->ops = &live_ops;
	b->priv = arg;
	return 0;
}

struct live_server {
	int fd;
	struct live *l;
	int ret;
};

static void *live_server_main(void *arg)
{
	struct live_server *s = arg;
	struct pxf_conn *c = NULL;

	s->ret = pxf_conn_create(&c, s->fd, 5000);
	if (!s->ret)
		s->ret = pxf_accept_hello(c, unit_uuid);
	if (!s->ret)
		s->ret = pxf_serve_backend(c, live_lookup, s->l);
	pxf_conn_free(c);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static void test_backend(void)
{
	uint8_t *got = unit_xmalloc(LIVE_PAGES * PG);
	struct live_server srv;
	struct pgs_entry *ents = NULL;
	struct pxf_conn *c = NULL;
	struct live l = {0};
	pthread_t th;
	size_t i, nr;
	int sv[2];

	/* frames of 16 pages over every non-zero run, the way the writer cuts them */
	l.mem = unit_xmalloc(LIVE_PAGES * PG);
	l.base = 0x200000;
	unit_fill_heaplike(l.mem, LIVE_PAGES * PG, 8);
	for (i = 0; i < LIVE_PAGES; i += 40)
		memset(l.mem + i * PG, 0, 3 * PG);
	unit_fill_random(l.mem + 100 * PG, 16 * PG, 2); /* some that stay raw */
	for (i = 0; i < LIVE_PAGES;) {
		size_t j = i;

		if (!l.mem[i * PG] && !memcmp(l.mem + i * PG, l.mem + i * PG + 1, PG - 1)) {
			i++;
			continue;
		}
		while (j < LIVE_PAGES && j - i < 16 && (j + 1) % 16 != 0 &&
		       memcmp(l.mem + j * PG, l.mem + j * PG + 1, PG - 1))
			j++;
		j++;
		l.ents[l.nr].vaddr = l.base + i * PG;
		l.ents[l.nr].nr_pages = j - i;
		l.ents[l.nr].flags = PGS_PE_PRESENT | PGS_PE_LAZY;
		l.nr++;
		i = j;
	}
	UT_OK(frame_codec_create(&l.codec, 1));
	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	srv = (struct live_server){sv[1], &l, 0};
	UT_OK(pthread_create(&th, NULL, live_server_main, &srv));
	UT_OK(pxf_conn_create(&c, sv[0], 5000));
	UT_OK(pxf_hello(c, unit_uuid));
	UT_OK(pxf_get_index(c, OWNER, &ents, &nr));
	UT_EQ(nr, l.nr);
	free(ents);
	/* everything, in requests of every size */
	for (i = 1; i <= LIVE_PAGES; i *= 2) {
		size_t p;

		for (p = 0; p < LIVE_PAGES; p += i) {
			uint8_t want[PG];
			int ret = pxf_read(c, OWNER, l.base + p * PG, i, got);

			UT_GE(ret, 0);
			if (ret == 1)
				UT_MEMEQ(got, l.mem + p * PG, i * PG);
			else
				UT_ASSERT(!memcmp(l.mem + p * PG, memset(want, 0, PG), PG));
		}
	}
	/* a backend that lies is caught before the client sees it, and the connection goes on */
	for (l.lie = 1; l.lie <= 3; l.lie++)
		UT_ERR(pxf_read(c, OWNER, l.base + 16 * PG, 16, got), -EIO);
	l.lie = 0;
	UT_EQ(pxf_read(c, OWNER, l.base + 16 * PG, 16, got), 1);
	UT_MEMEQ(got, l.mem + 16 * PG, 16 * PG);
	unit_log("%zu frames, %d made on request", l.nr, l.calls);
	shutdown(sv[0], SHUT_WR);
	UT_OK(pthread_join(th, NULL));
	UT_EQ(srv.ret, 0);
	pxf_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	frame_codec_free(l.codec);
	free(l.mem);
	free(got);
}

static const struct unit_test tests[] = {
    {"a backend that makes frames on request", test_backend, 0},
};

UNIT_MAIN(tests)
