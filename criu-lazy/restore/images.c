/* Reading and checking every image of the tree before anything is created: a bad image set must
 * fail with one line naming the file, and leave nothing behind. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "image.h"
#include "pagestore.h"
#include "restore.h"

#define TASK_SIZE_MAX (1UL << 47)

static int read_one(int dirfd, enum img_type type, const char *id, void **msg)
{
	struct img_file f = {};
	int ret;

	ret = open_image_read(&f, dirfd, type, id);
	if (ret)
		return ret;
	ret = pb_read_one(&f, msg);
	imgf_close(&f);
	return ret;
}

/* Reads every record of an image into a growing array. A missing file is -ENOENT, not logged
 * when quiet_enoent (the caller decides whether that is an error). */
static int read_all(int dirfd, enum img_type type, const char *id, void ***out, size_t *nr)
{
	struct img_file f = {};
	void **arr = NULL, *msg;
	size_t n = 0, cap = 0;
	int ret;

	ret = open_image_read(&f, dirfd, type, id);
	if (ret)
		return ret;
	while ((ret = pb_read_next(&f, &msg)) > 0) {
		if (n == cap) {
			void **na;

			cap = cap ? cap * 2 : 16;
			na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				protobuf_c_message_free_unpacked(msg, NULL);
				ret = -ENOMEM;
				break;
			}
			arr = na;
		}
		arr[n++] = msg;
	}
	imgf_close(&f);
	if (ret < 0) {
		while (n)
			protobuf_c_message_free_unpacked(arr[--n], NULL);
		free(arr);
		return ret;
	}
	*out = arr;
	*nr = n;
	return 0;
}

static int image_exists(int dirfd, enum img_type type, const char *id)
{
	char name[256];

	snprintf(name, sizeof(name), img_types[type].fmt, id ? id : "");
	return faccessat(dirfd, name, F_OK, 0) == 0;
}

static int check_inventory(const InventoryEntry *inv)
{
	if (inv->img_version != IMG_FORMAT_VERSION) {
		pr_err("inventory.img: image set version %u, this criu-lazy reads %u\n",
		       inv->img_version, IMG_FORMAT_VERSION);
		return -EPROTO;
	}
	if (inv->dump_uuid.len != PGS_UUID_LEN) {
		pr_err("inventory.img: dump uuid is %zu bytes, expected %d\n", inv->dump_uuid.len,
		       PGS_UUID_LEN);
		return -EBADMSG;
	}
	if (inv->has_page_size && inv->page_size != PGS_PAGE_SIZE) {
		pr_err("inventory.img: page size %u, this machine has %lu\n", inv->page_size,
		       PGS_PAGE_SIZE);
		return -EINVAL;
	}
	return 0;
}

static struct rst_task *find_task(struct rst_tree *t, pid_t pid, size_t upto)
{
	size_t i;

	for (i = 0; i < upto; i++)
		if (t->tasks[i].pid == pid)
			return &t->tasks[i];
	return NULL;
}

static int load_pstree(struct rst_tree *t)
{
	PstreeEntry **pes;
	size_t n, i, j;
	int ret;

	ret = read_all(t->dirfd, IMG_PSTREE, NULL, (void ***)&pes, &n);
	if (ret)
		return ret;
	if (!n) {
		pr_err("pstree.img: no processes\n");
		free(pes);
		return -EBADMSG;
	}
	t->tasks = calloc(n, sizeof(*t->tasks));
	if (!t->tasks) {
		for (i = 0; i < n; i++)
			protobuf_c_message_free_unpacked(&pes[i]->base, NULL);
		free(pes);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		t->tasks[i].pe = pes[i];
	t->nr_tasks = n;
	free(pes);

	for (i = 0; i < n; i++) {
		struct rst_task *tk = &t->tasks[i];
		PstreeEntry *pe = tk->pe;

		tk->pid = pe->pid;
		if (pe->pid < 2 || pe->pid > (1 << 22)) {
			pr_err("pstree.img: bad pid %u\n", pe->pid);
			return -EBADMSG;
		}
		if (find_task(t, pe->pid, i)) {
			pr_err("pstree.img: pid %u listed twice\n", pe->pid);
			return -EBADMSG;
		}
		if (i == 0) {
			if (pe->pid != t->inv->root_pid) {
				pr_err("pstree.img: root is %u, inventory says %u\n", pe->pid,
				       t->inv->root_pid);
				return -EBADMSG;
			}
		} else {
			tk->parent = find_task(t, pe->ppid, i);
			if (!tk->parent) {
				pr_err("pstree.img: parent %u of %u is not listed before it\n",
				       pe->ppid, pe->pid);
				return -EBADMSG;
			}
		}
		if (pe->n_threads && pe->threads[0] != pe->pid) {
			pr_err("pstree.img: %u: first thread is %u, not the leader\n", pe->pid,
			       pe->threads[0]);
			return -EBADMSG;
		}
		for (j = 1; j < pe->n_threads; j++) {
			if (pe->threads[j] < 2 || pe->threads[j] > (1 << 22)) {
				pr_err("pstree.img: %u: bad thread id %u\n", pe->pid,
				       pe->threads[j]);
				return -EBADMSG;
			}
		}
	}
	return 0;
}

static int check_vmas(const char *id, const MmEntry *mm)
{
	uint64_t prev_end = 0;
	size_t i;

	for (i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if (v->status & VMA_STATUS__VMA_AREA_VSYSCALL)
			continue;
		if (v->start >= v->end || (v->start | v->end) & (PGS_PAGE_SIZE - 1) ||
		    v->end > TASK_SIZE_MAX || v->start < prev_end) {
			pr_err("mm-%s.img: bad or overlapping mapping %#" PRIx64 "-%#" PRIx64 "\n",
			       id, v->start, v->end);
			return -EBADMSG;
		}
		if ((v->status & (VMA_STATUS__VMA_FILE_PRIVATE | VMA_STATUS__VMA_FILE_SHARED)) &&
		    !v->has_file_id) {
			pr_err("mm-%s.img: file mapping at %#" PRIx64 " names no file\n", id,
			       v->start);
			return -EBADMSG;
		}
		prev_end = v->end;
	}
	return 0;
}

static int load_core(struct rst_tree *t, struct rst_task *tk)
{
	PstreeEntry *pe = tk->pe;
	char id[16];
	size_t i;
	int ret;

	snprintf(id, sizeof(id), "%d", tk->pid);
	ret = read_one(t->dirfd, IMG_CORE, id, (void **)&tk->core);
	if (ret)
		return ret;
	if (!tk->core->tc) {
		pr_err("core-%s.img: no task state\n", id);
		return -EBADMSG;
	}
	tk->zombie = tk->core->tc->state == TASK_STATE__TASK_ZOMBIE;
	if (tk->zombie) {
		if (tk != t->tasks && tk->parent && tk->parent->zombie) {
			pr_err("core-%s.img: zombie under a zombie\n", id);
			return -EBADMSG;
		}
		if (tk == t->tasks) {
			pr_err("core-%s.img: the root of the tree is a zombie\n", id);
			return -EBADMSG;
		}
		tk->nr_threads = 1;
		tk->threads = calloc(1, sizeof(*tk->threads));
		if (!tk->threads)
			return -ENOMEM;
		tk->threads[0].tid = tk->pid;
		return 0;
	}
	if (!tk->core->n_threads) {
		pr_err("core-%s.img: no threads\n", id);
		return -EBADMSG;
	}
	if (pe->n_threads && pe->n_threads != tk->core->n_threads) {
		pr_err("core-%s.img: %zu threads, pstree.img says %zu\n", id, tk->core->n_threads,
		       pe->n_threads);
		return -EBADMSG;
	}
	tk->nr_threads = tk->core->n_threads;
	tk->threads = calloc(tk->nr_threads, sizeof(*tk->threads));
	if (!tk->threads)
		return -ENOMEM;
	for (i = 0; i < tk->nr_threads; i++) {
		ThreadCoreEntry *tc = tk->core->threads[i];

		if (!tc->regs) {
			pr_err("core-%s.img: thread %u has no registers\n", id, tc->tid);
			return -EBADMSG;
		}
		if ((i == 0 && tc->tid != (uint32_t)tk->pid) ||
		    (pe->n_threads && tc->tid != pe->threads[i])) {
			pr_err("core-%s.img: thread %zu is %u, pstree.img disagrees\n", id, i,
			       tc->tid);
			return -EBADMSG;
		}
		tk->threads[i].tid = tc->tid;
		tk->threads[i].tc = tc;
	}
	return 0;
}

static int load_task(struct rst_tree *t, struct rst_task *tk)
{
	char id[16];
	size_t i;
	int ret;

	ret = load_core(t, tk);
	if (ret || tk->zombie)
		return ret;
	snprintf(id, sizeof(id), "%d", tk->pid);
	ret = read_one(t->dirfd, IMG_MM, id, (void **)&tk->mm);
	if (ret)
		return ret;
	ret = check_vmas(id, tk->mm);
	if (ret)
		return ret;
	if (image_exists(t->dirfd, IMG_FS, id)) {
		ret = read_one(t->dirfd, IMG_FS, id, (void **)&tk->fs);
		if (ret)
			return ret;
	}
	if (image_exists(t->dirfd, IMG_FDINFO, id)) {
		ret = read_all(t->dirfd, IMG_FDINFO, id, (void ***)&tk->fds, &tk->nr_fds);
		if (ret)
			return ret;
	} else {
		pr_warn("fdinfo-%s.img: missing, the task gets no open files\n", id);
	}
	for (i = 0; i < tk->nr_fds; i++) {
		FdinfoEntry *fe = tk->fds[i];

		if (fe->fd > (1u << 20)) {
			pr_err("fdinfo-%s.img: fd %u is out of range\n", id, fe->fd);
			return -EBADMSG;
		}
		if ((int)fe->fd > t->max_fd)
			t->max_fd = fe->fd;
	}
	return 0;
}

FileEntry *rst_file_by_id(const struct rst_tree *t, uint32_t id, size_t *idx)
{
	size_t i;

	for (i = 0; i < t->nr_files; i++) {
		if (t->files[i]->id == id) {
			if (idx)
				*idx = i;
			return t->files[i];
		}
	}
	return NULL;
}

static int check_file_refs(struct rst_tree *t)
{
	struct rst_task *tk;
	size_t i;

	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		for (i = 0; i < tk->nr_fds; i++) {
			if (!rst_file_by_id(t, tk->fds[i]->id, NULL)) {
				pr_err("fdinfo-%d.img: fd %u names file %u, not in files.img\n",
				       tk->pid, tk->fds[i]->fd, tk->fds[i]->id);
				return -EBADMSG;
			}
		}
		for (i = 0; tk->mm && i < tk->mm->n_vmas; i++) {
			VmaEntry *v = tk->mm->vmas[i];
			FileEntry *fe;

			if (!v->has_file_id)
				continue;
			fe = rst_file_by_id(t, v->file_id, NULL);
			if (!fe || !fe->reg) {
				pr_err("mm-%d.img: mapping at %#" PRIx64
				       " names file %u, not a regular file in files.img\n",
				       tk->pid, v->start, v->file_id);
				return -EBADMSG;
			}
		}
		if (tk->mm && tk->mm->has_exe_file_id) {
			FileEntry *fe = rst_file_by_id(t, tk->mm->exe_file_id, NULL);

			if (!fe || !fe->reg) {
				pr_err("mm-%d.img: exe file %u is not in files.img\n", tk->pid,
				       tk->mm->exe_file_id);
				return -EBADMSG;
			}
		}
	}
	for (i = 0; i < t->nr_files; i++) {
		FileEntry *fe = t->files[i];
		bool ok;

		switch (fe->type) {
		case FD_TYPE__FD_REG:
		case FD_TYPE__FD_DIR:
			ok = fe->reg != NULL;
			break;
		case FD_TYPE__FD_PIPE:
		case FD_TYPE__FD_FIFO:
			ok = fe->pipe != NULL;
			break;
		case FD_TYPE__FD_CHR:
		case FD_TYPE__FD_TTY:
			ok = fe->chr != NULL;
			break;
		case FD_TYPE__FD_EVENTFD:
			ok = fe->efd != NULL;
			break;
		case FD_TYPE__FD_TIMERFD:
			ok = fe->tfd != NULL;
			break;
		case FD_TYPE__FD_SIGNALFD:
			ok = fe->sfd != NULL;
			break;
		case FD_TYPE__FD_EPOLL:
			ok = fe->epoll != NULL;
			break;
		case FD_TYPE__FD_UNIXSK:
		case FD_TYPE__FD_INETSK:
			ok = fe->sk != NULL;
			break;
		default:
			ok = true; /* files.c refuses the kinds it cannot rebuild */
		}
		if (!ok) {
			pr_err("files.img: file %u of type %d lacks its description\n", fe->id,
			       fe->type);
			return -EBADMSG;
		}
	}
	return 0;
}

int rst_load_images(struct rst_tree *t)
{
	size_t i;
	int ret;

	ret = read_one(t->dirfd, IMG_INVENTORY, NULL, (void **)&t->inv);
	if (ret)
		return ret;
	ret = check_inventory(t->inv);
	if (ret)
		return ret;
	if (t->inv->lazy_pages && !t->o->lazy_pages) {
		pr_err("inventory.img: memory of this dump is served by its source "
		       "(dump --lazy-pages): restore needs --lazy-pages\n");
		return -EINVAL;
	}
	ret = load_pstree(t);
	if (ret)
		return ret;
	t->max_fd = 2;
	for (i = 0; i < t->nr_tasks; i++) {
		ret = load_task(t, &t->tasks[i]);
		if (ret)
			return ret;
	}
	if (image_exists(t->dirfd, IMG_FILES, NULL)) {
		ret = read_all(t->dirfd, IMG_FILES, NULL, (void ***)&t->files, &t->nr_files);
		if (ret)
			return ret;
	}
	t->file_fds = malloc((t->nr_files + 1) * sizeof(int));
	t->file_done = calloc(t->nr_files + 1, sizeof(bool));
	if (!t->file_fds || !t->file_done)
		return -ENOMEM;
	for (i = 0; i < t->nr_files; i++)
		t->file_fds[i] = -1;
	return check_file_refs(t);
}

void rst_free_images(struct rst_tree *t)
{
	struct rst_task *tk;
	size_t i;

	if (t->tasks) {
		for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
			for (i = 0; i < tk->nr_fds; i++)
				protobuf_c_message_free_unpacked(&tk->fds[i]->base, NULL);
			free(tk->fds);
			if (tk->fs)
				protobuf_c_message_free_unpacked(&tk->fs->base, NULL);
			if (tk->mm)
				protobuf_c_message_free_unpacked(&tk->mm->base, NULL);
			if (tk->core)
				protobuf_c_message_free_unpacked(&tk->core->base, NULL);
			protobuf_c_message_free_unpacked(&tk->pe->base, NULL);
			free(tk->threads);
		}
		free(t->tasks);
	}
	for (i = 0; i < t->nr_files; i++)
		protobuf_c_message_free_unpacked(&t->files[i]->base, NULL);
	free(t->files);
	free(t->file_fds);
	free(t->file_done);
	if (t->inv)
		protobuf_c_message_free_unpacked(&t->inv->base, NULL);
}
