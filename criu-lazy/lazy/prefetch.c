/* Prefetch: workers decode frames and copy them in while the loop thread stays free for faults.
 * Workers run at a lower priority (nice PF_NICE): the fault path and the restored tasks win the
 * CPU when they want it, yet a busy machine does not starve prefetch (SCHED_IDLE would, and the
 * tree would depend on the daemon for as long as the machine stays busy). The queue
 * is short (two jobs per worker), so a fault never waits behind a backlog, and a fault on a page a
 * worker is filling is simply served twice (-EEXIST). Jobs are snapshots: the loop applies a
 * result only if the task's ranges did not change meanwhile (same generation). */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "uffd.h"
#include "lazy-int.h"

#define PF_NICE 5

struct pf_worker_arg {
	struct lp_daemon *d;
	int reader;
};

static int nr_inflight(struct lp_daemon *d)
{
	return d->queued; /* jobs handed out and not yet applied (loop thread only) */
}

static void set_bit64(uint64_t *bits, unsigned int pg)
{
	bits[pg / 64] |= 1ULL << (pg % 64);
}

static int test_bit64(const uint64_t *bits, unsigned int pg)
{
	return (bits[pg / 64] >> (pg % 64)) & 1;
}

/* Copies the wanted pages of one item, each run under the task's lock (held for one UFFDIO_COPY
 * at a time, so the loop never waits long to read a fault). */
static int copy_item(struct lp_job *j, struct lp_item *it, const void *frame)
{
	struct lp_task *t = j->t;
	/* pg: page of the entry; b: its bit (and its place in frame) */
	unsigned int pg = it->pg0, end = it->pg0 + it->nr, eb = it->ebase;
	int ret = 0;

	while (pg < end) {
		unsigned int run = 0, k;
		uint64_t done = 0;

		if (!test_bit64(it->want, pg - eb)) {
			pg++;
			continue;
		}
		while (pg + run < end && test_bit64(it->want, pg + run - eb))
			run++;
		pthread_mutex_lock(&t->lock);
		if (t->gen != j->gen || t->dead) {
			pthread_mutex_unlock(&t->lock);
			return -ESTALE;
		}
		ret = uffd_copy(t->ev.fd, it->base + (uint64_t)pg * LP_PAGE,
				(const char *)frame + (size_t)(pg - eb) * LP_PAGE,
				(uint64_t)run * LP_PAGE, 0, &done);
		pthread_mutex_unlock(&t->lock);
		done /= LP_PAGE;
		for (k = 0; k < done; k++)
			set_bit64(it->done, pg + k - eb);
		j->copied += done;
		pg += done;
		/* a short copy (-EAGAIN with progress) stopped at a page that is already there,
		 * or for a signal: go on, the next COPY says which */
		if (ret == -EAGAIN && done)
			ret = 0;
		if (ret == -EEXIST || ret == -ENOENT) {
			set_bit64(it->done, pg - eb);
			j->exist += ret == -EEXIST;
			pg++;
			ret = 0;
		}
		if (ret)
			break;
	}
	return ret;
}

/* One read for the whole job when its items lie close together in the image (the usual case:
 * they come by address): a page server answers it in one round trip instead of one per frame.
 * 1: done that way (or failed: j->err), 0: the items are too scattered, read them one by one. */
static int run_job_range(struct lp_daemon *d, struct lp_job *j, uint8_t *buf, int reader)
{
	const struct lp_src *src = j->t->src;
	uint64_t lo = UINT64_MAX, hi = 0, pages = 0;
	int i, ret;

	if (!src->ops->read_range || !src->ops->batch_reads || j->nr < 2)
		return 0;
	for (i = 0; i < j->nr; i++) {
		const struct lp_item *it = &j->it[i];
		uint64_t v =
		    src->ops->entry(src->priv, it->ent)->vaddr + (uint64_t)it->pg0 * LP_PAGE;

		lo = v < lo ? v : lo;
		hi = v + (uint64_t)it->nr * LP_PAGE > hi ? v + (uint64_t)it->nr * LP_PAGE : hi;
		pages += it->nr;
	}
	/* a span mostly made of what we need, that fits the buffer */
	if ((hi - lo) / LP_PAGE > LP_RANGE_PAGES || (hi - lo) / LP_PAGE > 2 * pages)
		return 0;
	lp_read_begin(d, reader);
	ret = src->ops->read_range(src->priv, lo, (hi - lo) / LP_PAGE, buf, reader);
	lp_read_end(d, reader);
	if (ret) {
		j->err = ret;
		j->err_addr = j->it[0].base + (uint64_t)j->it[0].pg0 * LP_PAGE;
		return 1;
	}
	for (i = 0; i < j->nr && !ret; i++) {
		const struct lp_item *it = &j->it[i];
		uint64_t ev = src->ops->entry(src->priv, it->ent)->vaddr;

		/* copy_item's frame starts at entry page ebase */
		ret = copy_item(j, &j->it[i], buf + (ev + (uint64_t)it->ebase * LP_PAGE - lo));
	}
	j->err = ret;
	return 1;
}

static void run_job(struct lp_daemon *d, struct lp_job *j, void *buf, int reader)
{
	int i, ret = 0;

	if (run_job_range(d, j, buf, reader))
		return;
	for (i = 0; i < j->nr && !ret; i++) {
		struct lp_item *it = &j->it[i];

		lp_read_begin(d, reader);
		ret = lp_read_ext(j->t->src, it->ent, it->ebase, buf, reader);
		lp_read_end(d, reader);
		if (ret) {
			j->err_addr = it->base + (uint64_t)it->pg0 * LP_PAGE;
			break;
		}
		ret = copy_item(j, it, buf);
	}
	j->err = ret;
}

static void *worker(void *arg)
{
	struct pf_worker_arg *wa = arg;
	struct lp_daemon *d = wa->d;
	void *buf;

	if (setpriority(PRIO_PROCESS, syscall(SYS_gettid), PF_NICE))
		pr_warn("cannot lower the priority of a prefetch worker: %s\n", strerror(errno));
	buf = aligned_alloc(LP_PAGE, LP_RANGE_PAGES * LP_PAGE);
	while (1) {
		struct lp_job *j;
		int kick;

		pthread_mutex_lock(&d->qlock);
		while (!d->queue && !d->quit)
			pthread_cond_wait(&d->qcond, &d->qlock);
		if (d->quit) {
			pthread_mutex_unlock(&d->qlock);
			break;
		}
		j = d->queue;
		d->queue = j->next;
		if (!d->queue)
			d->queue_tail = NULL;
		pthread_mutex_unlock(&d->qlock);

		if (buf)
			run_job(d, j, buf, wa->reader);
		else
			j->err = -ENOMEM;

		pthread_mutex_lock(&d->qlock);
		kick = !d->completed;
		j->next = d->completed;
		d->completed = j;
		pthread_mutex_unlock(&d->qlock);
		if (kick) {
			uint64_t one = 1;

			if (write(d->done_ev.fd, &one, sizeof(one)) < 0)
				pr_perror("cannot wake the loop");
		}
	}
	free(buf);
	free(wa);
	return NULL;
}

static void apply_job(struct lp_daemon *d, struct lp_job *j)
{
	struct lp_task *t = j->t;
	int i;

	t->inflight--;
	d->st.prefetch_pages += j->copied;
	d->st.exist_pages += j->exist;
	d->st.bytes += j->copied * LP_PAGE;
	if (t->dead || j->gen != t->gen)
		return; /* the queued marks were reset with the generation */
	for (i = 0; i < j->nr; i++) {
		struct lp_item *it = &j->it[i];
		struct lp_ext *e = &t->ext[it->idx];
		uint16_t before = e->missing;
		unsigned int pg;

		e->queued = 0;
		for (pg = it->pg0; pg < it->pg0 + it->nr; pg++)
			if (test_bit64(it->done, pg - it->ebase))
				ext_clear(e, pg);
		t->missing -= before - e->missing;
		if (e->missing && it->idx < t->cursor)
			t->cursor = it->idx;
	}
	d->st.frames += j->nr;
	switch (j->err) {
	case 0:
	case -EAGAIN: /* an event is being read: the items go round again */
	case -ESTALE:
		break;
	case -ESRCH:
		lp_task_gone(t);
		break;
	default:
		lp_task_lost(t, j->err, j->err_addr);
	}
}

static int on_done(struct ev_fd *e)
{
	struct lp_daemon *d = container_of(e, struct lp_daemon, done_ev);
	struct lp_job *list, *j;
	uint64_t v;

	if (read(e->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&d->qlock);
	list = d->completed;
	d->completed = NULL;
	pthread_mutex_unlock(&d->qlock);
	while ((j = list)) {
		list = j->next;
		apply_job(d, j);
		d->queued--;
		j->next = d->free_jobs;
		d->free_jobs = j;
	}
	return 0;
}

/* Adds extent i of t to j if it still needs work. 1 when j is full (i was not added), else 0. */
static int add_item(struct lp_task *t, struct lp_job *j, size_t i, unsigned int *pages)
{
	struct lp_ext *e = &t->ext[i];
	struct lp_item *it;
	unsigned int pg;

	if (!e->missing || e->queued)
		return 0;
	if (j->nr == LP_JOB_ITEMS || (j->nr && *pages + e->nr > LP_JOB_PAGES))
		return 1;
	it = &j->it[j->nr++];
	it->idx = i;
	it->base = e->addr - (uint64_t)e->pg0 * LP_PAGE;
	it->ent = e->ent;
	it->ebase = e->ebase;
	it->pg0 = e->pg0;
	it->nr = e->nr;
	memset(it->want, 0, sizeof(it->want));
	memset(it->done, 0, sizeof(it->done));
	for (pg = e->pg0; pg < e->pg0 + e->nr; pg++)
		if (ext_test(e, pg))
			set_bit64(it->want, pg - e->ebase);
	e->queued = 1;
	*pages += e->nr;
	return 0;
}

/* Up to LP_JOB_ITEMS extents of t: the recorded working set first, then by address from the
 * cursor on (wrapping once). */
static int build_job(struct lp_task *t, struct lp_job *j)
{
	size_t n = t->nr_ext, scanned, i;
	unsigned int pages = 0;

	j->nr = 0;
	while (t->order_cursor < t->nr_order) {
		if (add_item(t, j, t->order[t->order_cursor], &pages))
			return j->nr;
		t->order_cursor++;
	}
	if (j->nr)
		return j->nr;
	if (t->cursor >= n)
		t->cursor = 0;
	for (scanned = 0, i = t->cursor; scanned < n; scanned++, i = (i + 1) % n)
		if (add_item(t, j, i, &pages))
			break;
	t->cursor = i;
	return j->nr;
}

int pf_fill(struct lp_daemon *d)
{
	struct lp_task *t;
	int progress = 1;

	if (!d->nr_workers)
		return 0;
	while (nr_inflight(d) < d->qmax && progress) {
		progress = 0;
		for (t = d->tasks; t && nr_inflight(d) < d->qmax; t = t->next) {
			struct lp_job *j;

			if (t->dead || !t->missing)
				continue;
			j = d->free_jobs;
			if (j)
				d->free_jobs = j->next;
			else if (!(j = malloc(sizeof(*j))))
				return -ENOMEM;
			j->t = t;
			j->gen = t->gen; /* only the loop thread changes it */
			j->err = 0;
			j->copied = j->exist = 0;
			if (!build_job(t, j)) {
				j->next = d->free_jobs;
				d->free_jobs = j;
				continue;
			}
			t->inflight++;
			d->queued++;
			progress = 1;
			j->next = NULL;
			pthread_mutex_lock(&d->qlock);
			if (d->queue_tail)
				d->queue_tail->next = j;
			else
				d->queue = j;
			d->queue_tail = j;
			pthread_cond_signal(&d->qcond);
			pthread_mutex_unlock(&d->qlock);
		}
	}
	return nr_inflight(d) > 0;
}

int pf_has_work(struct lp_daemon *d)
{
	return nr_inflight(d) > 0;
}

int pf_start(struct lp_daemon *d)
{
	int i, ret;

	d->qmax = 2 * d->nr_workers;
	if (!d->nr_workers)
		return 0;
	d->done_ev.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->done_ev.fd < 0)
		return -errno;
	d->done_ev.on_read = on_done;
	ret = ev_add(d->loop, &d->done_ev);
	if (ret)
		return ret;
	d->workers = calloc(d->nr_workers, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	for (i = 0; i < d->nr_workers; i++) {
		struct pf_worker_arg *wa = malloc(sizeof(*wa));

		if (!wa)
			return -ENOMEM;
		wa->d = d;
		wa->reader = i + 1;
		ret = -pthread_create(&d->workers[i], NULL, worker, wa);
		if (ret) {
			free(wa);
			d->nr_workers = i;
			return ret;
		}
	}
	return 0;
}

void pf_stop(struct lp_daemon *d)
{
	struct lp_job *j;
	int i;

	pthread_mutex_lock(&d->qlock);
	d->quit = 1;
	pthread_cond_broadcast(&d->qcond);
	pthread_mutex_unlock(&d->qlock);
	for (i = 0; i < d->nr_workers && d->workers; i++)
		pthread_join(d->workers[i], NULL);
	free(d->workers);
	d->workers = NULL;
	while ((j = d->queue)) {
		d->queue = j->next;
		free(j);
	}
	while ((j = d->completed)) {
		d->completed = j->next;
		free(j);
	}
	while ((j = d->free_jobs)) {
		d->free_jobs = j->next;
		free(j);
	}
	if (d->done_ev.fd >= 0)
		close(d->done_ev.fd);
	d->done_ev.fd = -1;
}
