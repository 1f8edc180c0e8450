/* Building a task's address space from outside: everything of the helper goes except the gadget
 * and the vDSO group, the vDSO group moves where the task had it, every VMA is mapped at its
 * place, the pages are written (pages.c), then protections and the mm fields are set. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "pagestore.h"
#include "restore.h"

#define TASK_TOP 0x7ffffffff000UL
#define GADGET_LOW 0x10000000UL

#define VMA_SPECIAL                                                                                \
	(VMA_STATUS__VMA_AREA_VDSO | VMA_STATUS__VMA_AREA_VVAR | VMA_STATUS__VMA_AREA_VVAR_VCLOCK)

struct range {
	unsigned long start, end;
	int kind; /* 0, or the VMA_AREA_* bit of a vDSO group member */
};

struct ranges {
	struct range *r;
	size_t n, cap;
};

static int ranges_add(struct ranges *rs, unsigned long s, unsigned long e, int kind)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct range *nr = realloc(rs->r, cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		rs->r = nr;
		rs->cap = cap;
	}
	rs->r[rs->n++] = (struct range){s, e, kind};
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int special_kind(const char *name)
{
	if (strstr(name, "[vdso]"))
		return VMA_STATUS__VMA_AREA_VDSO;
	if (strstr(name, "[vvar]"))
		return VMA_STATUS__VMA_AREA_VVAR;
	if (strstr(name, "[vvar_vclock]"))
		return VMA_STATUS__VMA_AREA_VVAR_VCLOCK;
	if (strstr(name, "[vsyscall]"))
		return VMA_STATUS__VMA_AREA_VSYSCALL;
	return 0;
}

static int read_maps(pid_t pid, struct ranges *rs)
{
	char path[64], line[4096];
	unsigned long s, e;
	FILE *f;
	int ret = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		pr_perror("cannot open %s", path);
		return ret;
	}
	while (!ret && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2)
			ret = ranges_add(rs, s, e, special_kind(line));
	fclose(f);
	return ret;
}

/* The lowest hole of size len (with a free page on each side) above low in the sorted ranges. */
static unsigned long find_hole(struct ranges *rs, unsigned long low, unsigned long len)
{
	unsigned long cand = low;
	size_t i;

	qsort(rs->r, rs->n, sizeof(*rs->r), range_cmp);
	for (i = 0; i < rs->n; i++) {
		if (rs->r[i].end + PGS_PAGE_SIZE <= cand)
			continue;
		if (rs->r[i].start >= cand + len + PGS_PAGE_SIZE)
			break;
		cand = rs->r[i].end + PGS_PAGE_SIZE;
	}
	return cand + len + PGS_PAGE_SIZE <= TASK_TOP ? cand : 0;
}

int rst_pick_gadget(struct rst_tree *t)
{
	struct ranges rs = {};
	struct rst_task *tk;
	size_t i;
	int ret;

	ret = read_maps(0, &rs);
	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++)
		for (i = 0; !ret && tk->mm && i < tk->mm->n_vmas; i++)
			ret = ranges_add(&rs, tk->mm->vmas[i]->start, tk->mm->vmas[i]->end, 0);
	if (!ret) {
		t->gadget = find_hole(&rs, GADGET_LOW, INJ_GADGET_SIZE);
		if (!t->gadget) {
			pr_err("no hole for the syscall gadget in the tree's address spaces\n");
			ret = -ENOMEM;
		}
	}
	free(rs.r);
	pr_debug("gadget at %#lx\n", t->gadget);
	return ret;
}

/* Moves the helper's vDSO group to where the task had it, keeping its layout. */
static int move_vdso(struct rst_task *tk, struct ranges *cur, unsigned long gadget,
		     struct rst_batch *b)
{
	unsigned long omin = ~0UL, omax = 0, tmin = ~0UL, tmax = 0, tmp = 0;
	MmEntry *mm = tk->mm;
	size_t i, j, nt = 0, no = 0;

	for (i = 0; i < cur->n; i++) {
		int k = cur->r[i].kind;

		if (!k || k == VMA_STATUS__VMA_AREA_VSYSCALL)
			continue;
		no++;
		if (cur->r[i].start < omin)
			omin = cur->r[i].start;
		if (cur->r[i].end > omax)
			omax = cur->r[i].end;
	}
	for (i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];

		if (!(v->status & VMA_SPECIAL))
			continue;
		nt++;
		for (j = 0; j < cur->n; j++)
			if (cur->r[j].kind & v->status)
				break;
		if (j == cur->n || cur->r[j].end - cur->r[j].start != v->end - v->start) {
			pr_err("%d: its %s (%#" PRIx64
			       " bytes) does not match this kernel's vDSO\n",
			       tk->pid, v->name ? v->name : "vDSO area", v->end - v->start);
			return -EINVAL;
		}
		if (v->start < tmin)
			tmin = v->start;
		if (v->end > tmax)
			tmax = v->end;
	}
	if (!nt) {
		for (i = 0; i < cur->n; i++)
			if (cur->r[i].kind && cur->r[i].kind != VMA_STATUS__VMA_AREA_VSYSCALL)
				batch_add(b, "munmap(vdso)", __NR_munmap, cur->r[i].start,
					  cur->r[i].end - cur->r[i].start, 0, 0, 0, 0);
		return 0;
	}
	if (nt != no || tmax - tmin != omax - omin) {
		pr_err("%d: its vDSO layout does not match this kernel's\n", tk->pid);
		return -EINVAL;
	}
	/* the vDSO finds its data pages at fixed offsets from its code: the layout must be ours */
	for (i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];

		if (!(v->status & VMA_SPECIAL))
			continue;
		for (j = 0; j < cur->n; j++)
			if (cur->r[j].kind & v->status)
				break;
		if (v->start - tmin != cur->r[j].start - omin) {
			pr_err("%d: its vDSO areas are laid out unlike this kernel's\n", tk->pid);
			return -EINVAL;
		}
	}
	if (tmin == omin)
		return 0;
	if (tmin < omax && omin < tmax) {
		/* overlapping moves are refused by mremap: go through a free place first */
		struct ranges busy = {};
		int ret = ranges_add(&busy, omin, omax, 0);

		if (!ret)
			ret = ranges_add(&busy, tmin, tmax, 0);
		if (!ret)
			ret = ranges_add(&busy, gadget, gadget + INJ_GADGET_SIZE, 0);
		if (!ret)
			tmp = find_hole(&busy, GADGET_LOW, omax - omin);
		free(busy.r);
		if (ret || !tmp)
			return ret ? ret : -ENOMEM;
	}
	for (i = 0; i < cur->n; i++) {
		struct range *r = &cur->r[i];
		unsigned long len = r->end - r->start, from = r->start;

		if (!r->kind || r->kind == VMA_STATUS__VMA_AREA_VSYSCALL)
			continue;
		if (tmp) {
			batch_add(b, "mremap(vdso)", __NR_mremap, from, len, len,
				  MREMAP_MAYMOVE | MREMAP_FIXED, tmp + (from - omin), 0);
			from = tmp + (from - omin);
		}
		batch_add(b, "mremap(vdso)", __NR_mremap, from, len, len,
			  MREMAP_MAYMOVE | MREMAP_FIXED, tmin + (r->start - omin), 0);
	}
	return 0;
}

/* Unmaps everything of the helper but the gadget and the vDSO group, and moves the group. */
static int clear_helper(struct rst_tree *t, struct rst_task *tk, struct rst_batch *b)
{
	struct ranges cur = {};
	size_t i;
	int ret;

	ret = read_maps(tk->pid, &cur);
	if (ret)
		goto out;
	for (i = 0; i < cur.n; i++) {
		struct range *r = &cur.r[i];

		if (r->kind || (r->start >= t->gadget && r->end <= t->gadget + INJ_GADGET_SIZE))
			continue;
		batch_add(b, "munmap", __NR_munmap, r->start, r->end - r->start, 0, 0, 0, 0);
	}
	ret = move_vdso(tk, &cur, t->gadget, b);
	if (!ret)
		ret = batch_run(b);
out:
	free(cur.r);
	return ret;
}

static bool vma_mappable(const VmaEntry *v)
{
	return !(v->status & (VMA_SPECIAL | VMA_STATUS__VMA_AREA_VSYSCALL));
}

static bool vma_private(const VmaEntry *v)
{
	return !(v->status & (VMA_STATUS__VMA_FILE_SHARED | VMA_STATUS__VMA_ANON_SHARED));
}

/* Mapped writable while pages are written, then mprotect()ed to what the task had. */
static bool vma_written(const VmaEntry *v)
{
	if (v->status & VMA_STATUS__VMA_AREA_SYSVIPC)
		return false; /* shmat()ed, filled by sysv-shm.c */
	return vma_private(v) || (v->status & VMA_STATUS__VMA_ANON_SHARED);
}

static int check_vma_kind(struct rst_task *tk, const VmaEntry *v)
{
	static const struct {
		uint32_t bit;
		const char *what;
	} unsupported[] = {
	    {VMA_STATUS__VMA_AREA_HUGETLB, "hugetlb"},
	};
	size_t i;

	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		if (v->status & unsupported[i].bit) {
			pr_err("%d: mapping %#" PRIx64 "-%#" PRIx64
			       " is %s: not supported by this restore\n",
			       tk->pid, v->start, v->end, unsupported[i].what);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static struct rst_shm *find_shm(struct rst_tree *t, uint64_t shmid)
{
	size_t i;

	for (i = 0; i < t->nr_shms; i++)
		if (t->shms[i].shmid == shmid)
			return &t->shms[i];
	return NULL;
}

/* Shared anonymous memory is created by the first task (in tree order) that maps it; the others
 * map the same object through the owner's /proc/PID/map_files entry. The path for VMA v, or
 * NULL when v is the owner's (or needs no file). */
static const char *shm_path(struct rst_tree *t, struct rst_task *tk, const VmaEntry *v, char *buf,
			    size_t len, int *err)
{
	struct rst_shm *sh;

	*err = 0;
	if (!(v->status & VMA_STATUS__VMA_ANON_SHARED) || !v->has_shmid ||
	    (v->status & VMA_STATUS__VMA_AREA_SYSVIPC))
		return NULL;
	sh = find_shm(t, v->shmid);
	if (!sh) {
		struct rst_shm *n = realloc(t->shms, (t->nr_shms + 1) * sizeof(*n));

		if (!n) {
			*err = -ENOMEM;
			return NULL;
		}
		t->shms = n;
		t->shms[t->nr_shms++] =
		    (struct rst_shm){v->shmid, tk->pid, v->start, v->end, v->pgoff};
		return NULL;
	}
	if (sh->owner == tk->pid && sh->start == v->start)
		return NULL;
	if (v->pgoff < sh->pgoff) {
		pr_err("%d: shared memory %#" PRIx64 " mapped below the part its first user maps\n",
		       tk->pid, v->shmid);
		*err = -EOPNOTSUPP;
		return NULL;
	}
	snprintf(buf, len, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, sh->owner, sh->start,
		 sh->end);
	return buf;
}

/* Opens, inside the task, every file it maps (and its exe), each once; fds[i] is the fd of VMA i,
 * -1 where it needs none. They are closed once the mm is built, before files.c runs. */
static int open_mapped_files(struct rst_tree *t, struct rst_task *tk, struct rst_batch *b,
			     long *fds, long *exe_fd, long **opened, size_t *nr_opened)
{
	MmEntry *mm = tk->mm;
	size_t i, k, n = 0;
	char **paths, buf[128];
	int *flags, *which;
	int ret = 0;

	*exe_fd = -1;
	paths = calloc(mm->n_vmas + 1, sizeof(*paths));
	flags = calloc(mm->n_vmas + 1, sizeof(*flags));
	which = calloc(mm->n_vmas + 1, sizeof(*which));
	*opened = calloc(mm->n_vmas + 1, sizeof(**opened));
	if (!paths || !flags || !which || !*opened) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i <= mm->n_vmas; i++) {
		int fl = O_RDONLY;
		const char *path;

		which[i] = -1;
		if (i < mm->n_vmas) {
			VmaEntry *v = mm->vmas[i];

			if (!vma_mappable(v))
				continue;
			ret = check_vma_kind(tk, v);
			if (!ret && (v->status & VMA_STATUS__VMA_AREA_SYSVIPC)) {
				ret = rst_sysv_prepare(t, tk, v);
				if (ret)
					goto out;
				continue;
			}
			if (ret)
				goto out;
			path = shm_path(t, tk, v, buf, sizeof(buf), &ret);
			if (ret)
				goto out;
			if (path) {
				fl = O_RDWR;
			} else if ((v->status & VMA_STATUS__VMA_AREA_MEMFD) && v->has_shmid) {
				int obj = rst_memfd_get(t, v->shmid,
							rst_file_by_id(t, v->file_id, NULL)->reg);

				if (obj < 0) {
					ret = obj;
					goto out;
				}
				snprintf(buf, sizeof(buf), "/proc/%d/fd/%d", getpid(), obj);
				path = buf;
			} else if (v->has_file_id)
				path = rst_file_by_id(t, v->file_id, NULL)->reg->path;
			else
				continue;
			if ((v->status & VMA_STATUS__VMA_FILE_SHARED) && (v->prot & PROT_WRITE))
				fl = O_RDWR;
		} else {
			if (!mm->has_exe_file_id)
				break;
			path = rst_file_by_id(t, mm->exe_file_id, NULL)->reg->path;
		}
		for (k = 0; k < n && strcmp(paths[k], path); k++)
			;
		if (k == n) {
			paths[n] = strdup(path);
			if (!paths[n]) {
				ret = -ENOMEM;
				goto out;
			}
			n++;
		}
		flags[k] |= fl;
		which[i] = k;
	}
	for (k = 0; k < n; k++) {
		batch_add(b, paths[k], __NR_openat, AT_FDCWD,
			  batch_data(b, paths[k], strlen(paths[k]) + 1), flags[k] | O_CLOEXEC, 0, 0,
			  0);
		if (b->n == RST_BATCH_MAX || b->used > 32768 || k + 1 == n) {
			size_t first = k + 1 - b->n, j;

			ret = batch_run(b);
			if (ret)
				goto out;
			for (j = first; j <= k; j++)
				(*opened)[j] = b->calls[j - first].ret;
			*nr_opened = k + 1;
		}
	}
	for (i = 0; i < mm->n_vmas; i++)
		fds[i] = which[i] < 0 ? -1 : (*opened)[which[i]];
	if (which[mm->n_vmas] >= 0)
		*exe_fd = (*opened)[which[mm->n_vmas]];
out:
	for (k = 0; paths && k < n; k++)
		free(paths[k]);
	free(paths);
	free(flags);
	free(which);
	return ret;
}

static int map_vmas(struct rst_tree *t, struct rst_task *tk, struct rst_batch *b, long *fds)
{
	MmEntry *mm = tk->mm;
	size_t i;
	int ret;

	for (i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];
		int prot = v->prot, flags = MAP_FIXED;
		uint64_t madv = v->has_madv ? v->madv : 0;
		uint64_t pgoff;
		int bit;

		if (!vma_mappable(v))
			continue;
		ret = check_vma_kind(tk, v);
		if (ret)
			return ret;
		if (vma_written(v))
			prot |= PROT_WRITE;
		flags |= vma_private(v) ? MAP_PRIVATE : MAP_SHARED;
		flags |= v->flags & (MAP_GROWSDOWN | MAP_NORESERVE);
		if (fds[i] < 0)
			flags |= MAP_ANONYMOUS;
		if ((v->status & VMA_STATUS__VMA_ANON_SHARED) && fds[i] >= 0) {
			/* the object of an earlier task, through its map_files entry */
			pgoff = v->pgoff - find_shm(t, v->shmid)->pgoff;
		} else {
			pgoff = fds[i] < 0 ? 0 : v->pgoff;
		}
		if (v->status & VMA_STATUS__VMA_AREA_SYSVIPC)
			batch_add(b, v->name ? v->name : "shmat", __NR_shmat, v->shmid, v->start,
				  (v->prot & PROT_WRITE ? 0 : SHM_RDONLY) |
				      (v->prot & PROT_EXEC ? SHM_EXEC : 0),
				  0, 0, 0);
		else
			batch_add(b, v->name ? v->name : "mmap", __NR_mmap, v->start,
				  v->end - v->start, prot, flags, fds[i], pgoff);
		for (bit = 0; bit < 64; bit++) {
			/* only what shapes the mapping; the rest (MADV_DONTNEED...) is not state */
			if (!(madv & (1ULL << bit)))
				continue;
			if (bit == MADV_DONTFORK || bit == MADV_HUGEPAGE ||
			    bit == MADV_NOHUGEPAGE || bit == MADV_DONTDUMP ||
			    bit == MADV_WIPEONFORK || bit == MADV_MERGEABLE)
				batch_add(b, "madvise", __NR_madvise, v->start, v->end - v->start,
					  bit, 0, 0, 0);
		}
		if (b->n > RST_BATCH_MAX - 70) {
			ret = batch_run(b);
			if (ret)
				return ret;
		}
	}
	(void)t;
	return batch_run(b);
}

static int finish_mm(struct rst_task *tk, struct rst_batch *b, long exe_fd, long *opened,
		     size_t nr_opened)
{
	MmEntry *mm = tk->mm;
	struct prctl_mm_map map = {
	    .start_code = mm->mm_start_code,
	    .end_code = mm->mm_end_code,
	    .start_data = mm->mm_start_data,
	    .end_data = mm->mm_end_data,
	    .start_stack = mm->mm_start_stack,
	    .start_brk = mm->mm_start_brk,
	    .brk = mm->mm_brk,
	    .arg_start = mm->mm_arg_start,
	    .arg_end = mm->mm_arg_end,
	    .env_start = mm->mm_env_start,
	    .env_end = mm->mm_env_end,
	    .exe_fd = (uint32_t)exe_fd,
	};
	size_t i;
	int ret;

	for (i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];

		if (!vma_mappable(v))
			continue;
		if (v->flags & MAP_LOCKED)
			batch_add(b, "mlock", __NR_mlock, v->start, v->end - v->start, 0, 0, 0, 0);
		if (!vma_written(v) || (v->prot & PROT_WRITE))
			continue;
		batch_add(b, "mprotect", __NR_mprotect, v->start, v->end - v->start, v->prot, 0, 0,
			  0);
		if (b->n >= RST_BATCH_MAX - 2) {
			ret = batch_run(b);
			if (ret)
				return ret;
		}
	}
	if (mm->n_mm_saved_auxv) {
		map.auxv_size = mm->n_mm_saved_auxv * sizeof(uint64_t);
		map.auxv = (__u64 *)batch_data(b, mm->mm_saved_auxv, map.auxv_size);
	}
	batch_add(b, "prctl(PR_SET_MM_MAP)", __NR_prctl, PR_SET_MM, PR_SET_MM_MAP,
		  batch_data(b, &map, sizeof(map)), sizeof(map), 0, 0);
	ret = batch_run(b);
	for (i = 0; i < nr_opened; i++)
		batch_add(b, "close", __NR_close, opened[i], 0, 0, 0, 0, 0);
	return ret ? ret : batch_run(b);
}

int rst_restore_mm(struct rst_tree *t, struct rst_task *tk)
{
	struct rst_batch b;
	long *fds, *opened = NULL, exe_fd = -1;
	size_t nr_opened = 0;
	int ret;

	fds = calloc(tk->mm->n_vmas + 1, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	ret = batch_init(&b, task_inj(tk));
	if (ret)
		goto out;
	ret = clear_helper(t, tk, &b);
	if (!ret)
		ret = open_mapped_files(t, tk, &b, fds, &exe_fd, &opened, &nr_opened);
	if (!ret)
		ret = map_vmas(t, tk, &b, fds);
	if (!ret)
		ret = rst_write_pages(t, tk);
	if (!ret)
		ret = rst_write_shmem(t, tk);
	if (!ret)
		ret = finish_mm(tk, &b, exe_fd, opened, nr_opened);
	batch_fini(&b);
out:
	free(opened);
	free(fds);
	return ret;
}
