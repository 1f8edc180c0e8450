/* TCP servers: an IPv4 listener with SO_REUSEADDR on loopback and an IPv6 one with IPV6_V6ONLY,
 * both on ports the kernel chose. After restore they have the same addresses and options and
 * accept new connections that carry data both ways. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static int getint(int fd, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &len))
		return -1;
	return v;
}

static int check(int lsk, const struct sockaddr_storage *a, socklen_t al, int family,
		 const char *what)
{
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	char back[16];
	int c, s, ok = 1;

	if (getsockname(lsk, (void *)&got, &gl) || gl != al || memcmp(&got, a, al)) {
		fail("%s: the bound address changed", what);
		return 0;
	}
	if (getint(lsk, SOL_SOCKET, SO_ACCEPTCONN) != 1) {
		fail("%s: not listening after restore", what);
		return 0;
	}
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (const void *)a, al)) {
		fail("%s: cannot connect after restore: %m", what);
		return 0;
	}
	s = accept(lsk, NULL, NULL);
	if (s < 0 || write(c, "hello", 5) != 5 || read(s, back, 5) != 5 ||
	    memcmp(back, "hello", 5) || write(s, "world", 5) != 5 || read(c, back, 5) != 5 ||
	    memcmp(back, "world", 5)) {
		fail("%s: the accepted connection does not carry data", what);
		ok = 0;
	}
	close(c);
	close(s);
	return ok;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct sockaddr_storage b4, b6;
	socklen_t l4 = sizeof(b4), l6 = sizeof(b6);
	int s4, s6, one = 1, have6 = 1;

	test_init(argc, argv);
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_addr = in6addr_loopback;
	s4 = socket(AF_INET, SOCK_STREAM, 0);
	if (s4 < 0 || setsockopt(s4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(s4, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(s4, (void *)&a4, sizeof(a4)) || listen(s4, 7) || getsockname(s4, (void *)&b4, &l4))
		pr_perror("ipv4 listener");
	s6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (s6 < 0 || setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
	    bind(s6, (void *)&a6, sizeof(a6))) {
		test_msg("no IPv6 loopback here: %m\n");
		have6 = 0;
	} else if (listen(s6, 3) || getsockname(s6, (void *)&b6, &l6)) {
		pr_perror("ipv6 listener");
	}
	test_daemon();
	test_waitsig();

	if (getint(s4, SOL_SOCKET, SO_REUSEADDR) != 1)
		fail("SO_REUSEADDR lost");
	if (getint(s4, IPPROTO_TCP, TCP_NODELAY) != 1)
		fail("TCP_NODELAY lost");
	check(s4, &b4, l4, AF_INET, "ipv4 listener");
	if (have6) {
		if (getint(s6, IPPROTO_IPV6, IPV6_V6ONLY) != 1)
			fail("IPV6_V6ONLY lost");
		check(s6, &b6, l6, AF_INET6, "ipv6 listener");
	}
	pass();
	return 0;
}
