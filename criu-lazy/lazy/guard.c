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
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#define LOG_PREFIX "lazy-guard: "
#include "log.h"
#include "lazy-int.h"

#define KEEPER_NAME "lazy-pages.keeper"
#define GUARD_MAX_RANGES 4096 /* a task with more is not handed over, only guarded */

enum { GUARD_ADD = 1, GUARD_TAINT, GUARD_RELEASE, GUARD_END, GUARD_TAKE };

struct guard_msg {
	uint32_t type;
	int32_t pid;
	int32_t parent;
	uint32_t nr_ranges; /* struct lp_range follow */
	uint64_t id;
};

struct guard_pkt {
	struct guard_msg m;
	struct lp_range r[GUARD_MAX_RANGES];
};

struct guard_entry {
	uint64_t id;
	pid_t pid, parent;
	int uffd;
	int pidfd; /* -1 for a fork child whose pid we do not know */
	int tainted;
	struct lp_range *r;
	uint32_t nr;
};

static int send_msg(int sk, const struct guard_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {(void *)m, sizeof(*m) + m->nr_ranges * sizeof(struct lp_range)};
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
	if (sendmsg(sk, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return -errno;
	return 0;
}

/* 1 with a message (and *fd, or -1), 0 on hang-up, -errno. */
static int recv_msg(int sk, struct guard_pkt *p, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {p, sizeof(*p)};
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
	if (n < (ssize_t)sizeof(p->m) || p->m.nr_ranges > GUARD_MAX_RANGES ||
	    n != (ssize_t)(sizeof(p->m) + p->m.nr_ranges * sizeof(struct lp_range)) ||
	    (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
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

/* Kills the tasks of e[0..nr); all[0..nr_all) are every task held, whose pids are not taken for
 * unknown fork children. */
static void guard_kill(struct guard_entry *e, int nr, const struct guard_entry *all, int nr_all)
{
	pid_t *known = calloc(nr_all + 1, sizeof(*known));
	int i, nk = 0;

	for (i = 0; i < nr_all; i++)
		if (all[i].pid > 0 && known)
			known[nk++] = all[i].pid;
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
	free(e->r);
}

/* Hands every untainted task to a new daemon on the keeper socket. 0, or -errno. */
static int guard_hand_over(int sk, struct guard_entry *e, int nr)
{
	static struct guard_pkt p;
	int i, ret;

	for (i = 0; i < nr; i++) {
		memset(&p.m, 0, sizeof(p.m));
		p.m.type = GUARD_TAKE;
		p.m.pid = e[i].pid;
		p.m.nr_ranges = e[i].nr;
		memcpy(p.r, e[i].r, e[i].nr * sizeof(*p.r));
		ret = send_msg(sk, &p.m, e[i].uffd);
		if (ret)
			return ret;
	}
	memset(&p.m, 0, sizeof(p.m));
	p.m.type = GUARD_END;
	return send_msg(sk, &p.m, -1);
}

/* The daemon is gone. Tasks whose ranges we know wait up to hold_s for a new daemon. */
static int guard_hold(struct guard_entry *e, int nr, const char *dir, int hold_s)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int i, held = 0, lsk = -1, sk, ret = -ETIMEDOUT;
	struct pollfd pfd;

	/* the tainted ones cannot be handed over: they go now */
	for (i = 0; i < nr; i++)
		if (e[i].tainted)
			guard_kill(&e[i], 1, e, nr);
	for (i = 0; i < nr; i++) {
		if (e[i].tainted)
			guard_close(&e[i]);
		else
			e[held++] = e[i];
	}
	if (!held || hold_s <= 0 || !dir[0])
		goto out;
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, KEEPER_NAME) >=
	    (int)sizeof(addr.sun_path))
		goto out;
	lsk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	unlink(addr.sun_path);
	if (lsk < 0 || bind(lsk, (struct sockaddr *)&addr, sizeof(addr)) || listen(lsk, 1)) {
		pr_perror("cannot listen on %s", addr.sun_path);
		goto out;
	}
	pr_err("the lazy-pages daemon died: %d task(s) wait up to %d s for a new lazy-pages "
	       "in %s\n",
	       held, hold_s, dir);
	pfd.fd = lsk;
	pfd.events = POLLIN;
	while ((ret = poll(&pfd, 1, hold_s * 1000)) < 0 && errno == EINTR)
		;
	if (ret <= 0) {
		ret = -ETIMEDOUT;
		goto out;
	}
	sk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
	ret = sk < 0 ? -errno : guard_hand_over(sk, e, held);
	if (sk >= 0)
		close(sk);
	if (!ret)
		pr_info("%d task(s) handed over to a new lazy-pages\n", held);
out:
	if (lsk >= 0) {
		unlink(addr.sun_path);
		close(lsk);
	}
	if (ret)
		guard_kill(e, held, e, held);
	for (i = 0; i < held; i++)
		guard_close(&e[i]);
	return ret;
}

static int __attribute__((noreturn)) guard_main(int sk, const char *dir, int hold_s)
{
	static struct guard_pkt p;
	struct guard_msg m;
	struct guard_entry *e = NULL;
	int nr = 0, cap = 0, i, ret, fd;

	prctl(PR_SET_NAME, "lazy-guard");
	/* a Ctrl-C or a kill of the daemon is the daemon's to handle; we go when its socket does */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		ret = recv_msg(sk, &p, &fd);
		if (ret <= 0)
			break;
		m = p.m;
		if (m.type == GUARD_END) {
			for (i = 0; i < nr; i++)
				guard_close(&e[i]);
			_exit(0);
		}
		if (m.type == GUARD_RELEASE || m.type == GUARD_TAINT) {
			for (i = 0; i < nr && e[i].id != m.id; i++)
				;
			if (i < nr && m.type == GUARD_TAINT) {
				e[i].tainted = 1;
			} else if (i < nr) {
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
		e[nr].tainted = m.pid <= 0 || !m.nr_ranges || e[nr].pidfd < 0;
		e[nr].nr = 0;
		e[nr].r = malloc(m.nr_ranges * sizeof(*e[nr].r) + 1);
		if (e[nr].r) {
			memcpy(e[nr].r, p.r, m.nr_ranges * sizeof(*e[nr].r));
			e[nr].nr = m.nr_ranges;
		} else {
			e[nr].tainted = 1;
		}
		nr++;
	}
	/* the daemon is gone without saying it was done */
	_exit(nr && guard_hold(e, nr, dir, hold_s) ? 1 : 0);
}

int lp_guard_start(struct lp_daemon *d)
{
	const char *dir = d->cfg.keeper_dir ? d->cfg.keeper_dir : "";
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
		guard_main(sk[1], dir, d->cfg.timeout_s);
	}
	close(sk[1]);
	d->guard_fd = sk[0];
	d->guard_pid = pid;
	return 0;
}

int lp_guard_add(struct lp_daemon *d, struct lp_task *t, const struct lp_range *r, int nr)
{
	static struct guard_pkt p;
	int ret;

	if (d->guard_fd < 0)
		return 0;
	memset(&p.m, 0, sizeof(p.m));
	p.m.type = GUARD_ADD;
	p.m.pid = t->pid;
	p.m.parent = t->parent;
	p.m.id = t->guard_id = ++d->guard_seq;
	if (nr > 0 && nr <= GUARD_MAX_RANGES) {
		p.m.nr_ranges = nr;
		memcpy(p.r, r, nr * sizeof(*r));
	}
	ret = send_msg(d->guard_fd, &p.m, t->ev.fd);
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

void lp_guard_taint(struct lp_daemon *d, struct lp_task *t)
{
	struct guard_msg m = {.type = GUARD_TAINT, .id = t->guard_id};

	if (d->guard_fd < 0 || !t->guard_id || t->guard_tainted)
		return;
	t->guard_tainted = 1;
	if (send_msg(d->guard_fd, &m, -1))
		pr_warn("cannot tell the guard that %s changed its ranges\n", t->name);
}

int lp_takeover(struct lp_daemon *d, const char *dir, lp_open_src_fn open_src, void *arg)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	static struct guard_pkt p;
	int sk, ret, fd, taken = 0;

	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, KEEPER_NAME) >=
	    (int)sizeof(addr.sun_path))
		return 0;
	if (access(addr.sun_path, F_OK))
		return 0;
	sk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return -errno;
	if (connect(sk, (struct sockaddr *)&addr, sizeof(addr))) {
		/* a keeper that timed out and died without cleaning up */
		pr_warn("stale %s: %s\n", addr.sun_path, strerror(errno));
		close(sk);
		return 0;
	}
	for (;;) {
		const struct lp_src_ops *ops;
		void *priv;

		ret = recv_msg(sk, &p, &fd);
		if (ret <= 0) {
			pr_err("the keeper in %s hung up before handing every task over\n", dir);
			ret = ret ? ret : -ECONNRESET;
			break;
		}
		if (p.m.type == GUARD_END) {
			ret = taken;
			break;
		}
		/* a task that cannot be taken over is killed, and the rest still read: a uffd left
		 * unread in the socket would be dropped with it, and its task would read zeros */
		if (p.m.type != GUARD_TAKE || fd < 0 || p.m.pid <= 0) {
			pr_err("bad message %u from the keeper: killing task %d\n", p.m.type,
			       p.m.pid);
			if (p.m.pid > 0)
				kill(p.m.pid, SIGKILL);
			if (fd >= 0)
				close(fd);
			continue;
		}
		ret = open_src(arg, p.m.pid, &ops, &priv);
		if (ret) {
			pr_err("%d: no page source (%s): killing the task\n", p.m.pid,
			       strerror(-ret));
			kill(p.m.pid, SIGKILL);
			close(fd);
			continue;
		}
		/* every page it has came from these images through the dead daemon */
		d->takeover = 1;
		ret = lp_add_task(d, p.m.pid, fd, p.r, p.m.nr_ranges, ops, priv);
		d->takeover = 0;
		if (ret) { /* logged, and the task killed */
			d->st.tasks_lost++;
			continue;
		}
		taken++;
		pr_info("%d: taken over from the keeper\n", p.m.pid);
	}
	close(sk);
	return ret;
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
