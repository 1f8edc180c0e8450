/* The restorer's side of lazy pages (see lazy-register.h): a uffd made inside each stopped task,
 * taken out with pidfd_getfd, set up from here and handed to the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-register: "
#include "log.h"
#include "inject.h"
#include "lazy-proto.h"
#include "lazy-register.h"
#include "uffd.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

struct lazy_conn {
	int sk;
	int tasks;
};

/* The daemon listens in its own work dir, which is its images dir unless told otherwise. A
 * runtime gives the restore a work dir of its own (runc: a criu.work dir in its state dir), where
 * no daemon listens; the images dir both were given is where to look next. */
static int connect_in(int sk, const char *dir, char *path, size_t len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if ((size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir,
			     LAZY_SOCKET_NAME) >= sizeof(addr.sun_path)) {
		pr_err("the dir path %s is too long for a unix socket\n", dir);
		return -ENAMETOOLONG;
	}
	snprintf(path, len, "%s", addr.sun_path);
	if (connect(sk, (struct sockaddr *)&addr, sizeof(addr)))
		return -errno;
	return 0;
}

int lazy_connect(struct lazy_conn **plc, const struct crl_opts *o)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)], path2[sizeof(path)] = "";
	struct lazy_conn *lc;
	int ret;

	lc = calloc(1, sizeof(*lc));
	if (!lc)
		return -ENOMEM;
	lc->sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lc->sk < 0) {
		ret = -errno;
		pr_perror("cannot create a unix socket");
		free(lc);
		return ret;
	}
	ret = connect_in(lc->sk, o->work_dir, path, sizeof(path));
	if ((ret == -ENOENT || ret == -ECONNREFUSED) && strcmp(o->work_dir, o->images_dir)) {
		ret = connect_in(lc->sk, o->images_dir, path2, sizeof(path2));
		if (!ret)
			pr_info("lazy-pages daemon found in the images dir %s\n", o->images_dir);
	}
	if (ret) {
		if (ret == -ENOENT || ret == -ECONNREFUSED)
			pr_err("no lazy-pages daemon at %s%s%s (start 'criu-lazy lazy-pages' "
			       "first)\n",
			       path, path2[0] ? " nor at " : "", path2);
		else if (ret != -ENAMETOOLONG)
			pr_errno(ret, "cannot connect to the lazy-pages daemon at %s", path);
		lazy_disconnect(lc);
		return ret;
	}
	*plc = lc;
	return 0;
}

static int send_all(int sk, const void *buf, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (iov.iov_len) {
		n = sendmsg(sk, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= n;
		mh.msg_control = NULL; /* the fd went with the first bytes */
		mh.msg_controllen = 0;
	}
	return 0;
}

/* The task's own uffd, created by it (so it belongs to its mm), then moved to us. */
static int take_uffd(struct inj_ctx *inj, pid_t pid)
{
	long rfd = -1, rc;
	int pidfd, fd, ret;

	ret = inj_syscall(inj, &rfd, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (ret || rfd < 0) {
		ret = ret ? ret : (int)rfd;
		pr_errno(ret, "cannot create a userfaultfd in task %d", pid);
		return ret;
	}
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0) {
		ret = -errno;
		pr_perror("pidfd_open(%d)", pid);
		goto close_remote;
	}
	fd = syscall(__NR_pidfd_getfd, pidfd, (int)rfd, 0);
	ret = fd < 0 ? -errno : fd;
	if (fd < 0)
		pr_perror("cannot take the userfaultfd of task %d", pid);
	close(pidfd);
close_remote:
	if (inj_syscall(inj, &rc, __NR_close, rfd, 0, 0, 0, 0, 0) || rc) {
		pr_err("cannot close the userfaultfd copy in task %d\n", pid);
		if (ret >= 0)
			close(ret);
		return -EIO;
	}
	return ret;
}

int lazy_register_task(struct lazy_conn *lc, struct inj_ctx *inj, pid_t pid, const MmEntry *mm)
{
	struct lazy_msg *msg;
	uint64_t *ranges, got;
	size_t i, nr = 0, len;
	int fd, ret;

	for (i = 0; i < mm->n_vmas; i++)
		nr += mm->vmas[i]->has_lazy && mm->vmas[i]->lazy;
	if (!nr)
		return 0; /* nothing of this task is served lazily */
	if (nr > LAZY_MAX_RANGES) {
		pr_err("task %d has %zu lazy mappings, more than %d\n", pid, nr, LAZY_MAX_RANGES);
		return -E2BIG;
	}
	len = sizeof(*msg) + nr * 2 * sizeof(uint64_t);
	msg = calloc(1, len);
	if (!msg)
		return -ENOMEM;
	ranges = (uint64_t *)(msg + 1);

	fd = take_uffd(inj, pid);
	if (fd < 0) {
		ret = fd;
		goto out_free;
	}
	ret = uffd_api(fd, UFFD_WANTED_FEATURES, &got);
	if (ret) {
		pr_errno(ret, "UFFDIO_API on the userfaultfd of task %d", pid);
		goto out_close;
	}
	if ((got & UFFD_WANTED_FEATURES) != UFFD_WANTED_FEATURES)
		pr_info("task %d: uffd features %#llx of %#llx wanted\n", pid,
			(unsigned long long)got, (unsigned long long)UFFD_WANTED_FEATURES);
	nr = 0;
	for (i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if (!v->has_lazy || !v->lazy)
			continue;
		ret = uffd_register(fd, v->start, v->end - v->start, UFFDIO_REGISTER_MODE_MISSING,
				    NULL);
		if (ret) {
			pr_errno(ret, "task %d: cannot register %#llx-%#llx%s%s for lazy pages",
				 pid, (unsigned long long)v->start, (unsigned long long)v->end,
				 v->name ? " " : "", v->name ? v->name : "");
			goto out_close;
		}
		ranges[2 * nr] = v->start;
		ranges[2 * nr + 1] = v->end;
		nr++;
	}
	msg->magic = LAZY_MSG_MAGIC;
	msg->type = LAZY_MSG_TASK;
	msg->pid = pid;
	msg->nr_ranges = nr;
	ret = send_all(lc->sk, msg, len, fd);
	if (ret)
		pr_errno(ret, "cannot hand task %d to the lazy-pages daemon", pid);
	else
		lc->tasks++;
	pr_debug("task %d: %zu lazy ranges handed over\n", pid, nr);
out_close:
	close(fd);
out_free:
	free(msg);
	return ret;
}

int lazy_conn_done(struct lazy_conn *lc)
{
	struct lazy_msg msg = {.magic = LAZY_MSG_MAGIC, .type = LAZY_MSG_DONE};
	int ret = send_all(lc->sk, &msg, sizeof(msg), -1);

	if (ret)
		pr_errno(ret, "cannot tell the lazy-pages daemon that restore is done");
	return ret;
}

void lazy_disconnect(struct lazy_conn *lc)
{
	if (!lc)
		return;
	if (lc->sk >= 0)
		close(lc->sk);
	free(lc);
}
