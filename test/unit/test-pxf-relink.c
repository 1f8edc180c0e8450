/* A link that breaks: a reset between messages is an error for the server (so it waits for the
 * client to come back), a clean end is not; a broken remote client is given a new connection and
 * its sources read on through it, with their indexes; a server of another dump is refused. */
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
	int lfd, fd, dirfd;
	const uint8_t *uuid;
	pthread_t th;
	int ret;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pxf_store_dir *d = NULL;
	struct pxf_conn *c = NULL;

	s->ret = pxf_tcp_accept(s->lfd, 5000, &s->fd);
	if (s->ret)
		return NULL;
	s->ret = pxf_store_dir_open(&d, s->dirfd, s->uuid);
	if (!s->ret)
		s->ret = pxf_conn_create(&c, s->fd, 5000);
	if (!s->ret)
		s->ret = pxf_accept_hello(c, s->uuid);
	if (!s->ret)
		s->ret = pxf_serve(c, pxf_store_dir_lookup, d);
	pxf_conn_free(c);
	pxf_store_dir_close(d);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* A server for one connection on lfd, and a client socket connected to it. */
static int serve_one(struct server *s, int lfd, unsigned short port, int dirfd, const uint8_t *uuid)
{
	int fd;

	memset(s, 0, sizeof(*s));
	s->lfd = lfd;
	s->fd = -1;
	s->dirfd = dirfd;
	s->uuid = uuid;
	UT_OK(pthread_create(&s->th, NULL, server_main, s));
	UT_OK(pxf_tcp_connect("127.0.0.1", port, 2000, &fd));
	return fd;
}

static void server_join(struct server *s)
{
	UT_OK(pthread_join(s->th, NULL));
	if (s->fd >= 0)
		close(s->fd);
}

/* the client's end of the connection, reset (RST) rather than closed */
static void reset(int fd)
{
	struct linger l = {1, 0};

	UT_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)));
	close(fd);
}

static void test_reset_is_not_an_end(void)
{
	struct server s;
	struct pxf_conn *c = NULL;
	unsigned short port;
	char dir[256];
	struct model m;
	int dfd, lfd, fd;

	dfd = unit_mkdtemp(dir, sizeof(dir));
	model_write(&m, dfd, "4242", 200, 0, 5);
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &lfd, &port));

	/* a clean end between messages: the server is done, no error */
	fd = serve_one(&s, lfd, port, dfd, unit_uuid);
	UT_OK(pxf_conn_create(&c, fd, 2000));
	UT_OK(pxf_hello(c, unit_uuid));
	pxf_conn_free(c);
	close(fd);
	server_join(&s);
	UT_EQ(s.ret, 0);

	/* a reset between messages: a link that broke, not a client that finished */
	fd = serve_one(&s, lfd, port, dfd, unit_uuid);
	UT_OK(pxf_conn_create(&c, fd, 2000));
	UT_OK(pxf_hello(c, unit_uuid));
	pxf_conn_free(c);
	reset(fd);
	server_join(&s);
	UT_EQ(s.ret, -ECONNRESET);

	close(lfd);
	model_free(&m);
	close(dfd);
}

static void test_client_reconnect(void)
{
	uint8_t *got = unit_xmalloc(64 * PG), *want = unit_xmalloc(64 * PG), other[PGS_UUID_LEN];
	struct pxf_client *cl = NULL;
	struct pxf_source *src = NULL;
	struct server s, s2;
	unsigned short port;
	char dir[256];
	struct model m;
	int dfd, lfd, fd, exp, k;
	size_t page;

	dfd = unit_mkdtemp(dir, sizeof(dir));
	model_write(&m, dfd, "4242", 800, 0, 6);
	UT_OK(pxf_tcp_listen("127.0.0.1", 0, &lfd, &port));
	fd = serve_one(&s, lfd, port, dfd, unit_uuid);
	UT_OK(pxf_client_open(&cl, fd, unit_uuid, 2000));
	UT_OK(pxf_source_open(&src, cl, OWNER));
	UT_EQ(pxf_client_broken(cl), 0);

	/* not broken: a new connection is not taken (closed, and the old one kept) */
	fd = serve_one(&s2, lfd, port, dfd, unit_uuid);
	UT_OK(pxf_client_reconnect(cl, fd, unit_uuid));
	server_join(&s2);
	UT_EQ(s2.ret, -ECONNRESET); /* closed before its HELLO */

	/* the server's end goes away: the client breaks, and stays broken */
	shutdown(s.fd, SHUT_RDWR);
	server_join(&s);
	page = 10;
	UT_ASSERT(pxf_source_read(src, m.base + page * PG, 16, got) < 0);
	UT_ASSERT(pxf_client_broken(cl) < 0);
	UT_ASSERT(pxf_source_read(src, m.base + page * PG, 16, got) < 0);

	/* a server of another dump is refused, and the client stays broken */
	memcpy(other, unit_uuid, sizeof(other));
	other[3] ^= 0x5a;
	fd = serve_one(&s2, lfd, port, dfd, other);
	UT_ERR(pxf_client_reconnect(cl, fd, unit_uuid), -ESTALE);
	server_join(&s2);
	UT_ASSERT(pxf_client_broken(cl) < 0);

	/* reconnected: the same source reads on, with the index it had */
	fd = serve_one(&s, lfd, port, dfd, unit_uuid);
	UT_OK(pxf_client_reconnect(cl, fd, unit_uuid));
	UT_EQ(pxf_client_broken(cl), 0);
	for (k = 0; k < 20; k++) {
		page = (k * 37) % (m.n - 64);
		exp = model_expect(&m, page, 64, want);
		UT_EQ(pxf_source_read(src, m.base + page * PG, 64, got), exp);
		if (exp == 1)
			UT_MEMEQ(got, want, 64 * PG);
	}
	pxf_source_close(src);
	pxf_client_close(cl);
	server_join(&s);
	UT_EQ(s.ret, 0);
	close(lfd);
	model_free(&m);
	close(dfd);
	free(got);
	free(want);
}

static const struct unit_test tests[] = {
    {"a reset between messages is an error, a clean end is not", test_reset_is_not_an_end, 0},
    {"a broken client reconnects and its sources read on", test_client_reconnect, 0},
};

UNIT_MAIN(tests)
