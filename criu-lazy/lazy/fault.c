/* Page faults: the fault path runs on the loop thread, on the CPU the faulting thread woke it on.
 * A fault in a hole gets the zero page; a fault on data gets its whole frame's missing pages
 * (fault-around), decoded here rather than queued behind prefetch. A page whose data cannot be
 * read is never zero-filled: the task is killed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "uffd.h"
#include "lazy-int.h"

/* Runs of missing pages of e go in with one UFFDIO_COPY each, which also wakes their waiters. */
int lp_copy_ext(struct lp_task *t, struct lp_ext *e, const void *frame, uint64_t *copied)
{
	uint64_t base = e->addr - (uint64_t)e->pg0 * LP_PAGE;
	unsigned int pg = e->pg0, end = e->pg0 + e->nr;
	uint16_t before = e->missing;
	int ret = 0;

	while (pg < end) {
		unsigned int run = 0, k;
		uint64_t done = 0;

		if (!ext_test(e, pg)) {
			pg++;
			continue;
		}
		while (pg + run < end && ext_test(e, pg + run))
			run++;
		ret = uffd_copy(t->ev.fd, base + (uint64_t)pg * LP_PAGE,
				(const char *)frame + (size_t)(pg - e->ebase) * LP_PAGE,
				(uint64_t)run * LP_PAGE, 0, &done);
		done /= LP_PAGE;
		*copied += done;
		for (k = 0; k < done; k++)
			ext_clear(e, pg + k);
		pg += done;
		/* a short copy (-EAGAIN with progress) stopped at a page that is already there,
		 * or for a signal: go on, the next COPY says which */
		if (ret == -EAGAIN && done)
			ret = 0;
		if (!ret)
			continue;
		if (ret == -EEXIST || ret == -ENOENT) {
			/* EEXIST: the prefetcher was first. ENOENT: no registered mapping there
			 * any more (its event is on the way): nothing to fill. */
			t->d->st.exist_pages += ret == -EEXIST;
			ext_clear(e, pg);
			pg++;
			ret = 0;
			continue;
		}
		break;
	}
	t->missing -= before - e->missing;
	return ret;
}

static int add_pending(struct lp_task *t, uint64_t addr)
{
	if (t->nr_pending == t->cap_pending) {
		int cap = t->cap_pending ? t->cap_pending * 2 : 16;
		uint64_t *p = realloc(t->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->pending = p;
		t->cap_pending = cap;
	}
	t->pending[t->nr_pending++] = addr;
	return 0;
}

/* A fork child is known by its uffd only; its first fault names a thread of it. */
static void resolve_pid(struct lp_task *t, pid_t tid)
{
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Tgid: %d", &t->pid) == 1) {
			snprintf(t->name, sizeof(t->name), "%d", t->pid);
			break;
		}
	}
	fclose(f);
}

static void record_latency(struct lp_daemon *d, uint64_t ns)
{
	if (d->nr_lat < LP_MAX_LAT)
		d->lat[d->nr_lat++] = ns > UINT32_MAX ? UINT32_MAX : ns;
}

static int serve_zero(struct lp_task *t, uint64_t addr)
{
	int ret = uffd_zeropage(t->ev.fd, addr, LP_PAGE, 0, NULL);

	switch (ret) {
	case 0:
		t->d->st.zero_pages++;
		return 0;
	case -EEXIST:
		return uffd_wake(t->ev.fd, addr, LP_PAGE) == -ESRCH ? -ESRCH : 0;
	case -ENOENT:
		uffd_wake(t->ev.fd, addr, LP_PAGE);
		return 0;
	default:
		return ret;
	}
}

/* 0 when served (or nothing to do), -EAGAIN to retry after the events, other -errno: the task
 * cannot go on. */
static int serve(struct lp_task *t, uint64_t addr)
{
	struct lp_daemon *d = t->d;
	const struct lp_src_ops *ops = t->src->ops;
	uint64_t copied = 0;
	struct lp_ext *e;
	unsigned int pg;
	long i;
	int ret;

	i = ext_find(t, addr);
	if (i < 0)
		return serve_zero(t, addr);
	e = &t->ext[i];
	pg = e->pg0 + (addr - e->addr) / LP_PAGE;
	if (!ext_test(e, pg))
		return serve_zero(t, addr);

	lp_order_note(d, t, ops->entry(t->src->priv, e->ent)->vaddr + (uint64_t)pg * LP_PAGE);
	lp_read_begin(d, 0);
	ret = lp_read_ext(t->src, e->ent, e->ebase, d->buf, 0);
	lp_read_end(d, 0);
	if (ret) {
		lp_task_lost(t, ret, addr);
		return 0;
	}
	d->st.frames++;
	/* the faulting page alone first: its thread runs again while the rest goes in */
	ret = uffd_copy(t->ev.fd, addr, (const char *)d->buf + (size_t)(pg - e->ebase) * LP_PAGE,
			LP_PAGE, 0, NULL);
	if (ret == 0 || ret == -EEXIST) {
		copied += ret == 0;
		d->st.exist_pages += ret == -EEXIST;
		ext_clear(e, pg);
		t->missing--;
	} else if (ret == -ENOENT) {
		/* the mapping went away under the fault (its event is on the way): let the
		 * thread fault again on whatever is there now */
		uffd_wake(t->ev.fd, addr, LP_PAGE);
	} else {
		return ret;
	}
	ret = lp_copy_ext(t, e, d->buf, &copied);
	d->st.fault_pages += copied;
	d->st.bytes += copied * LP_PAGE;
	return ret;
}

static int serve_or_defer(struct lp_task *t, uint64_t addr)
{
	int ret = serve(t, addr);

	if (ret == -EAGAIN)
		return add_pending(t, addr);
	if (ret == -ESRCH) {
		lp_task_gone(t);
		return 0;
	}
	if (ret) {
		lp_task_lost(t, ret, addr);
		return 0;
	}
	return 0;
}

int handle_pagefault(struct lp_task *t, const struct uffd_msg *m)
{
	uint64_t addr = m->arg.pagefault.address & ~(LP_PAGE - 1);
	uint64_t t0 = lp_now_ns();
	int ret;

	/* once per fork child: its pid is what gets killed if its data is lost */
	if (!t->pid && m->arg.pagefault.feat.ptid)
		resolve_pid(t, m->arg.pagefault.feat.ptid);
	t->d->st.faults++;
	ret = serve_or_defer(t, addr);
	record_latency(t->d, lp_now_ns() - t0);
	/* after the fault is served: a log write must not delay it */
	lp_debug(t, "fault at %#llx%s served in %.1f us\n", (unsigned long long)addr,
		 m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE ? " (write)" : "",
		 (lp_now_ns() - t0) / 1e3);
	return ret;
}

int lp_retry_pending(struct lp_task *t)
{
	int n = t->nr_pending, i, ret = 0;
	uint64_t *addrs;

	if (!n)
		return 0;
	addrs = t->pending;
	t->pending = NULL;
	t->nr_pending = t->cap_pending = 0;
	for (i = 0; i < n && !ret && !t->dead; i++)
		ret = serve_or_defer(t, addrs[i]);
	free(addrs);
	return ret;
}
