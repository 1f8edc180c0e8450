/* Files without a path (eventfd, timerfd, signalfd, epoll) and the locks held through any file:
 * everything comes from /proc/PID/fdinfo/FD. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "dump.h"

#include "files.pb-c.h"

#ifndef TFD_IOC_SET_TICKS /* linux/timerfd.h has it but clashes with glibc's fcntl.h */
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int dump_eventfd(FileEntry *fe, const char *info, uint32_t flags)
{
	EventfdEntry *e = calloc(1, sizeof(*e));
	const char *v;

	if (!e)
		return -ENOMEM;
	eventfd_entry__init(e);
	fe->efd = e;
	fe->type = FD_TYPE__FD_EVENTFD;
	e->flags = flags;
	v = proc_field(info, "eventfd-count");
	if (!v)
		return -EINVAL;
	e->counter = strtoull(v, NULL, 16); /* the kernel prints it in hex */
	v = proc_field(info, "eventfd-semaphore");
	if (v) {
		e->has_semaphore = true;
		e->semaphore = atoi(v);
	}
	return 0;
}

static int dump_timerfd(FileEntry *fe, const char *info, uint32_t flags)
{
	TimerfdEntry *e = calloc(1, sizeof(*e));
	unsigned long long a, b;
	const char *v;

	if (!e)
		return -ENOMEM;
	timerfd_entry__init(e);
	fe->tfd = e;
	fe->type = FD_TYPE__FD_TIMERFD;
	e->flags = flags;
	if (!(v = proc_field(info, "clockid")))
		return -EINVAL;
	e->clockid = atoi(v);
	if (!(v = proc_field(info, "ticks")))
		return -EINVAL;
	e->ticks = strtoull(v, NULL, 10);
	if (!(v = proc_field(info, "settime flags")))
		return -EINVAL;
	e->settime_flags = strtoul(v, NULL, 8);
	if (!(v = proc_field(info, "it_value")) || sscanf(v, "(%llu, %llu)", &a, &b) != 2)
		return -EINVAL;
	e->vsec = a;
	e->vnsec = b;
	if (!(v = proc_field(info, "it_interval")) || sscanf(v, "(%llu, %llu)", &a, &b) != 2)
		return -EINVAL;
	e->isec = a;
	e->insec = b;
	return 0;
}

static int dump_signalfd(FileEntry *fe, const char *info, uint32_t flags)
{
	SignalfdEntry *e = calloc(1, sizeof(*e));
	const char *v;

	if (!e)
		return -ENOMEM;
	signalfd_entry__init(e);
	fe->sfd = e;
	fe->type = FD_TYPE__FD_SIGNALFD;
	e->flags = flags;
	if (!(v = proc_field(info, "sigmask")))
		return -EINVAL;
	e->sigmask = strtoull(v, NULL, 16);
	return 0;
}

/* "tfd:        5 events:       19 data:             feed  pos:0 ino:2a sdev:f" per target */
static int dump_epoll(FileEntry *fe, const char *info, uint32_t flags)
{
	EpollEntry *e = calloc(1, sizeof(*e));
	const char *p;

	if (!e)
		return -ENOMEM;
	epoll_entry__init(e);
	fe->epoll = e;
	fe->type = FD_TYPE__FD_EPOLL;
	e->flags = flags;
	for (p = info; (p = strstr(p, "tfd:")); p++) {
		EpollTfdEntry *t, **n;
		unsigned int tfd, events;
		unsigned long long data;

		if (sscanf(p, "tfd: %u events: %x data: %llx", &tfd, &events, &data) != 3)
			return -EINVAL;
		n = realloc(e->tfds, (e->n_tfds + 1) * sizeof(*n));
		t = calloc(1, sizeof(*t));
		if (!n || !t) {
			free(t);
			if (n)
				e->tfds = n;
			return -ENOMEM;
		}
		e->tfds = n;
		epoll_tfd_entry__init(t);
		t->tfd = tfd;
		t->events = events;
		t->data = data;
		e->tfds[e->n_tfds++] = t;
	}
	return 0;
}

/* A periodic timerfd that expired keeps one tick in fdinfo and counts the periods it missed only
 * when read. Read it through a copy of the description, so the count is complete and the timer
 * re-armed as the kernel does on read, and put the count back with TFD_IOC_SET_TICKS (probed
 * first: without it the read is not done). *fresh: the fdinfo after that, or NULL. */
static int timerfd_settle(pid_t pid, int tfd, const char *info, char **fresh, const char *what)
{
	const char *v = proc_field(info, "ticks"), *iv = proc_field(info, "it_interval");
	unsigned long long isec = 0, insec = 0;
	uint64_t n = 0, zero = 0;
	char path[64];
	int pidfd, fd, ret = 0;

	*fresh = NULL;
	if (!v || !strtoull(v, NULL, 10) || !iv || sscanf(iv, "(%llu, %llu)", &isec, &insec) != 2 ||
	    (!isec && !insec))
		return 0;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	fd = syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	close(pidfd);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TFD_IOC_SET_TICKS, &zero) == 0 || errno != EINVAL) {
		pr_warn("%s: no TFD_IOC_SET_TICKS: missed periods of the timerfd are not counted\n",
			what);
		goto out;
	}
	if (read(fd, &n, sizeof(n)) != sizeof(n) || ioctl(fd, TFD_IOC_SET_TICKS, &n)) {
		ret = -errno;
		pr_perror("%s: cannot count the expirations of the timerfd", what);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, tfd);
	ret = proc_read_file(path, fresh, NULL);
out:
	close(fd);
	return ret;
}

int dump_anon_file(FileEntry *fe, pid_t pid, int tfd, const char *link, const char *info,
		   uint32_t flags, const char *what)
{
	char *fresh = NULL;
	int ret;

	if (!strcmp(link, "anon_inode:[eventfd]")) {
		ret = dump_eventfd(fe, info, flags);
	} else if (!strcmp(link, "anon_inode:[timerfd]")) {
		ret = timerfd_settle(pid, tfd, info, &fresh, what);
		if (!ret)
			ret = dump_timerfd(fe, fresh ? fresh : info, flags);
		free(fresh);
	} else if (!strcmp(link, "anon_inode:[signalfd]"))
		ret = dump_signalfd(fe, info, flags);
	else if (!strcmp(link, "anon_inode:[eventpoll]"))
		ret = dump_epoll(fe, info, flags);
	else
		ret = -EOPNOTSUPP;
	if (ret == -EINVAL)
		pr_err("%s: cannot parse the fdinfo of %s\n", what, link);
	else if (ret == -EOPNOTSUPP)
		pr_err("%s: %s is not supported (sockets, inotify, ... are not dumped yet)\n", what,
		       link);
	return ret;
}

/* "lock:\t1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" */
static int parse_lock(const char *p, FileLockEntry *l, const char *what)
{
	char kind[16], mode[16], type[16], end[32];
	unsigned long long start;
	int pid;

	if (sscanf(p, "%*d: %15s %15s %15s %d %*x:%*x:%*u %llu %31s", kind, mode, type, &pid,
		   &start, end) != 6)
		goto bad;
	if (!strcmp(kind, "FLOCK"))
		l->kind = FILE_LOCK_KIND__LOCK_FLOCK;
	else if (!strcmp(kind, "POSIX"))
		l->kind = FILE_LOCK_KIND__LOCK_POSIX;
	else if (!strcmp(kind, "OFDLCK"))
		l->kind = FILE_LOCK_KIND__LOCK_OFD;
	else
		goto unsupported;
	if (strcmp(mode, "ADVISORY"))
		goto unsupported;
	if (!strcmp(type, "READ"))
		l->type = F_RDLCK;
	else if (!strcmp(type, "WRITE"))
		l->type = F_WRLCK;
	else
		goto unsupported;
	l->pid = pid < 0 ? 0 : pid;
	l->start = start;
	l->len = strcmp(end, "EOF") ? (int64_t)(strtoull(end, NULL, 10) - start + 1) : 0;
	return 0;
unsupported:
	pr_err("%s: %s %s %s lock is not supported\n", what, kind, mode, type);
	return -EOPNOTSUPP;
bad:
	pr_err("%s: cannot parse the lock '%.60s'\n", what, p);
	return -EINVAL;
}

int dump_file_locks(FileEntry *fe, const char *info, const char *what)
{
	const char *p;
	int ret;

	for (p = info; (p = proc_field(p, "lock")); p = strchr(p, '\n')) {
		FileLockEntry *l, **n;

		n = realloc(fe->locks, (fe->n_locks + 1) * sizeof(*n));
		l = calloc(1, sizeof(*l));
		if (!n || !l) {
			free(l);
			if (n)
				fe->locks = n;
			return -ENOMEM;
		}
		fe->locks = n;
		file_lock_entry__init(l);
		fe->locks[fe->n_locks++] = l;
		ret = parse_lock(p, l, what);
		if (ret)
			return ret;
		if (!strchr(p, '\n'))
			break;
	}
	return 0;
}

void dump_epoll_resolve(FileEntry *fe, const int *fds, const uint32_t *ids, int nr)
{
	size_t i;
	int j;

	if (!fe->epoll)
		return;
	for (i = 0; i < fe->epoll->n_tfds; i++)
		for (j = 0; j < nr; j++)
			if (fds[j] == (int)fe->epoll->tfds[i]->tfd)
				fe->epoll->tfds[i]->file_id = ids[j];
}

void dump_anon_free(FileEntry *fe)
{
	size_t i;

	free(fe->efd);
	free(fe->tfd);
	free(fe->sfd);
	if (fe->epoll) {
		for (i = 0; i < fe->epoll->n_tfds; i++)
			free(fe->epoll->tfds[i]);
		free(fe->epoll->tfds);
		free(fe->epoll);
	}
	for (i = 0; i < fe->n_locks; i++)
		free(fe->locks[i]);
	free(fe->locks);
}
