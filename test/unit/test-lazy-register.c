/* Restore's side of lazy pages against the daemon's socket: a stopped child gets a uffd made
 * inside it, registered from outside and handed over with lazy_register_task; the daemon serves
 * it from an in-memory source and the child checks every page once it runs again. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/unit.h"
#include "inject.h"
#include "lazy-pages.h"
#include "lazy-register.h"

#define PG PGS_PAGE_SIZE
#define NPAGES 2048

struct src {
	struct pgs_entry ents[NPAGES];
	size_t nr;
	const unsigned char *data;
	uint64_t base;
	int fail_open;
};

static size_t s_nr(void *p)
{
	return ((struct src *)p)->nr;
}

static const struct pgs_entry *s_entry(void *p, size_t i)
{
	return &((struct src *)p)->ents[i];
}

static int s_read(void *p, size_t i, void *dst, int reader)
{
	struct src *s = p;

	(void)reader;
	memcpy(dst, s->data + (s->ents[i].vaddr - s->base), s->ents[i].nr_pages * PG);
	return 0;
}

static const struct lp_src_ops s_ops = {.nr_entries = s_nr, .entry = s_entry, .read_frame = s_read};

static int open_src(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv)
{
	struct src *s = arg;

	(void)pid;
	if (s->fail_open)
		return -ENOENT;
	*ops = &s_ops;
	*priv = s;
	return 0;
}

struct daemon {
	struct lp_daemon *d;
	pthread_t thr;
	int ret;
};

static void *run(void *arg)
{
	struct daemon *dm = arg;

	dm->ret = lp_run(dm->d);
	return NULL;
}

static int join(struct daemon *dm)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	if (pthread_timedjoin_np(dm->thr, NULL, &ts))
		UT_FAIL("the daemon did not finish within 20 s");
	return dm->ret;
}

/* The child waits on a pipe, then checks its lazily filled memory against want. */
static pid_t spawn(unsigned char *map, const unsigned char *want, int *go)
{
	int p[2];
	pid_t pid;

	UT_OK(pipe(p));
	pid = fork();
	UT_GE(pid, 0);
	if (pid == 0) {
		char c;
		size_t i;

		close(p[1]);
		alarm(30);
		while (read(p[0], &c, 1) != 1)
			;
		for (i = 0; i < NPAGES; i++)
			if (memcmp(map + i * PG, want + i * PG, PG))
				_exit(10);
		_exit(0);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

/* may_die: the daemon may kill the task while we still hold it (it has no pages to serve). */
static void hand_over(pid_t pid, const char *dir, unsigned char *map, int may_die)
{
	struct crl_opts o = {.work_dir = dir, .images_dir = dir};
	struct lazy_conn *lc = NULL;
	struct inj_ctx *inj = NULL;
	VmaEntry v, *vp = &v;
	MmEntry mm;
	int status;

	UT_OK(ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL) ? -errno : 0);
	UT_OK(ptrace(PTRACE_INTERRUPT, pid, 0, 0) ? -errno : 0);
	UT_GE(ptrace_wait_stop(pid, &status), 0);
	UT_OK(inj_open(&inj, pid));
	mm_entry__init(&mm);
	vma_entry__init(&v);
	v.start = (uint64_t)map;
	v.end = v.start + NPAGES * PG;
	v.has_lazy = v.lazy = 1;
	mm.n_vmas = 1;
	mm.vmas = &vp;
	UT_OK(lazy_connect(&lc, &o));
	UT_OK(lazy_register_task(lc, inj, pid, &mm));
	UT_OK(lazy_conn_done(lc));
	lazy_disconnect(lc);
	if (may_die) {
		inj_close(inj);
		ptrace(PTRACE_DETACH, pid, 0, 0);
		return;
	}
	UT_OK(inj_close(inj));
	UT_OK(ptrace(PTRACE_DETACH, pid, 0, 0) ? -errno : 0);
}

static void setup(struct src *s, unsigned char **map, unsigned char **want)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	*want = unit_xmalloc(NPAGES * PG);
	unit_fill_heaplike(*want, NPAGES * PG, 5);
	*map = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(*map != MAP_FAILED);
	s->data = *want;
	s->base = (uint64_t)*map;
	for (i = 0; i < NPAGES / 16; i++) {
		s->ents[i].vaddr = s->base + i * 16 * PG;
		s->ents[i].nr_pages = 16;
		s->ents[i].flags = PGS_PE_PRESENT | PGS_PE_LAZY;
	}
	s->nr = NPAGES / 16;
}

static void test_register_and_serve(void)
{
	struct lp_config cfg = {.nr_workers = 1, .timeout_s = 20};
	unsigned char *map, *want;
	struct daemon dm;
	struct lp_stats st;
	char dir[256];
	int status, go, dfd;
	struct src s;
	pid_t pid;

	setup(&s, &map, &want);
	dfd = unit_mkdtemp(dir, sizeof(dir));
	UT_OK(lp_create(&dm.d, &cfg));
	UT_OK(lp_listen(dm.d, dir, open_src, &s));
	UT_OK(-pthread_create(&dm.thr, NULL, run, &dm));
	pid = spawn(map, want, &go);
	hand_over(pid, dir, map, 0);
	UT_EQ(write(go, "g", 1), 1);
	UT_EQ(waitpid(pid, &status, 0), pid);
	UT_ASSERT(WIFEXITED(status));
	UT_EQ(WEXITSTATUS(status), 0);
	UT_OK(join(&dm));
	lp_get_stats(dm.d, &st);
	unit_log("faults %llu, fault pages %llu, prefetched %llu", (unsigned long long)st.faults,
		 (unsigned long long)st.fault_pages, (unsigned long long)st.prefetch_pages);
	UT_EQ(st.fault_pages + st.prefetch_pages, NPAGES);
	lp_free(dm.d);
	close(dfd);
	unit_rmdir(dir);
}

static void test_no_source_kills(void)
{
	struct lp_config cfg = {.nr_workers = 1, .timeout_s = 20};
	unsigned char *map, *want;
	struct daemon dm;
	char dir[256];
	int status, go, dfd;
	struct src s;
	pid_t pid;

	setup(&s, &map, &want);
	s.fail_open = 1;
	signal(SIGPIPE, SIG_IGN);
	dfd = unit_mkdtemp(dir, sizeof(dir));
	UT_OK(lp_create(&dm.d, &cfg));
	UT_OK(lp_listen(dm.d, dir, open_src, &s));
	UT_OK(-pthread_create(&dm.thr, NULL, run, &dm));
	pid = spawn(map, want, &go);
	hand_over(pid, dir, map, 1);
	if (write(go, "g", 1) < 0) {
		/* the child may already be gone */
	}
	UT_EQ(waitpid(pid, &status, 0), pid);
	UT_ASSERT(WIFSIGNALED(status));
	UT_EQ(WTERMSIG(status), SIGKILL);
	UT_ERR(join(&dm), -ENOENT);
	lp_free(dm.d);
	close(dfd);
	unit_rmdir(dir);
}

static void test_no_daemon(void)
{
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	struct crl_opts o = {.work_dir = dir, .images_dir = dir};
	struct lazy_conn *lc = NULL;

	UT_ERR(lazy_connect(&lc, &o), -ENOENT);
	close(dfd);
	unit_rmdir(dir);
}

static const struct unit_test tests[] = {
    {"register in a stopped task and serve it", test_register_and_serve,
     UNIT_F_UFFD | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
    {"no page source: task killed", test_no_source_kills,
     UNIT_F_UFFD | UNIT_F_PTRACE | UNIT_F_PIDFD_GETFD},
    {"no daemon: clear error", test_no_daemon, 0},
};

UNIT_MAIN(tests)
