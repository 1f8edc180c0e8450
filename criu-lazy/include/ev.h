/* A small epoll loop: fds with read/hup handlers embedded in their owners (container_of), one
 * timer, an idle hook that runs after the ready fds have been served (so faults always come
 * first), and a stop that any thread may call. Only the loop thread calls the handlers. */
#ifndef CRL_EV_H
#define CRL_EV_H

#include <stddef.h>
#include <stdint.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

struct ev_loop;

struct ev_fd {
	int fd;
	/* 0 to go on; 1 when the handler removed fds from the loop (the rest of this batch of
	 * events may be stale: the loop polls again); <0 (-errno) stops the loop, ev_run returns it
	 */
	int (*on_read)(struct ev_fd *e);
	int (*on_hup)(struct ev_fd *e); /* NULL: on_read sees the hang-up (read returns 0) */
};

int ev_create(struct ev_loop **l);
void ev_free(struct ev_loop *l); /* accepts NULL; closes no fd but its own */

int ev_add(struct ev_loop *l, struct ev_fd *e);
int ev_del(struct ev_loop *l, struct ev_fd *e);

/* The idle hook: returns 1 when it has more to do (the loop polls again without sleeping),
 * 0 when idle, <0 to stop the loop with that error. */
void ev_set_idle(struct ev_loop *l, int (*idle)(void *arg), void *arg);

/* Calls fn(arg) every interval_ms (0 disarms); same return convention as on_read. */
int ev_set_timer(struct ev_loop *l, unsigned int interval_ms, int (*fn)(void *arg), void *arg);

/* Runs until ev_stop() or a handler error. 0 or -errno. */
int ev_run(struct ev_loop *l);

/* Safe from any thread and from handlers. */
void ev_stop(struct ev_loop *l);

#endif
