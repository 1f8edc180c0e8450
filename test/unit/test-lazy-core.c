/* The lazy-pages core against an in-memory page source: this process registers its own memory
 * with a uffd and a daemon thread serves it. Faults with fault-around, holes, prefetch, racing
 * faults on one page, remap/unmap/remove/fork events, and a frame that cannot be read. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/unit.h"
#include "lazy-pages.h"
#include "uffd.h"
#include "lazy-task.h"

#define PG PGS_PAGE_SIZE

/* ---- an in-memory page source ---- */

struct mem_src {
	struct pgs_entry *ents;
	size_t nr;
	const unsigned char *data; /* the expected contents of the whole mapping */
	uint64_t base;		   /* its address */
	long bad_ent;		   /* this entry's frame "fails its checksum" */
	int reads;
};

static size_t ms_nr(void *p)
{
	return ((struct mem_src *)p)->nr;
}

static const struct pgs_entry *ms_entry(void *p, size_t i)
{
	return &((struct mem_src *)p)->ents[i];
}

static int ms_read(void *p, size_t i, void *dst, int reader)
{
	struct mem_src *s = p;

	(void)reader;
	__atomic_add_fetch(&s->reads, 1, __ATOMIC_RELAXED);
	if ((long)i == s->bad_ent)
		return -EBADMSG;
	memcpy(dst, s->data + (s->ents[i].vaddr - s->base), s->ents[i].nr_pages * PG);
	return 0;
}

static const struct lp_src_ops ms_ops = {
    .nr_entries = ms_nr, .entry = ms_entry, .read_frame = ms_read};

static int page_is_zero(const unsigned char *p)
{
	size_t i;

	for (i = 0; i < PG; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Entries the way the page store cuts them: runs of non-zero pages, at most frame pages each. */
static void ms_build(struct mem_src *s, uint64_t base, const unsigned char *data, size_t npages,
		     unsigned int frame, uint32_t flags)
{
	size_t pg = 0;

	memset(s, 0, sizeof(*s));
	s->ents = unit_xmalloc(sizeof(*s->ents) * npages);
	s->data = data;
	s->base = base;
	s->bad_ent = -1;
	while (pg < npages) {
		struct pgs_entry *e;

		if (page_is_zero(data + pg * PG)) {
			pg++;
			continue;
		}
		e = &s->ents[s->nr++];
		memset(e, 0, sizeof(*e));
		e->vaddr = base + pg * PG;
		e->flags = flags;
		while (pg < npages && e->nr_pages < frame && !page_is_zero(data + pg * PG)) {
			e->nr_pages++;
			pg++;
		}
	}
}

/* ---- a mapping of ours, registered, and a daemon thread serving it ---- */

struct fixture {
	unsigned char *map;
	unsigned char *want;
	size_t npages;
	struct mem_src src;
	struct lp_daemon *d;
	pthread_t thr;
	int ret;
	int running;
};

static void *daemon_thread(void *arg)
{
	struct fixture *f = arg;

	f->ret = lp_run(f->d);
	return NULL;
}

/* Heap-like contents with every 7th page and one whole 40-page stretch zero (holes). */
static void make_contents(unsigned char *buf, size_t npages, uint64_t seed)
{
	size_t pg;

	unit_fill_heaplike(buf, npages * PG, seed);
	for (pg = 0; pg < npages; pg++)
		if (pg % 7 == 3 || (pg >= 100 && pg < 140))
			memset(buf + pg * PG, 0, PG);
}

static int register_self(unsigned char *map, size_t len)
{
	int fd = uffd_open(O_CLOEXEC | O_NONBLOCK);

	UT_GE(fd, 0);
	UT_OK(uffd_api(fd, UFFD_WANTED_FEATURES, NULL));
	UT_OK(uffd_register(fd, (uint64_t)map, len, UFFDIO_REGISTER_MODE_MISSING, NULL));
	return fd;
}

static void fixture_start(struct fixture *f, size_t npages, unsigned int frame, int workers)
{
	struct lp_config cfg = {.nr_workers = workers, .timeout_s = 0};
	struct lp_range r;
	int fd;

	memset(f, 0, sizeof(*f));
	f->npages = npages;
	f->want = unit_xmalloc(npages * PG);
	make_contents(f->want, npages, npages * 31 + frame);
	f->map =
	    mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(f->map != MAP_FAILED);
	ms_build(&f->src, (uint64_t)f->map, f->want, npages, frame, PGS_PE_PRESENT | PGS_PE_LAZY);
	fd = register_self(f->map, npages * PG);
	r.start = (uint64_t)f->map;
	r.end = r.start + npages * PG;
	UT_OK(lp_create(&f->d, &cfg));
	UT_OK(lp_add_task(f->d, getpid(), fd, &r, 1, &ms_ops, &f->src));
	lp_tasks_done(f->d);
	UT_OK(-pthread_create(&f->thr, NULL, daemon_thread, f));
	f->running = 1;
}

/* Waits (bounded) for the daemon to say every page is in. */
static void fixture_wait(struct fixture *f, struct lp_stats *st)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	if (pthread_timedjoin_np(f->thr, NULL, &ts))
		UT_FAIL("the daemon did not finish within 20 s");
	f->running = 0;
	UT_OK(f->ret);
	lp_get_stats(f->d, st);
	lp_free(f->d);
	f->d = NULL;
}

static void check_all(struct fixture *f)
{
	size_t pg;

	for (pg = 0; pg < f->npages; pg++)
		if (memcmp(f->map + pg * PG, f->want + pg * PG, PG))
			UT_FAIL("page %zu differs", pg);
}

static int resident(void *addr)
{
	unsigned char v = 0;

	UT_OK(mincore(addr, PG, &v));
	return v & 1;
}

/* ---- tests ---- */

static void test_faults_fault_around_and_holes(void)
{
	struct fixture f;
	struct lp_stats st;
	size_t pg, hole_pages = 0;

	fixture_start(&f, 512, 16, -1); /* no prefetch: every page comes through a fault */
	/* page 0 starts a 16-page frame (pages 0-2): touching it brings its frame-mates in */
	UT_EQ(f.map[1], f.want[1]);
	UT_EQ(f.src.reads, 1);
	/* the faulting page goes in first, the rest of its frame right after */
	for (pg = 0; pg < 1000 && !resident(f.map + 2 * PG); pg++)
		usleep(1000);
	UT_ASSERT(resident(f.map + 2 * PG));
	UT_ASSERT(!resident(f.map + 4 * PG));
	check_all(&f);
	fixture_wait(&f, &st);
	for (pg = 0; pg < f.npages; pg++)
		hole_pages += page_is_zero(f.want + pg * PG);
	unit_log("faults %llu (%llu pages), zero pages %llu, holes %zu, frames %llu",
		 (unsigned long long)st.faults, (unsigned long long)st.fault_pages,
		 (unsigned long long)st.zero_pages, hole_pages, (unsigned long long)st.frames);
	UT_EQ(st.fault_pages, f.npages - hole_pages);
	UT_EQ(st.frames, f.src.nr); /* each frame decoded once */
	UT_EQ(st.zero_pages, hole_pages);
	UT_EQ(st.prefetch_pages, 0);
}

static void test_prefetch_fills_all(void)
{
	struct fixture f;
	struct lp_stats st;
	double t0 = unit_now();

	fixture_start(&f, 4096, 16, 2);
	fixture_wait(&f, &st); /* nothing touches the memory: prefetch alone */
	unit_log("16 MiB prefetched in %.1f ms (%llu pages, %llu frames)", (unit_now() - t0) * 1e3,
		 (unsigned long long)st.prefetch_pages, (unsigned long long)st.frames);
	UT_EQ(st.faults, 0);
	UT_GT(st.prefetch_pages, 0);
	check_all(&f); /* every page is in: the uffd is closed, reading cannot fault */
}

static void test_faults_and_prefetch(void)
{
	struct fixture f;
	struct lp_stats st;
	size_t pg;

	fixture_start(&f, 8192, 16, 2);
	/* read backwards, against the prefetcher's order */
	for (pg = f.npages; pg-- > 0;)
		if (memcmp(f.map + pg * PG, f.want + pg * PG, PG))
			UT_FAIL("page %zu differs", pg);
	fixture_wait(&f, &st);
	unit_log("faults %llu, fault pages %llu, prefetched %llu, already there %llu",
		 (unsigned long long)st.faults, (unsigned long long)st.fault_pages,
		 (unsigned long long)st.prefetch_pages, (unsigned long long)st.exist_pages);
	check_all(&f);
}

struct racer {
	struct fixture *f;
	pthread_barrier_t *bar;
	size_t pg;
	int ok;
};

static void *race_one(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	r->ok = !memcmp(r->f->map + r->pg * PG, r->f->want + r->pg * PG, PG);
	return NULL;
}

static void test_concurrent_faults_one_page(void)
{
	enum { NT = 8, ROUNDS = 20 };
	struct fixture f;
	struct lp_stats st;
	int round, i;

	fixture_start(&f, 256, 16, -1);
	for (round = 0; round < ROUNDS; round++) {
		pthread_barrier_t bar;
		pthread_t th[NT];
		struct racer r[NT];
		size_t pg = round * 11 + 1;

		if (page_is_zero(f.want + pg * PG))
			pg++;
		pthread_barrier_init(&bar, NULL, NT);
		for (i = 0; i < NT; i++) {
			r[i] = (struct racer){&f, &bar, pg, 0};
			UT_OK(-pthread_create(&th[i], NULL, race_one, &r[i]));
		}
		for (i = 0; i < NT; i++) {
			pthread_join(th[i], NULL);
			if (!r[i].ok)
				UT_FAIL("round %d: thread %d read a wrong page %zu", round, i, pg);
		}
		pthread_barrier_destroy(&bar);
	}
	check_all(&f);
	fixture_wait(&f, &st);
	unit_log("%d rounds of %d threads: %llu fault messages, %llu pages already there", ROUNDS,
		 NT, (unsigned long long)st.faults, (unsigned long long)st.exist_pages);
}

static void test_remap_unmap_remove(void)
{
	struct fixture f;
	struct lp_stats st;
	unsigned char *moved;
	size_t pg;

	fixture_start(&f, 1024, 16, -1);
	/* pages 200-263 move elsewhere before anyone touched them */
	moved = mmap(NULL, 64 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(moved != MAP_FAILED);
	moved = mremap(f.map + 200 * PG, 64 * PG, 64 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, moved);
	UT_ASSERT(moved != MAP_FAILED);
	for (pg = 0; pg < 64; pg++)
		if (memcmp(moved + pg * PG, f.want + (200 + pg) * PG, PG))
			UT_FAIL("moved page %zu differs", pg);
	/* pages 300-331 are discarded: they read as zero from then on */
	UT_OK(madvise(f.map + 300 * PG, 32 * PG, MADV_DONTNEED));
	for (pg = 300; pg < 332; pg++)
		UT_ASSERT(page_is_zero(f.map + pg * PG));
	/* pages 400-1023 go away */
	UT_OK(munmap(f.map + 400 * PG, 624 * PG));
	for (pg = 0; pg < 400; pg++) {
		if ((pg >= 200 && pg < 264) || (pg >= 300 && pg < 332))
			continue;
		if (memcmp(f.map + pg * PG, f.want + pg * PG, PG))
			UT_FAIL("page %zu differs", pg);
	}
	fixture_wait(&f, &st);
	unit_log("events: remap %llu, remove %llu, unmap %llu", (unsigned long long)st.events[4],
		 (unsigned long long)st.events[5], (unsigned long long)st.events[6]);
	UT_EQ(st.events[UFFD_EVENT_REMAP & 7], 1);
	UT_GE(st.events[UFFD_EVENT_REMOVE & 7], 1);
	UT_GE(st.events[UFFD_EVENT_UNMAP & 7], 1);
}

/* Discards, moves and unmaps racing the prefetch workers, round after round: a discarded range
 * must read as zero afterwards (a worker that filled it after the discard would bring the old
 * data back), a moved range must hold its data at the new place, and the rest must be right. */
static void test_events_racing_prefetch(void)
{
	enum { CHUNK = 256, ROUNDS = 8 };
	int round;

	for (round = 0; round < ROUNDS; round++) {
		struct fixture f;
		struct lp_stats st;
		unsigned char *moved[4];
		size_t pg, k, nchunks;

		fixture_start(&f, 16384, 16, 2);
		nchunks = f.npages / CHUNK;
		/* chunk k: k % 4 == 1 discarded, k % 8 == 3 moved (the first four), else kept */
		for (k = 0; k < nchunks; k++)
			if (k % 4 == 1)
				UT_OK(madvise(f.map + k * CHUNK * PG, CHUNK * PG, MADV_DONTNEED));
		for (k = 0; k < 4; k++) {
			size_t c = 8 * k + 3;
			void *to =
			    mmap(NULL, CHUNK * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			UT_ASSERT(to != MAP_FAILED);
			moved[k] = mremap(f.map + c * CHUNK * PG, CHUNK * PG, CHUNK * PG,
					  MREMAP_MAYMOVE | MREMAP_FIXED, to);
			UT_ASSERT(moved[k] != MAP_FAILED);
		}
		fixture_wait(&f, &st);
		for (k = 0; k < nchunks; k++) {
			unsigned char *base = f.map + k * CHUNK * PG;
			int is_moved = k % 8 == 3 && k < 32;

			if (is_moved)
				base = moved[(k - 3) / 8];
			for (pg = 0; pg < CHUNK; pg++) {
				const unsigned char *want = f.want + (k * CHUNK + pg) * PG;
				const unsigned char *got = base + pg * PG;

				if (k % 4 == 1 && !page_is_zero(got))
					UT_FAIL("round %d: discarded page %zu holds data", round,
						k * CHUNK + pg);
				if (k % 4 != 1 && memcmp(got, want, PG))
					UT_FAIL("round %d: %s page %zu differs", round,
						is_moved ? "moved" : "kept", k * CHUNK + pg);
			}
		}
		if (round == ROUNDS - 1)
			unit_log("last round: prefetched %llu, events remove %llu remap %llu",
				 (unsigned long long)st.prefetch_pages,
				 (unsigned long long)st.events[UFFD_EVENT_REMOVE & 7],
				 (unsigned long long)st.events[UFFD_EVENT_REMAP & 7]);
		for (k = 0; k < 4; k++)
			munmap(moved[k], CHUNK * PG);
		munmap(f.map, f.npages * PG);
		free(f.want);
	}
}

static void test_fork_child_gets_pages(void)
{
	struct fixture f;
	struct lp_stats st;
	int status;
	pid_t pid;

	fixture_start(&f, 2048, 16, -1);
	/* the parent takes the first half before the fork, the child reads everything after */
	UT_ASSERT(!memcmp(f.map, f.want, 1024 * PG));
	pid = fork();
	UT_GE(pid, 0);
	if (pid == 0) {
		size_t pg;

		alarm(20);
		for (pg = 0; pg < f.npages; pg++)
			if (memcmp(f.map + pg * PG, f.want + pg * PG, PG))
				_exit(10);
		_exit(0);
	}
	UT_EQ(waitpid(pid, &status, 0), pid);
	UT_ASSERT(WIFEXITED(status));
	UT_EQ(WEXITSTATUS(status), 0);
	check_all(&f);
	fixture_wait(&f, &st);
	unit_log("fork events %llu, faults %llu", (unsigned long long)st.events[3],
		 (unsigned long long)st.faults);
	UT_EQ(st.events[UFFD_EVENT_FORK & 7], 1);
}

/* A task whose frame cannot be read is killed at its fault, never given a zero page. The task is
 * a child that hands its uffd over, as restore does. */
static void test_corrupt_frame_kills(void)
{
	enum { NPAGES = 256 };
	struct lp_config cfg = {.nr_workers = -1};
	unsigned char *want = unit_xmalloc(NPAGES * PG);
	struct fixture f = {0};
	struct lazy_task lt;
	struct timespec ts;
	struct lp_range r;
	struct mem_src src;
	unsigned char *map;
	size_t bad_pg;
	int status;

	make_contents(want, NPAGES, 77);
	map = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(map != MAP_FAILED);
	ms_build(&src, (uint64_t)map, want, NPAGES, 16, PGS_PE_PRESENT | PGS_PE_LAZY);
	src.bad_ent = src.nr / 2;
	bad_pg = (src.ents[src.bad_ent].vaddr - (uint64_t)map) / PG;
	lazy_task_spawn(&lt, map, NPAGES, want, 0);
	r.start = (uint64_t)map;
	r.end = r.start + NPAGES * PG;
	UT_OK(lp_create(&f.d, &cfg));
	UT_OK(lp_add_task(f.d, lt.pid, lt.uffd, &r, 1, &ms_ops, &src));
	lp_tasks_done(f.d);
	UT_OK(-pthread_create(&f.thr, NULL, daemon_thread, &f));
	lazy_task_go(&lt);
	/* every page before the bad frame, none from it on */
	UT_EQ(lazy_task_collect(&lt, &status), bad_pg);
	UT_ASSERT(WIFSIGNALED(status));
	UT_EQ(WTERMSIG(status), SIGKILL);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	if (pthread_timedjoin_np(f.thr, NULL, &ts))
		UT_FAIL("the daemon did not finish after the task was killed");
	UT_ERR(f.ret, -EBADMSG);
	lp_free(f.d);
}

static const struct lp_src_ops ms_ops_restore_has = {
    .nr_entries = ms_nr, .entry = ms_entry, .read_frame = ms_read, .restore_has_pages = 1};

/* Lazy pages the task already has when handed over: with local images restore wrote them (they
 * are in); with a source restore cannot read they were filled without their data, and the task
 * must not run. */
static void test_pages_present_before(void)
{
	enum { NPAGES = 256 };
	unsigned char *want = unit_xmalloc(NPAGES * PG), *map;
	int restore_has;

	make_contents(want, NPAGES, 21);
	for (restore_has = 0; restore_has < 2; restore_has++) {
		struct lp_config cfg = {.nr_workers = -1}; /* faults only: no race to EEXIST */
		struct fixture f = {0};
		struct lazy_task lt;
		struct lp_range r;
		struct mem_src src;
		struct lp_stats st;
		int status, ret;

		map = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		UT_ASSERT(map != MAP_FAILED);
		ms_build(&src, (uint64_t)map, want, NPAGES, 16, PGS_PE_PRESENT | PGS_PE_LAZY);
		lazy_task_spawn(&lt, map, NPAGES, want, 16); /* pages 0-15 there before us */
		r.start = (uint64_t)map;
		r.end = r.start + NPAGES * PG;
		UT_OK(lp_create(&f.d, &cfg));
		ret = lp_add_task(f.d, lt.pid, lt.uffd, &r, 1,
				  restore_has ? &ms_ops_restore_has : &ms_ops, &src);
		if (!restore_has) {
			UT_ERR(ret, -EIO);
			lazy_task_go(&lt);
			UT_EQ(lazy_task_collect(&lt, &status), 0);
			UT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
			lp_free(f.d);
		} else {
			UT_OK(ret);
			lp_tasks_done(f.d);
			UT_OK(-pthread_create(&f.thr, NULL, daemon_thread, &f));
			lazy_task_go(&lt);
			UT_EQ(lazy_task_collect(&lt, &status), NPAGES);
			UT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			f.running = 1;
			fixture_wait(&f, &st);
			UT_EQ(st.exist_pages, 0); /* the 16 were known to be in: no copy tried */
		}
		munmap(map, NPAGES * PG);
	}
}

/* A daemon that stops before every page is in (a signal, an error) takes the tasks that still
 * lack pages with it: once its uffds close they would read zeros. */
static void test_stop_kills_unfinished(void)
{
	enum { NPAGES = 64 };
	struct lp_config cfg = {.nr_workers = -1};
	unsigned char *want = unit_xmalloc(NPAGES * PG), *map;
	struct lp_daemon *d;
	struct lazy_task lt;
	struct lp_range r;
	struct mem_src src;
	int status;

	make_contents(want, NPAGES, 9);
	map = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(map != MAP_FAILED);
	ms_build(&src, (uint64_t)map, want, NPAGES, 16, PGS_PE_PRESENT | PGS_PE_LAZY);
	lazy_task_spawn(&lt, map, NPAGES, want, 0);
	r.start = (uint64_t)map;
	r.end = r.start + NPAGES * PG;
	UT_OK(lp_create(&d, &cfg));
	UT_OK(lp_add_task(d, lt.pid, lt.uffd, &r, 1, &ms_ops, &src));
	lazy_task_go(&lt); /* it faults on page 0 and waits: nobody serves it */
	usleep(50000);
	lp_free(d);
	UT_EQ(lazy_task_collect(&lt, &status), 0);
	UT_ASSERT(WIFSIGNALED(status));
	UT_EQ(WTERMSIG(status), SIGKILL);
}

static int slow_read(void *p, size_t i, void *dst, int reader)
{
	(void)reader;
	(void)p;
	(void)i;
	(void)dst;
	pause(); /* a page source that never answers */
	return -EIO;
}

static const struct lp_src_ops slow_ops = {
    .nr_entries = ms_nr, .entry = ms_entry, .read_frame = slow_read};

/* A page source that stays away past --lazy-timeout: the task is killed (never left hanging or
 * given zeros) and the daemon exits with an error. The daemon runs in a process of its own,
 * since it ends that way. */
static void test_source_timeout(void)
{
	enum { NPAGES = 64 };
	unsigned char *want = unit_xmalloc(NPAGES * PG), *map;
	int sv[2], status, fd;
	struct mem_src src;
	pid_t task, dpid;
	double t0;

	make_contents(want, NPAGES, 5);
	map = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(map != MAP_FAILED);
	ms_build(&src, (uint64_t)map, want, NPAGES, 16, PGS_PE_PRESENT | PGS_PE_LAZY);
	UT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	task = fork();
	UT_GE(task, 0);
	if (task == 0) {
		alarm(20);
		fd = register_self(map, NPAGES * PG);
		if (write(sv[1], "r", 1) != 1)
			_exit(2);
		for (;;) {
			volatile unsigned char v = map[PG];
			(void)v;
			_exit(3); /* reached only if a page came: the source never answers */
		}
	}
	{
		char c;

		UT_EQ(read(sv[0], &c, 1), 1);
	}
	dpid = fork();
	UT_GE(dpid, 0);
	if (dpid == 0) {
		struct lp_config cfg = {.nr_workers = -1, .timeout_s = 1};
		struct lp_range r = {(uint64_t)map, (uint64_t)map + NPAGES * PG};
		struct lp_daemon *d;
		char path[64], link[64];
		int k, pidfd;

		alarm(20);
		/* take the task's uffd the way restore does: find it among its fds, pidfd_getfd */
		pidfd = syscall(SYS_pidfd_open, task, 0);
		for (k = 3, fd = -1; k < 256 && fd < 0 && pidfd >= 0; k++) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%d/fd/%d", task, k);
			n = readlink(path, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = 0, strstr(link, "userfaultfd")))
				fd = syscall(SYS_pidfd_getfd, pidfd, k, 0);
		}
		if (fd < 0 || lp_create(&d, &cfg) ||
		    lp_add_task(d, task, fd, &r, 1, &slow_ops, &src))
			_exit(10);
		lp_tasks_done(d);
		lp_run(d);
		_exit(11); /* the watchdog ends this process before */
	}
	t0 = unit_now();
	UT_EQ(waitpid(task, &status, 0), task);
	UT_ASSERT(WIFSIGNALED(status));
	UT_EQ(WTERMSIG(status), SIGKILL);
	UT_EQ(waitpid(dpid, &status, 0), dpid);
	UT_ASSERT(WIFEXITED(status));
	UT_EQ(WEXITSTATUS(status), 1);
	unit_log("task killed and daemon out %.1f s after the source stopped answering",
		 unit_now() - t0);
	UT_LT(unit_now() - t0, 5);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Fault latency as the faulting thread sees it, frame sizes 1 and 16 pages, no prefetch. */
static void measure(unsigned int frame)
{
	enum { N = 2000 };
	struct fixture f;
	struct lp_stats st;
	static double lat[N];
	size_t pg;
	int n = 0;

	fixture_start(&f, N * frame, frame, -1);
	for (pg = 0; pg < f.npages && n < N; pg += frame) {
		double t0;

		if (page_is_zero(f.want + pg * PG))
			continue;
		t0 = unit_now();
		*(volatile unsigned char *)(f.map + pg * PG);
		lat[n++] = unit_now() - t0;
	}
	check_all(&f);
	fixture_wait(&f, &st);
	qsort(lat, n, sizeof(*lat), cmp_double);
	unit_log("frame %2u pages: %d faults, seen by the task p50 %.1f us p99 %.1f us; "
		 "in the daemon p50 %.1f us p99 %.1f us",
		 frame, n, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6, st.lat_p50_ns / 1e3,
		 st.lat_p99_ns / 1e3);
}

static void test_fault_latency(void)
{
	measure(1);
	measure(16);
}

static const struct unit_test tests[] = {
    {"faults, fault-around and holes", test_faults_fault_around_and_holes, UNIT_F_UFFD},
    {"prefetch fills every page", test_prefetch_fills_all, UNIT_F_UFFD},
    {"faults racing prefetch", test_faults_and_prefetch, UNIT_F_UFFD},
    {"concurrent faults on one page", test_concurrent_faults_one_page, UNIT_F_UFFD},
    {"remap, remove, unmap", test_remap_unmap_remove, UNIT_F_UFFD},
    {"discards and moves racing prefetch", test_events_racing_prefetch, UNIT_F_UFFD},
    {"fork child gets its pages", test_fork_child_gets_pages, UNIT_F_UFFD},
    {"corrupt frame kills, never zero", test_corrupt_frame_kills, UNIT_F_UFFD},
    {"page source timeout kills", test_source_timeout, UNIT_F_UFFD},
    {"a daemon stopping early kills unfinished tasks", test_stop_kills_unfinished, UNIT_F_UFFD},
    {"lazy pages present before the daemon", test_pages_present_before,
     UNIT_F_UFFD | UNIT_F_PAGEMAP_SCAN},
    {"fault latency", test_fault_latency, UNIT_F_UFFD},
};

UNIT_MAIN(tests)
