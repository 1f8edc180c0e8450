/* The epoll loop (see ev.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ev.h"

#define EV_BATCH 64

struct ev_loop {
	int epfd;
	struct ev_fd stop;
	struct ev_fd timer;
	int stopped;
	int (*idle)(void *arg);
	void *idle_arg;
	int (*timer_fn)(void *arg);
	void *timer_arg;
};

static int on_stop(struct ev_fd *e)
{
	struct ev_loop *l = container_of(e, struct ev_loop, stop);
	uint64_t v;

	if (read(e->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	l->stopped = 1;
	return 0;
}

static int on_timer(struct ev_fd *e)
{
	struct ev_loop *l = container_of(e, struct ev_loop, timer);
	uint64_t v;

	if (read(e->fd, &v, sizeof(v)) < 0)
		return errno == EAGAIN ? 0 : -errno;
	return l->timer_fn ? l->timer_fn(l->timer_arg) : 0;
}

int ev_create(struct ev_loop **pl)
{
	struct ev_loop *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->timer.fd = -1;
	l->stop.fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto err;
	l->stop.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop.fd < 0)
		goto err;
	l->stop.on_read = on_stop;
	l->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->timer.fd < 0)
		goto err;
	l->timer.on_read = on_timer;
	if (ev_add(l, &l->stop) || ev_add(l, &l->timer))
		goto err;
	*pl = l;
	return 0;
err:
	ret = -errno;
	ev_free(l);
	return ret;
}

void ev_free(struct ev_loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->stop.fd >= 0)
		close(l->stop.fd);
	if (l->timer.fd >= 0)
		close(l->timer.fd);
	free(l);
}

int ev_add(struct ev_loop *l, struct ev_fd *e)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = e};

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, e->fd, &ev) ? -errno : 0;
}

int ev_del(struct ev_loop *l, struct ev_fd *e)
{
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, e->fd, NULL) ? -errno : 0;
}

void ev_set_idle(struct ev_loop *l, int (*idle)(void *arg), void *arg)
{
	l->idle = idle;
	l->idle_arg = arg;
}

int ev_set_timer(struct ev_loop *l, unsigned int interval_ms, int (*fn)(void *arg), void *arg)
{
	struct itimerspec its = {
	    .it_interval = {interval_ms / 1000, (interval_ms % 1000) * 1000000L},
	};

	its.it_value = its.it_interval;
	l->timer_fn = fn;
	l->timer_arg = arg;
	return timerfd_settime(l->timer.fd, 0, &its, NULL) ? -errno : 0;
}

void ev_stop(struct ev_loop *l)
{
	uint64_t one = 1;

	if (write(l->stop.fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: a stop is pending anyway */
	}
}

int ev_run(struct ev_loop *l)
{
	struct epoll_event evs[EV_BATCH];
	int busy = 1, n, i, ret; /* the idle hook runs once before the first sleep */

	l->stopped = 0;
	while (!l->stopped) {
		n = epoll_wait(l->epfd, evs, EV_BATCH, busy ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			struct ev_fd *e = evs[i].data.ptr;

			if ((evs[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && e->on_hup &&
			    !(evs[i].events & EPOLLIN))
				ret = e->on_hup(e);
			else
				ret = e->on_read(e);
			if (ret < 0)
				return ret;
			/* a handler may have freed later entries' owners: it calls ev_stop or
			 * returns 1 to ask for a fresh epoll_wait */
			if (ret > 0)
				break;
		}
		busy = 0;
		if (n == 0 || n < EV_BATCH) {
			if (l->idle && !l->stopped) {
				ret = l->idle(l->idle_arg);
				if (ret < 0)
					return ret;
				busy = ret > 0;
			}
		}
	}
	return 0;
}
