/* dump --lazy-pages --address A --port P: the post-copy source. The images are written as by a
 * plain dump except the contents of lazy pages (private anonymous memory that is not locked):
 * mem-dump.c hands their addresses here instead of to the page store, so pagemap-PID.img and
 * pages-PID.img hold only the pages restore writes at once (the page under each stack pointer,
 * copied-on-write pages of file mappings, locked memory; shared memory has its own images), and
 * inventory.img says lazy_pages. The index of the lazy pages lives here and goes out with
 * GET_INDEX: present pages in frames cut as the page store cuts them (windows of
 * PGS_DEFAULT_FRAME_PAGES aligned pages), except that zero pages are not looked for while the
 * tree is frozen (that is downtime); a frame that turns out zero is sent compressed.
 *
 * Where pages are read from. A destination on another host gets them straight from the frozen
 * tasks (process_vm_readv), raw or compressed on the fly (pxf_serve_src); the tree stays frozen
 * until the clients are done, then it is killed (or let go with -R/-s; or let run when the
 * clients left without taking a page, so nothing replaced it). A destination on this host (a
 * loopback address) needs the tree's pids back before it can restore: the memory is handed to a
 * keeper per process (below) and the tree is killed before the server says it is ready; with
 * -R/-s, or without a keeper, the lazy pages are copied into this process first. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-dump: "
#include "log.h"
#include "dump.h"
#include "page-server.h"
#include "inject.h"

#define PG PGS_PAGE_SIZE
#define LS_FRAME PGS_DEFAULT_FRAME_PAGES
#define LS_IOV 512
#define LS_ACCEPT_TIMEOUT_S 120

struct ls_task {
	pid_t pid;
	pid_t rpid; /* where its memory is read: pid, or its keeper once the tree is gone */
	int mem_fd; /* /proc/PID/mem: what process_vm_readv cannot read */
	struct pgs_entry *ents;
	size_t nr, cap;
	uint64_t pages;
	uint8_t *copy; /* copy-out: every entry's pages, entry i at ents[i].off */
	uint8_t *map;  /* the mapping copy is in (2 MiB-aligned inside it) */
	size_t copy_len;
};

struct lazy_dump {
	struct ls_task *tasks;
	int nr, cap;
	bool copy;
	_Atomic uint64_t pages_read;
};

int dump_lazy_listen(const struct crl_opts *o)
{
	if (!o->port) {
		pr_err("dump --lazy-pages serves the memory: it needs --port (and --address)\n");
		return -EINVAL;
	}
	return ps_listen(o->address, o->port);
}

int dump_lazy_init(struct dump_ctx *d)
{
	d->lazy = calloc(1, sizeof(*d->lazy));
	if (!d->lazy)
		return -ENOMEM;
	d->lazy->copy = ps_address_is_loopback(d->o->address);
	return 0;
}

void dump_lazy_free(struct dump_ctx *d)
{
	struct lazy_dump *l = d->lazy;
	int i;

	if (!l)
		return;
	for (i = 0; i < l->nr; i++) {
		free(l->tasks[i].ents);
		if (l->tasks[i].map)
			munmap(l->tasks[i].map, l->tasks[i].copy_len);
		if (l->tasks[i].mem_fd >= 0)
			close(l->tasks[i].mem_fd);
	}
	free(l->tasks);
	free(l);
	d->lazy = NULL;
}

static struct ls_task *find_task(struct lazy_dump *l, pid_t pid)
{
	int i;

	for (i = l->nr - 1; i >= 0; i--)
		if (l->tasks[i].pid == pid)
			return &l->tasks[i];
	return NULL;
}

int dump_lazy_note(struct dump_ctx *d, pid_t pid, uint64_t addr)
{
	struct lazy_dump *l = d->lazy;
	struct ls_task *t = find_task(l, pid);
	struct pgs_entry *e;

	if (!t) {
		if (l->nr == l->cap) {
			int cap = l->cap ? l->cap * 2 : 8;
			struct ls_task *n = realloc(l->tasks, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			l->tasks = n;
			l->cap = cap;
		}
		t = &l->tasks[l->nr++];
		memset(t, 0, sizeof(*t));
		t->pid = t->rpid = pid;
		t->mem_fd = -1;
	}
	e = t->nr ? &t->ents[t->nr - 1] : NULL;
	/* the page store's cut: a frame never crosses an aligned window nor a gap */
	if (e && e->vaddr + (uint64_t)e->nr_pages * PG == addr && (addr / PG) % LS_FRAME) {
		e->nr_pages++;
		t->pages++;
		return 0;
	}
	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;

		e = realloc(t->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		t->ents = e;
		t->cap = cap;
	}
	e = &t->ents[t->nr++];
	memset(e, 0, sizeof(*e));
	e->vaddr = addr;
	e->nr_pages = 1;
	e->flags = PGS_PE_PRESENT | PGS_PE_LAZY;
	t->pages++;
	return 0;
}

/* n pages of pid from raddr into dst: process_vm_readv, then /proc/PID/mem for what it could not
 * read (PROT_NONE pages). */
static int read_task(struct ls_task *t, uint64_t raddr, void *dst, size_t len)
{
	struct iovec l = {.iov_base = dst, .iov_len = len};
	struct iovec r = {.iov_base = (void *)(uintptr_t)raddr, .iov_len = len};
	ssize_t n;

	n = process_vm_readv(t->rpid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (t->mem_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", t->rpid);
		t->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->mem_fd < 0)
			return -errno;
	}
	n = pread(t->mem_fd, dst, len, (off_t)raddr);
	if (n != (ssize_t)len)
		return n < 0 ? -errno : -EIO;
	return 0;
}

/* Entries [lo, hi) of t into the copy, LS_IOV entries per read. 0 or -errno. */
static int copy_range(struct ls_task *t, size_t lo, size_t hi)
{
	struct iovec l[LS_IOV], r[LS_IOV];
	size_t i, k, total;
	ssize_t got;
	int n, ret;

	for (i = lo; i < hi; i += n) {
		total = 0;
		for (n = 0; n < LS_IOV && i + n < hi; n++) {
			struct pgs_entry *e = &t->ents[i + n];

			l[n].iov_base = t->copy + e->off;
			l[n].iov_len = (size_t)e->nr_pages * PG;
			r[n].iov_base = (void *)(uintptr_t)e->vaddr;
			r[n].iov_len = l[n].iov_len;
			total += l[n].iov_len;
		}
		got = process_vm_readv(t->rpid, l, n, r, n, 0);
		if (got == (ssize_t)total)
			continue;
		for (k = i; k < i + n; k++) { /* the slow way for this batch */
			ret = read_task(t, t->ents[k].vaddr, t->copy + t->ents[k].off,
					(size_t)t->ents[k].nr_pages * PG);
			if (ret)
				return ret;
		}
	}
	return 0;
}

struct copy_half {
	struct ls_task *t;
	size_t lo, hi;
	int ret;
};

static void *copy_thread(void *arg)
{
	struct copy_half *h = arg;

	h->ret = copy_range(h->t, h->lo, h->hi);
	return NULL;
}

/* Copy-out: every lazy page into our memory while the tree is still frozen. This is downtime, so
 * it runs on two threads. Not into huge pages: with THP defrag on madvise (Debian's default) the
 * compaction at fault time made it 3-5x slower here (256 MiB: 330-480 ms against 95-103 ms). */
static int copy_task(struct ls_task *t)
{
	struct copy_half h = {.t = t, .lo = t->nr / 2, .hi = t->nr};
	size_t i, off = 0, align = 2UL << 20;
	pthread_t th;
	uint8_t *m;
	int ret;

	t->copy_len = t->pages * PG + align;
	if (!t->pages)
		return 0;
	m = mmap(NULL, t->copy_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	t->map = m;
	t->copy = (uint8_t *)(((uintptr_t)m + align - 1) & ~(align - 1));
	for (i = 0; i < t->nr; i++) {
		t->ents[i].off = off;
		off += (size_t)t->ents[i].nr_pages * PG;
	}
	if (t->nr < 2 * LS_IOV || pthread_create(&th, NULL, copy_thread, &h))
		return copy_range(t, 0, t->nr);
	ret = copy_range(t, 0, h.lo);
	pthread_join(th, NULL);
	return ret ? ret : h.ret;
}

/* A keeper: a process made inside the frozen task by an injected clone(CLONE_VM | CLONE_PTRACE),
 * sharing its address space. It never runs: CLONE_PTRACE makes it ours from birth, stopped
 * before its first instruction. Once the tree is killed it alone holds the memory, which we read
 * through its pid; so the pids are free for a restore on this host at once, with nothing copied.
 * Its copy of the fd table is emptied first (close_range), or the tree's pipes and sockets would
 * outlive the tree, it leaves the tree's session (setsid) and its shared mappings (munmap). */
static int make_keeper(struct dump_task *dt, pid_t *kp)
{
	struct inj_ctx *inj;
	int status, ret, i;
	long child, r;

	ret = inj_open(&inj, dt->threads[0].tid);
	if (ret)
		return ret;
	dt->threads[0].injected = true;
	ret = inj_syscall(inj, &child, SYS_clone, CLONE_VM | CLONE_PTRACE, 0, 0, 0, 0, 0);
	r = inj_close(inj);
	if (!ret && child < 0)
		ret = (int)child;
	if (ret)
		return ret;
	*kp = child;
	if (r)
		goto err;
	r = ptrace_wait_stop(child, &status);
	if (r < 0)
		goto err;
	r = inj_open(&inj, child);
	if (r)
		goto err;
	r = inj_syscall(inj, &child, SYS_close_range, 0, ~0U, 0, 0, 0, 0);
	if (!r && child < 0)
		r = child;
	/* its own session: in the tree's, it would keep the tree's pgid and sid numbers taken */
	if (!r)
		r = inj_syscall(inj, &child, SYS_setsid, 0, 0, 0, 0, 0, 0);
	if (!r && child < 0)
		r = child;
	/* shared mappings hold no lazy page but would stay attached (SysV nattch) to the restored
	 * tree's eyes; the tree, the only other user of this mm, is killed next */
	for (i = 0; !r && i < dt->nr_vmas; i++) {
		if (!dt->vmas[i].shared)
			continue;
		r = inj_syscall(inj, &child, SYS_munmap, dt->vmas[i].start,
				dt->vmas[i].end - dt->vmas[i].start, 0, 0, 0, 0);
		if (!r && child < 0)
			r = child;
	}
	inj_free(inj);
	if (!r)
		return 0;
err:
	kill(*kp, SIGKILL);
	waitpid(*kp, &status, __WALL);
	*kp = 0;
	return r ? (int)r : -EIO;
}

static void drop_keepers(struct lazy_dump *l)
{
	int i, status;

	for (i = 0; i < l->nr; i++) {
		struct ls_task *t = &l->tasks[i];

		if (t->rpid == t->pid)
			continue;
		if (t->mem_fd >= 0) {
			close(t->mem_fd);
			t->mem_fd = -1;
		}
		kill(t->rpid, SIGKILL);
		waitpid(t->rpid, &status, __WALL);
		t->rpid = t->pid;
	}
}

/* Keepers for every task with lazy pages; 0, or -errno with none left behind. */
static int make_keepers(struct dump_ctx *d)
{
	struct lazy_dump *l = d->lazy;
	int i, k, ret;

	for (i = 0; i < l->nr; i++) {
		struct ls_task *t = &l->tasks[i];
		pid_t kp = 0;

		for (k = 0; k < d->nr_tasks && d->tasks[k].pid != t->pid; k++)
			;
		if (k == d->nr_tasks || !t->nr)
			continue;
		ret = make_keeper(&d->tasks[k], &kp);
		if (!ret)
			t->rpid = kp;
		if (ret) {
			pr_warn(
			    "process %d: no keeper for its memory (%s): copying it out instead\n",
			    t->pid, strerror(-ret));
			drop_keepers(l);
			return ret;
		}
		pr_debug("process %d: its memory is held by %d\n", t->pid, kp);
	}
	return 0;
}

static int ls_index(void *arg, uint64_t id, const struct pgs_entry **ents, size_t *nr)
{
	struct lazy_dump *l = arg;
	int i;

	for (i = 0; i < l->nr; i++) {
		if ((uint64_t)l->tasks[i].pid == id) {
			*ents = l->tasks[i].ents;
			*nr = l->tasks[i].nr;
			return 0;
		}
	}
	return -ENOENT;
}

static int ls_read(void *arg, uint64_t id, size_t i, void *dst)
{
	struct lazy_dump *l = arg;
	struct ls_task *t = NULL;
	const struct pgs_entry *e;
	int k, ret = 0;

	for (k = 0; k < l->nr && !t; k++)
		if ((uint64_t)l->tasks[k].pid == id)
			t = &l->tasks[k];
	if (!t || i >= t->nr)
		return -ENOENT;
	e = &t->ents[i];
	if (t->copy)
		memcpy(dst, t->copy + e->off, (size_t)e->nr_pages * PG);
	else
		ret = read_task(t, e->vaddr, dst, (size_t)e->nr_pages * PG);
	if (!ret)
		__atomic_fetch_add(&l->pages_read, e->nr_pages, __ATOMIC_RELAXED);
	else
		pr_err("process %d: cannot read its pages at %#llx: %s\n", t->pid,
		       (unsigned long long)e->vaddr, strerror(-ret));
	return ret;
}

/* A connection that asks for more than a frame at a time is a prefetcher: its thread yields to
 * the ones answering faults (one frame each), which compress on the same two cores. */
static void ls_request(void *arg, uint64_t id, uint64_t vaddr, uint32_t nr_pages)
{
	static __thread int bulk;

	(void)arg;
	(void)id;
	(void)vaddr;
	if (!bulk && nr_pages > PGS_DEFAULT_FRAME_PAGES) {
		bulk = 1;
		if (setpriority(PRIO_PROCESS, gettid(), 10))
			pr_debug("cannot lower the priority of a bulk connection: %s\n",
				 strerror(errno));
	}
}

static const struct pxf_src_ops ls_ops = {
    .index = ls_index,
    .read = ls_read,
    .request = ls_request,
};

struct ls_serve_arg {
	struct lazy_dump *l;
	int level;
	struct pxf_adapt adapt;
};

static int ls_serve(void *arg, struct pxf_conn *c)
{
	struct ls_serve_arg *a = arg;

	return pxf_serve_src(c, &ls_ops, a->l, a->level, &a->adapt);
}

/* A killed task we traced stays a zombie for its parent to see only once its tracer collected it
 * (a plain dump exits, which does that); the restore needs its pid. */
static void reap_traced(struct dump_ctx *d)
{
	int i, j, k, status, left = 1;

	/* a leader is reported only after its other threads: go round until none is left */
	for (k = 0; k < 400 && left; k++) {
		left = 0;
		for (i = 0; i < d->nr_tasks; i++) {
			for (j = 0; j < d->tasks[i].nr_threads; j++) {
				struct dump_thread *th = &d->tasks[i].threads[j];
				pid_t r;

				if (!th->tid)
					continue;
				r = waitpid(th->tid, &status, __WALL | WNOHANG);
				if (r == th->tid || (r < 0 && errno == ECHILD))
					th->tid = 0;
				else
					left++;
			}
		}
		if (left)
			usleep(5000);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int dump_lazy_serve(struct dump_ctx *d, int lfd)
{
	const struct crl_opts *o = d->o;
	struct lazy_dump *l = d->lazy;
	struct ls_serve_arg a = {.l = l};
	struct ps_server srv = {.lfd = lfd, .serve = ls_serve, .arg = &a};
	bool kill_tree = !o->leave_running && !o->leave_stopped;
	uint64_t pages = 0, t0 = now_ns(), t_ready;
	bool released = false, kept;
	int i, ret, ret2;

	/* the fault path cannot wait for a compressor slower than the link: on loopback (or
	 * --compress-level 0) frames go raw; elsewhere raw or at the level asked for, whichever
	 * the connections find faster end to end */
	a.level = l->copy || o->compress_level == 0 ? PXF_LEVEL_RAW : o->compress_level;
	for (i = 0; i < l->nr; i++)
		pages += l->tasks[i].pages;
	srv.uuid = d->uuid;
	srv.reconnect_s = o->lazy_timeout;
	/* a tree is not held frozen for ever for a destination that never comes: it runs on */
	srv.idle_timeout_s = LS_ACCEPT_TIMEOUT_S;
	/* the tree must be gone before a restore on this host: its memory stays with keepers (or
	 * in a copy when the tree is let go, or when there is no keeper) */
	kept = l->copy && kill_tree && !make_keepers(d);
	/* the keepers share the mm: killing the tree must not write into the memory they serve */
	if (kept && dump_forget_exit_writes(d)) {
		pr_warn(
		    "the tree's threads keep their exit writes: copying its memory out instead\n");
		drop_keepers(l);
		kept = false;
	}
	if (kept) {
		released = true;
		ret = dump_release_tree(d, true, false);
		reap_traced(d);
		if (ret)
			goto out_keepers;
		pr_info("the tree is gone, its memory kept in %.1f ms\n", (now_ns() - t0) / 1e6);
	} else if (l->copy) {
		for (i = 0; i < l->nr; i++) {
			ret = copy_task(&l->tasks[i]);
			if (ret) {
				pr_errno(ret, "process %d: cannot copy its lazy pages",
					 l->tasks[i].pid);
				goto out_release;
			}
		}
		pr_info("%llu lazy pages copied out in %.1f ms\n", (unsigned long long)pages,
			(now_ns() - t0) / 1e6);
		/* the pages are ours now: the tree can go, freeing its pids for the restore */
		released = true;
		ret = dump_release_tree(d, kill_tree, o->leave_stopped);
		if (kill_tree)
			reap_traced(d);
		if (ret)
			return ret;
	}
	t_ready = now_ns();
	pr_info("serving %llu lazy pages of %d processes on %s port %d (%s), ready after %.1f ms\n",
		(unsigned long long)pages, l->nr, o->address ? o->address : "127.0.0.1", o->port,
		!l->copy				       ? "from the frozen tree"
		: l->nr && l->tasks[0].rpid != l->tasks[0].pid ? "the tree is gone, its memory kept"
							       : "copied out, the tree is gone",
		(t_ready - t0) / 1e6);
	ps_say_ready(o->status_fd);
	ret = crl_notify(o, "status-ready", 0);
	if (!ret)
		ret = ps_run(&srv);
	pr_info("%llu connections (%llu passed the hello), %llu of %llu pages read in %.1f ms\n",
		(unsigned long long)srv.conns, (unsigned long long)srv.clients,
		(unsigned long long)l->pages_read, (unsigned long long)pages,
		(now_ns() - t_ready) / 1e6);
	if (!l->copy)
		pr_info("measured: sending %.3f ns/byte, compressing %.3f ns/byte, ratio %.3f\n",
			atomic_load(&a.adapt.link_ps) / 1e3, atomic_load(&a.adapt.comp_ps) / 1e3,
			atomic_load(&a.adapt.ratio) / 1e6);
	pr_info("%.1f MiB of pages went as %.1f MiB on the wire\n",
		atomic_load(&a.adapt.page_bytes) / 1048576.0,
		atomic_load(&a.adapt.wire_bytes) / 1048576.0);
	if (!ret && srv.conn_errors)
		pr_warn("%llu connections ended with an error\n",
			(unsigned long long)srv.conn_errors);
	/* clients that left without a page never ran the tree: it is still this one */
	if (!ret && !released && pages && !atomic_load(&l->pages_read)) {
		pr_err("the destination left without taking a page: the tree is left running\n");
		ret = -ECONNABORTED;
	}
out_release:
	if (!released) {
		ret2 = dump_release_tree(d, kill_tree && !ret, o->leave_stopped);
		if (ret2 && !ret)
			ret = ret2;
		if (ret && kill_tree && ret != -ECONNABORTED)
			pr_err(
			    "the destination did not take every page: the tree is left running\n");
	}
out_keepers:
	drop_keepers(l);
	return ret;
}
