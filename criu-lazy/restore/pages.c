/* Writing a task's page contents (plain restore, or the eager part of a lazy one).
 *
 * Decompression, not copying, bounds this: frames are decoded by one worker per CPU of the
 * restorer's original affinity and written in large process_vm_writev calls straight into the
 * stopped task (no injected syscall, no stop). A range that process_vm_writev cannot reach goes
 * through /proc/PID/mem, which writes read-only pages too.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "image.h"
#include "pagestore.h"
#include "restore.h"
#include "uffd.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define PW_BUF_SIZE (8UL << 20)
#define PW_IOV_MAX 1024
#define PW_MAX_WORKERS 8
#define PW_MAX_CHAIN 16

enum { PW_WRITE, PW_SKIP, PW_PARENT };

struct pw_job {
	struct rst_task *tk;
	const MmEntry *mm; /* a task's pages: where each may go; NULL for shmem */
	uint64_t lo, hi;   /* shmem: the object offsets the owner maps */
	int64_t delta;	   /* shmem: task address - object offset */
	int uffd;	   /* the task's userfaultfd: anonymous pages go by UFFDIO_COPY, or -1 */
	struct pgs_ctx *chain[PW_MAX_CHAIN]; /* pre-dump parents, nearest first */
	int nr_chain;
	struct pgs_ctx *pages;
	uint8_t *what; /* PW_* per entry */
	size_t nr;
	size_t next;		/* atomic: next entry to take */
	int err;		/* atomic: first error */
	uint64_t pages_written; /* atomic */
};

struct pw_worker {
	struct pw_job *job;
	pthread_t th;
	char *buf;
	struct iovec l[PW_IOV_MAX], r[PW_IOV_MAX];
	int n;
	size_t used;
	int mem_fd;
};

static const VmaEntry *find_vma(const MmEntry *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->n_vmas;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const VmaEntry *v = mm->vmas[mid];

		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

/* Pages of these are not ours to write: the file holds what a shared file mapping shows; the
 * kernel provides the vDSO group. */
static bool vma_skipped(const VmaEntry *v)
{
	return v->status & (VMA_STATUS__VMA_FILE_SHARED | VMA_STATUS__VMA_AREA_VDSO |
			    VMA_STATUS__VMA_AREA_VVAR | VMA_STATUS__VMA_AREA_VVAR_VCLOCK |
			    VMA_STATUS__VMA_AREA_VSYSCALL);
}

/* Private anonymous memory can be filled with UFFDIO_COPY: no page fault per page, no zeroing of
 * a page about to be overwritten; about twice the speed of process_vm_writev into fresh pages.
 * Not where the task had transparent huge pages asked for: UFFDIO_COPY makes small pages. */
static bool vma_by_uffd(const VmaEntry *v)
{
	return (v->status & VMA_STATUS__VMA_ANON_PRIVATE) &&
	       !(v->status & VMA_STATUS__VMA_AREA_GUARD) &&
	       !(v->has_madv && (v->madv & (1ULL << MADV_HUGEPAGE)));
}

static int copy_uffd(struct pw_worker *w, uint64_t raddr, const char *src, size_t len)
{
	uint64_t done = 0;
	int ret;

	while (len) {
		ret = uffd_copy(w->job->uffd, raddr, src, len, UFFDIO_COPY_MODE_DONTWAKE, &done);
		if (!ret) {
			__atomic_fetch_add(&w->job->pages_written, len / PGS_PAGE_SIZE,
					   __ATOMIC_RELAXED);
			return 0;
		}
		if (ret != -EAGAIN) {
			pr_errno(ret, "%d: UFFDIO_COPY of %zu bytes at %#" PRIx64, w->job->tk->pid,
				 len, raddr);
			return ret;
		}
		__atomic_fetch_add(&w->job->pages_written, done / PGS_PAGE_SIZE, __ATOMIC_RELAXED);
		raddr += done;
		src += done;
		len -= done;
	}
	return 0;
}

static int write_mem_fd(struct pw_worker *w, const struct iovec *l, const struct iovec *r)
{
	pid_t pid = w->job->tk->pid;
	size_t done = 0;

	if (w->mem_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		w->mem_fd = open(path, O_RDWR | O_CLOEXEC);
		if (w->mem_fd < 0) {
			int err = -errno;

			pr_perror("cannot open %s", path);
			return err;
		}
	}
	while (done < l->iov_len) {
		ssize_t n = pwrite(w->mem_fd, (char *)l->iov_base + done, l->iov_len - done,
				   (off_t)((uintptr_t)r->iov_base + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pr_err("%d: cannot write pages at %p: %s (outside every mapping?)\n", pid,
			       (char *)r->iov_base + done, n < 0 ? strerror(errno) : "short write");
			return n < 0 ? -errno : -EIO;
		}
		done += n;
	}
	return 0;
}

static int flush(struct pw_worker *w)
{
	pid_t pid = w->job->tk->pid;
	size_t total = 0, done;
	ssize_t n;
	int i, ret;

	if (!w->n) {
		w->used = 0; /* what was decoded went by UFFDIO_COPY */
		return 0;
	}
	for (i = 0; i < w->n; i++)
		total += w->l[i].iov_len;
	n = process_vm_writev(pid, w->l, w->n, w->r, w->n, 0);
	if (n < 0)
		n = 0;
	if ((size_t)n < total) {
		/* find the first iovec not fully written and go on the slow way from there */
		for (i = 0, done = 0; i < w->n; i++) {
			struct iovec l = w->l[i], r = w->r[i];

			if (done + l.iov_len <= (size_t)n) {
				done += l.iov_len;
				continue;
			}
			if ((size_t)n > done) {
				size_t skip = n - done;

				l.iov_base = (char *)l.iov_base + skip;
				l.iov_len -= skip;
				r.iov_base = (char *)r.iov_base + skip;
			}
			done += w->l[i].iov_len;
			ret = write_mem_fd(w, &l, &r);
			if (ret)
				return ret;
		}
	}
	__atomic_fetch_add(&w->job->pages_written, total / PGS_PAGE_SIZE, __ATOMIC_RELAXED);
	w->n = 0;
	w->used = 0;
	return 0;
}

/* The decoded entry at w->buf + w->used, cut where it crosses from one VMA to another so that
 * pieces in VMAs we do not write are left out. */
static int add_pieces(struct pw_worker *w, uint64_t vaddr, size_t len)
{
	const MmEntry *mm = w->job->mm;
	uint64_t addr = vaddr, end = vaddr + len;
	int queued = 0;

	while (addr < end) {
		const VmaEntry *v = mm ? find_vma(mm, addr) : NULL;
		uint64_t to = v ? (v->end < end ? v->end : end) : end;
		bool skip = v ? vma_skipped(v) : false;

		if (!mm) {
			/* shmem: only what the owner's mapping shows */
			if (addr < w->job->lo) {
				to = w->job->lo < end ? w->job->lo : end;
				skip = true;
			} else if (addr >= w->job->hi) {
				skip = true;
			} else if (to > w->job->hi) {
				to = w->job->hi;
			}
		}
		if (!skip && v && w->job->uffd >= 0 && vma_by_uffd(v)) {
			int ret = copy_uffd(w, addr, w->buf + w->used + (addr - vaddr), to - addr);

			if (ret)
				return ret;
		} else if (!skip) {
			uint64_t raddr = addr + w->job->delta;

			if (w->n &&
			    (char *)w->l[w->n - 1].iov_base + w->l[w->n - 1].iov_len ==
				w->buf + w->used + (addr - vaddr) &&
			    (uint64_t)(uintptr_t)w->r[w->n - 1].iov_base + w->r[w->n - 1].iov_len ==
				addr) {
				w->l[w->n - 1].iov_len += to - addr;
				queued = 1;
				w->r[w->n - 1].iov_len += to - addr;
			} else {
				w->l[w->n].iov_base = w->buf + w->used + (addr - vaddr);
				w->l[w->n].iov_len = to - addr;
				w->r[w->n].iov_base = (void *)(uintptr_t)raddr;
				w->r[w->n].iov_len = to - addr;
				w->n++;
				queued = 1;
			}
		}
		addr = to;
	}
	return queued;
}

/* Pages unchanged since a pre-dump: from the nearest parent image set that has them, page by
 * page when a range is split across several. */
static int read_parent(struct pw_job *job, const struct pgs_entry *e, char *dst)
{
	uint32_t k;
	int l, ret;

	for (l = 0; l < job->nr_chain; l++) {
		ret = pgs_read(job->chain[l], e->vaddr, e->nr_pages, dst);
		if (ret == 0)
			memset(dst, 0, (size_t)e->nr_pages * PGS_PAGE_SIZE);
		if (ret >= 0)
			return 0;
		if (ret != -ENOENT)
			return ret;
		if (e->nr_pages == 1)
			continue;
		for (k = 0; k < e->nr_pages; k++) {
			struct pgs_entry one = {.vaddr = e->vaddr + (uint64_t)k * PGS_PAGE_SIZE,
						.nr_pages = 1};
			struct pw_job sub = *job;

			sub.chain[0] = job->chain[l];
			memmove(sub.chain, job->chain + l,
				(job->nr_chain - l) * sizeof(sub.chain[0]));
			sub.nr_chain = job->nr_chain - l;
			ret = read_parent(&sub, &one, dst + (size_t)k * PGS_PAGE_SIZE);
			if (ret)
				return ret;
		}
		return 0;
	}
	pr_err("pagemap-%d.img: pages at %#" PRIx64 " are in no parent image set\n", job->tk->pid,
	       e->vaddr);
	return -ENOENT;
}

static void *worker(void *arg)
{
	struct pw_worker *w = arg;
	struct pw_job *job = w->job;
	int ret = 0;

	while (!__atomic_load_n(&job->err, __ATOMIC_RELAXED)) {
		size_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
		const struct pgs_entry *e;
		size_t len;

		if (i >= job->nr)
			break;
		if (job->what[i] == PW_SKIP)
			continue;
		e = pgs_entry(job->pages, i);
		len = (size_t)e->nr_pages * PGS_PAGE_SIZE;
		if (w->used + len > PW_BUF_SIZE || w->n + e->nr_pages > PW_IOV_MAX) {
			ret = flush(w);
			if (ret)
				break;
		}
		if (job->what[i] == PW_PARENT)
			ret = read_parent(job, e, w->buf + w->used);
		else
			ret = pgs_read_frame(job->pages, i, w->buf + w->used);
		if (ret) {
			pr_err("pages-%d.img: frame of %#" PRIx64 " (%u pages): %s\n", job->tk->pid,
			       e->vaddr, e->nr_pages,
			       ret == -EBADMSG ? "corrupt (checksum or decode)" : strerror(-ret));
			break;
		}
		ret = add_pieces(w, e->vaddr, len);
		if (ret < 0)
			break;
		/* all of it went by UFFDIO_COPY: the same (cache-hot) buffer serves the next one */
		if (ret > 0)
			w->used += len;
		ret = 0;
	}
	if (!ret)
		ret = flush(w);
	if (ret) {
		int zero = 0;

		__atomic_compare_exchange_n(&job->err, &zero, ret, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Decides, per entry, whether it is written now. An entry may span adjacent VMAs: each page must
 * be inside one. */
static int plan(struct rst_tree *t, struct pw_job *job)
{
	const MmEntry *mm = job->mm;
	size_t i;

	for (i = 0; i < job->nr; i++) {
		const struct pgs_entry *e = pgs_entry(job->pages, i);
		uint64_t addr = e->vaddr, end = e->vaddr + (uint64_t)e->nr_pages * PGS_PAGE_SIZE;

		job->what[i] = PW_SKIP;
		while (mm && addr < end) {
			const VmaEntry *v = find_vma(mm, addr);

			if (!v) {
				pr_err("pagemap-%d.img: page %#" PRIx64 " is outside the mappings "
				       "of mm-%d.img\n",
				       job->tk->pid, addr, job->tk->pid);
				return -EBADMSG;
			}
			addr = v->end;
		}
		if (e->flags & PGS_PE_PARENT) {
			if (!job->nr_chain) {
				pr_err("pagemap-%d.img: pages at %#" PRIx64
				       " are in a parent image set, and inventory.img names none\n",
				       job->tk->pid, e->vaddr);
				return -EBADMSG;
			}
			if (!(mm && t->lc && (e->flags & PGS_PE_LAZY)))
				job->what[i] = PW_PARENT;
			continue;
		}
		if (!(e->flags & PGS_PE_PRESENT))
			continue;
		/* locked memory is populated by mlock before the daemon could fill it */
		if (mm && t->lc && (e->flags & PGS_PE_LAZY) &&
		    !(find_vma(mm, e->vaddr)->flags & MAP_LOCKED))
			continue;
		job->what[i] = PW_WRITE;
	}
	return 0;
}

static int nr_workers(struct rst_tree *t)
{
	int n = CPU_COUNT(&t->orig_cpus);

	if (n < 1)
		n = 1;
	return n > PW_MAX_WORKERS ? PW_MAX_WORKERS : n;
}

static int open_pages(int dirfd, const char *id, const uint8_t *uuid, struct pgs_ctx **ctx)
{
	int ret = pgs_open_local(ctx, dirfd, id, uuid);

	if (ret == -ENOENT) {
		pr_err("pagemap-%s.img: no such page images\n", id);
	} else if (ret) {
		uint64_t off = 0;
		const char *why = pgs_last_error(&off);

		pr_err("pagemap-%s.img/pages-%s.img: %s (offset %" PRIu64 ")\n", id, id,
		       why ? why : strerror(-ret), off);
	}
	return ret;
}

static int run_job(struct rst_tree *t, struct pw_job *job, const char *id)
{
	struct pw_worker ws[PW_MAX_WORKERS] = {};
	struct timespec t0, t1;
	pthread_attr_t attr;
	int i, n, ret;

	job->nr = pgs_nr_entries(job->pages);
	job->what = malloc(job->nr + 1);
	if (!job->what)
		return -ENOMEM;
	ret = plan(t, job);
	if (ret)
		goto out;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = nr_workers(t);
	pthread_attr_init(&attr);
	/* we are pinned for the injections; the workers use every CPU we had */
	pthread_attr_setaffinity_np(&attr, sizeof(t->orig_cpus), &t->orig_cpus);
	for (i = 0; i < n; i++) {
		ws[i].job = job;
		ws[i].mem_fd = -1;
		ws[i].buf = mmap(NULL, PW_BUF_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ws[i].buf == MAP_FAILED) {
			ws[i].buf = NULL;
			ret = -ENOMEM;
			break;
		}
		ret = -pthread_create(&ws[i].th, &attr, worker, &ws[i]);
		if (ret) {
			munmap(ws[i].buf, PW_BUF_SIZE);
			ws[i].buf = NULL;
			break;
		}
	}
	pthread_attr_destroy(&attr);
	if (ret)
		__atomic_store_n(&job->err, ret, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		if (!ws[i].buf)
			continue;
		pthread_join(ws[i].th, NULL);
		munmap(ws[i].buf, PW_BUF_SIZE);
		if (ws[i].mem_fd >= 0)
			close(ws[i].mem_fd);
	}
	if (!ret)
		ret = job->err;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pr_info("%d: %s: %" PRIu64 " pages written in %.1f ms by %d workers\n", job->tk->pid, id,
		job->pages_written, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
		n);
out:
	free(job->what);
	return ret;
}

/* Pages of private file mappings that were written and are now zero: the page store keeps no
 * zero page and the file would show through, so they are zeroed here. */
static int write_zero_pages(struct rst_task *tk)
{
	static const char zero[PGS_PAGE_SIZE];
	struct iovec l[PW_IOV_MAX], r[PW_IOV_MAX];
	const MmEntry *mm = tk->mm;
	size_t i, j;
	int n = 0;

	for (i = 0; i <= mm->n_vmas; i++) {
		const VmaEntry *v = i < mm->n_vmas ? mm->vmas[i] : NULL;

		for (j = 0; v && j < v->n_zero_pages; j++) {
			l[n].iov_base = (void *)zero;
			l[n].iov_len = PGS_PAGE_SIZE;
			r[n].iov_base = (void *)(uintptr_t)v->zero_pages[j];
			r[n].iov_len = PGS_PAGE_SIZE;
			n++;
			if (n < PW_IOV_MAX)
				continue;
			if (process_vm_writev(tk->pid, l, n, r, n, 0) !=
			    (ssize_t)(n * PGS_PAGE_SIZE))
				goto fail;
			n = 0;
		}
	}
	if (n && process_vm_writev(tk->pid, l, n, r, n, 0) != (ssize_t)(n * PGS_PAGE_SIZE))
		goto fail;
	return 0;
fail:
	pr_perror("%d: cannot zero the pages of its file mappings that were zero", tk->pid);
	return -EFAULT;
}

/* The pre-dump chain: inventory.img's parent_dir (relative to the image dir it is in), then that
 * set's parent, and so on. Only opened when this task has pages there. */
static int open_chain(struct rst_tree *t, struct pw_job *job, const char *id)
{
	char path[4096], next[4096];
	int dirfd = t->dirfd, ret = 0;
	size_t i;
	bool need = false;

	for (i = 0; i < pgs_nr_entries(job->pages) && !need; i++)
		need = pgs_entry(job->pages, i)->flags & PGS_PE_PARENT;
	if (!need || !t->inv->parent_dir)
		return 0;
	snprintf(path, sizeof(path), "%s", t->inv->parent_dir);
	while (job->nr_chain < PW_MAX_CHAIN) {
		struct img_file f = {};
		InventoryEntry *inv = NULL;
		int pfd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dirfd != t->dirfd)
			close(dirfd);
		if (pfd < 0) {
			ret = -errno;
			pr_perror("cannot open the parent image set %s", path);
			return ret;
		}
		dirfd = pfd;
		ret = open_image_read(&f, dirfd, IMG_INVENTORY, NULL);
		if (!ret)
			ret = pb_read_one(&f, (void **)&inv);
		imgf_close(&f);
		if (!ret)
			ret = open_pages(dirfd, id,
					 inv->dump_uuid.len == PGS_UUID_LEN ? inv->dump_uuid.data
									    : NULL,
					 &job->chain[job->nr_chain]);
		if (!ret)
			job->nr_chain++;
		next[0] = 0;
		if (!ret && inv->parent_dir)
			snprintf(next, sizeof(next), "%s", inv->parent_dir);
		if (inv)
			protobuf_c_message_free_unpacked(&inv->base, NULL);
		if (ret || !next[0])
			break;
		memcpy(path, next, sizeof(path));
	}
	if (dirfd != t->dirfd)
		close(dirfd);
	return ret;
}

/* A userfaultfd made inside the task (it acts on the mm of whoever creates it), taken out with
 * pidfd_getfd, with every private anonymous VMA registered. -1 when that cannot be had: the
 * slower way then writes everything. */
static int open_task_uffd(struct rst_task *tk)
{
	struct inj_ctx *inj = task_inj(tk);
	const MmEntry *mm = tk->mm;
	int pidfd, uffd = -1, ret;
	long rfd, res;
	size_t i;

	ret = rst_syscall(inj, &rfd, __NR_userfaultfd, O_CLOEXEC, 0, 0, 0, 0, 0);
	if (ret || rfd < 0)
		goto out_nouffd;
	pidfd = syscall(__NR_pidfd_open, tk->pid, 0);
	if (pidfd >= 0) {
		uffd = syscall(__NR_pidfd_getfd, pidfd, (int)rfd, 0);
		close(pidfd);
	}
	ret = rst_syscall(inj, &res, __NR_close, rfd, 0, 0, 0, 0, 0);
	if (ret || uffd < 0 || uffd_api(uffd, 0, NULL))
		goto out_close;
	for (i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if (!vma_by_uffd(v))
			continue;
		ret = uffd_register(uffd, v->start, v->end - v->start, UFFDIO_REGISTER_MODE_MISSING,
				    NULL);
		if (ret) {
			pr_info("%d: cannot register %#" PRIx64 "-%#" PRIx64
				" with userfaultfd: %s\n",
				tk->pid, v->start, v->end, strerror(-ret));
			goto out_close;
		}
	}
	return uffd;
out_close:
	if (uffd >= 0)
		close(uffd);
out_nouffd:
	pr_info("%d: no userfaultfd for the fill, writing pages the slow way\n", tk->pid);
	return -1;
}

int rst_write_pages(struct rst_tree *t, struct rst_task *tk)
{
	struct pw_job job = {.tk = tk, .mm = tk->mm, .uffd = -1};
	char id[16];
	int ret;

	snprintf(id, sizeof(id), "%d", tk->pid);
	ret = open_pages(t->dirfd, id, t->inv->dump_uuid.data, &tk->pages);
	if (ret)
		return ret;
	job.pages = tk->pages;
	ret = open_chain(t, &job, id);
	if (ret)
		goto out;
	job.uffd = open_task_uffd(tk);
	ret = run_job(t, &job, id);
	/* the last reference: closing it unregisters every range, no flag stays on the VMAs */
	if (job.uffd >= 0)
		close(job.uffd);
	if (!ret)
		ret = write_zero_pages(tk);
out:
	while (job.nr_chain)
		pgs_close(job.chain[--job.nr_chain]);
	return ret;
}

int rst_write_shmem(struct rst_tree *t, struct rst_task *tk)
{
	size_t i;
	int ret;

	for (i = 0; i < t->nr_shms; i++) {
		struct rst_shm *sh = &t->shms[i];
		struct pw_job job = {.tk = tk, .uffd = -1};
		char id[64];

		if (sh->owner != tk->pid)
			continue;
		snprintf(id, sizeof(id), "shmem-%" PRIu64, sh->shmid);
		ret = open_pages(t->dirfd, id, t->inv->dump_uuid.data, &job.pages);
		if (ret)
			return ret;
		job.lo = sh->pgoff;
		job.hi = sh->pgoff + (sh->end - sh->start);
		job.delta = (int64_t)sh->start - (int64_t)sh->pgoff;
		ret = run_job(t, &job, id);
		pgs_close(job.pages);
		if (ret)
			return ret;
	}
	return 0;
}
