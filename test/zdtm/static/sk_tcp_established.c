/* Established TCP connections over loopback, both ends in the tree (the client in a child),
 * with data in flight: the child has written until its send buffer is full (bytes in the
 * server's receive queue and in the client's send queue, some never sent), the server has
 * written a little that the child has not read. Needs --tcp-established. After restore every
 * byte arrives once and in order, and the connection goes on carrying data. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SEED 21
#define MAX (8 << 20)
#define HELLO "hello from the server"

static int port;

static int read_full(int fd, char *buf, int len)
{
	int done = 0, n;

	while (done < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 10000) != 1)
			break;
		n = read(fd, buf + done, len - done);
		if (n <= 0)
			break;
		done += n;
	}
	return done;
}

/* The client: fills the connection, then waits; after restore it reads the server's bytes,
 * and checks that the server got everything (it says how much it read). */
static int client(void *arg)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	static char buf[MAX];
	int fd, sent = 0, n, fl;
	char back[64];

	(void)arg;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (void *)&a, sizeof(a)))
		return 10;
	datagen(buf, MAX, SEED);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (sent < MAX && (n = write(fd, buf + sent, MAX - sent)) > 0)
		sent += n;
	fcntl(fd, F_SETFL, fl);
	if (write(fd, &sent, 0) < 0)
		return 11;
	test_waitsig();
	/* the server tells how many bytes it expects from us, we say how many we sent */
	if (read_full(fd, back, sizeof(HELLO)) != sizeof(HELLO) ||
	    memcmp(back, HELLO, sizeof(HELLO)))
		return 12;
	if (write(fd, &sent, sizeof(sent)) != sizeof(sent) || shutdown(fd, SHUT_WR))
		return 13;
	if (read_full(fd, back, 2) != 2 || memcmp(back, "ok", 2))
		return 14;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	static char buf[MAX + 4];
	int lsk, srv, got, sent = 0, one = 1, rc;
	pid_t pid;

	test_init(argc, argv);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsk = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || setsockopt(lsk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lsk, (void *)&a, sizeof(a)) || listen(lsk, 4) || getsockname(lsk, (void *)&a, &al))
		pr_perror("listener");
	port = ntohs(a.sin_port);
	pid = test_fork(client, NULL);
	srv = accept(lsk, NULL, NULL);
	if (srv < 0)
		pr_perror("accept");
	if (write(srv, HELLO, sizeof(HELLO)) != sizeof(HELLO))
		pr_perror("write");
	usleep(300000); /* let the client fill its side */
	test_daemon();
	test_waitsig();

	if (kill(pid, SIGTERM))
		fail("the client is gone");
	/* everything the client wrote before the checkpoint, then its count, then end of file */
	got = read_full(srv, buf, MAX + 4);
	if (got < 4) {
		fail("the server read only %d bytes", got);
	} else {
		memcpy(&sent, buf + got - 4, 4);
		if (sent != got - 4)
			fail("the client sent %d bytes, the server read %d", sent, got - 4);
		else if (datachk(buf, sent, SEED) >= 0)
			fail("byte %ld of the stream changed", datachk(buf, sent, SEED));
		test_msg("%d bytes were in flight\n", sent);
	}
	if (write(srv, "ok", 2) != 2)
		fail("cannot answer the client");
	rc = test_wait_child(pid, 10000);
	if (rc)
		fail("the client failed with %d", rc);
	pass();
	return 0;
}
