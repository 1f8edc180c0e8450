/* dump --lazy-pages: after the images are written and the tree is gone, serve its pages over the
 * page-xfer protocol to a remote lazy-pages daemon until every client has gone.
 *
 * Owner ids on the wire: a process's pages are owner PID; a shared memory object's are owner
 * LAZY_SHMEM_ID_BIT | SHMID. Each connection is served by a thread of its own: the page store
 * reader may be shared between threads. */
#include <arpa/inet.h>
#include <fcntl.h>
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

#define LOG_PREFIX "lazy-serve: "
#include "log.h"
#include "dump.h"
#include "page-xfer.h"

#define LAZY_SHMEM_ID_BIT (1ULL << 63)
#define ACCEPT_TIMEOUT_S 120
#define CONN_TIMEOUT_MS 60000
#define MAX_OWNERS 4096

struct lazy_srv {
	int dirfd;
	const uint8_t *uuid;
	pthread_mutex_t lock;
	struct {
		uint64_t id;
		struct pgs_ctx *ctx; /* NULL: looked up and absent */
	} owners[MAX_OWNERS];
	int nr_owners;
	int active;   /* connections being served */
	int served;   /* connections accepted so far */
	int failures; /* connections that ended in an error */
	int wake[2];  /* a serving thread that ends writes here */
};

struct lazy_conn {
	struct lazy_srv *srv;
	int fd;
};

static struct pgs_ctx *lookup(void *arg, uint64_t id)
{
	struct lazy_srv *s = arg;
	struct pgs_ctx *ctx = NULL;
	char name[64];
	int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nr_owners; i++)
		if (s->owners[i].id == id) {
			ctx = s->owners[i].ctx;
			goto out;
		}
	if (id & LAZY_SHMEM_ID_BIT)
		snprintf(name, sizeof(name), "shmem-%llu",
			 (unsigned long long)(id & ~LAZY_SHMEM_ID_BIT));
	else if (id <= 0x7fffffff)
		snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
	else
		goto out;
	if (pgs_open_local(&ctx, s->dirfd, name, s->uuid))
		ctx = NULL;
	if (s->nr_owners < MAX_OWNERS) {
		s->owners[s->nr_owners].id = id;
		s->owners[s->nr_owners].ctx = ctx;
		s->nr_owners++;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return ctx;
}

static void *serve_conn(void *arg)
{
	struct lazy_conn *lc = arg;
	struct lazy_srv *s = lc->srv;
	struct pxf_conn *c = NULL;
	int ret;

	ret = pxf_conn_create(&c, lc->fd, CONN_TIMEOUT_MS);
	if (!ret)
		ret = pxf_accept_hello(c, s->uuid);
	if (!ret)
		ret = pxf_serve(c, lookup, s);
	if (ret)
		pr_err("page client on fd %d: %s (%s)\n", lc->fd, strerror(-ret),
		       c ? pxf_last_error(c) : "no memory");
	pxf_conn_free(c);
	close(lc->fd);
	pthread_mutex_lock(&s->lock);
	s->active--;
	if (ret)
		s->failures++;
	pthread_mutex_unlock(&s->lock);
	if (write(s->wake[1], "x", 1) != 1)
		pr_warn("cannot wake the accept loop\n");
	free(lc);
	return NULL;
}

int dump_lazy_listen(const struct crl_opts *o)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	char port[16];
	int fd = -1, one = 1, ret;

	if (!o->port) {
		pr_err("dump --lazy-pages needs --port\n");
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%d", o->port);
	ret = getaddrinfo(o->address, port, &hints, &ai);
	if (ret) {
		pr_err("cannot resolve %s: %s\n", o->address ? o->address : "*", gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16)) {
		ret = -errno;
		pr_perror("cannot listen on %s:%d", o->address ? o->address : "*", o->port);
		if (fd >= 0)
			close(fd);
		fd = ret;
	}
	freeaddrinfo(ai);
	return fd;
}

int dump_lazy_serve(struct dump_ctx *d, int lfd)
{
	struct lazy_srv *s = calloc(1, sizeof(*s));
	time_t deadline = time(NULL) + ACCEPT_TIMEOUT_S;
	int ret = 0, i;

	if (!s)
		return -ENOMEM;
	if (pipe2(s->wake, O_CLOEXEC)) {
		free(s);
		return -errno;
	}
	s->dirfd = d->dirfd;
	s->uuid = d->uuid;
	pthread_mutex_init(&s->lock, NULL);
	pr_info("serving pages on port %d\n", d->o->port);

	while (1) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN},
				      {.fd = s->wake[0], .events = POLLIN}};
		int active, served, left = deadline - time(NULL);
		char buf[64];

		pthread_mutex_lock(&s->lock);
		active = s->active;
		served = s->served;
		pthread_mutex_unlock(&s->lock);
		if (served && !active)
			break; /* every client has all it wanted */
		if (!active && left <= 0) {
			pr_err("no page client connected within %d s\n", ACCEPT_TIMEOUT_S);
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(p, 2, active ? -1 : left * 1000) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (p[1].revents & POLLIN && read(s->wake[0], buf, sizeof(buf)) < 0)
			pr_warn("wake pipe: %s\n", strerror(errno));
		if (p[0].revents & POLLIN) {
			struct lazy_conn *lc = malloc(sizeof(*lc));
			pthread_t th;
			int one = 1;

			if (!lc) {
				ret = -ENOMEM;
				break;
			}
			lc->srv = s;
			lc->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (lc->fd < 0) {
				free(lc);
				continue;
			}
			setsockopt(lc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			pthread_mutex_lock(&s->lock);
			s->active++;
			s->served++;
			pthread_mutex_unlock(&s->lock);
			if (pthread_create(&th, NULL, serve_conn, lc)) {
				pr_err("cannot start a serving thread\n");
				close(lc->fd);
				free(lc);
				pthread_mutex_lock(&s->lock);
				s->active--;
				pthread_mutex_unlock(&s->lock);
				continue;
			}
			pthread_detach(th);
		}
	}
	/* threads still running (an error path) keep s: it is leaked on purpose, we are exiting */
	if (!s->active) {
		if (!ret && s->failures)
			ret = -EIO;
		pr_info("served %d page client(s), %d failed\n", s->served, s->failures);
		for (i = 0; i < s->nr_owners; i++)
			pgs_close(s->owners[i].ctx);
		close(s->wake[0]);
		close(s->wake[1]);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return ret;
}
