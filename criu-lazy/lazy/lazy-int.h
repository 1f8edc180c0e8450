/* Inside the lazy-pages daemon: shared between daemon.c, ranges.c, fault.c, events.c and
 * prefetch.c. Only the loop thread touches tasks' extents; workers get jobs and copy under the
 * task's lock, checking its generation, so a range that an event moved or dropped is never filled
 * with stale data. */
#ifndef CRL_LAZY_INT_H
#define CRL_LAZY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ev.h"
#include "uffd.h"
#include "lazy-pages.h"

#define LP_PAGE PGS_PAGE_SIZE
#define LP_BITS_WORDS (PGS_MAX_FRAME_PAGES / 64)
#define LP_JOB_ITEMS 32	     /* extents per prefetch job */
#define LP_JOB_PAGES 256     /* and at most this many pages (1 MiB) */
#define LP_RANGE_PAGES 1024  /* a prefetch read of a job's span: 4 MiB */
#define LP_MAX_LAT (1 << 20) /* fault latency samples kept */

#define lp_err(t, fmt, ...) pr_err("%s: " fmt, (t)->name, ##__VA_ARGS__)
#define lp_warn(t, fmt, ...) pr_warn("%s: " fmt, (t)->name, ##__VA_ARGS__)
#define lp_debug(t, fmt, ...) pr_debug("%s: " fmt, (t)->name, ##__VA_ARGS__)

struct lp_src {
	const struct lp_src_ops *ops;
	void *priv;
	int refs; /* tasks using it (a fork shares its parent's) */
};

/* Pages [pg0, pg0 + nr) of source entry ent, now at addr in the task. Its data is one "frame":
 * the entry itself, or for an entry longer than a frame (pages left in a parent image set) the
 * PGS_MAX_FRAME_PAGES-page window of it from page ebase. bits: which pages of that frame are still
 * missing (bit k is entry page ebase + k, so splits keep the array as it is). */
struct lp_ext {
	uint64_t addr;
	uint32_t ent;
	uint32_t ebase;
	uint32_t pg0;
	uint16_t nr;
	uint16_t missing;
	uint8_t queued;
	uint64_t bits[LP_BITS_WORDS];
};

struct lp_task {
	struct ev_fd ev; /* the uffd */
	struct lp_daemon *d;
	struct lp_task *next;
	pid_t pid; /* 0: a fork child not yet seen faulting */
	pid_t parent;
	char name[40];
	struct lp_src *src;
	pthread_mutex_t lock; /* held by workers while copying, by the loop while reading */
	uint64_t gen;	      /* bumped under lock when ranges move or go */
	int dead;	      /* under lock too */
	struct lp_ext *ext;   /* sorted by addr, not overlapping */
	size_t nr_ext, cap_ext;
	uint64_t missing;
	size_t cursor; /* prefetch: next extent to look at */
	int inflight;  /* jobs the workers hold */
	size_t *order; /* extents of the recorded working set, in order */
	size_t nr_order, order_cursor;
	uint64_t *pending; /* faults to retry after -EAGAIN */
	int nr_pending, cap_pending;
	uint64_t guard_id; /* 0: the guard does not hold its uffd */
	int guard_tainted; /* the guard was told its ranges changed */
};

struct lp_item {
	size_t idx;    /* extent index when queued */
	uint64_t base; /* address of the entry's page 0 */
	uint32_t ent;
	uint32_t ebase, pg0;
	uint16_t nr;
	uint64_t want[LP_BITS_WORDS]; /* bit k: entry page ebase + k */
	uint64_t done[LP_BITS_WORDS];
};

struct lp_job {
	struct lp_job *next;
	struct lp_task *t;
	uint64_t gen;
	int err; /* first error; -ESTALE: ranges changed, nothing applied */
	int nr;
	uint64_t err_addr;
	uint64_t copied, exist;
	struct lp_item it[LP_JOB_ITEMS];
};

struct lp_conn;

struct lp_order {
	uint32_t pid;
	uint32_t nr;
	uint64_t *vaddr;
};

struct lp_rec {
	uint32_t pid;
	uint64_t vaddr;
};

struct lp_daemon {
	struct lp_config cfg;
	int guard_fd; /* guard.c: -1 when there is none */
	pid_t guard_pid;
	uint64_t guard_seq;
	int takeover;	      /* adding a task taken over from a dead daemon's keeper */
	struct lp_conn *conn; /* the restorer's socket, when listening */
	struct ev_loop *loop;
	struct lp_task *tasks;
	int tasks_done; /* lp_tasks_done was called */
	int error;	/* what lp_run returns */
	void *buf;	/* the loop's frame buffer */
	/* prefetch */
	pthread_t *workers;
	int nr_workers;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct lp_job *queue, *queue_tail, *free_jobs, *completed;
	int queued, qmax, quit;
	struct ev_fd done_ev; /* eventfd: workers completed jobs */
	/* watchdog: when the current page read started, per reader (loop + workers) */
	_Atomic uint64_t *read_since;
	pthread_t watchdog;
	int watchdog_on;  /* the thread runs (joined by lp_free) */
	int watchdog_end; /* under wd_lock */
	pthread_mutex_t wd_lock;
	pthread_cond_t wd_cond;
	/* working set: the one loaded, the one being recorded */
	int order_dirfd; /* -1: neither */
	int order_loaded;
	struct lp_order *orders;
	int nr_orders;
	struct lp_rec *rec;
	size_t nr_rec, cap_rec;
	/* statistics */
	struct lp_stats st;
	uint32_t *lat;
	uint64_t nr_lat;
	uint64_t t_start;
};

uint64_t lp_now_ns(void);

/* ranges.c */
int ext_build(struct lp_task *t, const struct lp_range *r, int nr);
long ext_find(const struct lp_task *t, uint64_t addr); /* index or -1 */
int ext_test(const struct lp_ext *e, unsigned int pg); /* pg: page of the entry */
void ext_clear(struct lp_ext *e, unsigned int pg);
/* The frame of e into dst (PGS_MAX_FRAME_PAGES pages at most; page k is entry page ebase + k). */
int lp_read_ext(const struct lp_src *src, uint32_t ent, uint32_t ebase, void *dst, int reader);
uint16_t ext_count(const struct lp_ext *e);
int ext_split(struct lp_task *t, uint64_t addr);
int ext_drop_range(struct lp_task *t, uint64_t start, uint64_t end);
int ext_move_range(struct lp_task *t, uint64_t from, uint64_t to, uint64_t len);
int ext_clone(struct lp_task *dst, const struct lp_task *src);

/* daemon.c */
void lp_task_lost(struct lp_task *t, int err, uint64_t addr);
void lp_task_gone(struct lp_task *t);

/* guard.c: a process that keeps every task's uffd open while the task lacks pages, and kills
 * those tasks if the daemon dies without letting them go. */
int lp_guard_start(struct lp_daemon *d);
int lp_guard_add(struct lp_daemon *d, struct lp_task *t, const struct lp_range *r, int nr);
void lp_guard_taint(struct lp_daemon *d, struct lp_task *t);
void lp_guard_release(struct lp_daemon *d, struct lp_task *t);
void lp_guard_stop(struct lp_daemon *d);
/* Kills the children of parent (found by scanning /proc) whose pids are not in known. Returns
 * how many, or -errno. */
int lp_kill_children_of(pid_t parent, const pid_t *known, int nr_known);
int lp_add_child(struct lp_daemon *d, struct lp_task *parent, int uffd);
void lp_read_begin(struct lp_daemon *d, int reader);
void lp_read_end(struct lp_daemon *d, int reader);

/* conn.c */
void lp_conn_free(struct lp_conn *c);

/* order.c */
int lp_order_apply(struct lp_daemon *d, struct lp_task *t);
void lp_order_note(struct lp_daemon *d, struct lp_task *t, uint64_t img_vaddr);
void lp_order_free(struct lp_daemon *d);

/* present.c: -EIO when pages were filled before us and restore had no data for them */
int lp_check_present(struct lp_task *t, int restore_has_pages);

/* fault.c */
int handle_pagefault(struct lp_task *t, const struct uffd_msg *m);
int lp_retry_pending(struct lp_task *t);
/* Copies the missing pages of extent e from a decoded frame; 0 or -errno (-EAGAIN, -ESRCH, ...)
 * with what went in cleared from e. */
int lp_copy_ext(struct lp_task *t, struct lp_ext *e, const void *frame, uint64_t *copied);

/* events.c */
int handle_event(struct lp_task *t, const struct uffd_msg *m);

/* prefetch.c */
int pf_start(struct lp_daemon *d);
void pf_stop(struct lp_daemon *d);
int pf_fill(struct lp_daemon *d); /* queues jobs; 1 while workers are busy */
int pf_has_work(struct lp_daemon *d);

#endif
