/* Pages from a remote page server (lazy-pages --page-server --address A --port P): each task's
 * index comes over the wire once, then frames on demand. Two connections: one for the fault path,
 * one the prefetch workers share, so a fault never waits on the wire behind background reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-pages.h"
#include "page-xfer.h"

struct lp_remote {
	struct pxf_client *fault, *prefetch;
	const char *address;
	int port;
};

/* One task: the same index through each connection. */
struct rsrc {
	struct lp_remote *r;
	pid_t pid;
	struct pxf_source *fault, *prefetch;
};

static size_t remote_nr(void *priv)
{
	return pxf_source_nr_entries(((struct rsrc *)priv)->fault);
}

static const struct pgs_entry *remote_entry(void *priv, size_t i)
{
	return pxf_source_entry(((struct rsrc *)priv)->fault, i);
}

static int remote_read(void *priv, size_t i, void *dst, int prefetch)
{
	struct rsrc *s = priv;
	struct pxf_client *cl = prefetch ? s->r->prefetch : s->r->fault;
	int ret = pxf_source_read_frame(prefetch ? s->prefetch : s->fault, i, dst);

	if (ret)
		pr_err("%d: pages at %#llx from the page server at %s:%d: %s\n", s->pid,
		       (unsigned long long)pxf_source_entry(s->fault, i)->vaddr, s->r->address,
		       s->r->port, pxf_client_last_error(cl));
	return ret;
}

static int remote_read_range(void *priv, uint64_t vaddr, unsigned long nr, void *dst)
{
	struct rsrc *s = priv;
	int ret = pxf_source_read(s->prefetch, vaddr, nr, dst);

	if (ret == 0) /* all of it reads as zero */
		memset(dst, 0, nr * PGS_PAGE_SIZE);
	if (ret < 0)
		pr_err("%d: pages %#llx-%#llx from the page server at %s:%d: %s\n", s->pid,
		       (unsigned long long)vaddr, (unsigned long long)(vaddr + nr * PGS_PAGE_SIZE),
		       s->r->address, s->r->port, pxf_client_last_error(s->r->prefetch));
	return ret < 0 ? ret : 0;
}

static void remote_close(void *priv)
{
	struct rsrc *s = priv;

	pxf_source_close(s->fault);
	pxf_source_close(s->prefetch);
	free(s);
}

static const struct lp_src_ops remote_ops = {
    .nr_entries = remote_nr,
    .entry = remote_entry,
    .read_frame = remote_read,
    .read_range = remote_read_range,
    .close = remote_close,
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
	int ret;

	if (!r)
		return -ENOMEM;
	r->address = address ? address : "localhost";
	r->port = port;
	ret = client_open(r, uuid, timeout_ms, &r->fault);
	if (!ret)
		ret = client_open(r, uuid, timeout_ms, &r->prefetch);
	if (ret) {
		lp_remote_free(r);
		return ret;
	}
	*pr = r;
	return 0;
}

void lp_remote_free(struct lp_remote *r)
{
	if (!r)
		return;
	pxf_client_close(r->fault);
	pxf_client_close(r->prefetch);
	free(r);
}

int lp_open_remote(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv)
{
	struct lp_remote *r = arg;
	struct rsrc *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->r = r;
	s->pid = pid;
	ret = pxf_source_open(&s->fault, r->fault, pid);
	if (!ret)
		ret = pxf_source_open(&s->prefetch, r->prefetch, pid);
	if (ret) {
		if (ret == -ENOENT)
			pr_err("%d: the page server at %s:%d has no pages of this task\n", pid,
			       r->address, r->port);
		else
			pr_errno(ret, "%d: no page index from the page server at %s:%d (%s)", pid,
				 r->address, r->port, pxf_client_last_error(r->fault));
		remote_close(s);
		return ret;
	}
	*ops = &remote_ops;
	*priv = s;
	return 0;
}
