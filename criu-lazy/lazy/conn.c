/* The restorer's connection: the socket it finds in the work dir, the tasks it hands over (a uffd
 * and the ranges registered on it), and its "done". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-proto.h"
#include "lazy-register.h"
#include "lazy-int.h"

#define CONN_RECV_TIMEOUT_S 30

struct lp_conn {
	struct ev_fd listen;
	struct ev_fd sk;
	struct lp_daemon *d;
	lp_open_src_fn open_src;
	void *arg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int connected, done;
};

/* Reads exactly len bytes; the fd that came with them, if any, goes to *fd. 0, -EPIPE at a clean
 * end before the first byte, or -errno. */
static int recv_full(int sk, void *buf, size_t len, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	size_t got = 0;

	while (got < len) {
		struct iovec iov = {(char *)buf + got, len - got};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		struct cmsghdr *cm;
		ssize_t n;

		if (fd) {
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
		}
		n = recvmsg(sk, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (n == 0)
			return got ? -EPROTO : -EPIPE;
		for (cm = fd ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(fd, CMSG_DATA(cm), sizeof(int));
		got += n;
	}
	return 0;
}

static int recv_task(struct lp_conn *c, const struct lazy_msg *m, int uffd)
{
	const struct lp_src_ops *ops;
	struct lp_range *r;
	void *priv;
	int ret;

	if (uffd < 0) {
		pr_err("the restorer sent task %d without its userfaultfd\n", m->pid);
		return -EPROTO;
	}
	r = malloc(sizeof(*r) * (m->nr_ranges ? m->nr_ranges : 1));
	if (!r) {
		close(uffd);
		return -ENOMEM;
	}
	ret = recv_full(c->sk.fd, r, sizeof(*r) * m->nr_ranges, NULL);
	if (ret) {
		pr_errno(ret, "cannot read the ranges of task %d", m->pid);
		close(uffd);
		goto out;
	}
	ret = c->open_src(c->arg, m->pid, &ops, &priv);
	if (ret) {
		/* its memory would read as zeros: it must not run */
		pr_err("%d: no page source (%s): killing the task\n", m->pid, strerror(-ret));
		kill(m->pid, SIGKILL);
		close(uffd);
		c->d->st.tasks_lost++;
		c->d->error = c->d->error ? c->d->error : ret;
		ret = 0;
		goto out;
	}
	ret = lp_add_task(c->d, m->pid, uffd, r, m->nr_ranges, ops, priv);
	if (ret) { /* logged, and the task killed */
		c->d->st.tasks_lost++;
		c->d->error = c->d->error ? c->d->error : ret;
		ret = 0;
	}
out:
	free(r);
	return ret;
}

static int on_msg(struct ev_fd *e)
{
	struct lp_conn *c = container_of(e, struct lp_conn, sk);
	struct lazy_msg m;
	int fd = -1, ret;

	ret = recv_full(e->fd, &m, sizeof(m), &fd);
	if (ret == -EPIPE) {
		ev_del(c->d->loop, e);
		if (!c->done) {
			pr_err("the restorer went away before handing over every task\n");
			c->d->error = c->d->error ? c->d->error : -EPIPE;
			lp_tasks_done(c->d);
		}
		return 1;
	}
	if (!ret && (m.magic != LAZY_MSG_MAGIC || m.nr_ranges > LAZY_MAX_RANGES))
		ret = -EPROTO;
	if (ret) {
		pr_errno(ret, "bad message from the restorer");
		if (fd >= 0)
			close(fd);
		return ret;
	}
	switch (m.type) {
	case LAZY_MSG_TASK:
		return recv_task(c, &m, fd);
	case LAZY_MSG_DONE:
		if (fd >= 0)
			close(fd);
		pr_info("the restorer handed over every task\n");
		c->done = 1;
		lp_tasks_done(c->d);
		return 0;
	default:
		if (fd >= 0)
			close(fd);
		pr_err("unknown message %u from the restorer\n", m.type);
		return -EPROTO;
	}
}

static int on_accept(struct ev_fd *e)
{
	struct lp_conn *c = container_of(e, struct lp_conn, listen);
	struct timeval tv = {CONN_RECV_TIMEOUT_S, 0};
	int sk = accept4(e->fd, NULL, NULL, SOCK_CLOEXEC);

	if (sk < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (c->connected) {
		pr_warn("a second restorer connected: refused\n");
		close(sk);
		return 0;
	}
	/* messages come whole and fast; a restorer that stalls mid-message is an error */
	setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	c->sk.fd = sk;
	c->sk.on_read = on_msg;
	c->connected = 1;
	pr_info("the restorer connected\n");
	ev_set_timer(c->d->loop, 0, NULL, NULL);
	return ev_add(c->d->loop, &c->sk);
}

static int on_no_restorer(void *arg)
{
	struct lp_conn *c = arg;

	pr_err("no restorer connected to %s within %d s\n", c->path, c->d->cfg.timeout_s);
	return -ETIMEDOUT;
}

int lp_listen(struct lp_daemon *d, const char *work_dir, lp_open_src_fn open_src, void *arg)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct lp_conn *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->open_src = open_src;
	c->arg = arg;
	c->sk.fd = -1;
	if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", work_dir, LAZY_SOCKET_NAME) >=
	    sizeof(c->path)) {
		pr_err("the work dir path %s is too long for a unix socket\n", work_dir);
		free(c);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, c->path, sizeof(c->path));
	c->listen.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->listen.fd < 0) {
		ret = -errno;
		free(c);
		return ret;
	}
	c->listen.on_read = on_accept;
	unlink(c->path); /* a stale socket of an earlier daemon */
	if (bind(c->listen.fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(c->listen.fd, 4)) {
		ret = -errno;
		pr_perror("cannot listen on %s", c->path);
		goto err;
	}
	ret = ev_add(d->loop, &c->listen);
	if (ret)
		goto err;
	if (d->cfg.timeout_s > 0)
		ev_set_timer(d->loop, d->cfg.timeout_s * 1000, on_no_restorer, c);
	d->conn = c;
	return 0;
err:
	unlink(c->path);
	close(c->listen.fd);
	free(c);
	return ret;
}

void lp_conn_free(struct lp_conn *c)
{
	if (!c)
		return;
	unlink(c->path);
	close(c->listen.fd);
	if (c->sk.fd >= 0)
		close(c->sk.fd);
	free(c);
}
