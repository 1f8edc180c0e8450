/* Pages from a remote page server (lazy-pages --page-server --address A --port P): each task's
 * index comes over the wire once, then frames on demand. The fault path has a connection of its
 * own, so a fault never waits on the wire behind background reads; the prefetch workers have
 * REMOTE_PF_CONNS more, so their requests travel and are served side by side.
 *
 * A connection that breaks is made again and the read that failed is asked again, for up to
 * --lazy-timeout from the break: the tasks wait on their faults meanwhile. The indexes stay (the
 * HELLO checks that the server still serves the same dump). When the source does not come back,
 * the read fails, or the daemon's watchdog fires first: either way the tasks are killed. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-pages.h"
#include "page-xfer.h"

#define REMOTE_CONNS 3 /* [0] the fault path, then the prefetch workers' */
#define REMOTE_PF_CONNS (REMOTE_CONNS - 1)

#define RECONNECT_PAUSE_MS 100

struct lp_remote {
	struct pxf_client *cl[REMOTE_CONNS];
	pthread_mutex_t relink[REMOTE_CONNS]; /* one thread reconnects a connection at a time */
	uint8_t uuid[PGS_UUID_LEN];
	int timeout_s;
	const char *address;
	int port;
};

/* One task: the same index through each connection. */
struct rsrc {
	struct lp_remote *r;
	pid_t pid;
	struct pxf_source *src[REMOTE_CONNS];
};

static int conn_of(int reader)
{
	return reader <= 0 ? 0 : 1 + (reader - 1) % REMOTE_PF_CONNS;
}

static size_t remote_nr(void *priv)
{
	return pxf_source_nr_entries(((struct rsrc *)priv)->src[0]);
}

static const struct pgs_entry *remote_entry(void *priv, size_t i)
{
	return pxf_source_entry(((struct rsrc *)priv)->src[0], i);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* What a broken link looks like, as opposed to a server that answers but refuses or lies. */
static bool link_error(int err)
{
	switch (-err) {
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case EPIPE:
	case ETIMEDOUT:
	case ENOTCONN:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
		return true;
	}
	return false;
}

/* A read on connection c failed with err: 0 once it is worth asking again (reconnected, or
 * another try is due), or the error to give up with. *lost_at: when this read first saw the link
 * broken (0: not yet). */
static int relink(struct lp_remote *r, int c, int err, uint64_t *lost_at)
{
	uint64_t now = now_ms(), limit = r->timeout_s * 1000ull;
	int ret, fd;

	if (!link_error(err) || !pxf_client_broken(r->cl[c]))
		return err;
	if (!*lost_at) {
		*lost_at = now;
		pr_warn("connection %d to the page server at %s:%d broke (%s): reconnecting for up "
			"to %d s, faults wait\n",
			c, r->address, r->port, pxf_client_last_error(r->cl[c]), r->timeout_s);
	} else if (now - *lost_at >= limit) {
		pr_err("the page server at %s:%d did not come back within %d s (--lazy-timeout)\n",
		       r->address, r->port, r->timeout_s);
		return err;
	}
	pthread_mutex_lock(&r->relink[c]);
	ret = 0;
	if (pxf_client_broken(r->cl[c])) {
		ret = pxf_tcp_connect(r->address, r->port, RECONNECT_PAUSE_MS * 10, &fd);
		if (!ret)
			ret = pxf_client_reconnect(r->cl[c], fd, r->uuid);
		if (!ret)
			pr_warn(
			    "connection %d to the page server at %s:%d made again after %llu ms\n",
			    c, r->address, r->port, (unsigned long long)(now_ms() - *lost_at));
	}
	pthread_mutex_unlock(&r->relink[c]);
	if (ret == -ESTALE) {
		pr_err("the page server at %s:%d now serves another dump than this image set's\n",
		       r->address, r->port);
		return ret;
	}
	if (ret) {
		pr_debug("reconnecting to %s:%d: %s\n", r->address, r->port, strerror(-ret));
		usleep(RECONNECT_PAUSE_MS * 1000);
	}
	return 0;
}

static int remote_read(void *priv, size_t i, void *dst, int reader)
{
	struct rsrc *s = priv;
	int c = conn_of(reader);
	uint64_t lost_at = 0;
	int ret;

	do
		ret = pxf_source_read_frame(s->src[c], i, dst);
	while (ret < 0 && !relink(s->r, c, ret, &lost_at));

	if (ret)
		pr_err("%d: pages at %#llx from the page server at %s:%d: %s\n", s->pid,
		       (unsigned long long)pxf_source_entry(s->src[0], i)->vaddr, s->r->address,
		       s->r->port, pxf_client_last_error(s->r->cl[c]));
	return ret;
}

static int remote_read_range(void *priv, uint64_t vaddr, unsigned long nr, void *dst, int reader)
{
	struct rsrc *s = priv;
	int c = conn_of(reader);
	uint64_t lost_at = 0;
	int ret;

	do
		ret = pxf_source_read(s->src[c], vaddr, nr, dst);
	while (ret < 0 && !relink(s->r, c, ret, &lost_at));

	if (ret == 0) /* all of it reads as zero */
		memset(dst, 0, nr * PGS_PAGE_SIZE);
	if (ret < 0)
		pr_err("%d: pages %#llx-%#llx from the page server at %s:%d: %s\n", s->pid,
		       (unsigned long long)vaddr, (unsigned long long)(vaddr + nr * PGS_PAGE_SIZE),
		       s->r->address, s->r->port, pxf_client_last_error(s->r->cl[c]));
	return ret < 0 ? ret : 0;
}

static void remote_close(void *priv)
{
	struct rsrc *s = priv;
	int c;

	for (c = 0; c < REMOTE_CONNS; c++)
		pxf_source_close(s->src[c]);
	free(s);
}

static const struct lp_src_ops remote_ops = {
    .nr_entries = remote_nr,
    .entry = remote_entry,
    .read_frame = remote_read,
    .read_range = remote_read_range,
    .close = remote_close,
    .batch_reads = 1,
};

static int client_open(struct lp_remote *r, const uint8_t *uuid, int timeout_ms,
		       struct pxf_client **cl)
{
	int fd, ret;

	ret = pxf_tcp_connect(r->address, r->port, timeout_ms, &fd);
	if (ret) {
		pr_errno(ret, "cannot connect to the page server at %s:%d", r->address, r->port);
		return ret;
	}
	ret = pxf_client_open(cl, fd, uuid, timeout_ms);
	if (ret == -ESTALE)
		pr_err("the page server at %s:%d serves another dump than this image set's\n",
		       r->address, r->port);
	else if (ret)
		pr_errno(ret, "the page server at %s:%d refused us", r->address, r->port);
	return ret;
}

int lp_remote_create(struct lp_remote **pr, const char *address, int port, const uint8_t *uuid,
		     int timeout_s)
{
	struct lp_remote *r = calloc(1, sizeof(*r));
	int timeout_ms = timeout_s > 0 ? timeout_s * 1000 : 0;
	int ret = 0, c;

	if (!r)
		return -ENOMEM;
	r->address = address ? address : "localhost";
	r->port = port;
	r->timeout_s = timeout_s > 0 ? timeout_s : 60;
	memcpy(r->uuid, uuid, PGS_UUID_LEN);
	for (c = 0; c < REMOTE_CONNS; c++)
		pthread_mutex_init(&r->relink[c], NULL);
	for (c = 0; c < REMOTE_CONNS && !ret; c++)
		ret = client_open(r, uuid, timeout_ms, &r->cl[c]);
	if (ret) {
		lp_remote_free(r);
		return ret;
	}
	*pr = r;
	return 0;
}

void lp_remote_free(struct lp_remote *r)
{
	int c;

	if (!r)
		return;
	for (c = 0; c < REMOTE_CONNS; c++) {
		pxf_client_close(r->cl[c]);
		pthread_mutex_destroy(&r->relink[c]);
	}
	free(r);
}

int lp_open_remote(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv)
{
	struct lp_remote *r = arg;
	struct rsrc *s = calloc(1, sizeof(*s));
	uint64_t lost_at;
	int ret = 0, c;

	if (!s)
		return -ENOMEM;
	s->r = r;
	s->pid = pid;
	for (c = 0; c < REMOTE_CONNS && !ret; c++) {
		lost_at = 0; /* a task may come while the link is down: it waits as faults do */
		do
			ret = pxf_source_open(&s->src[c], r->cl[c], pid);
		while (ret < 0 && !relink(r, c, ret, &lost_at));
	}
	if (ret) {
		if (ret == -ENOENT)
			pr_err("%d: the page server at %s:%d has no pages of this task\n", pid,
			       r->address, r->port);
		else
			pr_errno(ret, "%d: no page index from the page server at %s:%d (%s)", pid,
				 r->address, r->port, pxf_client_last_error(r->cl[0]));
		remote_close(s);
		return ret;
	}
	*ops = &remote_ops;
	*priv = s;
	return 0;
}
