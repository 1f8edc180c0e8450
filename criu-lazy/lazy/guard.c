/* The guard: a small process forked by the lazy-pages daemon that holds a second reference to
 * every task's userfaultfd until the daemon says that task is complete.
 *
 * Why: when the last reference to a uffd goes, the kernel unregisters its ranges, and every page
 * still missing then reads as zero. A daemon that exits on its own kills such tasks first
 * (lp_free), but one killed by SIGKILL or the OOM killer cannot. With the guard holding the uffd,
 * the daemon's death leaves faulting threads blocked instead; the guard sees its socket hang up,
 * kills every task it still holds, and only then lets the uffds go. So a lazily restored task
 * never runs on a zero page where its data was, and never stays blocked on a fault forever.
 *
 * Protocol on a SOCK_SEQPACKET pair, daemon -> guard, one struct guard_msg per packet:
 *   GUARD_ADD     id, pid (0: a fork child whose pid is unknown; parent says whose), SCM_RIGHTS
 * uffd GUARD_RELEASE id: the task has all its pages (or is gone): close our reference GUARD_END
 * every task was released or killed by the daemon itself: exit quietly Hang-up without GUARD_END:
 * kill every task still held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define LOG_PREFIX "lazy-guard: "
#include "log.h"
#include "lazy-int.h"

enum { GUARD_ADD = 1, GUARD_RELEASE, GUARD_END };

struct guard_msg {
	uint32_t type;
	int32_t pid;
	int32_t parent;
	uint32_t pad;
	uint64_t id;
};

struct guard_entry {
	uint64_t id;
	pid_t pid, parent;
	int uffd;
	int pidfd; /* -1 for a fork child whose pid we do not know */
};

static int send_msg(int sk, const struct guard_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {(void *)m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *ch;

	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	}
	if (sendmsg(sk, &mh, MSG_NOSIGNAL) != sizeof(*m))
		return -errno;
	return 0;
}

/* 1 with a message (and *fd, or -1), 0 on hang-up, -errno. */
static int recv_msg(int sk, struct guard_msg *m, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *ch;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sk, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(ch), sizeof(int));
	if (n != sizeof(*m) || (mh.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		return -EBADMSG;
	}
	return 1;
}

static pid_t stat_ppid(const char *pid)
{
	char path[300], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || !p[1] || !p[2] || !p[3])
		return -1;
	return atoi(p + 4);
}

int lp_kill_children_of(pid_t parent, const pid_t *known, int nr_known)
{
	struct dirent *de;
	int killed = 0, i;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		pid_t pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (stat_ppid(de->d_name) != parent)
			continue;
		pid = atoi(de->d_name);
		for (i = 0; i < nr_known && known[i] != pid; i++)
			;
		if (i < nr_known)
			continue;
		pr_err("killing pid %d, a fork child of %d\n", pid, parent);
		kill(pid, SIGKILL);
		killed++;
	}
	closedir(dir);
	return killed;
}

static void guard_kill_all(struct guard_entry *e, int nr)
{
	pid_t *known = calloc(nr + 1, sizeof(*known));
	int i, nk = 0;

	for (i = 0; i < nr; i++)
		if (e[i].pid > 0 && known)
			known[nk++] = e[i].pid;
	for (i = 0; i < nr; i++) {
		if (e[i].pidfd >= 0) {
			pr_err("the lazy-pages daemon died before task %d had all its pages: "
			       "killing it rather than let it read zeros\n",
			       e[i].pid);
			if (syscall(SYS_pidfd_send_signal, e[i].pidfd, SIGKILL, NULL, 0) &&
			    errno != ESRCH)
				pr_perror("cannot kill task %d", e[i].pid);
		} else if (e[i].parent > 0) {
			lp_kill_children_of(e[i].parent, known, nk);
		}
	}
	free(known);
}

static void guard_close(struct guard_entry *e)
{
	close(e->uffd);
	if (e->pidfd >= 0)
		close(e->pidfd);
}

static int __attribute__((noreturn)) guard_main(int sk)
{
	struct guard_entry *e = NULL;
	int nr = 0, cap = 0, i, ret, fd;
	struct guard_msg m;

	prctl(PR_SET_NAME, "lazy-guard");
	/* a Ctrl-C or a kill of the daemon is the daemon's to handle; we go when its socket does */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		ret = recv_msg(sk, &m, &fd);
		if (ret <= 0)
			break;
		if (m.type == GUARD_END) {
			for (i = 0; i < nr; i++)
				guard_close(&e[i]);
			_exit(0);
		}
		if (m.type == GUARD_RELEASE) {
			for (i = 0; i < nr && e[i].id != m.id; i++)
				;
			if (i < nr) {
				guard_close(&e[i]);
				e[i] = e[--nr];
			}
			continue;
		}
		if (m.type != GUARD_ADD || fd < 0) {
			pr_err("unexpected message %u from the daemon\n", m.type);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (nr == cap) {
			struct guard_entry *ne = realloc(e, (cap ? cap * 2 : 16) * sizeof(*e));

			if (!ne) {
				/* cannot keep it: better kill the task now than risk zeros later */
				kill(m.pid, SIGKILL);
				close(fd);
				continue;
			}
			e = ne;
			cap = cap ? cap * 2 : 16;
		}
		e[nr].id = m.id;
		e[nr].pid = m.pid;
		e[nr].parent = m.parent;
		e[nr].uffd = fd;
		e[nr].pidfd = m.pid > 0 ? syscall(SYS_pidfd_open, m.pid, 0) : -1;
		nr++;
	}
	/* the daemon is gone without saying it was done */
	if (nr)
		guard_kill_all(e, nr);
	for (i = 0; i < nr; i++)
		guard_close(&e[i]);
	_exit(nr ? 1 : 0);
}

int lp_guard_start(struct lp_daemon *d)
{
	int sk[2], lfd = log_get_fd();
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk)) {
		pr_perror("cannot create the guard's socket");
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("cannot start the guard");
		close(sk[0]);
		close(sk[1]);
		return -errno;
	}
	if (pid == 0) {
		int fd;

		/* keep only the socket, stdio and the log: nothing of the daemon's state */
		for (fd = 3; fd < 1024; fd++)
			if (fd != sk[1] && fd != lfd)
				close(fd);
		guard_main(sk[1]);
	}
	close(sk[1]);
	d->guard_fd = sk[0];
	d->guard_pid = pid;
	return 0;
}

int lp_guard_add(struct lp_daemon *d, struct lp_task *t)
{
	struct guard_msg m = {.type = GUARD_ADD, .pid = t->pid, .parent = t->parent};
	int ret;

	if (d->guard_fd < 0)
		return 0;
	m.id = t->guard_id = ++d->guard_seq;
	ret = send_msg(d->guard_fd, &m, t->ev.fd);
	if (ret)
		lp_err(t, "cannot hand its uffd to the guard: %s\n", strerror(-ret));
	return ret;
}

void lp_guard_release(struct lp_daemon *d, struct lp_task *t)
{
	struct guard_msg m = {.type = GUARD_RELEASE, .id = t->guard_id};

	if (d->guard_fd < 0 || !t->guard_id)
		return;
	t->guard_id = 0;
	if (send_msg(d->guard_fd, &m, -1))
		pr_warn("cannot tell the guard that %s is complete\n", t->name);
}

void lp_guard_stop(struct lp_daemon *d)
{
	struct guard_msg m = {.type = GUARD_END};
	int status;

	if (d->guard_fd < 0)
		return;
	if (send_msg(d->guard_fd, &m, -1))
		pr_warn("cannot tell the guard to stop\n");
	close(d->guard_fd);
	d->guard_fd = -1;
	while (waitpid(d->guard_pid, &status, 0) < 0 && errno == EINTR)
		;
}
