/* Open files: every file description of the tree is opened once, here in the restorer, and sent
 * to each task that holds it with SCM_RIGHTS, so descriptions shared between fds and processes
 * (offsets, flags, pipes) stay shared. The task receives them with an injected recvmsg at the
 * lowest free numbers and moves each to its own number with dup3; we know its whole fd table, so
 * the moves are planned here and run as one batch. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

#define FDS_PER_MSG 200

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif

/* A file that was open but unlinked: created again at its path with the contents the dump kept,
 * opened, and unlinked again, so the task sees "PATH (deleted)" as before. */
static int open_unlinked(const FileEntry *fe, int flags)
{
	const RegFileEntry *r = fe->reg;
	size_t done = 0;
	int wfd, fd, err;

	if (!r->has_data) {
		pr_err("file %u (%s): unlinked, and the dump kept no contents\n", fe->id, r->path);
		return -EOPNOTSUPP;
	}
	wfd = open(r->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		   r->has_mode ? r->mode & 07777 : 0600);
	if (wfd < 0) {
		err = -errno;
		pr_perror("file %u: cannot create unlinked file %s again", fe->id, r->path);
		return err;
	}
	while (done < r->data.len) {
		ssize_t n = write(wfd, r->data.data + done, r->data.len - done);

		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			pr_errno(err, "file %u: cannot write unlinked file %s", fe->id, r->path);
			goto fail;
		}
		done += n;
	}
	if (r->has_size && ftruncate(wfd, r->size) < 0) {
		err = -errno;
		pr_perror("file %u: cannot size unlinked file %s", fe->id, r->path);
		goto fail;
	}
	fd = open(r->path, flags);
	if (fd < 0) {
		err = -errno;
		pr_perror("file %u: cannot open %s", fe->id, r->path);
		goto fail;
	}
	unlink(r->path);
	close(wfd);
	return fd;
fail:
	unlink(r->path);
	close(wfd);
	return err;
}

static int open_reg(const FileEntry *fe)
{
	const RegFileEntry *r = fe->reg;
	int flags = (r->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) | O_CLOEXEC;
	int fd;

	if (fe->type == FD_TYPE__FD_DIR)
		flags |= O_DIRECTORY;
	if (r->has_unlinked && r->unlinked)
		fd = open_unlinked(fe, flags);
	else
		fd = open(r->path, flags);
	if (fd < 0 && r->has_unlinked && r->unlinked)
		return fd;
	if (fd < 0) {
		int err = -errno;

		pr_perror("file %u: cannot open %s", fe->id, r->path);
		return err;
	}
	if (fe->type == FD_TYPE__FD_REG && r->has_size) {
		struct stat st;

		if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->size)
			pr_warn("file %u: %s shrank since the dump (%" PRIu64 " -> %lld bytes)\n",
				fe->id, r->path, r->size, (long long)st.st_size);
	}
	if (r->pos && lseek(fd, r->pos, SEEK_SET) < 0) {
		int err = -errno;

		pr_perror("file %u: cannot seek %s to %" PRIu64, fe->id, r->path, r->pos);
		close(fd);
		return err;
	}
	return fd;
}

static int open_chr(const FileEntry *fe)
{
	const ChrEntry *c = fe->chr;
	int fd = open(c->path, (c->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	if (fd < 0) {
		int err = -errno;

		pr_perror("file %u: cannot open %s", fe->id, c->path);
		return err;
	}
	if (!fstat(fd, &st) && st.st_rdev != c->rdev)
		pr_warn("file %u: %s is device %#lx now, %#x at dump\n", fe->id, c->path,
			(unsigned long)st.st_rdev, c->rdev);
	if (c->has_pos && c->pos)
		lseek(fd, c->pos, SEEK_SET); /* /dev/zero and friends: no position to speak of */
	return fd;
}

static int fill_pipe(const FileEntry *fe, int wfd)
{
	const PipeEntry *p = fe->pipe;
	size_t done = 0;

	if (p->has_size && p->size > 65536 && fcntl(wfd, F_SETPIPE_SZ, p->size) < 0)
		pr_warn("pipe %" PRIu64 ": cannot grow to %u bytes: %s\n", p->pipe_id, p->size,
			strerror(errno));
	while (done < p->data.len) {
		ssize_t n = write(wfd, p->data.data + done, p->data.len - done);

		if (n <= 0) {
			pr_err("pipe %" PRIu64 ": cannot put back its %zu buffered bytes: %s\n",
			       p->pipe_id, p->data.len, n < 0 ? strerror(errno) : "short write");
			return n < 0 ? -errno : -EIO;
		}
		done += n;
	}
	return 0;
}

static bool is_write_end(const FileEntry *fe)
{
	return (fe->pipe->flags & O_ACCMODE) != O_RDONLY;
}

/* Creates the pipe of files[idx] and gives its ends to every file id of that pipe: the first id
 * of each end gets the end itself, later ones (the end reopened through /proc) a reopening. */
static int open_pipe(struct rst_tree *t, size_t idx)
{
	uint64_t pipe_id = t->files[idx]->pipe->pipe_id;
	bool have[2] = {false, false};
	int fds[2], ret = 0, end;
	size_t i;

	if (pipe2(fds, O_CLOEXEC)) {
		ret = -errno;
		pr_perror("pipe %" PRIu64 ": cannot create", pipe_id);
		return ret;
	}
	for (i = 0; i < t->nr_files && !ret; i++) {
		const FileEntry *o = t->files[i];

		if (o->type == FD_TYPE__FD_PIPE && o->pipe->pipe_id == pipe_id &&
		    o->pipe->data.len) {
			ret = fill_pipe(o, fds[1]);
			break;
		}
	}
	for (i = 0; i < t->nr_files && !ret; i++) {
		const FileEntry *o = t->files[i];
		int fd;

		if (o->type != FD_TYPE__FD_PIPE || o->pipe->pipe_id != pipe_id)
			continue;
		end = is_write_end(o);
		if (!have[end]) {
			fd = fds[end];
			have[end] = true;
		} else {
			char path[64];

			snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[end]);
			fd = open(path, (o->pipe->flags & O_ACCMODE) | O_CLOEXEC);
			if (fd < 0) {
				ret = -errno;
				pr_perror("pipe %" PRIu64 ": cannot reopen an end", pipe_id);
				break;
			}
		}
		if (o->pipe->flags & O_NONBLOCK)
			fcntl(fd, F_SETFL, O_NONBLOCK);
		t->file_fds[i] = fd;
	}
	for (end = 0; end < 2; end++)
		if (!have[end])
			close(fds[end]); /* nobody held that end */
	return ret;
}

/* A FIFO on the file system: a read-write opening first, so that opening either end never
 * blocks, and through which the buffered data goes back, once per FIFO. */
static int open_fifo(struct rst_tree *t, size_t idx)
{
	const FileEntry *fe = t->files[idx];
	const PipeEntry *p = fe->pipe;
	int tmp, fd, ret = 0;
	bool first = true;
	size_t i;

	if (!p->path) {
		pr_err("file %u: FIFO without a path\n", fe->id);
		return -EBADMSG;
	}
	tmp = open(p->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tmp < 0) {
		ret = -errno;
		pr_perror("file %u: cannot open FIFO %s", fe->id, p->path);
		return ret;
	}
	for (i = 0; i < t->nr_files; i++) {
		const FileEntry *o = t->files[i];

		if (i != idx && o->type == FD_TYPE__FD_FIFO && o->pipe->pipe_id == p->pipe_id &&
		    t->file_fds[i] >= 0)
			first = false;
	}
	for (i = 0; first && i < t->nr_files; i++) {
		const FileEntry *o = t->files[i];

		if (o->type == FD_TYPE__FD_FIFO && o->pipe->pipe_id == p->pipe_id &&
		    o->pipe->data.len) {
			ret = fill_pipe(o, tmp);
			break;
		}
	}
	if (ret) {
		close(tmp);
		return ret;
	}
	fd = open(p->path, (p->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_perror("file %u: cannot open FIFO %s", fe->id, p->path);
	} else if (!(p->flags & O_NONBLOCK)) {
		fcntl(fd, F_SETFL, p->flags & ~O_NONBLOCK & ~O_ACCMODE);
	}
	close(tmp);
	return fd < 0 ? ret : fd;
}

/* The restorer-side fd of files[idx], opened on first use. */
static int get_file(struct rst_tree *t, size_t idx)
{
	const FileEntry *fe = t->files[idx];
	int fd;

	if (t->file_fds[idx] >= 0)
		return t->file_fds[idx];
	switch (fe->type) {
	case FD_TYPE__FD_REG:
	case FD_TYPE__FD_DIR:
		fd = open_reg(fe);
		break;
	case FD_TYPE__FD_CHR:
	case FD_TYPE__FD_TTY:
		fd = open_chr(fe);
		break;
	case FD_TYPE__FD_PIPE:
		fd = open_pipe(t, idx);
		return fd < 0 ? fd : t->file_fds[idx];
	case FD_TYPE__FD_FIFO:
		fd = open_fifo(t, idx);
		break;
	case FD_TYPE__FD_MEMFD:
		fd = rst_open_memfd(t, fe);
		break;
	case FD_TYPE__FD_UNIXSK:
		fd = rst_open_unix_sk(t, idx);
		break;
	case FD_TYPE__FD_INETSK:
		fd = rst_open_inet_sk(t, idx);
		break;
	default:
		fd = rst_open_anon(t, fe);
	}
	if (fd >= 0) {
		int ret = rst_desc_locks(fe, fd);

		if (ret) {
			close(fd);
			return ret;
		}
		t->file_fds[idx] = fd;
	}
	return fd;
}

void rst_close_files(struct rst_tree *t)
{
	size_t i;

	for (i = 0; t->file_fds && i < t->nr_files; i++) {
		if (t->file_fds[i] >= 0)
			close(t->file_fds[i]);
		t->file_fds[i] = -1;
	}
}

static int send_fds(struct rst_tree *t, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(FDS_PER_MSG * sizeof(int))] = {};
	char byte = 0;
	struct iovec iov = {&byte, 1};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = cbuf,
	    .msg_controllen = CMSG_SPACE(n * sizeof(int)),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	if (sendmsg(t->sk, &mh, 0) != 1) {
		int err = -errno;

		pr_perror("cannot pass fds to the task");
		return err;
	}
	return 0;
}

/* Injected recvmsg of n fds; their numbers in the task go to got[]. */
static int recv_fds(struct rst_tree *t, struct rst_task *tk, int *got, int n)
{
	size_t clen = CMSG_SPACE(n * sizeof(int));
	struct rst_batch b;
	struct msghdr mh = {};
	struct iovec iov;
	struct cmsghdr *c;
	void *cbuf, *byte;
	unsigned long rcbuf, rbyte, rmh;
	int ret;

	ret = batch_init(&b, task_inj(tk));
	if (ret)
		return ret;
	rbyte = batch_out(&b, 1, &byte);
	rcbuf = batch_out(&b, clen, &cbuf);
	iov.iov_base = (void *)rbyte;
	iov.iov_len = 1;
	mh.msg_iov = (struct iovec *)batch_data(&b, &iov, sizeof(iov));
	mh.msg_iovlen = 1;
	mh.msg_control = (void *)rcbuf;
	mh.msg_controllen = clen;
	rmh = batch_data(&b, &mh, sizeof(mh));
	batch_add(&b, "recvmsg(fds)", __NR_recvmsg, t->task_sk, rmh, MSG_CMSG_CLOEXEC, 0, 0, 0);
	ret = batch_run(&b);
	if (ret)
		goto out;
	/* the kernel wrote the control header at rcbuf: decode our copy of it */
	c = cbuf;
	if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(n * sizeof(int))) {
		pr_err("%d: received %zu bytes of fds, expected %d fds\n", tk->pid,
		       (size_t)c->cmsg_len, n);
		ret = -EBADMSG;
		goto out;
	}
	memcpy(got, CMSG_DATA(c), n * sizeof(int));
out:
	batch_fini(&b);
	return ret;
}

/* cur[i] is where fd i of the task's list sits now; puts each at its number. */
static int place_fds(struct rst_tree *t, struct rst_task *tk, int *cur)
{
	int max = t->task_sk + 1, i, j, k, ret;
	int *holder;
	struct rst_batch b;

	for (i = 0; i < (int)tk->nr_fds; i++)
		if (cur[i] >= max)
			max = cur[i] + 1;
	holder = malloc(max * sizeof(int));
	if (!holder)
		return -ENOMEM;
	for (i = 0; i < max; i++)
		holder[i] = -1;
	for (i = 0; i < (int)tk->nr_fds; i++)
		holder[cur[i]] = i;
	holder[t->task_sk] = -2;
	ret = batch_init(&b, task_inj(tk));
	if (ret)
		goto out;
	for (i = 0; i < (int)tk->nr_fds; i++) {
		int target = tk->fds[i]->fd;
		int cloexec = (tk->fds[i]->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0;

		pr_debug("%d: fd %d arrived as %d\n", tk->pid, target, cur[i]);
		if (cur[i] == target) {
			batch_add(&b, "fcntl(F_SETFD)", __NR_fcntl, target, F_SETFD,
				  tk->fds[i]->fd_flags & FD_CLOEXEC, 0, 0, 0);
			continue;
		}
		j = target < max ? holder[target] : -1;
		if (j >= 0) {
			/* someone not placed yet sits there: move it to the lowest free number */
			for (k = 0; k < max && holder[k] != -1; k++)
				;
			if (k == max) {
				pr_err("%d: no free fd number to shuffle through\n", tk->pid);
				ret = -EMFILE;
				goto out_fini;
			}
			batch_add(&b, "dup3", __NR_dup3, cur[j], k, O_CLOEXEC, 0, 0, 0);
			holder[k] = j;
			holder[cur[j]] = -1;
			cur[j] = k;
		}
		batch_add(&b, "dup3", __NR_dup3, cur[i], target, cloexec, 0, 0, 0);
		batch_add(&b, "close", __NR_close, cur[i], 0, 0, 0, 0, 0);
		holder[cur[i]] = -1;
		if (target < max)
			holder[target] = i;
		cur[i] = target;
		if (b.n > RST_BATCH_MAX - 4) {
			ret = batch_run(&b);
			if (ret)
				goto out_fini;
		}
	}
	ret = batch_run(&b);
out_fini:
	batch_fini(&b);
out:
	free(holder);
	return ret;
}

static int restore_fs(struct rst_task *tk)
{
	FsEntry *fs = tk->fs;
	struct rst_batch b;
	int ret;

	if (!fs)
		return 0;
	ret = batch_init(&b, task_inj(tk));
	if (ret)
		return ret;
	if (fs->root && strcmp(fs->root, "/"))
		batch_add(&b, "chroot", __NR_chroot, batch_data(&b, fs->root, strlen(fs->root) + 1),
			  0, 0, 0, 0, 0);
	batch_add(&b, "chdir", __NR_chdir, batch_data(&b, fs->cwd, strlen(fs->cwd) + 1), 0, 0, 0, 0,
		  0);
	batch_add(&b, "umask", __NR_umask, fs->umask, 0, 0, 0, 0, 0);
	ret = batch_run(&b);
	if (ret)
		pr_err("%d: cannot restore cwd %s / root %s\n", tk->pid, fs->cwd, fs->root);
	batch_fini(&b);
	return ret;
}

int rst_restore_files(struct rst_tree *t, struct rst_task *tk)
{
	int *fds = NULL, *cur = NULL;
	size_t i, done;
	int ret;

	ret = restore_fs(tk);
	if (ret)
		return ret;
	if (!tk->nr_fds)
		goto close_sk;
	fds = malloc(tk->nr_fds * sizeof(int));
	cur = malloc(tk->nr_fds * sizeof(int));
	if (!fds || !cur) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < tk->nr_fds; i++) {
		size_t idx;

		rst_file_by_id(t, tk->fds[i]->id, &idx);
		ret = get_file(t, idx);
		if (ret < 0) {
			pr_err("%d: cannot restore fd %u\n", tk->pid, tk->fds[i]->fd);
			goto out;
		}
		fds[i] = ret;
	}
	for (done = 0; done < tk->nr_fds;) {
		int n = tk->nr_fds - done > FDS_PER_MSG ? FDS_PER_MSG : tk->nr_fds - done;

		ret = send_fds(t, fds + done, n);
		if (!ret)
			ret = recv_fds(t, tk, cur + done, n);
		if (ret)
			goto out;
		done += n;
	}
	ret = place_fds(t, tk, cur);
	if (!ret)
		ret = rst_task_fd_extras(t, tk);
	if (ret)
		goto out;
	pr_info("%d: %zu fds restored\n", tk->pid, tk->nr_fds);
close_sk : {
	long res;

	ret = rst_syscall(task_inj(tk), &res, __NR_close, t->task_sk, 0, 0, 0, 0, 0);
	if (!ret && res) {
		pr_err("%d: cannot close the fd-passing socket: %s\n", tk->pid, strerror(-res));
		ret = (int)res;
	}
}
out:
	free(fds);
	free(cur);
	return ret;
}
