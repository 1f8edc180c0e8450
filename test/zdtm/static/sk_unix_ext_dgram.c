/* A datagram socket connected to a server outside the tree, the way programs talk to /dev/log:
 * the server is a process that left the tree (double fork). The dump warns, restore connects the
 * socket again by name, and the server gets what is sent after restore. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NAME "log.sock"
#define RESULT "log.got"

/* The outside server: writes every datagram to RESULT until "end" (or 60 s). */
static void server(int ready)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char buf[128];
	int s, out, fd;

	/* nothing of the test's: the harness waits for its ready pipe to close */
	for (fd = 3; fd < 1024; fd++)
		if (fd != ready)
			close(fd);
	strcpy(a.sun_path, NAME);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (void *)&a, sizeof(a)))
		_exit(1);
	out = open(RESULT ".tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	alarm(60);
	while (1) {
		ssize_t n = recv(s, buf, sizeof(buf), 0);

		if (n <= 0 || (n == 3 && !memcmp(buf, "end", 3)))
			break;
		if (write(out, buf, n) != n || write(out, "\n", 1) != 1)
			break;
	}
	close(out);
	rename(RESULT ".tmp", RESULT);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char got[256] = "";
	int p[2], c, i;
	pid_t pid;

	test_init(argc, argv);
	if (pipe(p))
		pr_perror("pipe");
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (fork() == 0) {
			setsid();
			server(p[1]);
		}
		_exit(0);
	}
	close(p[1]);
	waitpid(pid, NULL, 0);
	if (read(p[0], got, 1) != 1)
		pr_perror("the server did not start");
	close(p[0]);
	strcpy(a.sun_path, NAME);
	c = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (c < 0 || connect(c, (void *)&a, sizeof(a)) || send(c, "before", 6, 0) != 6)
		pr_perror("client");
	test_daemon();
	test_waitsig();

	if (send(c, "after", 5, 0) != 5 || send(c, "end", 3, 0) != 3)
		fail("cannot send to the outside server after restore: %m");
	for (i = 0; i < 500 && access(RESULT, F_OK); i++) /* bounded: 5 s */
		usleep(10000);
	if (test_read_file(RESULT, got, sizeof(got)) < 0)
		fail("the outside server wrote nothing");
	else if (strcmp(got, "before\nafter\n"))
		fail("the outside server got '%s'", got);
	pass();
	return 0;
}
