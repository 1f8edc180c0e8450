/* The lazy-pages daemon's core: tasks (a uffd, the ranges registered on it, a page source), one
 * event loop that answers faults and uffd events, and prefetch workers that fill the rest. The
 * lazy-pages command feeds it from the restorer's socket; unit tests feed it directly. */
#ifndef CRL_LAZY_PAGES_H
#define CRL_LAZY_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pagestore.h"

struct lp_daemon;
struct ev_loop;

/* Where a task's pages come from. The read calls come from several threads at once; reader says
 * which: 0 is the fault path, 1..N the prefetch workers (a source may give each its own channel,
 * so a fault never queues behind background reads). */
struct lp_src_ops {
	size_t (*nr_entries)(void *priv);
	const struct pgs_entry *(*entry)(void *priv, size_t i); /* sorted by vaddr */
	/* entry i's pages into dst: 0, or -errno (-EBADMSG/-EIO: the data is lost) */
	int (*read_frame)(void *priv, size_t i, void *dst, int reader);
	/* optional, for prefetch: the pages of [vaddr, vaddr + nr_pages) of the image (holes zero,
	 * nr_pages <= 1024) into dst in one go; 0 or -errno */
	int (*read_range)(void *priv, uint64_t vaddr, unsigned long nr_pages, void *dst,
			  int reader);
	void (*close)(void *priv);
	/* restore reads the same pages (local images) and may have written lazy ones itself */
	int restore_has_pages;
	/* read_range is worth using for a whole prefetch job (a page server: one round trip) */
	int batch_reads;
};

struct lp_range {
	uint64_t start, end;
};

struct lp_config {
	int nr_workers; /* prefetch threads; 0: one per CPU; -1: no prefetch (faults only) */
	int timeout_s;	/* a page read that takes longer fails the tasks; 0: no limit */
	bool no_kill;	/* tests: report a lost task instead of killing it (the pid is ours) */
	bool guard; /* fork a guard process (lazy/guard.c); not when our own memory is registered */
	const char *keeper_dir; /* where the guard waits timeout_s for a new daemon if we die */
};

struct lp_stats {
	uint64_t tasks, tasks_lost;
	uint64_t faults, fault_pages; /* faults served with data, and the pages they brought */
	uint64_t zero_pages;	      /* faults in holes: UFFDIO_ZEROPAGE */
	uint64_t prefetch_pages;
	uint64_t exist_pages;			     /* someone was first: -EEXIST */
	uint64_t frames, bytes;			     /* frames decoded, bytes copied in */
	uint64_t events[8];			     /* by UFFD_EVENT_* & 7 */
	uint64_t lat_p50_ns, lat_p99_ns, lat_max_ns; /* fault service time in the daemon */
	uint64_t elapsed_ns;			     /* from the first task to the last page */
};

int lp_create(struct lp_daemon **d, const struct lp_config *cfg);
void lp_free(struct lp_daemon *d); /* accepts NULL; closes every uffd still open */

struct ev_loop *lp_loop(struct lp_daemon *d);

/* A task to serve: its uffd (API done, ranges registered MISSING), the registered ranges, and the
 * source of its pages (ops/priv are owned from now on, closed with the last task using them).
 * Takes uffd even on failure. pid names the task in logs and is what gets killed when its data
 * is lost, and on failure here (without its uffd it would read zeros). 0 or -errno. */
int lp_add_task(struct lp_daemon *d, pid_t pid, int uffd, const struct lp_range *ranges, int nr,
		const struct lp_src_ops *ops, void *priv);

/* Opens the page source of task pid for the restorer's connection. 0 or -errno. */
typedef int (*lp_open_src_fn)(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv);

/* Listens on WORK_DIR/lazy-pages.socket (lazy-register.h) for the restorer: every task it hands
 * over is added with the source open_src gives; its "done" is lp_tasks_done. With a timeout in
 * the config, a restorer that does not connect within it fails lp_run with -ETIMEDOUT. The socket
 * file is removed by lp_free. 0 or -errno. */
int lp_listen(struct lp_daemon *d, const char *work_dir, lp_open_src_fn open_src, void *arg);

/* Local image directories as a page source: the image set, and the chain of parent sets its
 * inventory names (pre-dumps), each checked against its own dump uuid. */
struct lp_local {
	int dirfd;
	const char *dir; /* for messages */
	const uint8_t *uuid;
	const struct lp_local *parent; /* NULL at the end of the chain */
};
/* Reads the inventories of dir (open as dirfd, which stays the caller's) and of its parents.
 * 0 or -errno (logged). */
int lp_local_open(struct lp_local **l, int dirfd, const char *dir);
void lp_local_free(struct lp_local *l); /* accepts NULL */
/* The lp_open_src_fn of an lp_local. */
int lp_open_local(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv);

/* The working set (lazy-order.img in dirfd): prefetch the pages it names first; if there is none,
 * record this restore's faults for lp_order_save to write. Call before adding tasks. 0 or -errno.
 */
int lp_order_load(struct lp_daemon *d, int dirfd);
/* After a successful lp_run. Failing to write is worth a warning, not an error. */
int lp_order_save(struct lp_daemon *d);

/* A remote page server as the page source (lazy-pages --page-server): lp_remote_create connects
 * (a connection for faults, more for prefetch) and checks the server serves this dump
 * (uuid). lp_open_remote is its lp_open_src_fn. address is kept, not copied. */
struct lp_remote;
int lp_remote_create(struct lp_remote **r, const char *address, int port, const uint8_t *uuid,
		     int timeout_s);
void lp_remote_free(struct lp_remote *r); /* accepts NULL; after every task's source is closed */
int lp_open_remote(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv);

/* Takes over the tasks a dead daemon's guard keeps in dir (lazy/guard.c), if there is one: every
 * page they already have is taken as in. The number of tasks taken, or -errno. */
int lp_takeover(struct lp_daemon *d, const char *dir, lp_open_src_fn open_src, void *arg);

/* No more tasks will come: once every page is in, lp_run returns. */
void lp_tasks_done(struct lp_daemon *d);

/* Serves until every page of every task is in (then closes the uffds) or lp_stop. 0, or -errno
 * (a task lost its data: -EBADMSG/-EIO/-ETIMEDOUT, the task was killed). */
int lp_run(struct lp_daemon *d);
void lp_stop(struct lp_daemon *d); /* any thread */

void lp_get_stats(struct lp_daemon *d, struct lp_stats *st);
/* The statistics as pr_msg lines. */
void lp_print_stats(struct lp_daemon *d);

#endif
