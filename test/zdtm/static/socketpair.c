/* A unix stream socketpair and a datagram one, with data queued in both directions: data,
 * message boundaries and the connection survive. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN 4096

int main(int argc, char **argv)
{
	static char buf[LEN], back[LEN];
	int st[2], dg[2];

	test_init(argc, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg))
		pr_perror("socketpair");
	datagen(buf, LEN, 6);
	if (write(st[0], buf, LEN) != LEN || write(st[1], buf, 100) != 100 ||
	    send(dg[0], "one", 3, 0) != 3 || send(dg[0], "second", 6, 0) != 6)
		pr_perror("send");
	test_daemon();
	test_waitsig();

	if (recv(st[1], back, LEN, MSG_WAITALL | MSG_DONTWAIT) != LEN || memcmp(buf, back, LEN))
		fail("stream data st[0] -> st[1] changed");
	if (recv(st[0], back, LEN, MSG_DONTWAIT) != 100 || memcmp(buf, back, 100))
		fail("stream data st[1] -> st[0] changed");
	if (recv(dg[1], back, LEN, MSG_DONTWAIT) != 3 || memcmp(back, "one", 3))
		fail("first datagram changed");
	if (recv(dg[1], back, LEN, MSG_DONTWAIT) != 6 || memcmp(back, "second", 6))
		fail("second datagram changed");
	if (write(st[1], "ping", 4) != 4 || recv(st[0], back, 4, MSG_DONTWAIT) != 4)
		fail("the stream pair is no longer connected");
	pass();
	return 0;
}
