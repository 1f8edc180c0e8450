/* The page server's sockets and its thread-per-connection server (see page-server.h). Threads
 * keep a slow client's request from holding up another client's faults; each connection is
 * served in order, as page-xfer requires. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "page-server: "
#include "log.h"
#include "page-server.h"

int ps_address_is_loopback(const char *address)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!address || !strcmp(address, "localhost"))
		return 1;
	if (inet_pton(AF_INET, address, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, address, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int ps_listen(const char *address, int port)
{
	const char *a = address ? address : "127.0.0.1";
	int fd, ret;

	ret = pxf_tcp_listen(a, port, &fd, NULL);
	if (ret) {
		pr_errno(ret, "cannot listen on %s port %d", a, port);
		return ret;
	}
	return fd;
}

struct ps_state {
	struct ps_server *s;
	pthread_mutex_t lock;
	int active; /* connections being served */
	int helloed;
	int broken;	       /* the last connection to end broke: the client may come back */
	struct timespec t_end; /* when the last connection ended */
};

struct ps_conn {
	struct ps_state *st;
	int fd;
	char peer[64];
	uint8_t uuid[PGS_UUID_LEN]; /* the client's, when the server takes any */
};

static void *conn_thread(void *arg)
{
	struct ps_conn *pc = arg;
	struct ps_state *st = pc->st;
	struct pxf_conn *c = NULL;
	int ret, one = 1;

	setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ret = pxf_conn_create(&c, pc->fd, 0);
	if (!ret) {
		ret = st->s->uuid ? pxf_accept_hello(c, st->s->uuid)
				  : pxf_accept_hello_any(c, pc->uuid);
		if (ret)
			pr_warn("%s: refused: %s\n", pc->peer, pxf_last_error(c));
	}
	if (!ret) {
		pthread_mutex_lock(&st->lock);
		st->helloed = 1;
		st->broken = 0;
		st->s->clients++;
		pthread_mutex_unlock(&st->lock);
		ret = st->s->serve(st->s->arg, c);
		if (ret) {
			pr_warn("%s: connection ended: %s\n", pc->peer, pxf_last_error(c));
			pthread_mutex_lock(&st->lock);
			st->s->conn_errors++;
			st->broken = 1;
			pthread_mutex_unlock(&st->lock);
		}
	}
	pxf_conn_free(c);
	close(pc->fd);
	pthread_mutex_lock(&st->lock);
	st->active--;
	clock_gettime(CLOCK_MONOTONIC, &st->t_end);
	pthread_mutex_unlock(&st->lock);
	free(pc);
	return NULL;
}

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	}
	snprintf(buf, len, "client %s:%d", host, port);
}

static int accept_one(struct ps_state *st)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	pthread_attr_t attr;
	struct ps_conn *pc;
	pthread_t th;
	int fd, ret;

	fd = accept4(st->s->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED ? 0 : -errno;
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		close(fd);
		return -ENOMEM;
	}
	pc->st = st;
	pc->fd = fd;
	peer_name(&ss, pc->peer, sizeof(pc->peer));
	pr_info("%s connected\n", pc->peer);
	pthread_mutex_lock(&st->lock);
	st->active++;
	st->s->conns++;
	pthread_mutex_unlock(&st->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&th, &attr, conn_thread, pc);
	pthread_attr_destroy(&attr);
	if (ret) {
		pr_errno(ret, "cannot start a thread for %s", pc->peer);
		pthread_mutex_lock(&st->lock);
		st->active--;
		pthread_mutex_unlock(&st->lock);
		close(fd);
		free(pc);
	}
	return 0;
}

int ps_run(struct ps_server *s)
{
	struct ps_state *st = calloc(1, sizeof(*st));
	struct timespec t0, now;
	int ret = 0, done = 0, left;

	if (!st)
		return -ENOMEM;
	st->s = s;
	pthread_mutex_init(&st->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!done) {
		struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};

		ret = poll(&pfd, 1, 50);
		if (ret < 0 && errno != EINTR) {
			ret = -errno;
			pr_perror("poll");
			break;
		}
		ret = 0;
		if (pfd.revents & POLLIN) {
			ret = accept_one(st);
			if (ret) {
				pr_errno(ret, "accept");
				break;
			}
		}
		pthread_mutex_lock(&st->lock);
		done = st->helloed && !st->active;
		if (done && st->broken) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			done = now.tv_sec - st->t_end.tv_sec >= s->reconnect_s;
			if (done)
				pr_err("the client broke off and did not come back within %d s\n",
				       s->reconnect_s);
		}
		if (!st->helloed && !st->active && s->idle_timeout_s > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= s->idle_timeout_s) {
				pr_err("no client came within %d s\n", s->idle_timeout_s);
				ret = -ETIMEDOUT;
				done = 1;
			}
		}
		pthread_mutex_unlock(&st->lock);
	}
	pthread_mutex_lock(&st->lock);
	left = st->active;
	pthread_mutex_unlock(&st->lock);
	/* after an error, threads may still be serving: they keep st, the process ends soon */
	if (!left) {
		pthread_mutex_destroy(&st->lock);
		free(st);
	}
	return ret;
}
