/* Sockets: a copy of the socket taken with pidfd_getfd answers getsockopt/getsockname and lets us
 * peek at queued data (SO_PEEK_OFF walks the queue without consuming it); sock_diag names an
 * AF_UNIX socket's peer and state. */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "dump.h"
#include "sk.h"

#include "files.pb-c.h"

#define QUEUE_MAX (4u << 20) /* queued bytes we are ready to keep per socket */
#define PEEK_BUF (256u << 10)

static int getsockopt_int(int fd, int level, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, level, opt, v, &len) ? -errno : 0;
}

/* sock_diag about one unix socket: its state and peer. */
static int unix_diag(uint64_t ino, uint32_t *state, uint32_t *peer, uint32_t *shutdown,
		     struct unix_diag_rqlen *rq)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
	    .nlh = {.nlmsg_len = sizeof(req),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST},
	    .r = {.sdiag_family = AF_UNIX,
		  .udiag_states = -1,
		  .udiag_ino = ino,
		  .udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN,
		  .udiag_cookie = {~0U, ~0U}},
	};
	char buf[8192];
	struct nlmsghdr *h;
	ssize_t n;
	int fd, ret = -ENOENT;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != sizeof(req)) {
		ret = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		struct unix_diag_msg *m = NLMSG_DATA(h);
		struct rtattr *a;
		int len;

		if (h->nlmsg_type == NLMSG_ERROR) {
			ret = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || m->udiag_ino != ino)
			continue;
		*state = m->udiag_state;
		*peer = 0;
		*shutdown = 0;
		len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		for (a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			if (a->rta_type == UNIX_DIAG_PEER)
				*peer = *(uint32_t *)RTA_DATA(a);
			else if (a->rta_type == UNIX_DIAG_SHUTDOWN)
				*shutdown = *(uint8_t *)RTA_DATA(a);
			else if (a->rta_type == UNIX_DIAG_RQLEN)
				memcpy(rq, RTA_DATA(a), sizeof(*rq));
		}
		ret = 0;
		break;
	}
out:
	close(fd);
	return ret;
}

static int add_queued(SkEntry *sk, const void *data, size_t len)
{
	ProtobufCBinaryData *n = realloc(sk->queue, (sk->n_queue + 1) * sizeof(*n));
	void *copy = malloc(len ? len : 1);

	if (!n || !copy) {
		free(copy);
		if (n)
			sk->queue = n;
		return -ENOMEM;
	}
	sk->queue = n;
	memcpy(copy, data, len);
	sk->queue[sk->n_queue].data = copy;
	sk->queue[sk->n_queue].len = len;
	sk->n_queue++;
	return 0;
}

/* Everything queued for reading, in order, left in place. */
static int peek_queue(int fd, SkEntry *sk, const char *what)
{
	int old_off = -1, zero = 0, ret = 0;
	size_t total = 0, stream_len = 0;
	uint8_t *buf = malloc(PEEK_BUF), *stream = NULL;

	if (!buf)
		return -ENOMEM;
	getsockopt_int(fd, SOL_SOCKET, SO_PEEK_OFF, &old_off);
	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero))) {
		ret = -errno;
		pr_perror("%s: SO_PEEK_OFF", what);
		goto out;
	}
	while (1) {
		ssize_t n = dump_sk_peek(fd, buf, PEEK_BUF, what);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			ret = n;
			break;
		}
		if (n == 0 && sk->type == SOCK_STREAM)
			break; /* the peer shut down: nothing more */
		total += n;
		if (total > QUEUE_MAX) {
			pr_err("%s: more than %u bytes queued: not supported\n", what, QUEUE_MAX);
			ret = -EOPNOTSUPP;
			break;
		}
		if (sk->type == SOCK_STREAM) {
			uint8_t *ns = realloc(stream, stream_len + n);

			if (!ns) {
				ret = -ENOMEM;
				break;
			}
			stream = ns;
			memcpy(stream + stream_len, buf, n);
			stream_len += n;
		} else {
			ret = add_queued(sk, buf, n);
			if (ret)
				break;
		}
	}
	if (!ret && stream_len)
		ret = add_queued(sk, stream, stream_len);
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off));
out:
	free(stream);
	free(buf);
	return ret;
}

static int copy_addr(ProtobufCBinaryData *b, const struct sockaddr_storage *ss, socklen_t len)
{
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, ss, len);
	b->len = len;
	return 0;
}

/* An inet socket not bound yet reports the any address and port 0: nothing to bind back. */
static bool inet_unbound(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port == 0;
	if (ss->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)ss)->sin6_port == 0;
	return false;
}

static int fill_sk(int fd, SkEntry *sk, uint64_t ino, uint32_t flags, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int v, ret;

	sk->ino = ino;
	sk->flags = flags;
	if ((ret = getsockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &v)))
		return ret;
	sk->family = v;
	if ((ret = getsockopt_int(fd, SOL_SOCKET, SO_TYPE, &v)))
		return ret;
	sk->type = v;
	if ((ret = getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &v)))
		return ret;
	sk->protocol = v;
	if (!getsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, &v)) {
		sk->has_reuseaddr = true;
		sk->reuseaddr = v;
	}
	if (!getsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, &v)) {
		sk->has_reuseport = true;
		sk->reuseport = v;
	}
	if (!getsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, &v)) {
		sk->has_keepalive = true;
		sk->keepalive = v;
	}
	if (!getsockopt_int(fd, SOL_SOCKET, SO_PASSCRED, &v)) {
		sk->has_passcred = true;
		sk->passcred = v;
	}
	len = sizeof(ss);
	if (!getsockname(fd, (struct sockaddr *)&ss, &len) && len > sizeof(sa_family_t) &&
	    !inet_unbound(&ss)) {
		sk->has_name = true;
		if ((ret = copy_addr(&sk->name, &ss, len)))
			return ret;
	}
	len = sizeof(ss);
	if (!getpeername(fd, (struct sockaddr *)&ss, &len) && len > sizeof(sa_family_t)) {
		sk->has_peer_name = true;
		if ((ret = copy_addr(&sk->peer_name, &ss, len)))
			return ret;
	}
	if (getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &v) == 0 && v) {
		sk->has_state = sk->has_backlog = true;
		sk->state = TCP_LISTEN;
		sk->backlog = SOMAXCONN; /* the kernel does not say; large enough for any */
	}
	(void)what;
	return 0;
}

static int dump_unix(int fd, SkEntry *sk, const char *what)
{
	struct unix_diag_rqlen rq = {0, 0};
	uint32_t state, peer, shut;
	int ret = unix_diag(sk->ino, &state, &peer, &shut, &rq);

	if (ret) {
		pr_errno(ret, "%s: sock_diag of unix socket %lu", what, (unsigned long)sk->ino);
		return ret;
	}
	sk->has_state = sk->has_peer_ino = sk->has_shutdown = true;
	sk->state = state;
	sk->peer_ino = peer;
	sk->shutdown = shut;
	if (state == TCP_LISTEN) {
		sk->has_backlog = true;
		sk->backlog = rq.udiag_wqueue ? rq.udiag_wqueue : SOMAXCONN;
		/* a client of the tree connects again on restore; one outside it is lost */
		if (rq.udiag_rqueue)
			pr_warn("%s: %u connection(s) not accepted yet: clients outside the tree "
				"lose them\n",
				what, rq.udiag_rqueue);
		return 0;
	}
	return peek_queue(fd, sk, what);
}

static int dump_inet(int fd, SkEntry *sk, pid_t pid, bool tcp_established, const char *what)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char conn[160];
	int n = 0, v;

	if (sk->family == AF_INET6 && !getsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v)) {
		sk->has_v6only = true;
		sk->v6only = v;
	}
	if (sk->type == SOCK_STREAM && !getsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, &v)) {
		sk->has_nodelay = true;
		sk->nodelay = v;
	}

	if (sk->type == SOCK_STREAM) {
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
			return -errno;
		sk->has_state = true;
		sk->state = ti.tcpi_state;
		if (ti.tcpi_state == TCP_LISTEN) {
			/* for a listener tcp_info counts the accept queue and its limit */
			sk->has_backlog = true;
			sk->backlog = ti.tcpi_sacked ? ti.tcpi_sacked : SOMAXCONN;
			if (ti.tcpi_unacked) {
				dump_tcp_str(sk, conn, sizeof(conn));
				pr_err("%s: listening socket %s has %u connection(s) not accepted "
				       "yet: not supported\n",
				       what, conn, ti.tcpi_unacked);
				return -EOPNOTSUPP;
			}
			return 0;
		}
		if (ti.tcpi_state == TCP_ESTABLISHED && tcp_established)
			return dump_tcp_established(fd, sk, pid, what);
		if (ti.tcpi_state != TCP_LISTEN && ti.tcpi_state != TCP_CLOSE) {
			dump_tcp_str(sk, conn, sizeof(conn));
			if (ti.tcpi_state == TCP_ESTABLISHED)
				pr_err("%s: established TCP connection %s: use --tcp-established\n",
				       what, conn);
			else
				pr_err("%s: TCP connection %s in state %u: not supported\n", what,
				       conn, ti.tcpi_state);
			return -EOPNOTSUPP;
		}
		return 0;
	}
	if (sk->type == SOCK_DGRAM) {
		if (ioctl(fd, FIONREAD, &n) == 0 && n > 0) {
			pr_err("%s: UDP socket with %d bytes queued: not supported\n", what, n);
			return -EOPNOTSUPP;
		}
		return 0;
	}
	pr_err("%s: inet socket of type %u: not supported\n", what, sk->type);
	return -EOPNOTSUPP;
}

int dump_socket(struct FileEntry *fe, pid_t pid, int tfd, uint64_t ino, uint32_t flags,
		bool tcp_established, const char *what)
{
	SkEntry *sk = calloc(1, sizeof(*sk));
	int pidfd, fd, ret;

	if (!sk)
		return -ENOMEM;
	sk_entry__init(sk);
	fe->sk = sk;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		ret = -errno;
		pr_perror("%s: pidfd_open", what);
		return ret;
	}
	fd = syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	ret = fd < 0 ? -errno : 0;
	close(pidfd);
	if (ret) {
		pr_errno(ret, "%s: pidfd_getfd", what);
		return ret;
	}
	ret = fill_sk(fd, sk, ino, flags, what);
	if (!ret)
		ret = dump_sk_bufs(fd, sk);
	if (!ret) {
		switch (sk->family) {
		case AF_UNIX:
			fe->type = FD_TYPE__FD_UNIXSK;
			ret = dump_unix(fd, sk, what);
			if (!ret)
				dump_unix_file(sk, pid);
			break;
		case AF_INET:
		case AF_INET6:
			fe->type = FD_TYPE__FD_INETSK;
			ret = dump_inet(fd, sk, pid, tcp_established, what);
			break;
		default:
			pr_err("%s: socket family %u is not supported\n", what, sk->family);
			ret = -EOPNOTSUPP;
		}
	}
	close(fd);
	return ret;
}

void dump_socket_free(struct FileEntry *fe)
{
	size_t i;

	if (!fe->sk)
		return;
	free(fe->sk->name.data);
	free(fe->sk->peer_name.data);
	for (i = 0; i < fe->sk->n_queue; i++)
		free(fe->sk->queue[i].data);
	free(fe->sk->queue);
	dump_tcp_free(fe->sk);
	free(fe->sk);
	fe->sk = NULL;
}
