/* The /proc parsers (criu-lazy/lib/proc-parse.c) against what the kernel says through syscalls. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc-parse.h"
#include "lib/unit.h"

static void test_stat_self(void)
{
	struct proc_stat st;

	UT_OK(proc_parse_stat(getpid(), 0, &st));
	UT_EQ(st.pid, getpid());
	UT_EQ(st.ppid, getppid());
	UT_EQ(st.pgid, getpgrp());
	UT_EQ(st.sid, getsid(0));
	UT_EQ(st.state, 'R');
	UT_EQ(st.num_threads, 1);
	UT_LT(st.start_code, st.end_code);
	UT_LT(st.arg_start, st.arg_end);
	UT_NE(st.start_brk, 0);
}

/* comm may hold spaces and ')': the parser must cut at the last ')' */
static void test_stat_odd_comm(void)
{
	static const char name[] = "a) b (c";
	struct proc_stat st;

	UT_EQ(prctl(PR_SET_NAME, name), 0);
	UT_OK(proc_parse_stat(getpid(), 0, &st));
	UT_EQ(strcmp(st.comm, name), 0);
	UT_EQ(st.ppid, getppid());
	UT_EQ(st.state, 'R');
}

static void test_stat_gone(void)
{
	struct proc_stat st;
	pid_t pid = fork();

	UT_GE(pid, 0);
	if (!pid)
		_exit(0);
	UT_EQ(waitpid(pid, NULL, 0), pid);
	UT_ERR(proc_parse_stat(pid, 0, &st), -ENOENT);
}

static void test_zombie_exit_code(void)
{
	struct proc_stat st;
	pid_t pid = fork();
	int i;

	UT_GE(pid, 0);
	if (!pid)
		_exit(42);
	for (i = 0; i < 1000; i++) {
		UT_OK(proc_parse_stat(pid, 0, &st));
		if (st.state == 'Z')
			break;
		usleep(1000);
	}
	UT_EQ(st.state, 'Z');
	UT_EQ(st.exit_code, 42 << 8);
	UT_EQ(waitpid(pid, NULL, 0), pid);
}

static void test_status_self(void)
{
	struct proc_status ps;
	gid_t groups[64];
	int n = getgroups(64, groups), i;

	umask(027);
	UT_OK(proc_parse_status(getpid(), 0, &ps));
	UT_EQ(ps.tgid, getpid());
	UT_EQ(ps.ppid, getppid());
	UT_EQ(ps.uid[0], getuid());
	UT_EQ(ps.uid[1], geteuid());
	UT_EQ(ps.gid[0], getgid());
	UT_EQ(ps.gid[1], getegid());
	UT_EQ(ps.umask, 027);
	UT_EQ(ps.nr_groups, n);
	for (i = 0; i < n; i++)
		UT_EQ(ps.groups[i], groups[i]);
	UT_EQ(ps.seccomp, 0);
	proc_status_fini(&ps);
}

static void test_status_sigmasks(void)
{
	struct proc_status ps;
	sigset_t set;

	signal(SIGUSR2, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	UT_EQ(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	raise(SIGUSR1);
	UT_OK(proc_parse_status(getpid(), 0, &ps));
	UT_EQ(ps.sig_blk, 1ULL << (SIGUSR1 - 1));
	UT_NE(ps.sig_ign & (1ULL << (SIGUSR2 - 1)), 0);
	UT_NE((ps.sig_pnd | ps.shd_pnd) & (1ULL << (SIGUSR1 - 1)), 0);
	proc_status_fini(&ps);
}

static void test_limits(void)
{
	struct rlimit rl[RLIM_NLIMITS], set = {1000, 2000}, want;
	int i;

	UT_EQ(setrlimit(RLIMIT_NOFILE, &set), 0);
	UT_OK(proc_parse_limits(getpid(), rl));
	for (i = 0; i < RLIM_NLIMITS; i++) {
		UT_EQ(getrlimit(i, &want), 0);
		UT_EQ(rl[i].rlim_cur, want.rlim_cur);
		UT_EQ(rl[i].rlim_max, want.rlim_max);
	}
	UT_EQ(rl[RLIMIT_NOFILE].rlim_cur, 1000);
}

static const struct proc_vma *find_vma(const struct proc_vma *v, int nr, unsigned long addr)
{
	int i;

	for (i = 0; i < nr; i++)
		if (v[i].start <= addr && addr < v[i].end)
			return &v[i];
	return NULL;
}

static void test_smaps(void)
{
	struct proc_vma *vmas;
	const struct proc_vma *v;
	char *anon, *shared, *brk;
	int nr, fd;

	anon = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(anon != MAP_FAILED && shared != MAP_FAILED);
	UT_EQ(madvise(anon, 8 * 4096, MADV_DONTFORK), 0);
	UT_EQ(mprotect(anon + 4096, 4096, PROT_NONE), 0); /* splits it in three */
	memset(anon, 1, 4096);
	brk = sbrk(4096 * 4);
	brk[0] = 1;
	fd = open("/proc/self/exe", O_RDONLY);
	UT_GE(fd, 0);

	UT_OK(proc_parse_smaps(getpid(), &vmas, &nr));
	v = find_vma(vmas, nr, (unsigned long)anon);
	UT_NONNULL(v);
	UT_EQ(v->start, (unsigned long)anon);
	UT_EQ(v->end, (unsigned long)anon + 4096);
	UT_EQ(v->prot, PROT_READ | PROT_WRITE);
	UT_ASSERT(!v->shared);
	UT_NE(v->vmflags & PVF_DONTCOPY, 0);
	UT_EQ(v->rss, 4);
	UT_EQ(v->name[0], '\0');
	v = find_vma(vmas, nr, (unsigned long)anon + 4096);
	UT_NONNULL(v);
	UT_EQ(v->prot, PROT_NONE);
	UT_EQ(v->end, (unsigned long)anon + 2 * 4096);
	v = find_vma(vmas, nr, (unsigned long)shared);
	UT_NONNULL(v);
	UT_ASSERT(v->shared);
	UT_NE(v->ino, 0);
	UT_EQ(strcmp(v->name, "/dev/zero (deleted)"), 0);
	v = find_vma(vmas, nr, (unsigned long)brk);
	UT_NONNULL(v);
	UT_EQ(strcmp(v->name, "[heap]"), 0);
	v = find_vma(vmas, nr, (unsigned long)&test_smaps);
	UT_NONNULL(v);
	UT_EQ(v->prot, PROT_READ | PROT_EXEC);
	UT_EQ(v->name[0], '/');
	UT_NE(v->ino, 0);
	UT_ASSERT(strstr(v->vmflags_str, "ex") != NULL);
	UT_EQ(v->vmflags_str[strlen(v->vmflags_str) - 1] != ' ', 1);
	v = find_vma(vmas, nr, (unsigned long)&nr);
	UT_NONNULL(v);
	UT_EQ(strcmp(v->name, "[stack]"), 0);
	proc_vmas_free(vmas, nr);
	close(fd);
}

static void *idle_thread(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

static void test_tasks(void)
{
	pthread_t t[3];
	pid_t *tids;
	int nr, i;

	for (i = 0; i < 3; i++)
		UT_EQ(pthread_create(&t[i], NULL, idle_thread, NULL), 0);
	UT_OK(proc_list_tasks(getpid(), &tids, &nr));
	UT_EQ(nr, 4);
	UT_EQ(tids[0], getpid());
	for (i = 2; i < nr; i++)
		UT_LT(tids[i - 1], tids[i]);
	free(tids);
	UT_ERR(proc_list_tasks(0x7ffffff0, &tids, &nr), -ENOENT);
}

static void test_children(void)
{
	pid_t kids[3], *found;
	int nr, i;

	for (i = 0; i < 3; i++) {
		kids[i] = fork();
		UT_GE(kids[i], 0);
		if (!kids[i]) {
			pause();
			_exit(0);
		}
	}
	UT_OK(proc_list_children(getpid(), &found, &nr));
	UT_EQ(nr, 3);
	for (i = 1; i < nr; i++)
		UT_LT(found[i - 1], found[i]);
	for (i = 0; i < 3; i++) {
		int j, seen = 0;

		for (j = 0; j < nr; j++)
			seen += found[j] == kids[i];
		UT_EQ(seen, 1);
	}
	free(found);
	for (i = 0; i < 3; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
}

static void test_fdinfo(void)
{
	struct proc_fdinfo fi;
	struct stat st;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	UT_GE(fd, 0);
	UT_EQ(lseek(fd, 123, SEEK_SET), 123);
	UT_EQ(fstat(fd, &st), 0);
	UT_OK(proc_parse_fdinfo(getpid(), fd, &fi));
	UT_EQ(fi.pos, 123);
	UT_EQ(fi.flags & O_ACCMODE, O_RDONLY);
	UT_NE(fi.flags & O_CLOEXEC, 0);
	UT_EQ(fi.ino, st.st_ino);
	UT_NE(fi.mnt_id, 0);
	close(fd);
	UT_ERR(proc_parse_fdinfo(getpid(), fd, &fi), -ENOENT);
}

static void test_timers(void)
{
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1};
	struct proc_timer *pt;
	timer_t t1, t2;
	int nr, i, seen = 0;

	sev.sigev_value.sival_ptr = (void *)0x1234;
	UT_EQ(timer_create(CLOCK_MONOTONIC, &sev, &t1), 0);
	sev.sigev_notify = SIGEV_NONE;
	UT_EQ(timer_create(CLOCK_REALTIME, &sev, &t2), 0);
	UT_OK(proc_parse_timers(getpid(), &pt, &nr));
	UT_EQ(nr, 2);
	for (i = 0; i < nr; i++) {
		if (pt[i].id == (int)(long)t1) {
			UT_EQ(pt[i].signo, SIGRTMIN + 1);
			UT_EQ(pt[i].sival, 0x1234);
			UT_EQ(pt[i].notify, SIGEV_SIGNAL);
			UT_EQ(pt[i].clockid, CLOCK_MONOTONIC);
			seen++;
		} else if (pt[i].id == (int)(long)t2) {
			UT_EQ(pt[i].notify, SIGEV_NONE);
			UT_EQ(pt[i].clockid, CLOCK_REALTIME);
			seen++;
		}
	}
	UT_EQ(seen, 2);
	free(pt);
}

static void test_sysv_shm(void)
{
	struct proc_shm shm;
	int id = shmget(IPC_PRIVATE, 3 * 4096 + 10, IPC_CREAT | 0640);
	void *p;

	UT_GE(id, 0);
	p = shmat(id, NULL, 0);
	UT_ASSERT(p != (void *)-1);
	UT_OK(proc_sysv_shm(id, &shm));
	UT_EQ(shm.shmid, id);
	UT_EQ(shm.key, 0);
	UT_EQ(shm.size, 3 * 4096 + 10);
	UT_EQ(shm.mode & 0777, 0640);
	UT_EQ(shm.uid, geteuid());
	UT_EQ(shmctl(id, IPC_RMID, NULL), 0); /* still attached: listed, with SHM_DEST */
	UT_OK(proc_sysv_shm(id, &shm));
	UT_NE(shm.mode & 01000, 0);
	UT_EQ(shmdt(p), 0);
	UT_ERR(proc_sysv_shm(id, &shm), -ENOENT);
}

static const struct unit_test tests[] = {
    {"stat of self", test_stat_self, 0},
    {"stat with an odd comm", test_stat_odd_comm, 0},
    {"stat of a reaped pid", test_stat_gone, 0},
    {"zombie exit code", test_zombie_exit_code, 0},
    {"status of self", test_status_self, 0},
    {"status signal masks", test_status_sigmasks, 0},
    {"limits", test_limits, 0},
    {"smaps", test_smaps, 0},
    {"tasks", test_tasks, 0},
    {"children", test_children, 0},
    {"fdinfo", test_fdinfo, 0},
    {"sysv shm", test_sysv_shm, 0},
    {"posix timers", test_timers, 0},
};

UNIT_MAIN(tests)
