/* Unix socketpairs with data queued both ways: a stream pair written in several chunks, a
 * seqpacket pair (record boundaries), a pair shut down for writing one way, and a stream whose
 * peer was closed with data still queued. Data, boundaries, shutdowns, O_NONBLOCK
 * and a chosen SO_SNDBUF survive. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN 65536

static int recv_all(int fd, char *buf, int len)
{
	int done = 0, n;

	while (done < len) {
		n = recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n <= 0)
			break;
		done += n;
	}
	return done;
}

int main(int argc, char **argv)
{
	static char buf[LEN], back[LEN];
	int st[2], sp[2], sh[2], cl[2], i, sndbuf, v;
	socklen_t optlen = sizeof(int);

	test_init(argc, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sh) || socketpair(AF_UNIX, SOCK_STREAM, 0, cl))
		pr_perror("socketpair");
	sndbuf = 300000;
	if (setsockopt(st[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) ||
	    getsockopt(st[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &optlen))
		pr_perror("SO_SNDBUF");
	datagen(buf, LEN, 11);
	/* chunks of different sizes, both ways */
	for (i = 0; i < 8; i++)
		if (write(st[0], buf + i * (LEN / 8), LEN / 8) != LEN / 8)
			pr_perror("write st[0]");
	if (write(st[1], buf, 1000) != 1000 || write(st[1], buf + 1000, 24) != 24)
		pr_perror("write st[1]");
	if (fcntl(st[1], F_SETFL, O_NONBLOCK))
		pr_perror("O_NONBLOCK");
	for (i = 1; i <= 3; i++)
		if (send(sp[0], buf, i * 100, 0) != i * 100)
			pr_perror("send seqpacket");
	if (send(sp[1], "back", 4, 0) != 4)
		pr_perror("send seqpacket back");
	if (write(sh[0], "last words", 10) != 10 || shutdown(sh[0], SHUT_WR))
		pr_perror("shutdown");
	if (write(cl[0], "orphan", 6) != 6 || close(cl[0]))
		pr_perror("close");
	test_daemon();
	test_waitsig();

	if (getsockopt(st[0], SOL_SOCKET, SO_SNDBUF, &v, &optlen) || v != sndbuf)
		fail("SO_SNDBUF was %d, is %d", sndbuf, v);
	if (!(fcntl(st[1], F_GETFL) & O_NONBLOCK) || (fcntl(st[0], F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK changed");
	if (recv_all(st[1], back, LEN) != LEN || memcmp(buf, back, LEN))
		fail("stream data st[0] -> st[1] changed");
	if (recv_all(st[0], back, LEN) != 1024 || memcmp(buf, back, 1024))
		fail("stream data st[1] -> st[0] changed");
	for (i = 1; i <= 3; i++)
		if (recv(sp[1], back, LEN, MSG_DONTWAIT) != i * 100 || memcmp(buf, back, i * 100))
			fail("seqpacket record %d changed", i);
	if (recv(sp[0], back, LEN, MSG_DONTWAIT) != 4 || memcmp(back, "back", 4))
		fail("seqpacket record back changed");
	if (recv(sh[1], back, LEN, MSG_DONTWAIT) != 10 || memcmp(back, "last words", 10))
		fail("data before the shutdown changed");
	if (recv(sh[1], back, LEN, MSG_DONTWAIT) != 0)
		fail("no end of file after the shutdown");
	if (write(sh[1], "x", 1) != 1 || recv(sh[0], back, 1, MSG_DONTWAIT) != 1)
		fail("the other direction of the shut down pair is broken");
	if (recv(cl[1], back, LEN, MSG_DONTWAIT) != 6 || memcmp(back, "orphan", 6))
		fail("data from the closed peer changed");
	if (recv(cl[1], back, LEN, MSG_DONTWAIT) != 0)
		fail("no end of file from the closed peer");
	if (write(st[1], "ping", 4) != 4 || recv(st[0], back, 4, MSG_DONTWAIT) != 4 ||
	    memcmp(back, "ping", 4))
		fail("the stream pair is no longer connected");
	pass();
	return 0;
}
