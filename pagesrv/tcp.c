/* TCP helpers for page-xfer: connect with a bound wait, listen, accept. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "page-xfer.h"

static void set_nodelay(int fd)
{
	int one = 1;

	/* requests are small and latency-bound: never hold them back */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fdp)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, err = 0, flags;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		err = -errno;
		goto out_close;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		int r = poll(&pfd, 1, timeout_ms ? timeout_ms : -1);

		if (r > 0)
			break;
		if (r == 0) {
			err = -ETIMEDOUT;
			goto out_close;
		}
		if (errno != EINTR) {
			err = -errno;
			goto out_close;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
		err = err ? -err : -errno;
		goto out_close;
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	set_nodelay(fd);
	*fdp = fd;
	return 0;
out_close:
	close(fd);
	return err;
}

int pxf_tcp_connect(const char *host, unsigned short port, int timeout_ms, int *fd)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	char serv[8];
	int ret;

	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(host, serv, &hints, &res))
		return -EHOSTUNREACH;
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		ret = connect_one(ai, timeout_ms, fd);
		if (!ret)
			break;
	}
	freeaddrinfo(res);
	return ret;
}

int pxf_tcp_listen(const char *addr, unsigned short port, int *fdp, unsigned short *port_out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, ret = 0;
	char serv[8];

	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(addr, serv, &hints, &res))
		return -EADDRNOTAVAIL;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		close(fd);
		goto out;
	}
	if (port_out)
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	*fdp = fd;
out:
	freeaddrinfo(res);
	return ret;
}

int pxf_tcp_accept(int lfd, int timeout_ms, int *fdp)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	int fd, r;

	for (;;) {
		r = poll(&pfd, 1, timeout_ms ? timeout_ms : -1);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EINTR && errno != ECONNABORTED)
			return -errno;
	}
	set_nodelay(fd);
	*fdp = fd;
	return 0;
}
