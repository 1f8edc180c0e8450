/* Unix datagram sockets: a server bound to a path and one bound to an abstract name, a client
 * connected to the first by name, an unbound one that sends with sendto. Messages queued at the
 * servers keep their order and boundaries; names and the connection survive. */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

static socklen_t mkaddr(struct sockaddr_un *a, const char *name, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s", name);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un pa, aa, got;
	socklen_t pl, al, gl;
	char abs_name[64], back[256];
	int srv, asrv, cli, loose;

	test_init(argc, argv);
	snprintf(abs_name, sizeof(abs_name), "zdtm-dgram-%d", getpid());
	pl = mkaddr(&pa, "dgram.sock", 0);
	al = mkaddr(&aa, abs_name, 1);
	srv = socket(AF_UNIX, SOCK_DGRAM, 0);
	asrv = socket(AF_UNIX, SOCK_DGRAM, 0);
	cli = socket(AF_UNIX, SOCK_DGRAM, 0);
	loose = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (srv < 0 || asrv < 0 || cli < 0 || loose < 0)
		pr_perror("socket");
	if (bind(srv, (void *)&pa, pl) || bind(asrv, (void *)&aa, al))
		pr_perror("bind");
	if (connect(cli, (void *)&pa, pl))
		pr_perror("connect");
	if (send(cli, "one", 3, 0) != 3 || sendto(loose, "two", 3, 0, (void *)&pa, pl) != 3 ||
	    send(cli, "three!", 6, 0) != 6 || sendto(loose, "abstract", 8, 0, (void *)&aa, al) != 8)
		pr_perror("send");
	test_daemon();
	test_waitsig();

	if (recv(srv, back, sizeof(back), MSG_DONTWAIT) != 3 || memcmp(back, "one", 3) ||
	    recv(srv, back, sizeof(back), MSG_DONTWAIT) != 3 || memcmp(back, "two", 3) ||
	    recv(srv, back, sizeof(back), MSG_DONTWAIT) != 6 || memcmp(back, "three!", 6))
		fail("datagrams queued at the path server changed");
	if (recv(srv, back, sizeof(back), MSG_DONTWAIT) != -1)
		fail("more datagrams than were sent");
	if (recv(asrv, back, sizeof(back), MSG_DONTWAIT) != 8 || memcmp(back, "abstract", 8))
		fail("the datagram queued at the abstract server changed");
	gl = sizeof(got);
	if (getsockname(srv, (void *)&got, &gl) || gl != pl || memcmp(&got, &pa, pl))
		fail("the path server's name changed");
	gl = sizeof(got);
	if (getsockname(asrv, (void *)&got, &gl) || gl != al || memcmp(&got, &aa, al))
		fail("the abstract server's name changed");
	gl = sizeof(got);
	if (getpeername(cli, (void *)&got, &gl) || gl != pl || memcmp(&got, &pa, pl))
		fail("the client is not connected to the server any more");
	if (send(cli, "after", 5, 0) != 5 || recv(srv, back, sizeof(back), MSG_DONTWAIT) != 5)
		fail("the client cannot send to the server after restore");
	if (sendto(loose, "x", 1, 0, (void *)&aa, al) != 1 ||
	    recv(asrv, back, sizeof(back), MSG_DONTWAIT) != 1)
		fail("cannot send to the abstract name after restore");
	pass();
	return 0;
}
