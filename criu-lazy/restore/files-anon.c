/* Files without a path (eventfd, timerfd, signalfd, epoll) and file locks.
 *
 * The descriptions are made here in the restorer and passed like any other. What belongs to a
 * process rather than to a description is done inside the task once its fds are in place: an
 * epoll set's targets are keyed by (file, fd number in the owner), so they are added by the
 * task itself with its own numbers; a POSIX lock belongs to the process that took it. flock and
 * OFD locks belong to the description and are taken here.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int open_eventfd(const FileEntry *fe)
{
	const EventfdEntry *e = fe->efd;
	int flags = EFD_CLOEXEC, fd;

	if (e->flags & O_NONBLOCK)
		flags |= EFD_NONBLOCK;
	if (e->has_semaphore && e->semaphore)
		flags |= EFD_SEMAPHORE;
	fd = eventfd(0, flags);
	if (fd < 0) {
		pr_perror("file %u: eventfd", fe->id);
		return -errno;
	}
	/* the count may not fit eventfd()'s int argument: write it */
	if (e->counter && write(fd, &e->counter, sizeof(e->counter)) != sizeof(e->counter)) {
		int err = -errno;

		pr_perror("file %u: cannot put the eventfd count %" PRIu64 " back", fe->id,
			  e->counter);
		close(fd);
		return err;
	}
	return fd;
}

/* The image has the time left at the freeze; an absolute timer is set again from now. */
static int open_timerfd(const FileEntry *fe)
{
	const TimerfdEntry *e = fe->tfd;
	struct itimerspec its = {
	    .it_interval = {e->isec, e->insec},
	    .it_value = {e->vsec, e->vnsec},
	};
	int flags = TFD_CLOEXEC, sflags = 0, fd, err;

	if (e->flags & O_NONBLOCK)
		flags |= TFD_NONBLOCK;
	/* a periodic timer past its expiry shows no time left (the kernel moves it on when it is
	 * read): it is armed, and expires at once */
	if (!e->vsec && !e->vnsec && (e->isec || e->insec))
		its.it_value.tv_nsec = 1;
	fd = timerfd_create(e->clockid, flags);
	if (fd < 0) {
		err = -errno;
		pr_perror("file %u: timerfd_create(clock %u)", fe->id, e->clockid);
		return err;
	}
	if ((e->settime_flags & TFD_TIMER_ABSTIME) &&
	    (its.it_value.tv_sec || its.it_value.tv_nsec)) {
		struct timespec now;

		clock_gettime(e->clockid, &now);
		its.it_value.tv_sec += now.tv_sec;
		its.it_value.tv_nsec += now.tv_nsec;
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000;
		}
		sflags = e->settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	}
	if (timerfd_settime(fd, sflags, &its, NULL)) {
		err = -errno;
		pr_perror("file %u: timerfd_settime", fe->id);
		close(fd);
		return err;
	}
	if (e->ticks && ioctl(fd, TFD_IOC_SET_TICKS, &e->ticks))
		pr_warn("file %u: %" PRIu64 " unread timerfd expirations are lost: %s\n", fe->id,
			e->ticks, strerror(errno));
	return fd;
}

static int open_signalfd(const FileEntry *fe)
{
	const SignalfdEntry *e = fe->sfd;
	int flags = SFD_CLOEXEC, fd;

	if (e->flags & O_NONBLOCK)
		flags |= SFD_NONBLOCK;
	/* the raw syscall: glibc's wrapper refuses the signals it reserves for itself */
	fd = syscall(SYS_signalfd4, -1, &e->sigmask, sizeof(e->sigmask), flags);
	if (fd < 0) {
		pr_perror("file %u: signalfd", fe->id);
		return -errno;
	}
	return fd;
}

static int open_epoll(const FileEntry *fe)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0) {
		pr_perror("file %u: epoll_create1", fe->id);
		return -errno;
	}
	if (fe->epoll->flags & O_NONBLOCK)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

int rst_open_anon(struct rst_tree *t, const FileEntry *fe)
{
	(void)t;
	switch (fe->type) {
	case FD_TYPE__FD_EVENTFD:
		return open_eventfd(fe);
	case FD_TYPE__FD_TIMERFD:
		return open_timerfd(fe);
	case FD_TYPE__FD_SIGNALFD:
		return open_signalfd(fe);
	case FD_TYPE__FD_EPOLL:
		return open_epoll(fe);
	default:
		pr_err("file %u: files of type %d are not restored yet\n", fe->id, fe->type);
		return -EOPNOTSUPP;
	}
}

/* The locks of a description: flock and OFD ones, taken on our fd of it. */
int rst_desc_locks(const FileEntry *fe, int fd)
{
	size_t i;

	for (i = 0; i < fe->n_locks; i++) {
		const FileLockEntry *l = fe->locks[i];
		int ret = 0;

		if (l->kind == FILE_LOCK_KIND__LOCK_FLOCK) {
			ret = flock(fd, (l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB);
		} else if (l->kind == FILE_LOCK_KIND__LOCK_OFD) {
			struct flock fl = {.l_type = l->type,
					   .l_whence = SEEK_SET,
					   .l_start = (off_t)l->start,
					   .l_len = l->len};

			ret = fcntl(fd, F_OFD_SETLK, &fl);
		}
		if (ret) {
			ret = -errno;
			pr_perror("file %u: cannot take its lock back (someone else holds it?)",
				  fe->id);
			return ret;
		}
	}
	return 0;
}

static int task_fd_of(const struct rst_task *tk, uint32_t fd, uint32_t file_id)
{
	size_t i;

	for (i = 0; i < tk->nr_fds; i++)
		if (tk->fds[i]->fd == fd)
			return tk->fds[i]->id == file_id ? 0 : -1;
	return -1;
}

/* After tk's fds are in place: its POSIX locks, and the targets of the epoll sets it is the
 * first holder of. */
int rst_task_fd_extras(struct rst_tree *t, struct rst_task *tk)
{
	struct rst_batch b;
	size_t i, j;
	int ret;

	ret = batch_init(&b, task_inj(tk));
	if (ret)
		return ret;
	for (i = 0; i < tk->nr_fds; i++) {
		const FdinfoEntry *fi = tk->fds[i];
		size_t idx;
		FileEntry *fe = rst_file_by_id(t, fi->id, &idx);

		for (j = 0; j < fe->n_locks; j++) {
			const FileLockEntry *l = fe->locks[j];
			struct flock fl = {.l_type = l->type,
					   .l_whence = SEEK_SET,
					   .l_start = (off_t)l->start,
					   .l_len = l->len};

			if (l->kind != FILE_LOCK_KIND__LOCK_POSIX || l->pid != (uint32_t)tk->pid)
				continue;
			batch_add(&b, "fcntl(F_SETLK)", __NR_fcntl, fi->fd, F_SETLK,
				  batch_data(&b, &fl, sizeof(fl)), 0, 0, 0);
		}
		if (fe->type != FD_TYPE__FD_EPOLL || t->file_done[idx])
			continue;
		t->file_done[idx] = true;
		for (j = 0; j < fe->epoll->n_tfds; j++) {
			const EpollTfdEntry *e = fe->epoll->tfds[j];
			struct epoll_event ev = {.events = e->events, .data.u64 = e->data};

			if (!e->file_id || task_fd_of(tk, e->tfd, e->file_id)) {
				pr_warn(
				    "%d: epoll fd %u: target fd %u is gone, not watched any more\n",
				    tk->pid, fi->fd, e->tfd);
				continue;
			}
			batch_add(&b, "epoll_ctl(EPOLL_CTL_ADD)", __NR_epoll_ctl, fi->fd,
				  EPOLL_CTL_ADD, e->tfd, batch_data(&b, &ev, sizeof(ev)), 0, 0);
		}
		if (b.n > RST_BATCH_MAX - 64) {
			ret = batch_run(&b);
			if (ret)
				goto out;
		}
	}
	ret = batch_run(&b);
out:
	batch_fini(&b);
	return ret;
}
