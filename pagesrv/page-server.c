/* A page server on an image directory: one thread per client, every store opened once and shared
 * (pxf_store_dir), a stop fd, and no client outliving the call. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "page-xfer.h"

struct client {
	struct server *srv;
	int fd;
	pthread_t th;
	bool done; /* under srv->lock */
	int ret;
	char why[320];
};

struct server {
	const struct pxf_server_opts *o;
	struct pxf_store_dir *dir;
	pthread_mutex_t lock; /* the client table */
	pthread_cond_t ended;
	struct client **cl;
	size_t nr;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct server *s = c->srv;
	struct pxf_conn *conn = NULL;

	c->ret = pxf_conn_create(&conn, c->fd, s->o->timeout_ms);
	if (!c->ret)
		c->ret = pxf_accept_hello(conn, s->o->uuid);
	if (!c->ret)
		c->ret = pxf_serve(conn, pxf_store_dir_lookup, s->dir);
	strncpy(c->why, conn ? pxf_last_error(conn) : "out of memory", sizeof(c->why) - 1);
	pxf_conn_free(conn);
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&s->lock);
	c->done = true;
	pthread_cond_broadcast(&s->ended);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Joins the clients that are done, telling the caller how each ended. Returns the first failure. */
static int reap(struct server *s, bool *any)
{
	size_t i = 0;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (i < s->nr) {
		struct client *c = s->cl[i];

		if (!c->done) {
			i++;
			continue;
		}
		s->cl[i] = s->cl[--s->nr];
		pthread_mutex_unlock(&s->lock);
		pthread_join(c->th, NULL);
		close(c->fd);
		if (s->o->on_client_end)
			s->o->on_client_end(s->o->arg, c->ret, c->ret ? c->why : "closed");
		if (!ret)
			ret = c->ret;
		*any = true;
		free(c);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int add_client(struct server *s, int fd)
{
	struct client *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = s;
	c->fd = fd;
	pthread_mutex_lock(&s->lock);
	ret = -pthread_create(&c->th, NULL, client_main, c);
	if (!ret)
		s->cl[s->nr++] = c;
	pthread_mutex_unlock(&s->lock);
	if (ret) {
		close(fd);
		free(c);
	}
	return ret;
}

int pxf_server_run(const struct pxf_server_opts *o)
{
	unsigned int max = o->max_clients ? o->max_clients : 64;
	struct server s = {.o = o};
	bool any = false;
	int ret, last = 0, first_err = 0;
	size_t i;

	s.cl = calloc(max, sizeof(*s.cl));
	if (!s.cl)
		return -ENOMEM;
	ret = pxf_store_dir_open(&s.dir, o->dirfd, o->uuid);
	if (ret) {
		free(s.cl);
		return ret;
	}
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.ended, NULL);
	for (;;) {
		struct pollfd pfd[2] = {{.fd = o->lfd, .events = POLLIN},
					{.fd = o->stop_fd, .events = POLLIN}};
		size_t nr;
		bool full;
		int fd;

		ret = reap(&s, &any);
		if (ret && !first_err)
			first_err = ret;
		pthread_mutex_lock(&s.lock);
		nr = s.nr;
		pthread_mutex_unlock(&s.lock);
		if (o->once && any && !nr) {
			last = first_err;
			break;
		}
		full = nr >= max;
		/* a full table listens only for stop; a client ending wakes us through the poll
		 * timeout, so the loop needs no extra fd */
		ret = poll(pfd + (full ? 1 : 0), full ? 1 : 2, 100);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			last = -errno;
			break;
		}
		if (o->stop_fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			last = 0;
			break;
		}
		if (full || !(pfd[0].revents & POLLIN))
			continue;
		ret = pxf_tcp_accept(o->lfd, 1, &fd);
		if (ret == -ETIMEDOUT || ret == -EAGAIN)
			continue;
		if (ret == -EMFILE || ret == -ENFILE || ret == -ENOBUFS || ret == -ENOMEM ||
		    ret == -EPERM || ret == -EPROTO) {
			/* out of something for now, or one connection refused: not the end of the
			 * server; the pending connection stays queued, so do not spin on it */
			usleep(10000);
			continue;
		}
		if (ret) {
			last = ret;
			break;
		}
		add_client(&s, fd);
	}
	/* stopping: cut every client off and wait for its thread */
	pthread_mutex_lock(&s.lock);
	for (i = 0; i < s.nr; i++)
		shutdown(s.cl[i]->fd, SHUT_RDWR);
	while (s.nr) {
		bool done = false;

		for (i = 0; i < s.nr; i++)
			done |= s.cl[i]->done;
		if (!done) {
			pthread_cond_wait(&s.ended, &s.lock);
			continue;
		}
		pthread_mutex_unlock(&s.lock);
		reap(&s, &any);
		pthread_mutex_lock(&s.lock);
	}
	pthread_mutex_unlock(&s.lock);
	pthread_cond_destroy(&s.ended);
	pthread_mutex_destroy(&s.lock);
	pxf_store_dir_close(s.dir);
	free(s.cl);
	return last;
}
