/* Sockets the dump must refuse, each against a child of ours that holds them: an established
 * TCP connection without --tcp-established, file descriptors in flight (SCM_RIGHTS), a unix
 * stream connected to a server outside the tree, a TCP listener with a connection not accepted
 * yet. Each refusal leaves no image and the child running with working sockets. And a dump -R
 * with --tcp-established leaves the connection working: repair mode is turned off again. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "log.h"
#include "opts.h"
#include "lib/unit.h"

enum scene { SC_TCP, SC_SCM, SC_UNIX_OUT, SC_PENDING };

static int outside_fd = -1; /* our server: the child must not inherit it */

struct child {
	pid_t pid;
	int cmd, ans;
};

/* A byte through a (fd -> peer) and back within a second: 0 when it works. */
static int ping(int a, int b)
{
	struct pollfd p = {.fd = b, .events = POLLIN};
	char c = 'p';

	if (send(a, &c, 1, MSG_NOSIGNAL) != 1 || poll(&p, 1, 1000) != 1 ||
	    recv(b, &c, 1, MSG_DONTWAIT) != 1)
		return -1;
	return 0;
}

static int tcp_listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (void *)a, sizeof(*a)) || listen(l, 4) ||
	    getsockname(l, (void *)a, &len))
		_exit(2);
	return l;
}

/* The child: sets the scene up, says 'R', then answers each byte with 'G' while its sockets
 * still carry data, 'B' when not. */
static void child_main(int cmd, int ans, enum scene sc, const char *outside)
{
	struct sockaddr_in a;
	int x = -1, y = -1, sv[2];
	char c;

	switch (sc) {
	case SC_TCP:
	case SC_PENDING: {
		int l = tcp_listener(&a);

		x = socket(AF_INET, SOCK_STREAM, 0);
		if (x < 0 || connect(x, (void *)&a, sizeof(a)))
			_exit(2);
		y = sc == SC_TCP ? accept(l, NULL, NULL) : l;
		if (y < 0)
			_exit(2);
		break;
	}
	case SC_SCM: {
		char buf[CMSG_SPACE(sizeof(int))] = {}, byte = 'f';
		struct iovec iov = {&byte, 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = buf,
				    .msg_controllen = sizeof(buf)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			_exit(2);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &cmd, sizeof(int));
		if (sendmsg(sv[0], &mh, 0) != 1)
			_exit(2);
		x = sv[0];
		y = sv[1];
		break;
	}
	case SC_UNIX_OUT: {
		struct sockaddr_un u = {.sun_family = AF_UNIX};

		snprintf(u.sun_path, sizeof(u.sun_path), "%s", outside);
		x = socket(AF_UNIX, SOCK_STREAM, 0);
		if (x < 0 || connect(x, (void *)&u, sizeof(u)))
			_exit(2);
		break;
	}
	}
	c = 'R';
	if (write(ans, &c, 1) != 1)
		_exit(1);
	while (read(cmd, &c, 1) == 1) {
		int ok;

		if (sc == SC_PENDING) {
			int s = accept(y, NULL, NULL);

			ok = s >= 0 && !ping(x, s) && !ping(s, x);
			close(s);
		} else if (sc == SC_UNIX_OUT) {
			ok = send(x, "u", 1, MSG_NOSIGNAL) == 1;
		} else {
			ok = !ping(x, y) && !ping(y, x);
		}
		c = ok ? 'G' : 'B';
		if (write(ans, &c, 1) != 1)
			_exit(1);
		if (sc == SC_PENDING) /* the check used the pending connection up */
			_exit(0);
	}
	_exit(0);
}

static void child_start(struct child *c, enum scene sc, const char *outside)
{
	int to[2], from[2];
	char r = 0;

	UT_EQ(pipe2(to, O_CLOEXEC), 0);
	UT_EQ(pipe2(from, O_CLOEXEC), 0);
	c->pid = fork();
	UT_GE(c->pid, 0);
	if (!c->pid) {
		close(to[1]);
		close(from[0]);
		if (outside_fd >= 0)
			close(outside_fd);
		child_main(to[0], from[1], sc, outside);
	}
	close(to[0]);
	close(from[1]);
	c->cmd = to[1];
	c->ans = from[0];
	UT_EQ(read(c->ans, &r, 1), 1);
	UT_EQ(r, 'R');
}

static char child_check(struct child *c)
{
	char what = '?', r = 0;

	alarm(20);
	if (write(c->cmd, &what, 1) != 1 || read(c->ans, &r, 1) != 1)
		r = 0;
	alarm(0);
	return r;
}

static void child_kill(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	close(c->cmd);
	close(c->ans);
}

static int run_dump(pid_t pid, const char *dir, bool tcp_established, bool leave_running)
{
	struct crl_opts o;

	memset(&o, 0, sizeof(o));
	o.cmd = CMD_DUMP;
	o.cmd_name = "dump";
	o.tree_pid = pid;
	o.images_dir = dir;
	o.work_dir = dir;
	o.compress_level = 1;
	o.status_fd = -1;
	o.leave_running = leave_running;
	o.tcp_established = tcp_established;
	log_init(NULL, 1);
	return cmd_dump(&o);
}

static int count_images(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	UT_NONNULL(d);
	while ((de = readdir(d)))
		n += strstr(de->d_name, ".img") != NULL;
	closedir(d);
	return n;
}

static void refused(enum scene sc, const char *outside, bool tcp_established)
{
	char dir[256];
	struct child c;

	unit_mkdtemp(dir, sizeof(dir));
	child_start(&c, sc, outside);
	UT_ERR(run_dump(c.pid, dir, tcp_established, false), -EOPNOTSUPP);
	UT_EQ(count_images(dir), 0);
	UT_EQ(child_check(&c), 'G');
	child_kill(&c);
}

static void test_tcp_without_option(void)
{
	refused(SC_TCP, NULL, false);
}

static void test_scm_rights(void)
{
	refused(SC_SCM, NULL, false);
}

static void test_pending_accept(void)
{
	refused(SC_PENDING, NULL, true);
}

static void test_unix_outside(void)
{
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	char dir[200];
	int l;

	unit_mkdtemp(dir, sizeof(dir));
	UT_LT(strlen(dir) + sizeof("/server.sock"), sizeof(u.sun_path));
	memcpy(u.sun_path, dir, strlen(dir));
	strcat(u.sun_path, "/server.sock");
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	UT_GE(l, 0);
	UT_EQ(bind(l, (void *)&u, sizeof(u)), 0);
	UT_EQ(listen(l, 4), 0);
	outside_fd = l;
	refused(SC_UNIX_OUT, u.sun_path, false);
	close(l);
}

/* dump -R --tcp-established: the connection was in repair mode during the dump and works after. */
static void test_tcp_leave_running(void)
{
	char dir[256];
	struct child c;

	unit_mkdtemp(dir, sizeof(dir));
	child_start(&c, SC_TCP, NULL);
	UT_EQ(run_dump(c.pid, dir, true, true), 0);
	UT_GT(count_images(dir), 0);
	UT_EQ(child_check(&c), 'G');
	child_kill(&c);
}

static const struct unit_test tests[] = {
    {"established TCP without --tcp-established: refused", test_tcp_without_option,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
    {"SCM_RIGHTS in flight: refused", test_scm_rights,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
    {"TCP listener with a connection not accepted: refused", test_pending_accept,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
    {"unix stream to a server outside the tree: refused", test_unix_outside,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
    {"dump -R --tcp-established: the connection works after", test_tcp_leave_running,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
};

UNIT_MAIN(tests)
