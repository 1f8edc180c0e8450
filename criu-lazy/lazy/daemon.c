/* The lazy-pages daemon's core: tasks, the uffd reader, the end of the job, the watchdog and the
 * statistics. Faults are handled in fault.c, events in events.c, prefetch in prefetch.c. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "uffd.h"
#include "lazy-int.h"

#define LP_MSG_BATCH 64

uint64_t lp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct ev_loop *lp_loop(struct lp_daemon *d)
{
	return d->loop;
}

void lp_read_begin(struct lp_daemon *d, int reader)
{
	atomic_store(&d->read_since[reader], lp_now_ns() | 1);
}

void lp_read_end(struct lp_daemon *d, int reader)
{
	atomic_store(&d->read_since[reader], 0);
}

static void src_put(struct lp_src *s)
{
	if (s && --s->refs == 0) {
		if (s->ops->close)
			s->ops->close(s->priv);
		free(s);
	}
}

/* The task no longer needs us (it exited, or all its pages are in): stop watching its uffd.
 * The uffd is closed once no worker holds a job on it. */
void lp_task_gone(struct lp_task *t)
{
	if (t->dead)
		return;
	pthread_mutex_lock(&t->lock);
	t->dead = 1;
	pthread_mutex_unlock(&t->lock);
	ev_del(t->d->loop, &t->ev);
	lp_guard_release(t->d, t);
	t->missing = 0;
	t->nr_ext = 0;
	t->nr_pending = 0;
}

/* A fork child whose pid we never learnt: its parent's children we do not know are it. */
static void kill_unknown_children(struct lp_task *t)
{
	struct lp_task *o;
	pid_t *known;
	int nr = 0;

	for (o = t->d->tasks; o; o = o->next)
		nr++;
	known = calloc(nr + 1, sizeof(*known));
	nr = 0;
	for (o = t->d->tasks; o && known; o = o->next)
		if (o->pid > 0)
			known[nr++] = o->pid;
	lp_kill_children_of(t->parent, known, nr);
	free(known);
}

static void kill_task(struct lp_task *t)
{
	if (t->pid > 0)
		kill(t->pid, SIGKILL);
	else if (t->parent > 0)
		kill_unknown_children(t);
}

void lp_task_lost(struct lp_task *t, int err, uint64_t addr)
{
	if (t->dead)
		return;
	if (addr)
		lp_err(t,
		       "the page at %#llx cannot be read (%s): killing the task so that it never "
		       "runs on a zero page\n",
		       (unsigned long long)addr, strerror(-err));
	else
		lp_err(t, "its lazy memory cannot be tracked (%s): killing the task\n",
		       strerror(-err));
	kill_task(t);
	t->d->st.tasks_lost++;
	if (!t->d->error)
		t->d->error = err;
	lp_task_gone(t);
}

static int on_uffd(struct ev_fd *e)
{
	struct lp_task *t = container_of(e, struct lp_task, ev);
	struct uffd_msg msgs[LP_MSG_BATCH];
	ssize_t n, i;

	do {
		int moved = 0;

		/* under the lock: a worker that copies after this read sees the new generation
		 * and never fills a range the task is removing or moving right now */
		pthread_mutex_lock(&t->lock);
		n = uffd_read_msgs(t->ev.fd, msgs, LP_MSG_BATCH);
		for (i = 0; i < n; i++)
			moved |= msgs[i].event != UFFD_EVENT_PAGEFAULT &&
				 msgs[i].event != UFFD_EVENT_FORK;
		if (moved)
			t->gen++;
		pthread_mutex_unlock(&t->lock);
		if (n < 0) {
			lp_err(t, "cannot read its uffd: %s\n", strerror(-n));
			lp_task_lost(t, n, 0);
			return 0;
		}
		if (moved) {
			for (i = 0; i < (ssize_t)t->nr_ext; i++)
				t->ext[i].queued = 0;
			/* extent indices change: the rest goes by address */
			t->nr_order = 0;
		}
		for (i = 0; i < n && !t->dead; i++) {
			t->d->st.events[msgs[i].event & 7]++;
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				handle_pagefault(t, &msgs[i]);
			else
				handle_event(t, &msgs[i]);
		}
	} while (n == LP_MSG_BATCH && !t->dead);
	if (!t->dead)
		lp_retry_pending(t);
	return 0;
}

static struct lp_task *task_alloc(struct lp_daemon *d, pid_t pid, int uffd)
{
	struct lp_task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->d = d;
	t->pid = pid;
	t->ev.fd = uffd;
	t->ev.on_read = on_uffd;
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->name, sizeof(t->name), "%d", pid);
	return t;
}

static void task_free(struct lp_task *t)
{
	if (t->ev.fd >= 0)
		close(t->ev.fd);
	src_put(t->src);
	pthread_mutex_destroy(&t->lock);
	free(t->ext);
	free(t->order);
	free(t->pending);
	free(t);
}

static int task_link(struct lp_daemon *d, struct lp_task *t, const struct lp_range *r, int nr)
{
	int ret = lp_guard_add(d, t, r, nr);

	if (ret)
		return ret;
	ret = ev_add(d->loop, &t->ev);
	if (ret) {
		lp_guard_release(d, t);
		return ret;
	}
	pthread_mutex_lock(&d->qlock);
	t->next = d->tasks;
	d->tasks = t;
	pthread_mutex_unlock(&d->qlock);
	d->st.tasks++;
	if (!d->t_start)
		d->t_start = lp_now_ns();
	return 0;
}

int lp_add_task(struct lp_daemon *d, pid_t pid, int uffd, const struct lp_range *ranges, int nr,
		const struct lp_src_ops *ops, void *priv)
{
	struct lp_task *t = task_alloc(d, pid, uffd);
	int ret = -ENOMEM;

	if (!t) {
		/* without us its lazy pages would read as zeros */
		kill(pid, SIGKILL);
		close(uffd);
		if (ops->close)
			ops->close(priv);
		return ret;
	}
	t->src = calloc(1, sizeof(*t->src));
	if (!t->src) {
		if (ops->close)
			ops->close(priv);
		goto err;
	}
	t->src->ops = ops;
	t->src->priv = priv;
	t->src->refs = 1;
	ret = ext_build(t, ranges, nr);
	if (ret) {
		lp_err(t, "cannot index its lazy pages: %s\n", strerror(-ret));
		goto err;
	}
	ret = lp_check_present(t, ops->restore_has_pages || d->takeover);
	if (!ret)
		ret = lp_order_apply(d, t);
	if (!ret)
		ret = task_link(d, t, ranges, nr);
	if (ret)
		goto err;
	pr_info("%d: %llu lazy pages in %zu extents\n", pid, (unsigned long long)t->missing,
		t->nr_ext);
	return 0;
err:
	/* killed before its uffd closes: from then on its lazy pages would read as zeros */
	lp_err(t, "cannot serve its pages: killing the task\n");
	kill(pid, SIGKILL);
	task_free(t);
	return ret;
}

int lp_add_child(struct lp_daemon *d, struct lp_task *parent, int uffd)
{
	struct lp_task *t = task_alloc(d, 0, uffd);
	int ret;

	if (!t)
		return -ENOMEM;
	t->parent = parent->pid;
	snprintf(t->name, sizeof(t->name), "child of %d", parent->pid);
	t->src = parent->src;
	t->src->refs++;
	ret = ext_clone(t, parent);
	if (!ret)
		ret = task_link(d, t, NULL, 0); /* the guard cannot hand it over: pid unknown */
	if (ret) {
		/* keep its uffd open: closing it would let the child read zeros */
		t->ev.fd = -1;
		task_free(t);
		return ret;
	}
	lp_debug(t, "fork: %llu pages still missing\n", (unsigned long long)t->missing);
	return 0;
}

void lp_tasks_done(struct lp_daemon *d)
{
	d->tasks_done = 1;
}

/* Tasks whose pages are all in are let go at once: the tree should not depend on us. */
static void reap_tasks(struct lp_daemon *d)
{
	struct lp_task **pt = &d->tasks, *t;

	while ((t = *pt)) {
		if (!t->dead && !t->missing && !t->nr_pending)
			lp_task_gone(t);
		if (t->dead && !t->inflight) {
			pthread_mutex_lock(&d->qlock);
			*pt = t->next;
			pthread_mutex_unlock(&d->qlock);
			task_free(t);
			continue;
		}
		pt = &t->next;
	}
}

static int lp_idle(void *arg)
{
	struct lp_daemon *d = arg;
	struct lp_task *t;
	int busy = 0;

	for (t = d->tasks; t; t = t->next) {
		if (!t->dead && t->nr_pending)
			lp_retry_pending(t);
		busy |= !t->dead && t->nr_pending;
	}
	reap_tasks(d);
	/* Prefetch waits until the restorer has let the tasks go: its last injected syscalls
	 * (munmap of the gadget, prctl, seccomp) need the tasks' mmap lock, which our copies hold,
	 * and every millisecond they wait is added to the time to resume. Faults are served. */
	if (d->tasks_done || !d->conn)
		pf_fill(d);
	if (d->tasks_done && !d->tasks && !pf_has_work(d)) {
		d->st.elapsed_ns = d->t_start ? lp_now_ns() - d->t_start : 0;
		ev_stop(d->loop);
	}
	return busy;
}

static void *watchdog(void *arg)
{
	struct lp_daemon *d = arg;
	uint64_t limit = d->cfg.timeout_s * 1000000000ULL;
	int i;

	pthread_mutex_lock(&d->wd_lock);
	while (!d->watchdog_end) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 200000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->wd_cond, &d->wd_lock, &ts);
		for (i = 0; i <= d->nr_workers && !d->watchdog_end; i++) {
			uint64_t since = atomic_load(&d->read_since[i]);
			struct lp_task *t;

			if (!since || lp_now_ns() - since < limit)
				continue;
			pr_err(
			    "the page source did not answer for %d s: killing the lazily restored "
			    "tasks\n",
			    d->cfg.timeout_s);
			pthread_mutex_lock(&d->qlock);
			for (t = d->tasks; t; t = t->next)
				kill_task(t);
			pthread_mutex_unlock(&d->qlock);
			/* the reader is stuck in the source: nothing left to unwind */
			log_fini();
			_exit(1);
		}
	}
	pthread_mutex_unlock(&d->wd_lock);
	return NULL;
}

static void wd_init(struct lp_daemon *d)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&d->wd_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wd_cond, &ca);
	pthread_condattr_destroy(&ca);
}

int lp_create(struct lp_daemon **pd, const struct lp_config *cfg)
{
	struct lp_daemon *d = calloc(1, sizeof(*d));
	int ret = -ENOMEM;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	pthread_mutex_init(&d->qlock, NULL);
	pthread_cond_init(&d->qcond, NULL);
	wd_init(d);
	d->guard_fd = -1;
	d->done_ev.fd = -1;
	d->order_dirfd = -1;
	d->nr_workers = cfg->nr_workers;
	if (d->nr_workers == 0)
		d->nr_workers =
		    sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	if (d->nr_workers < 0)
		d->nr_workers = 0;
	d->buf = aligned_alloc(LP_PAGE, PGS_MAX_FRAME_PAGES * LP_PAGE);
	d->lat = malloc(LP_MAX_LAT * sizeof(*d->lat));
	d->read_since = calloc(d->nr_workers + 1, sizeof(*d->read_since));
	if (!d->buf || !d->lat || !d->read_since)
		goto err;
	ret = ev_create(&d->loop);
	if (ret)
		goto err;
	ev_set_idle(d->loop, lp_idle, d);
	/* before the workers: the guard is forked from a single-threaded process */
	if (cfg->guard) {
		ret = lp_guard_start(d);
		if (ret)
			goto err;
	}
	ret = pf_start(d);
	if (ret)
		goto err;
	if (cfg->timeout_s > 0) {
		ret = -pthread_create(&d->watchdog, NULL, watchdog, d);
		if (ret)
			goto err;
		d->watchdog_on = 1;
	}
	*pd = d;
	return 0;
err:
	lp_free(d);
	return ret;
}

void lp_free(struct lp_daemon *d)
{
	struct lp_task *t;

	if (!d)
		return;
	if (d->watchdog_on) {
		pthread_mutex_lock(&d->wd_lock);
		d->watchdog_end = 1;
		pthread_cond_signal(&d->wd_cond);
		pthread_mutex_unlock(&d->wd_lock);
		pthread_join(d->watchdog, NULL);
	}
	pf_stop(d);
	lp_conn_free(d->conn);
	/* our uffds close with us, and a missing page would then read as zero: a task that still
	 * lacks pages must not go on without them */
	for (t = d->tasks; t; t = t->next) {
		if (t->dead || (!t->missing && !t->nr_pending))
			continue;
		lp_err(t,
		       "%llu of its pages never came in: killing the task rather than let it "
		       "read zeros\n",
		       (unsigned long long)t->missing);
		kill_task(t);
	}
	lp_guard_stop(d);
	while ((t = d->tasks)) {
		d->tasks = t->next;
		task_free(t);
	}
	ev_free(d->loop);
	lp_order_free(d);
	free(d->buf);
	free(d->lat);
	free((void *)d->read_since);
	free(d);
}

int lp_run(struct lp_daemon *d)
{
	int ret = ev_run(d->loop);

	return ret ? ret : d->error;
}

void lp_stop(struct lp_daemon *d)
{
	ev_stop(d->loop);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void lp_get_stats(struct lp_daemon *d, struct lp_stats *st)
{
	*st = d->st;
	if (d->nr_lat) {
		qsort(d->lat, d->nr_lat, sizeof(*d->lat), cmp_u32);
		st->lat_p50_ns = d->lat[d->nr_lat / 2];
		st->lat_p99_ns = d->lat[d->nr_lat * 99 / 100];
		st->lat_max_ns = d->lat[d->nr_lat - 1];
	}
}

void lp_print_stats(struct lp_daemon *d)
{
	struct lp_stats st;

	lp_get_stats(d, &st);
	pr_msg("lazy-pages: %llu tasks (%llu lost), all pages in after %.1f ms\n",
	       (unsigned long long)st.tasks, (unsigned long long)st.tasks_lost,
	       st.elapsed_ns / 1e6);
	pr_msg("lazy-pages: faults %llu (%llu pages, %llu zero pages), fault service p50 %.1f us, "
	       "p99 %.1f us, max %.1f us\n",
	       (unsigned long long)st.faults, (unsigned long long)st.fault_pages,
	       (unsigned long long)st.zero_pages, st.lat_p50_ns / 1e3, st.lat_p99_ns / 1e3,
	       st.lat_max_ns / 1e3);
	pr_msg("lazy-pages: prefetched %llu pages, %llu already there, %llu frames, %.1f MiB in\n",
	       (unsigned long long)st.prefetch_pages, (unsigned long long)st.exist_pages,
	       (unsigned long long)st.frames, st.bytes / 1048576.0);
	pr_msg("lazy-pages: events fork %llu, remap %llu, remove %llu, unmap %llu\n",
	       (unsigned long long)st.events[UFFD_EVENT_FORK & 7],
	       (unsigned long long)st.events[UFFD_EVENT_REMAP & 7],
	       (unsigned long long)st.events[UFFD_EVENT_REMOVE & 7],
	       (unsigned long long)st.events[UFFD_EVENT_UNMAP & 7]);
}
