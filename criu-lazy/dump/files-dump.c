/* Open files: files.img (every open file description and every mapped file, once),
 * fdinfo-PID.img (which fd names which) and fs-PID.img (cwd, root, umask).
 * Two fds are one description when kcmp(KCMP_FILE) says so: they share flags and position. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "image.h"
#include "dump.h"

#include "files.pb-c.h"

#define UNLINKED_MAX (4u << 20) /* contents of an unlinked file kept in the image */
#define DELETED " (deleted)"

static bool strip_deleted(char *path)
{
	size_t l = strlen(path), dl = strlen(DELETED);

	if (l > dl && !strcmp(path + l - dl, DELETED)) {
		path[l - dl] = '\0';
		return true;
	}
	return false;
}

static struct dump_file *new_file(struct dump_ctx *d, int type)
{
	struct dump_file *f, *n;
	FileEntry *fe;

	if (d->nr_files == d->cap_files) {
		int cap = d->cap_files ? d->cap_files * 2 : 64;

		n = realloc(d->files, cap * sizeof(*n));
		if (!n)
			return NULL;
		d->files = n;
		d->cap_files = cap;
	}
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return NULL;
	file_entry__init(fe);
	f = &d->files[d->nr_files++];
	memset(f, 0, sizeof(*f));
	f->id = d->nr_files; /* ids start at 1 */
	f->type = type;
	f->fd = -1;
	f->entry = fe;
	fe->id = f->id;
	fe->type = type;
	return f;
}

static int read_small_file(const char *path, size_t size, ProtobufCBinaryData *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t done = 0;
	int ret = 0;

	if (fd < 0) {
		ret = -errno;
		pr_perror("cannot open %s", path);
		return ret;
	}
	out->data = malloc(size ? size : 1);
	if (!out->data) {
		close(fd);
		return -ENOMEM;
	}
	while (done < size) {
		ssize_t n = pread(fd, out->data + done, size - done, done);

		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		done += n;
	}
	out->len = done;
	close(fd);
	if (ret)
		pr_errno(ret, "cannot read %s", path);
	return ret;
}

/* A regular file or directory: path, flags, position; an unlinked file keeps its contents. */
static int fill_reg(FileEntry *fe, char *path, const char *open_path, const struct stat *st,
		    uint32_t flags, uint64_t pos, uint32_t mnt_id)
{
	RegFileEntry *r = calloc(1, sizeof(*r));
	bool deleted;

	if (!r)
		return -ENOMEM;
	reg_file_entry__init(r);
	fe->reg = r;
	deleted = strip_deleted(path) && st->st_nlink == 0;
	r->path = strdup(path);
	if (!r->path)
		return -ENOMEM;
	r->flags = flags;
	r->pos = pos;
	r->has_mode = r->has_size = r->has_dev = r->has_ino = true;
	r->mode = st->st_mode;
	r->size = st->st_size;
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	if (mnt_id) {
		r->has_mnt_id = true;
		r->mnt_id = mnt_id;
	}
	if (deleted && S_ISREG(st->st_mode)) {
		r->has_unlinked = true;
		r->unlinked = true;
		if ((uint64_t)st->st_size > UNLINKED_MAX) {
			pr_err("%s: unlinked file of %lld bytes: larger than %u, not supported\n",
			       path, (long long)st->st_size, UNLINKED_MAX);
			return -EOPNOTSUPP;
		}
		r->has_data = true;
		return read_small_file(open_path, st->st_size, &r->data);
	}
	return 0;
}

int dump_mapped_file(struct dump_ctx *d, struct dump_task *t, const char *name,
		     const char *open_path, bool writable, uint32_t *id)
{
	uint32_t flags = writable ? O_RDWR : O_RDONLY;
	struct dump_file *f;
	struct stat st;
	char *path;
	int i, ret;

	if (stat(open_path, &st)) {
		ret = -errno;
		pr_perror("process %d: cannot stat %s (%s)", t->pid, open_path, name);
		return ret;
	}
	for (i = 0; i < d->nr_files; i++) {
		f = &d->files[i];
		if (f->fd < 0 && f->dev == st.st_dev && f->ino == st.st_ino && f->flags == flags) {
			*id = f->id;
			return 0;
		}
	}
	f = new_file(d, FD_TYPE__FD_REG);
	if (!f)
		return -ENOMEM;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->flags = flags;
	f->pid = t->pid;
	*id = f->id;
	path = strdup(name);
	if (!path)
		return -ENOMEM;
	ret = fill_reg(f->entry, path, open_path, &st, flags, 0, 0);
	free(path);
	return ret;
}

/* Buffered bytes of a pipe or FIFO, copied with tee() so they stay where they are. */
static int pipe_data(const char *open_path, PipeEntry *p, const char *what)
{
	int fd, tmp[2], ret = 0, avail = 0, size;
	ssize_t n;

	fd = open(open_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_perror("%s: cannot open %s", what, open_path);
		return ret;
	}
	size = fcntl(fd, F_GETPIPE_SZ);
	if (size > 0) {
		p->has_size = true;
		p->size = size;
	}
	if (ioctl(fd, FIONREAD, &avail) || avail <= 0)
		goto out;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK)) {
		ret = -errno;
		goto out;
	}
	if (avail > 65536)
		fcntl(tmp[1], F_SETPIPE_SZ, avail);
	p->data.data = malloc(avail);
	if (!p->data.data) {
		ret = -ENOMEM;
		goto out_tmp;
	}
	n = tee(fd, tmp[1], avail, SPLICE_F_NONBLOCK);
	if (n != avail) {
		pr_err("%s: %d bytes buffered, only %zd can be saved (pipe-max-size)\n", what,
		       avail, n);
		ret = -EOPNOTSUPP;
		goto out_tmp;
	}
	n = read(tmp[0], p->data.data, avail);
	if (n != avail) {
		ret = n < 0 ? -errno : -EIO;
		goto out_tmp;
	}
	p->has_data = true;
	p->data.len = avail;
out_tmp:
	close(tmp[0]);
	close(tmp[1]);
out:
	close(fd);
	return ret;
}

static bool pipe_seen(struct dump_ctx *d, unsigned long ino)
{
	int i;

	for (i = 0; i < d->nr_files - 1; i++)
		if ((d->files[i].type == FD_TYPE__FD_PIPE ||
		     d->files[i].type == FD_TYPE__FD_FIFO) &&
		    d->files[i].ino == ino)
			return true;
	return false;
}

static bool is_tty(const struct stat *st)
{
	unsigned int maj = major(st->st_rdev);

	/* 136-143: pts, 4: tty/ttyS, 5: /dev/tty, console, ptmx */
	return (maj >= 136 && maj <= 143) || maj == 4 || (maj == 5 && minor(st->st_rdev) <= 2);
}

static int fill_fd(struct dump_ctx *d, struct dump_task *t, int fd, struct dump_file *f, char *link,
		   const char *open_path, const struct stat *st, const struct proc_fdinfo *fi,
		   const char *info)
{
	FileEntry *fe = f->entry;
	uint32_t flags = fi->flags & ~O_CLOEXEC;
	char what[64];

	snprintf(what, sizeof(what), "process %d fd %d", t->pid, fd);
	if (!strncmp(link, "pipe:[", 6) || S_ISFIFO(st->st_mode)) {
		PipeEntry *p = calloc(1, sizeof(*p));

		if (!p)
			return -ENOMEM;
		pipe_entry__init(p);
		fe->pipe = p;
		fe->type = f->type = FD_TYPE__FD_PIPE;
		p->pipe_id = st->st_ino;
		p->flags = flags;
		if (strncmp(link, "pipe:[", 6)) {
			fe->type = f->type = FD_TYPE__FD_FIFO;
			strip_deleted(link);
			p->path = strdup(link);
			if (!p->path)
				return -ENOMEM;
		}
		/* the data goes with the first end we meet: restore writes it once */
		if (pipe_seen(d, st->st_ino))
			return 0;
		return pipe_data(open_path, p, what);
	}
	if (S_ISCHR(st->st_mode)) {
		ChrEntry *c = calloc(1, sizeof(*c));

		if (!c)
			return -ENOMEM;
		chr_entry__init(c);
		fe->chr = c;
		fe->type = f->type = FD_TYPE__FD_CHR;
		c->path = strdup(link);
		c->flags = flags;
		c->rdev = st->st_rdev;
		c->has_pos = true;
		c->pos = fi->pos;
		if (!c->path)
			return -ENOMEM;
		if (is_tty(st)) {
			if (!d->o->shell_job) {
				pr_err("%s is a terminal (%s): use --shell-job\n", what, link);
				return -EOPNOTSUPP;
			}
			fe->type = f->type = FD_TYPE__FD_TTY;
		}
		return 0;
	}
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		int ret;

		if (S_ISDIR(st->st_mode))
			fe->type = f->type = FD_TYPE__FD_DIR;
		if (!strncmp(link, "/memfd:", 7)) {
			int mfd;

			fe->type = f->type = FD_TYPE__FD_MEMFD;
			ret = fill_reg(fe, link, open_path, st, flags, fi->pos, fi->mnt_id);
			if (ret)
				return ret;
			fe->reg->has_unlinked = fe->reg->has_data = false;
			fe->reg->has_shmid = true;
			fe->reg->shmid = st->st_ino;
			mfd = open(open_path, O_RDONLY | O_CLOEXEC);
			if (mfd >= 0) {
				int seals = fcntl(mfd, F_GET_SEALS);

				if (seals >= 0) {
					fe->reg->has_seals = true;
					fe->reg->seals = seals;
				}
				close(mfd);
			}
			return dump_shmem(d, open_path, st->st_ino);
		}
		return fill_reg(fe, link, open_path, st, flags, fi->pos, fi->mnt_id);
	}
	if (S_ISSOCK(st->st_mode))
		return dump_socket(fe, t->pid, fd, st->st_ino, flags, d->o->tcp_established, what);
	return dump_anon_file(fe, t->pid, fd, link, info, flags, what);
}

/* The id of the description fd names: an earlier one if kcmp says they are the same. */
static int fd_file(struct dump_ctx *d, struct dump_task *t, int fd, uint32_t *id)
{
	char open_path[64], info_path[64], what[64], link[PATH_MAX + 1], *info = NULL;
	struct proc_fdinfo fi;
	struct dump_file *f;
	struct stat st;
	ssize_t n;
	int i, ret;

	snprintf(open_path, sizeof(open_path), "/proc/%d/fd/%d", t->pid, fd);
	n = readlink(open_path, link, sizeof(link) - 1);
	if (n < 0 || stat(open_path, &st)) {
		ret = -errno;
		pr_perror("cannot read %s", open_path);
		return ret;
	}
	link[n] = '\0';
	ret = proc_parse_fdinfo(t->pid, fd, &fi);
	if (ret)
		return ret;
	snprintf(info_path, sizeof(info_path), "/proc/%d/fdinfo/%d", t->pid, fd);
	ret = proc_read_file(info_path, &info, NULL);
	if (ret)
		return ret;
	for (i = 0; i < d->nr_files; i++) {
		f = &d->files[i];
		if (f->fd >= 0 && f->dev == st.st_dev && f->ino == st.st_ino &&
		    syscall(SYS_kcmp, t->pid, f->pid, KCMP_FILE, fd, f->fd) == 0) {
			*id = f->id;
			goto out;
		}
	}
	ret = -ENOMEM;
	f = new_file(d, FD_TYPE__FD_REG);
	if (!f)
		goto out;
	f->pid = t->pid;
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->flags = fi.flags;
	*id = f->id;
	snprintf(what, sizeof(what), "process %d fd %d", t->pid, fd);
	ret = fill_fd(d, t, fd, f, link, open_path, &st, &fi, info);
	if (!ret)
		ret = dump_file_locks(f->entry, info, what);
out:
	free(info);
	return ret;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int list_fds(pid_t pid, int **pfds, int *pnr)
{
	int *fds = NULL, *n, nr = 0, cap = 0;
	char path[64];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir) {
		int err = -errno;

		pr_perror("cannot open %s", path);
		return err;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (nr == cap) {
			cap = cap ? cap * 2 : 64;
			n = realloc(fds, cap * sizeof(int));
			if (!n) {
				free(fds);
				closedir(dir);
				return -ENOMEM;
			}
			fds = n;
		}
		fds[nr++] = atoi(de->d_name);
	}
	closedir(dir);
	if (nr)
		qsort(fds, nr, sizeof(int), cmp_int);
	*pfds = fds;
	*pnr = nr;
	return 0;
}

static int dump_fs(struct dump_ctx *d, struct dump_task *t, char *id)
{
	FsEntry fs = FS_ENTRY__INIT;
	char path[64], cwd[PATH_MAX + 1], root[PATH_MAX + 1];
	struct img_file f = {};
	struct proc_status ps;
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/cwd", t->pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n < 0)
		goto err;
	cwd[n] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/root", t->pid);
	n = readlink(path, root, sizeof(root) - 1);
	if (n < 0)
		goto err;
	root[n] = '\0';
	if (strip_deleted(cwd))
		pr_warn("process %d: its cwd %s was removed\n", t->pid, cwd);
	ret = proc_parse_status(t->pid, 0, &ps);
	if (ret)
		return ret;
	fs.cwd = cwd;
	fs.root = root;
	fs.umask = ps.umask;
	proc_status_fini(&ps);
	ret = open_image_write(&f, d->dirfd, IMG_FS, id);
	if (!ret)
		ret = pb_write_one(&f, &fs);
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	return ret ? ret : dump_note_written(d, "fs-%s.img", id);
err:
	ret = -errno;
	pr_perror("cannot read %s", path);
	return ret;
}

int dump_task_files(struct dump_ctx *d, struct dump_task *t)
{
	struct img_file f = {};
	int *fds = NULL, nr = 0, i, first_new, ret;
	uint32_t *ids;
	char id[16];

	if (t->state == 'Z')
		return 0;
	snprintf(id, sizeof(id), "%d", t->pid);
	ret = list_fds(t->pid, &fds, &nr);
	if (ret)
		return ret;
	ids = calloc(nr ? nr : 1, sizeof(*ids));
	first_new = d->nr_files;
	ret = ids ? open_image_write(&f, d->dirfd, IMG_FDINFO, id) : -ENOMEM;
	for (i = 0; i < nr && !ret; i++) {
		FdinfoEntry fe = FDINFO_ENTRY__INIT;
		struct proc_fdinfo fi;

		if (fds[i] == t->track.task_fd)
			continue; /* our dirty tracking, not a file of the program */
		fe.fd = fds[i];
		ret = fd_file(d, t, fds[i], &fe.id);
		ids[i] = fe.id;
		if (!ret)
			ret = proc_parse_fdinfo(t->pid, fds[i], &fi);
		if (ret)
			break;
		fe.fd_flags = (fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0;
		ret = pb_write_one(&f, &fe);
	}
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	for (i = first_new; !ret && i < d->nr_files; i++)
		dump_epoll_resolve(d->files[i].entry, fds, ids, nr);
	free(fds);
	free(ids);
	if (!ret)
		ret = dump_note_written(d, "fdinfo-%s.img", id);
	if (!ret)
		ret = dump_fs(d, t, id);
	return ret;
}

int dump_write_files(struct dump_ctx *d)
{
	struct img_file f = {};
	int i, ret;

	ret = open_image_write(&f, d->dirfd, IMG_FILES, NULL);
	for (i = 0; i < d->nr_files && !ret; i++)
		ret = pb_write_one(&f, d->files[i].entry);
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	return ret ? ret : dump_note_written(d, "files.img", NULL);
}

void dump_files_free(struct dump_ctx *d)
{
	int i;

	for (i = 0; i < d->nr_files; i++) {
		FileEntry *fe = d->files[i].entry;

		if (fe->reg) {
			free(fe->reg->path);
			free(fe->reg->data.data);
			free(fe->reg);
		}
		if (fe->pipe) {
			free(fe->pipe->path);
			free(fe->pipe->data.data);
			free(fe->pipe);
		}
		if (fe->chr) {
			free(fe->chr->path);
			free(fe->chr);
		}
		dump_anon_free(fe);
		dump_socket_free(fe);
		free(fe);
	}
	free(d->files);
	d->files = NULL;
	d->nr_files = 0;
}
