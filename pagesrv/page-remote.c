/* Remote page stores: one page-xfer connection shared by several owners' sources and several
 * threads. The wire carries one request at a time (under the client's lock); the answer is copied
 * out of the connection, and checksums and decoding run after the lock is dropped, so two
 * threads decode in parallel while a third waits for the wire. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "page-xfer-int.h"

#define PG PGS_PAGE_SIZE

struct rscratch {
	struct rscratch *next;
	struct frame_codec *codec;
	uint8_t *buf; /* a copy of one answer's payload */
	size_t cap;
	struct pxf_item *items;
	size_t icap;
	uint8_t *dbuf; /* one whole frame */
};

struct pxf_client {
	int fd;
	pthread_mutex_t lock; /* the connection, broken, err */
	struct pxf_conn *c;
	int broken; /* sticky transport or protocol failure: the stream is out of step */
	char err[320];
	pthread_mutex_t pool_lock;
	struct rscratch *pool;
};

/* Why the last failed call on this thread failed: several threads share a client, and each wants
 * the reason for its own failure. */
static __thread char last_err[320];

struct pxf_source {
	struct pxf_client *cl;
	uint64_t id;
	struct pgs_entry *ents;
	size_t nr;
};

int pxf_client_open(struct pxf_client **clp, int fd, const uint8_t *uuid, int timeout_ms)
{
	struct pxf_client *cl = calloc(1, sizeof(*cl));
	int ret;

	if (!cl) {
		close(fd);
		return -ENOMEM;
	}
	cl->fd = fd;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_mutex_init(&cl->pool_lock, NULL);
	ret = pxf_conn_create(&cl->c, fd, timeout_ms);
	if (!ret)
		ret = pxf_hello(cl->c, uuid);
	if (ret) {
		pxf_client_close(cl);
		return ret;
	}
	*clp = cl;
	return 0;
}

void pxf_client_close(struct pxf_client *cl)
{
	struct rscratch *s;

	if (!cl)
		return;
	while ((s = cl->pool)) {
		cl->pool = s->next;
		frame_codec_free(s->codec);
		free(s->buf);
		free(s->items);
		free(s->dbuf);
		free(s);
	}
	pxf_conn_free(cl->c);
	close(cl->fd);
	pthread_mutex_destroy(&cl->lock);
	pthread_mutex_destroy(&cl->pool_lock);
	free(cl);
}

const char *pxf_client_last_error(struct pxf_client *cl)
{
	(void)cl;
	return last_err[0] ? last_err : "no error";
}

int pxf_client_broken(struct pxf_client *cl)
{
	int ret;

	pthread_mutex_lock(&cl->lock);
	ret = cl->broken;
	pthread_mutex_unlock(&cl->lock);
	return ret;
}

int pxf_client_reconnect(struct pxf_client *cl, int fd, const uint8_t *uuid)
{
	struct pxf_conn *nc = NULL;
	int ret;

	pthread_mutex_lock(&cl->lock);
	if (!cl->broken) {
		ret = 0;
		goto out_close_fd;
	}
	ret = pxf_conn_create(&nc, fd, cl->c->timeout_ms);
	if (ret) {
		snprintf(last_err, sizeof(last_err), "out of memory");
		goto out_close_fd;
	}
	ret = pxf_hello(nc, uuid);
	if (ret) {
		snprintf(last_err, sizeof(last_err), "%s", pxf_last_error(nc));
		pxf_conn_free(nc);
		goto out_close_fd;
	}
	pxf_conn_free(cl->c);
	close(cl->fd);
	cl->c = nc;
	cl->fd = fd;
	cl->broken = 0;
	cl->err[0] = 0;
	pthread_mutex_unlock(&cl->lock);
	return 0;
out_close_fd:
	pthread_mutex_unlock(&cl->lock);
	close(fd);
	return ret;
}

/* Under cl->lock: remember why a call failed; a failure that is not the server's ERROR answer
 * leaves the stream out of step, so it sticks. */
static int client_failed(struct pxf_client *cl, int ret)
{
	snprintf(cl->err, sizeof(cl->err), "%s", pxf_last_error(cl->c));
	snprintf(last_err, sizeof(last_err), "%s", cl->err);
	if (!cl->c->peer_error && ret != -EINVAL)
		cl->broken = ret;
	return ret;
}

static struct rscratch *get_scratch(struct pxf_client *cl)
{
	struct rscratch *s;

	pthread_mutex_lock(&cl->pool_lock);
	s = cl->pool;
	if (s)
		cl->pool = s->next;
	pthread_mutex_unlock(&cl->pool_lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->dbuf = malloc(PGS_MAX_FRAME_PAGES * PG);
	if (!s->dbuf || frame_codec_create(&s->codec, 0)) {
		free(s->dbuf);
		free(s);
		return NULL;
	}
	return s;
}

static void put_scratch(struct pxf_client *cl, struct rscratch *s)
{
	pthread_mutex_lock(&cl->pool_lock);
	s->next = cl->pool;
	cl->pool = s;
	pthread_mutex_unlock(&cl->pool_lock);
}

/* One GET_PAGES on the wire, its answer copied into s. Returns the number of items or -errno. */
static long fetch(struct pxf_source *src, uint64_t vaddr, uint32_t nr, struct rscratch *s)
{
	struct pxf_client *cl = src->cl;
	struct pxf_pages p;
	struct pxf_conn *c;
	uint64_t tag;
	size_t i;
	int ret;

	pthread_mutex_lock(&cl->lock);
	c = cl->c; /* under the lock: pxf_client_reconnect replaces it */
	ret = cl->broken;
	if (ret) {
		snprintf(last_err, sizeof(last_err), "%s", cl->err);
		goto out_unlock;
	}
	tag = c->next_tag++;
	ret = pxf_send_get_pages(c, tag, src->id, vaddr, nr);
	if (!ret)
		ret = pxf_recv_pages(c, tag, vaddr, nr, &p);
	if (ret) {
		ret = client_failed(cl, ret);
		goto out_unlock;
	}
	ret = -ENOMEM;
	if (c->rlen > s->cap) {
		uint8_t *nb = realloc(s->buf, c->rlen);

		if (!nb)
			goto out_unlock;
		s->buf = nb;
		s->cap = c->rlen;
	}
	if (p.nr > s->icap) {
		struct pxf_item *ni = realloc(s->items, p.nr * sizeof(*ni));

		if (!ni)
			goto out_unlock;
		s->items = ni;
		s->icap = p.nr;
	}
	memcpy(s->buf, c->rbuf, c->rlen);
	for (i = 0; i < p.nr; i++) {
		s->items[i] = p.items[i];
		s->items[i].data = s->buf + (p.items[i].data - c->rbuf);
	}
	ret = (int)p.nr;
out_unlock:
	pthread_mutex_unlock(&cl->lock);
	if (ret == -ENOMEM)
		snprintf(last_err, sizeof(last_err), "out of memory for an answer");
	return ret;
}

int pxf_source_open(struct pxf_source **sp, struct pxf_client *cl, uint64_t id)
{
	struct pxf_source *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->cl = cl;
	s->id = id;
	pthread_mutex_lock(&cl->lock);
	ret = cl->broken;
	if (ret)
		snprintf(last_err, sizeof(last_err), "%s", cl->err);
	else {
		ret = pxf_get_index(cl->c, id, &s->ents, &s->nr);
		if (ret)
			ret = client_failed(cl, ret);
	}
	pthread_mutex_unlock(&cl->lock);
	if (ret) {
		free(s);
		return ret;
	}
	*sp = s;
	return 0;
}

void pxf_source_close(struct pxf_source *s)
{
	if (!s)
		return;
	free(s->ents);
	free(s);
}

size_t pxf_source_nr_entries(const struct pxf_source *s)
{
	return s->nr;
}

const struct pgs_entry *pxf_source_entry(const struct pxf_source *s, size_t i)
{
	return i < s->nr ? &s->ents[i] : NULL;
}

/* The first entry that ends above vaddr. */
static size_t first_entry(const struct pxf_source *s, uint64_t vaddr)
{
	size_t lo = 0, hi = s->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ents[mid].vaddr + (uint64_t)s->ents[mid].nr_pages * PG <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

long pxf_source_find(const struct pxf_source *s, uint64_t vaddr)
{
	size_t i = first_entry(s, vaddr);

	return i < s->nr && s->ents[i].vaddr <= vaddr ? (long)i : -ENOENT;
}

/* Fetches and decodes [vaddr, vaddr + nr pages) into dst: 1, 0 (all hole), -errno. */
static int read_range(struct pxf_source *src, uint64_t vaddr, uint32_t nr, void *dst)
{
	struct rscratch *s = get_scratch(src->cl);
	char err[160];
	long n;
	int ret;

	if (!s) {
		snprintf(last_err, sizeof(last_err), "out of memory");
		return -ENOMEM;
	}
	n = fetch(src, vaddr, nr, s);
	if (n < 0) {
		ret = (int)n;
	} else {
		ret = pxf_decode_items(s->items, n, vaddr, nr, dst, s->codec, s->dbuf, err,
				       sizeof(err));
		if (ret < 0)
			snprintf(last_err, sizeof(last_err), "%s", err);
	}
	put_scratch(src->cl, s);
	return ret;
}

int pxf_source_read_frame(struct pxf_source *s, size_t i, void *dst)
{
	const struct pgs_entry *e;
	int ret;

	if (i >= s->nr || !(s->ents[i].flags & PGS_PE_PRESENT))
		return -EINVAL;
	e = &s->ents[i];
	ret = read_range(s, e->vaddr, e->nr_pages, dst);
	/* the index said there is a frame here: a server that now says hole is lying */
	return ret == 1 ? 0 : ret == 0 ? -EBADMSG : ret;
}

int pxf_source_read(struct pxf_source *s, uint64_t vaddr, unsigned long nr_pages, void *dst)
{
	uint64_t end, cur;
	size_t first, k;
	uint8_t *out = dst;
	int ret;

	if (!nr_pages || vaddr % PG || nr_pages > (UINT64_MAX - vaddr) / PG)
		return -EINVAL;
	end = vaddr + nr_pages * PG;
	first = first_entry(s, vaddr);
	for (k = first; k < s->nr && s->ents[k].vaddr < end; k++)
		if (s->ents[k].flags & PGS_PE_PARENT)
			return -ENOENT;
	if (k == first)
		return 0;
	/* the index is here: ask only for chunks that hold data */
	for (cur = vaddr; cur < end;) {
		uint64_t cend =
		    end - cur > PXF_MAX_REQ_PAGES * PG ? cur + PXF_MAX_REQ_PAGES * PG : end;
		size_t i = first_entry(s, cur);

		if (i < s->nr && s->ents[i].vaddr < cend) {
			ret = read_range(s, cur, (cend - cur) / PG, out + (cur - vaddr));
			if (ret < 0)
				return ret;
			if (ret == 0) /* the server's answer: a hole after all */
				memset(out + (cur - vaddr), 0, cend - cur);
		} else {
			memset(out + (cur - vaddr), 0, cend - cur);
		}
		cur = cend;
	}
	return 1;
}
