/* The address space of a process: mm-PID.img (the VMAs and mm fields) and its private pages
 * through the page store (pagemap-PID.img/pages-PID.img); shared memory objects once each
 * (pagemap-shmem-SHMID.img, with the byte offset in the object as the address). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_PREFIX "mem: "
#include "log.h"
#include "image.h"
#include "dump.h"

#include "mm.pb-c.h"

#define PAGE_SZ PGS_PAGE_SIZE
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define BATCH_PAGES 1024UL /* 4 MiB read per process_vm_readv */
#define PM_CHUNK 65536UL   /* pagemap entries read at once */
#define MAX_IOV 1024

struct mem_batch {
	pid_t pid;
	int mem_fd; /* /proc/PID/mem: pages process_vm_readv cannot read */
	struct pgs_writer *w;
	uint8_t *buf;
	unsigned long nr; /* pages in buf */
	struct iovec riov[MAX_IOV];
	uint32_t rflags[MAX_IOV];
	int niov;
	VmaEntry *zero_vma; /* file-private VMA: note all-zero pages here */
	const unsigned long *sp_pages;
	int nr_sp;
	struct dump_ctx *lazy;	     /* dump --lazy-pages: lazy pages go to lazy_dump_note */
	const struct dump_track *tr; /* a chain: pages may stay in the parent set */
	uint64_t par_start;	     /* pending run of parent pages */
	unsigned long par_nr;
	uint32_t par_flags;
};

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < PAGE_SZ / 8; i++)
		if (q[i])
			return false;
	return true;
}

static int note_zero_page(VmaEntry *v, uint64_t addr)
{
	uint64_t *n = realloc(v->zero_pages, (v->n_zero_pages + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	v->zero_pages = n;
	v->zero_pages[v->n_zero_pages++] = addr;
	return 0;
}

static int read_remote(struct mem_batch *b)
{
	struct iovec l = {.iov_base = b->buf, .iov_len = b->nr * PAGE_SZ};
	size_t off = 0;
	ssize_t n;
	int i;

	n = process_vm_readv(b->pid, &l, 1, b->riov, b->niov, 0);
	if (n == (ssize_t)l.iov_len)
		return 0;
	/* a PROT_NONE or otherwise unreadable range: /proc/PID/mem reads it by force */
	for (i = 0; i < b->niov; i++) {
		ssize_t r = pread(b->mem_fd, b->buf + off, b->riov[i].iov_len,
				  (off_t)(unsigned long)b->riov[i].iov_base);

		if (r != (ssize_t)b->riov[i].iov_len) {
			pr_err("process %d: cannot read %zu bytes at %p: %s\n", b->pid,
			       b->riov[i].iov_len, b->riov[i].iov_base,
			       r < 0 ? strerror(errno) : "short read");
			return r < 0 ? -errno : -EIO;
		}
		off += r;
	}
	return 0;
}

static int flush_batch(struct mem_batch *b)
{
	size_t off = 0;
	int i, ret;

	if (!b->niov)
		return 0;
	ret = read_remote(b);
	if (ret)
		return ret;
	for (i = 0; i < b->niov; i++) {
		unsigned long vaddr = (unsigned long)b->riov[i].iov_base;
		unsigned long nr = b->riov[i].iov_len / PAGE_SZ, p;

		if (b->zero_vma)
			for (p = 0; p < nr; p++)
				if (page_is_zero(b->buf + off + p * PAGE_SZ) &&
				    note_zero_page(b->zero_vma, vaddr + p * PAGE_SZ))
					return -ENOMEM;
		ret = pgs_writer_add(b->w, vaddr, nr, b->buf + off, b->rflags[i]);
		if (ret) {
			pr_errno(ret, "process %d: cannot store pages at %#lx", b->pid, vaddr);
			return ret;
		}
		off += nr * PAGE_SZ;
	}
	b->niov = 0;
	b->nr = 0;
	return 0;
}

static int flush_parent(struct mem_batch *b)
{
	int ret;

	if (!b->par_nr)
		return 0;
	ret = pgs_writer_add_parent(b->w, b->par_start, b->par_nr, b->par_flags);
	if (ret)
		pr_errno(ret, "process %d: cannot note parent pages at %#lx", b->pid,
			 (unsigned long)b->par_start);
	b->par_nr = 0;
	return ret;
}

/* A page unchanged since the parent set: the writer takes calls in address order, so the data
 * read so far goes first. */
static int add_parent_page(struct mem_batch *b, unsigned long addr, uint32_t flags)
{
	int ret = flush_batch(b);

	if (ret)
		return ret;
	/* entries stay within a frame's size, as every reader's buffers expect */
	if (b->par_nr && b->par_start + b->par_nr * PAGE_SZ == addr && b->par_flags == flags &&
	    b->par_nr < PGS_MAX_FRAME_PAGES) {
		b->par_nr++;
		return 0;
	}
	ret = flush_parent(b);
	b->par_start = addr;
	b->par_nr = 1;
	b->par_flags = flags;
	return ret;
}

static int add_page(struct mem_batch *b, unsigned long addr, uint32_t flags)
{
	struct iovec *last = b->niov ? &b->riov[b->niov - 1] : NULL;
	int ret = flush_parent(b);

	if (ret)
		return ret;

	if (last && (unsigned long)last->iov_base + last->iov_len == addr &&
	    b->rflags[b->niov - 1] == flags) {
		last->iov_len += PAGE_SZ;
	} else {
		if (b->niov == MAX_IOV) {
			ret = flush_batch(b);
			if (ret)
				return ret;
		}
		b->riov[b->niov].iov_base = (void *)addr;
		b->riov[b->niov].iov_len = PAGE_SZ;
		b->rflags[b->niov] = flags;
		b->niov++;
	}
	if (++b->nr == BATCH_PAGES)
		return flush_batch(b);
	return 0;
}

static bool is_sp_page(struct mem_batch *b, unsigned long addr)
{
	int i;

	for (i = 0; i < b->nr_sp; i++)
		if (b->sp_pages[i] == addr)
			return true;
	return false;
}

/* The pages of one VMA that belong in the process's page store: all present or swapped pages of
 * private anonymous memory, and the copied-on-write ones of private file mappings. */
static int dump_vma_pages(struct mem_batch *b, int pm_fd, VmaEntry *v, const struct proc_vma *pv,
			  bool file_private)
{
	static uint64_t pm[PM_CHUNK];
	unsigned long addr = v->start, i, n;
	ssize_t r;
	int ret;

	b->zero_vma = file_private ? v : NULL;
	while (addr < v->end) {
		n = (v->end - addr) / PAGE_SZ;
		if (n > PM_CHUNK)
			n = PM_CHUNK;
		r = pread(pm_fd, pm, n * 8, (addr / PAGE_SZ) * 8);
		if (r != (ssize_t)(n * 8)) {
			pr_err("process %d: cannot read the pagemap at %#lx: %s\n", b->pid, addr,
			       r < 0 ? strerror(errno) : "short read");
			return r < 0 ? -errno : -EIO;
		}
		for (i = 0; i < n; i++, addr += PAGE_SZ) {
			uint32_t flags = v->lazy ? PGS_PE_LAZY : 0;

			if (!(pm[i] & (PM_PRESENT | PM_SWAP)))
				continue;
			if (file_private && (pm[i] & PM_PRESENT) && (pm[i] & PM_FILE))
				continue; /* still the file's page */
			/* the page under each stack pointer is needed at once: never lazy */
			if (flags && is_sp_page(b, addr))
				flags = 0;
			/* locked memory is written by restore at once: it stays in the images */
			if (flags && b->lazy && !(v->flags & MAP_LOCKED)) {
				ret = dump_lazy_note(b->lazy, b->pid, addr);
				if (ret)
					return ret;
				continue;
			}
			/* pages restore needs at once (stack pointers', mlocked) are always stored:
			 * only lazy ones (served by the lazy-pages daemon, which follows the chain)
			 * stay in the parent set */
			if (b->tr && (flags & PGS_PE_LAZY) && !(v->flags & MAP_LOCKED) &&
			    dump_track_clean(b->tr, pv, addr))
				ret = add_parent_page(b, addr, flags);
			else
				ret = add_page(b, addr, flags);
			if (ret)
				return ret;
		}
	}
	ret = flush_batch(b);
	if (!ret)
		ret = flush_parent(b);
	b->zero_vma = NULL;
	return ret;
}

static unsigned int dump_writer_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : n;
}

static int open_writer(struct dump_ctx *d, struct pgs_writer **w, const char *id, const char *owner)
{
	struct pgs_writer_opts wo = {
	    .level = d->o->compress_level,
	    .uuid = d->uuid,
	    .owner = owner,
	    /* compression, not reading memory, bounds dump speed: use every CPU */
	    .threads = dump_writer_threads(),
	};
	int ret = pgs_writer_open(w, d->dirfd, id, &wo);

	if (ret)
		pr_errno(ret, "cannot create the page images of %s", owner);
	return ret;
}

static int commit_writer(struct dump_ctx *d, struct pgs_writer *w, const char *id)
{
	struct pgs_stats st;
	int ret = pgs_writer_commit(w, &st);

	if (ret) {
		pr_errno(ret, "cannot write the page images %s", id);
		return ret;
	}
	d->stats.pages_seen += st.pages_seen;
	d->stats.pages_zero += st.pages_zero;
	d->stats.pages_stored += st.pages_stored;
	d->stats.pages_parent += st.pages_parent;
	d->stats.bytes_raw += st.bytes_raw;
	d->stats.bytes_stored += st.bytes_stored;
	d->stats.frames += st.frames;
	ret = dump_note_written(d, "pagemap-%s.img", id);
	if (!ret)
		ret = dump_note_written(d, "pages-%s.img", id);
	return ret;
}

/* A shared memory object (shared anonymous mapping, memfd, SysV segment) through a file of its
 * own: its data ranges with SEEK_DATA/SEEK_HOLE, pages addressed by their offset. */
int dump_shmem(struct dump_ctx *d, const char *path, uint64_t shmid)
{
	struct pgs_writer *w = NULL;
	char id[64], owner[64];
	uint8_t *buf = NULL;
	struct stat st;
	off_t data, hole;
	int fd, ret;

	if (dump_shm_seen(d, shmid))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_perror("cannot open %s to read shared memory %#lx", path, (unsigned long)shmid);
		return ret;
	}
	snprintf(id, sizeof(id), "shmem-%lu", (unsigned long)shmid);
	snprintf(owner, sizeof(owner), "shmem %lu", (unsigned long)shmid);
	ret = -ENOMEM;
	buf = malloc(BATCH_PAGES * PAGE_SZ);
	if (!buf || fstat(fd, &st))
		goto out;
	ret = open_writer(d, &w, id, owner);
	if (ret)
		goto out;
	for (hole = 0; hole < st.st_size;) {
		data = lseek(fd, hole, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: no data after hole */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = st.st_size;
		data &= ~(PAGE_SZ - 1);
		while (data < hole) {
			size_t len = hole - data;
			ssize_t r;

			if (len > BATCH_PAGES * PAGE_SZ)
				len = BATCH_PAGES * PAGE_SZ;
			r = pread(fd, buf, len, data);
			if (r <= 0) {
				ret = r < 0 ? -errno : -EIO;
				pr_errno(ret, "cannot read shared memory %s at %#lx", path,
					 (unsigned long)data);
				goto out;
			}
			len = (r + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
			memset(buf + r, 0, len - r);
			ret = pgs_writer_add(w, data, len / PAGE_SZ, buf, 0);
			if (ret) {
				pr_errno(ret, "cannot store shared memory %s", id);
				goto out;
			}
			data += len;
		}
	}
	ret = commit_writer(d, w, id);
out:
	pgs_writer_free(w);
	free(buf);
	close(fd);
	return ret;
}

static uint64_t madv_bits(unsigned int f)
{
	uint64_t m = 0;

	if (f & PVF_DONTCOPY)
		m |= 1ULL << MADV_DONTFORK;
	if (f & PVF_DONTDUMP)
		m |= 1ULL << MADV_DONTDUMP;
	if (f & PVF_WIPEONFORK)
		m |= 1ULL << MADV_WIPEONFORK;
	if (f & PVF_HUGEPAGE)
		m |= 1ULL << MADV_HUGEPAGE;
	if (f & PVF_NOHUGEPAGE)
		m |= 1ULL << MADV_NOHUGEPAGE;
	if (f & PVF_MERGEABLE)
		m |= 1ULL << MADV_MERGEABLE;
	return m;
}

static bool name_is(const char *name, const char *prefix)
{
	return !strncmp(name, prefix, strlen(prefix));
}

static int dump_sysv(struct dump_task *t, const struct proc_vma *pv, VmaEntry *v)
{
	SysvShmEntry *e;
	struct proc_shm shm;
	int ret = proc_sysv_shm(pv->ino, &shm);

	if (ret) {
		pr_errno(ret, "process %d: SysV segment %lu of %lx-%lx not in /proc/sysvipc/shm",
			 t->pid, pv->ino, pv->start, pv->end);
		return ret;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	sysv_shm_entry__init(e);
	e->key = shm.key;
	e->shmid = shm.shmid;
	e->size = shm.size;
	e->mode = shm.mode;
	e->uid = shm.uid;
	e->gid = shm.gid;
	e->has_cuid = e->has_cgid = true;
	e->cuid = shm.cuid;
	e->cgid = shm.cgid;
	v->sysv = e;
	return 0;
}

/* Fills v from pv: status, flags and, for file mappings, the file entry. */
static int classify_vma(struct dump_ctx *d, struct dump_task *t, const struct proc_vma *pv,
			VmaEntry *v)
{
	const char *name = pv->name;
	char mf[96];
	int ret;

	v->start = pv->start;
	v->end = pv->end;
	v->pgoff = pv->pgoff;
	v->prot = pv->prot;
	v->flags = pv->shared ? MAP_SHARED : MAP_PRIVATE;
	v->status = VMA_STATUS__VMA_AREA_REGULAR;
	v->has_madv = true;
	v->madv = madv_bits(pv->vmflags);
	v->name = (char *)name;
	v->vmflags = (char *)pv->vmflags_str;
	if (pv->vmflags & PVF_GROWSDOWN)
		v->flags |= MAP_GROWSDOWN;
	if (pv->vmflags & PVF_LOCKED)
		v->flags |= MAP_LOCKED;
	if (pv->vmflags & PVF_NORESERVE)
		v->flags |= MAP_NORESERVE;

	if (!strcmp(name, "[vsyscall]")) {
		v->status = VMA_STATUS__VMA_AREA_VSYSCALL;
		return 0;
	}
	if (!strcmp(name, "[vvar]")) {
		v->status |= VMA_STATUS__VMA_AREA_VVAR;
		return 0;
	}
	if (!strcmp(name, "[vvar_vclock]")) {
		v->status |= VMA_STATUS__VMA_AREA_VVAR_VCLOCK;
		return 0;
	}
	if (!strcmp(name, "[vdso]")) {
		v->status |= VMA_STATUS__VMA_AREA_VDSO;
		return 0;
	}
	if (pv->vmflags & (PVF_HUGETLB | PVF_IO | PVF_PFNMAP)) {
		pr_err(
		    "process %d: mapping %lx-%lx (%s) is hugetlb or device memory: not supported\n",
		    t->pid, pv->start, pv->end, name);
		return -EOPNOTSUPP;
	}
	v->has_dev = v->has_ino = true;
	v->dev = makedev(pv->dev_major, pv->dev_minor);
	v->ino = pv->ino;
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", t->pid, pv->start, pv->end);

	if (!name[0] || name[0] == '[' || (pv->shared && name_is(name, "/dev/zero (deleted)"))) {
		if (pv->shared || name_is(name, "[anon_shmem:")) {
			v->status |= VMA_STATUS__VMA_ANON_SHARED;
			v->flags |= MAP_ANONYMOUS;
			v->has_shmid = true;
			v->shmid = pv->ino;
			return dump_shmem(d, mf, pv->ino);
		}
		v->status |= VMA_STATUS__VMA_ANON_PRIVATE;
		v->flags |= MAP_ANONYMOUS;
		if (!strcmp(name, "[heap]"))
			v->status |= VMA_STATUS__VMA_AREA_HEAP;
		if (!strcmp(name, "[stack]") || (pv->vmflags & PVF_GROWSDOWN))
			v->status |= VMA_STATUS__VMA_AREA_STACK;
		if (pv->prot == PROT_NONE && !pv->rss)
			v->status |= VMA_STATUS__VMA_AREA_GUARD;
		v->has_lazy = true;
		v->lazy = true;
		return 0;
	}
	if (name_is(name, "/SYSV")) {
		v->status |= VMA_STATUS__VMA_AREA_SYSVIPC | VMA_STATUS__VMA_ANON_SHARED;
		v->has_shmid = true;
		v->shmid = pv->ino; /* the inode of a segment's file is its IPC id */
		ret = dump_sysv(t, pv, v);
		return ret ? ret : dump_shmem(d, mf, pv->ino);
	}
	if (name_is(name, "/memfd:")) {
		v->status |= VMA_STATUS__VMA_AREA_MEMFD;
		v->has_shmid = true;
		v->shmid = pv->ino;
		ret = dump_shmem(d, mf, pv->ino);
		if (ret)
			return ret;
	}
	v->status |= pv->shared ? VMA_STATUS__VMA_FILE_SHARED : VMA_STATUS__VMA_FILE_PRIVATE;
	v->has_file_id = true;
	return dump_mapped_file(d, t, name, mf, pv->shared && (pv->prot & PROT_WRITE), &v->file_id);
}

static int read_auxv(pid_t pid, MmEntry *mm)
{
	char path[64], *buf;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	ret = proc_read_file(path, &buf, &len);
	if (ret)
		return ret;
	mm->n_mm_saved_auxv = len / sizeof(uint64_t);
	mm->mm_saved_auxv = (uint64_t *)buf;
	return 0;
}

static int write_pages(struct dump_ctx *d, struct dump_task *t, VmaEntry *vmas, int nr)
{
	struct mem_batch b = {.pid = t->pid, .mem_fd = -1, .lazy = d->lazy ? d : NULL};
	unsigned long *sp = NULL;
	char path[64], id[32], owner[32];
	int i, pm_fd = -1, ret = -ENOMEM;

	snprintf(id, sizeof(id), "%d", t->pid);
	snprintf(owner, sizeof(owner), "pid %d", t->pid);
	sp = calloc(t->nr_threads, sizeof(*sp));
	b.buf = malloc(BATCH_PAGES * PAGE_SZ);
	if (!sp || !b.buf)
		goto out;
	for (i = 0; i < t->nr_threads; i++)
		sp[i] = t->threads[i].regs.rsp & ~(PAGE_SZ - 1);
	b.sp_pages = sp;
	b.nr_sp = t->nr_threads;
	b.tr = t->track.parent ? &t->track : NULL;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", t->pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
	b.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0 || b.mem_fd < 0) {
		ret = -errno;
		pr_perror("process %d: cannot open its pagemap or mem", t->pid);
		goto out;
	}
	ret = open_writer(d, &b.w, id, owner);
	if (ret)
		goto out;
	for (i = 0; i < nr; i++) {
		VmaEntry *v = &vmas[i];

		if (v->status & VMA_STATUS__VMA_ANON_PRIVATE)
			ret = dump_vma_pages(&b, pm_fd, v, &t->vmas[i], false);
		else if (v->status & VMA_STATUS__VMA_FILE_PRIVATE)
			ret = dump_vma_pages(&b, pm_fd, v, &t->vmas[i], true);
		if (ret)
			goto out;
	}
	ret = commit_writer(d, b.w, id);
out:
	pgs_writer_free(b.w);
	if (pm_fd >= 0)
		close(pm_fd);
	if (b.mem_fd >= 0)
		close(b.mem_fd);
	free(b.buf);
	free(sp);
	return ret;
}

int dump_task_mm(struct dump_ctx *d, struct dump_task *t, unsigned long brk)
{
	MmEntry mm = MM_ENTRY__INIT;
	VmaEntry *vmas, **pvmas;
	struct img_file f = {};
	char id[32], exe[PATH_MAX + 1];
	ssize_t n;
	int i, ret;

	vmas = calloc(t->nr_vmas + 1, sizeof(*vmas));
	pvmas = calloc(t->nr_vmas + 1, sizeof(*pvmas));
	if (!vmas || !pvmas) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < t->nr_vmas; i++) {
		vma_entry__init(&vmas[i]);
		pvmas[i] = &vmas[i];
		ret = classify_vma(d, t, &t->vmas[i], &vmas[i]);
		if (ret)
			goto out;
	}
	ret = dump_track_prepare(d, t);
	if (!ret)
		ret = write_pages(d, t, vmas, t->nr_vmas);
	if (!ret && d->o->track_mem)
		ret = dump_track_arm(d, t);
	else if (!ret && d->survives)
		ret = dump_track_disarm(t);
	if (ret)
		goto out;
	if (d->o->track_mem && t->track.task_fd >= 0) {
		mm.has_track_uffd_fd = true;
		mm.track_uffd_fd = t->track.task_fd;
	}

	mm.mm_start_code = t->st.start_code;
	mm.mm_end_code = t->st.end_code;
	mm.mm_start_data = t->st.start_data;
	mm.mm_end_data = t->st.end_data;
	mm.mm_start_stack = t->st.start_stack;
	mm.mm_start_brk = t->st.start_brk;
	mm.mm_brk = brk;
	mm.mm_arg_start = t->st.arg_start;
	mm.mm_arg_end = t->st.arg_end;
	mm.mm_env_start = t->st.env_start;
	mm.mm_env_end = t->st.env_end;
	mm.n_vmas = t->nr_vmas;
	mm.vmas = pvmas;
	ret = read_auxv(t->pid, &mm);
	if (ret)
		goto out;
	snprintf(id, sizeof(id), "/proc/%d/exe", t->pid);
	n = readlink(id, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		ret = dump_mapped_file(d, t, exe, id, false, &mm.exe_file_id);
		if (ret)
			goto out;
		mm.has_exe_file_id = true;
	}

	snprintf(id, sizeof(id), "%d", t->pid);
	ret = open_image_write(&f, d->dirfd, IMG_MM, id);
	if (!ret)
		ret = pb_write_one(&f, &mm);
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	if (!ret)
		ret = dump_note_written(d, "mm-%s.img", id);
out:
	free(mm.mm_saved_auxv);
	if (vmas)
		for (i = 0; i < t->nr_vmas; i++) {
			free(vmas[i].zero_pages);
			free(vmas[i].sysv);
		}
	free(vmas);
	free(pvmas);
	return ret;
}
