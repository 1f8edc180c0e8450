/* TCP and UDP sockets (IPv4, IPv6): made here in the restorer and passed like any other file.
 * Options that decide whether a bind succeeds (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY) are set
 * before it; listening sockets listen again with their backlog; a connected UDP socket is
 * connected again. Every inet socket of the image is made the first time one is asked for,
 * listeners first, so that connections that share their port (sk-tcp.c) bind after them.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

/* "1.2.3.4:80" / "[::1]:80" of a sockaddr from the image. */
void rst_inet_str(const ProtobufCBinaryData *a, char *buf, size_t size)
{
	const struct sockaddr_in *in = (const void *)a->data;
	const struct sockaddr_in6 *in6 = (const void *)a->data;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->len >= sizeof(*in) && in->sin_family == AF_INET) {
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
	} else if (a->len >= sizeof(*in6) && in6->sin6_family == AF_INET6) {
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "(no address)");
	}
}

static unsigned int addr_port(const ProtobufCBinaryData *a)
{
	const struct sockaddr_in *in = (const void *)a->data;

	if (a->len < sizeof(*in))
		return 0;
	return ntohs(in->sin_port); /* sin6_port sits at the same offset */
}

static bool addr_ok(const SkEntry *sk, const ProtobufCBinaryData *a)
{
	size_t want =
	    sk->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	return a->len == want && ((const struct sockaddr *)a->data)->sa_family == sk->family;
}

static int set_int(int fd, int level, int opt, int v, const SkEntry *sk, const char *name)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v))) {
		int err = -errno;

		pr_perror("inet socket %" PRIu64 ": cannot set %s", sk->ino, name);
		return err;
	}
	return 0;
}

/* SO_SNDBUF/SO_RCVBUF a program chose: the kernel doubles what it is given; past the sysctl
 * limits only the FORCE variants (CAP_NET_ADMIN) reach the old value. */
int rst_sk_bufs(int fd, const SkEntry *sk)
{
	static const struct {
		int opt, force;
		const char *name;
	} bufs[] = {{SO_SNDBUF, SO_SNDBUFFORCE, "SO_SNDBUF"},
		    {SO_RCVBUF, SO_RCVBUFFORCE, "SO_RCVBUF"}};
	unsigned int i;

	for (i = 0; i < 2; i++) {
		bool has = i ? sk->has_rcvbuf : sk->has_sndbuf;
		int v = (i ? sk->rcvbuf : sk->sndbuf) / 2;

		if (!has)
			continue;
		if (setsockopt(fd, SOL_SOCKET, bufs[i].force, &v, sizeof(v)) &&
		    setsockopt(fd, SOL_SOCKET, bufs[i].opt, &v, sizeof(v))) {
			int err = -errno;

			pr_perror("socket %" PRIu64 ": cannot set %s to %d", sk->ino, bufs[i].name,
				  v * 2);
			return err;
		}
	}
	return 0;
}

/* The socket, its options, its bound address: what every inet socket needs. */
int rst_inet_socket(const SkEntry *sk, bool bind_it)
{
	char what[64];
	int fd, ret = 0;

	if (sk->family != AF_INET && sk->family != AF_INET6) {
		pr_err("inet socket %" PRIu64 ": family %u\n", sk->ino, sk->family);
		return -EBADMSG;
	}
	fd = socket(sk->family, sk->type | SOCK_CLOEXEC, sk->protocol);
	if (fd < 0) {
		ret = -errno;
		pr_perror("inet socket %" PRIu64 ": socket(%u, %u, %u)", sk->ino, sk->family,
			  sk->type, sk->protocol);
		return ret;
	}
	if (sk->has_reuseaddr && sk->reuseaddr)
		ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, sk, "SO_REUSEADDR");
	if (!ret && sk->has_reuseport && sk->reuseport)
		ret = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, sk, "SO_REUSEPORT");
	if (!ret && sk->has_keepalive && sk->keepalive)
		ret = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, sk, "SO_KEEPALIVE");
	if (!ret && sk->family == AF_INET6 && sk->has_v6only)
		ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, sk->v6only, sk, "IPV6_V6ONLY");
	if (!ret && sk->has_nodelay && sk->nodelay)
		ret = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, sk, "TCP_NODELAY");
	if (!ret)
		ret = rst_sk_bufs(fd, sk);
	if (ret)
		goto fail;
	if (bind_it && sk->has_name && addr_ok(sk, &sk->name) && addr_port(&sk->name) &&
	    bind(fd, (const struct sockaddr *)sk->name.data, sk->name.len)) {
		ret = -errno;
		rst_inet_str(&sk->name, what, sizeof(what));
		pr_perror("inet socket %" PRIu64 ": cannot bind %s%s", sk->ino, what,
			  ret == -EADDRINUSE && sk->type == SOCK_STREAM &&
				  !(sk->has_reuseaddr && sk->reuseaddr)
			      ? " (without SO_REUSEADDR, as the program had it, connections of "
				"the dumped tree in TIME_WAIT hold the port until they expire)"
			      : "");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

static int open_plain(const SkEntry *sk)
{
	char what[64];
	int fd, ret = 0;

	fd = rst_inet_socket(sk, true);
	if (fd < 0)
		return fd;
	if (sk->state == TCP_LISTEN) {
		int backlog = sk->has_backlog ? (int)sk->backlog : SOMAXCONN;

		if (sk->type != SOCK_STREAM || listen(fd, backlog)) {
			ret = sk->type != SOCK_STREAM ? -EBADMSG : -errno;
			rst_inet_str(&sk->name, what, sizeof(what));
			pr_errno(ret, "inet socket %" PRIu64 ": cannot listen on %s", sk->ino,
				 what);
			goto fail;
		}
	} else if (sk->type == SOCK_DGRAM && sk->has_peer_name && addr_ok(sk, &sk->peer_name) &&
		   connect(fd, (const struct sockaddr *)sk->peer_name.data, sk->peer_name.len)) {
		ret = -errno;
		rst_inet_str(&sk->peer_name, what, sizeof(what));
		pr_perror("inet socket %" PRIu64 ": cannot connect to %s", sk->ino, what);
		goto fail;
	}
	if ((sk->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK)) {
		ret = -errno;
		pr_perror("inet socket %" PRIu64 ": O_NONBLOCK", sk->ino);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

static bool is_repaired(const SkEntry *sk)
{
	return sk->type == SOCK_STREAM && sk->state != TCP_LISTEN && sk->state != TCP_CLOSE;
}

/* Listeners and other sockets first, established connections (which may share a listener's
 * port) after them. */
int rst_open_inet_sk(struct rst_tree *t, size_t idx)
{
	size_t i, nr = 0;
	int pass, fd, ret = 0;

	for (pass = 0; pass < 2 && !ret; pass++) {
		for (i = 0; i < t->nr_files && !ret; i++) {
			const FileEntry *fe = t->files[i];

			if (fe->type != FD_TYPE__FD_INETSK || t->file_fds[i] >= 0)
				continue;
			if (!fe->sk) {
				pr_err("file %u: inet socket without its description\n", fe->id);
				ret = -EBADMSG;
				break;
			}
			if (is_repaired(fe->sk) != (pass == 1))
				continue;
			fd = pass ? rst_open_tcp(fe->sk) : open_plain(fe->sk);
			if (fd < 0)
				ret = fd;
			else
				t->file_fds[i] = fd;
			nr++;
		}
	}
	for (i = 0; i < t->nr_files && !ret; i++) {
		const FileEntry *fe = t->files[i];

		if (fe->type == FD_TYPE__FD_INETSK && fe->sk && is_repaired(fe->sk) &&
		    t->file_fds[i] >= 0)
			ret = rst_tcp_finish(t->file_fds[i], fe->sk);
	}
	if (ret)
		return ret;
	pr_info("%zu inet socket(s) made\n", nr);
	return t->file_fds[idx];
}
