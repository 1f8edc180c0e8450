/* UDP: a socket bound to a loopback port, another bound and connected to it, an IPv6 one bound
 * to ::1. After restore the addresses and a chosen SO_RCVBUF are the same and datagrams flow both
 * ways. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static int same_name(int fd, const struct sockaddr_storage *a, socklen_t al, int peer)
{
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	int r = peer ? getpeername(fd, (void *)&got, &gl) : getsockname(fd, (void *)&got, &gl);

	return !r && gl == al && !memcmp(&got, a, al);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct sockaddr_storage srv_name, cli_name, v6_name, from;
	socklen_t sl = sizeof(srv_name), cl = sizeof(cli_name), l6 = sizeof(v6_name), fl;
	char back[64];
	int srv, cli, s6, have6 = 1, rcvbuf = 50000, v;
	socklen_t optlen = sizeof(v);

	test_init(argc, argv);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv = socket(AF_INET, SOCK_DGRAM, 0);
	cli = socket(AF_INET, SOCK_DGRAM, 0);
	if (srv < 0 || cli < 0 || bind(srv, (void *)&a, sizeof(a)) ||
	    getsockname(srv, (void *)&srv_name, &sl) || bind(cli, (void *)&a, sizeof(a)) ||
	    connect(cli, (void *)&srv_name, sl) || getsockname(cli, (void *)&cli_name, &cl))
		pr_perror("udp setup");
	if (setsockopt(srv, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) ||
	    getsockopt(srv, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &optlen))
		pr_perror("SO_RCVBUF");
	a6.sin6_addr = in6addr_loopback;
	s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (s6 < 0 || bind(s6, (void *)&a6, sizeof(a6)) || getsockname(s6, (void *)&v6_name, &l6))
		have6 = 0;
	test_daemon();
	test_waitsig();

	if (getsockopt(srv, SOL_SOCKET, SO_RCVBUF, &v, &optlen) || v != rcvbuf)
		fail("SO_RCVBUF was %d, is %d", rcvbuf, v);
	if (!same_name(srv, &srv_name, sl, 0))
		fail("the server's address changed");
	if (!same_name(cli, &cli_name, cl, 0) || !same_name(cli, &srv_name, sl, 1))
		fail("the client's addresses changed");
	if (send(cli, "ping", 4, 0) != 4)
		fail("the connected client cannot send: %m");
	fl = sizeof(from);
	if (recvfrom(srv, back, sizeof(back), MSG_DONTWAIT, (void *)&from, &fl) != 4 ||
	    memcmp(back, "ping", 4) || fl != cl || memcmp(&from, &cli_name, cl))
		fail("the server did not get the datagram from the client");
	if (sendto(srv, "pong", 4, 0, (void *)&cli_name, cl) != 4 ||
	    recv(cli, back, sizeof(back), MSG_DONTWAIT) != 4 || memcmp(back, "pong", 4))
		fail("the client did not get the answer");
	if (have6) {
		if (!same_name(s6, &v6_name, l6, 0))
			fail("the ipv6 socket's address changed");
		if (sendto(s6, "six", 3, 0, (void *)&v6_name, l6) != 3 ||
		    recv(s6, back, sizeof(back), MSG_DONTWAIT) != 3)
			fail("the ipv6 socket cannot send to itself");
	}
	pass();
	return 0;
}
