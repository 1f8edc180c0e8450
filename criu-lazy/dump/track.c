/* Memory tracking between the rounds of a pre-dump chain (soft-dirty is absent here): a
 * userfaultfd created inside the task, in WP_ASYNC mode, write-protects its private anonymous
 * memory; PAGEMAP_SCAN then says which pages were written since, and write-protects them again.
 * The uffd stays open in the task between rounds (its fd is in mm-PID.img); we use it through
 * pidfd_getfd. A page is reused from the parent image set only if it was not written, the parent
 * stored it, and its VMA is the one the parent saw (same start or same end). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "track: "
#include "log.h"
#include "compat.h"
#include "image.h"
#include "inject.h"
#include "uffd.h"
#include "dump.h"

#include "inventory.pb-c.h"
#include "mm.pb-c.h"

#define SCAN_VEC 512

static bool vma_trackable(const struct proc_vma *v)
{
	/* private anonymous memory, heap and stacks included; not the vDSO group */
	return !v->shared && !v->ino &&
	       (!v->name[0] || !strcmp(v->name, "[heap]") || !strcmp(v->name, "[stack]") ||
		!strncmp(v->name, "[anon:", 6));
}

static int push_region(struct dump_track *tr, uint64_t start, uint64_t end)
{
	struct track_region *n;

	if (tr->nr && tr->regions[tr->nr - 1].end == start) {
		tr->regions[tr->nr - 1].end = end;
		return 0;
	}
	if (tr->nr == tr->cap) {
		int cap = tr->cap ? tr->cap * 2 : 64;

		n = realloc(tr->regions, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		tr->regions = n;
		tr->cap = cap;
	}
	tr->regions[tr->nr].start = start;
	tr->regions[tr->nr].end = end;
	tr->nr++;
	return 0;
}

/* Written pages of [start, end); with protect, write-protects them again for the next round. */
static int scan_range(int pm_fd, struct dump_track *tr, uint64_t start, uint64_t end, bool protect)
{
	struct page_region vec[SCAN_VEC];
	struct pm_scan_arg a = {
	    .size = sizeof(a),
	    .flags = protect ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
	    .start = start,
	    .end = end,
	    .vec = (uintptr_t)vec,
	    .vec_len = SCAN_VEC,
	    .category_mask = PAGE_IS_WRITTEN,
	    .return_mask = PAGE_IS_WRITTEN,
	};
	long n, i;
	int ret;

	while (a.start < end) {
		n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			ret = -errno;
			pr_perror("PAGEMAP_SCAN %#llx-%#llx", (unsigned long long)a.start,
				  (unsigned long long)end);
			return ret;
		}
		for (i = 0; tr && i < n; i++) {
			ret = push_region(tr, vec[i].start, vec[i].end);
			if (ret)
				return ret;
		}
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

static int open_pagemap(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		pr_perror("cannot open %s", path);
	}
	return fd;
}

/* Our copy of fd number tfd of the task, when it is still its tracking userfaultfd. */
static int grab_uffd(pid_t pid, int tfd)
{
	char path[64], link[64];
	ssize_t n;
	int pidfd, fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, tfd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -ENOENT;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]"))
		return -ENOENT; /* the program closed it and reused the number */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	fd = syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	if (fd < 0)
		fd = -errno;
	close(pidfd);
	return fd;
}

static int read_parent_mm(struct dump_ctx *d, pid_t pid, MmEntry **mm)
{
	struct img_file f = {};
	char id[16], name[64];
	int ret;

	snprintf(id, sizeof(id), "%d", pid);
	/* a process born since the previous images is normal, not an error to log */
	snprintf(name, sizeof(name), img_types[IMG_MM].fmt, id);
	if (faccessat(d->parent_dirfd, name, F_OK, 0))
		return -ENOENT;
	ret = open_image_read(&f, d->parent_dirfd, IMG_MM, id);
	if (!ret)
		ret = pb_read_one(&f, (void **)mm);
	imgf_close(&f);
	return ret;
}

int dump_track_open_parent(struct dump_ctx *d)
{
	InventoryEntry *inv = NULL;
	struct img_file f = {};
	int ret;

	if (!d->o->prev_images_dir)
		return 0;
	d->parent_dirfd =
	    openat(d->dirfd, d->o->prev_images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->parent_dirfd < 0) {
		ret = -errno;
		pr_perror("cannot open the previous images %s (relative to %s)",
			  d->o->prev_images_dir, d->o->images_dir);
		return ret;
	}
	ret = open_image_read(&f, d->parent_dirfd, IMG_INVENTORY, NULL);
	if (!ret)
		ret = pb_read_one(&f, (void **)&inv);
	imgf_close(&f);
	if (ret)
		return ret;
	if (inv->dump_uuid.len != PGS_UUID_LEN) {
		pr_err("%s/inventory.img: bad dump uuid\n", d->o->prev_images_dir);
		ret = -EBADMSG;
	} else {
		memcpy(d->parent_uuid, inv->dump_uuid.data, PGS_UUID_LEN);
	}
	inventory_entry__free_unpacked(inv, NULL);
	return ret;
}

int dump_track_prepare(struct dump_ctx *d, struct dump_task *t)
{
	struct dump_track *tr = &t->track;
	MmEntry *mm = NULL;
	char id[16];
	int i, pm_fd, ret = 0;

	tr->uffd = -1;
	tr->task_fd = -1;
	if (d->parent_dirfd < 0)
		return 0;
	if (read_parent_mm(d, t->pid, &mm))
		return 0; /* a process the parent set does not have: nothing to reuse */
	tr->parent_vmas = calloc(mm->n_vmas ? mm->n_vmas : 1, sizeof(*tr->parent_vmas));
	if (!tr->parent_vmas) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < (int)mm->n_vmas; i++) {
		tr->parent_vmas[i].start = mm->vmas[i]->start;
		tr->parent_vmas[i].end = mm->vmas[i]->end;
	}
	tr->nr_parent_vmas = mm->n_vmas;
	snprintf(id, sizeof(id), "%d", t->pid);
	if (pgs_open_local(&tr->parent, d->parent_dirfd, id, d->parent_uuid)) {
		tr->parent = NULL;
		goto out;
	}
	if (mm->has_track_uffd_fd)
		tr->uffd = grab_uffd(t->pid, mm->track_uffd_fd);
	if (tr->uffd < 0) {
		pr_info("process %d: no tracking since the previous images: every page is read\n",
			t->pid);
		tr->uffd = -1;
		goto out;
	}
	tr->task_fd = mm->track_uffd_fd;
	tr->tracked = true;
	pm_fd = open_pagemap(t->pid);
	if (pm_fd < 0) {
		ret = pm_fd;
		goto out;
	}
	/* only the VMAs registered then ("uw") say which of their pages were written */
	for (i = 0; i < t->nr_vmas && !ret; i++)
		if (t->vmas[i].vmflags & PVF_UFFD_WP)
			ret = scan_range(pm_fd, tr, t->vmas[i].start, t->vmas[i].end,
					 d->o->track_mem);
	close(pm_fd);
out:
	mm_entry__free_unpacked(mm, NULL);
	return ret;
}

static bool in_written(const struct dump_track *tr, uint64_t addr)
{
	int lo = 0, hi = tr->nr - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (addr < tr->regions[mid].start)
			hi = mid - 1;
		else if (addr >= tr->regions[mid].end)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool dump_track_clean(const struct dump_track *tr, const struct proc_vma *v, uint64_t addr)
{
	long e;
	int i;

	if (!tr->tracked || !tr->parent || !(v->vmflags & PVF_UFFD_WP) || in_written(tr, addr))
		return false;
	for (i = 0; i < tr->nr_parent_vmas; i++)
		if (tr->parent_vmas[i].start <= addr && addr < tr->parent_vmas[i].end)
			break;
	if (i == tr->nr_parent_vmas ||
	    (tr->parent_vmas[i].start != v->start && tr->parent_vmas[i].end != v->end))
		return false;
	e = pgs_find(tr->parent, addr);
	return e >= 0 && (pgs_entry(tr->parent, e)->flags & (PGS_PE_PRESENT | PGS_PE_PARENT));
}

/* A new tracking uffd, made by the task itself (a uffd acts on its creator's mm). */
static int create_uffd(struct dump_task *t)
{
	struct dump_thread *th = &t->threads[0];
	struct inj_ctx *inj;
	long res;
	int ret;

	ret = inj_open(&inj, th->tid);
	if (ret)
		return ret;
	th->injected = true;
	ret = inj_syscall(inj, &res, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	/* a task without privilege may only have one that ignores kernel faults: WP_ASYNC never
	 * reports faults anyway */
	if (!ret && res == -EPERM)
		ret = inj_syscall(inj, &res, __NR_userfaultfd,
				  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0, 0, 0, 0);
	inj_close(inj);
	if (ret)
		return ret;
	if (res < 0) {
		pr_warn("process %d: userfaultfd() in the task failed (%s): its memory is not "
			"tracked, the next round reads all of it\n",
			t->pid, strerror(-res));
		return 1;
	}
	t->track.task_fd = res;
	t->track.created = true;
	ret = grab_uffd(t->pid, res);
	if (ret < 0) {
		pr_errno(ret, "process %d: cannot take its userfaultfd %ld", t->pid, res);
		return ret;
	}
	t->track.uffd = ret;
	/* not WP_UNPOPULATED: its pte markers read as swapped pages in the pagemap, and a page
	 * that was never there and is written later is new, hence written, anyway */
	ret = uffd_api(t->track.uffd, UFFD_FEATURE_WP_ASYNC, NULL);
	if (ret)
		pr_errno(ret, "process %d: UFFDIO_API with WP_ASYNC", t->pid);
	return ret;
}

int dump_track_arm(struct dump_ctx *d, struct dump_task *t)
{
	struct dump_track *tr = &t->track;
	int i, pm_fd, ret;

	(void)d;
	if (tr->uffd < 0) {
		ret = create_uffd(t);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	pm_fd = open_pagemap(t->pid);
	if (pm_fd < 0)
		return pm_fd;
	for (i = 0; i < t->nr_vmas; i++) {
		struct proc_vma *v = &t->vmas[i];

		if (!vma_trackable(v))
			continue;
		if (!(v->vmflags & PVF_UFFD_WP)) {
			ret = uffd_register(tr->uffd, v->start, v->end - v->start,
					    UFFDIO_REGISTER_MODE_WP, NULL);
			if (ret) {
				pr_debug("process %d: %lx-%lx not tracked: %s\n", t->pid, v->start,
					 v->end, strerror(-ret));
				continue;
			}
		} else if (tr->tracked) {
			continue; /* re-protected by the scan of dump_track_prepare */
		}
		ret = scan_range(pm_fd, NULL, v->start, v->end, true);
		if (ret)
			break;
	}
	close(pm_fd);
	return ret;
}

/* The final dump of a chain: the task's uffd goes (it is not a file of the program). */
int dump_track_disarm(struct dump_task *t)
{
	struct dump_thread *th = &t->threads[0];
	struct inj_ctx *inj;
	long res;
	int ret;

	if (t->track.task_fd < 0)
		return 0;
	ret = inj_open(&inj, th->tid);
	if (ret)
		return ret;
	th->injected = true;
	ret = inj_syscall(inj, &res, __NR_close, t->track.task_fd, 0, 0, 0, 0, 0);
	inj_close(inj);
	t->track.task_fd = -1;
	return ret;
}

void dump_track_free(struct dump_track *tr)
{
	if (tr->uffd >= 0)
		close(tr->uffd);
	tr->uffd = -1;
	pgs_close(tr->parent);
	tr->parent = NULL;
	free(tr->regions);
	free(tr->parent_vmas);
	tr->regions = NULL;
	tr->parent_vmas = NULL;
}
