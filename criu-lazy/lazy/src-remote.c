/* Pages from a remote page server (lazy-pages --page-server --address A --port P): each task's
 * index comes over the wire once, then frames on demand. The fault path has a connection of its
 * own, so a fault never waits on the wire behind background reads; the prefetch workers have
 * REMOTE_PF_CONNS more, so their requests travel and are served side by side. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-pages.h"
#include "page-xfer.h"

#define REMOTE_CONNS 3 /* [0] the fault path, then the prefetch workers' */
#define REMOTE_PF_CONNS (REMOTE_CONNS - 1)

struct lp_remote {
	struct pxf_client *cl[REMOTE_CONNS];
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

static int remote_read(void *priv, size_t i, void *dst, int reader)
{
	struct rsrc *s = priv;
	int c = conn_of(reader);
	int ret = pxf_source_read_frame(s->src[c], i, dst);

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
	int ret = pxf_source_read(s->src[c], vaddr, nr, dst);

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
	for (c = 0; c < REMOTE_CONNS; c++)
		pxf_client_close(r->cl[c]);
	free(r);
}

int lp_open_remote(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv)
{
	struct lp_remote *r = arg;
	struct rsrc *s = calloc(1, sizeof(*s));
	int ret = 0, c;

	if (!s)
		return -ENOMEM;
	s->r = r;
	s->pid = pid;
	for (c = 0; c < REMOTE_CONNS && !ret; c++)
		ret = pxf_source_open(&s->src[c], r->cl[c], pid);
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
