/* The last acts on each thread: its FPU/xstate, its registers (an interrupted syscall restarted as
 * the kernel would), the gadget unmapped by the last injected syscall, its own signal mask, its
 * affinity back, detach. */
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

/* The kernel's internal restart codes (never seen by user space, but by a tracer). */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

static void image_regs(const UserX86RegsEntry *e, struct user_regs_struct *r)
{
	memset(r, 0, sizeof(*r));
	r->r15 = e->r15;
	r->r14 = e->r14;
	r->r13 = e->r13;
	r->r12 = e->r12;
	r->rbp = e->bp;
	r->rbx = e->bx;
	r->r11 = e->r11;
	r->r10 = e->r10;
	r->r9 = e->r9;
	r->r8 = e->r8;
	r->rax = e->ax;
	r->rcx = e->cx;
	r->rdx = e->dx;
	r->rsi = e->si;
	r->rdi = e->di;
	r->orig_rax = e->orig_ax;
	r->rip = e->ip;
	r->cs = e->cs;
	r->eflags = e->flags;
	r->rsp = e->sp;
	r->ss = e->ss;
	r->fs_base = e->fs_base;
	r->gs_base = e->gs_base;
	r->ds = e->ds;
	r->es = e->es;
	r->fs = e->fs;
	r->gs = e->gs;
}

/* The thread was stopped inside a syscall: go back to its syscall instruction as the kernel's
 * signal path would have, since we leave through a syscall of our own (orig_ax -1 keeps the
 * kernel from applying its own restart logic on top). A restart block (the rest of a nanosleep,
 * poll or futex timeout) lived in the kernel and is gone: the call is made again with its
 * original arguments, which are still in the registers, so an absolute timeout ends on time and
 * a relative one may last longer, never shorter (a timeout is a lower bound); returning EINTR
 * instead would break every caller that does not expect a signal there.
 * Returns true when the thread is to re-enter a syscall. */
/* A relative sleep given a place for the time left had that time written there when it was
 * interrupted: it sleeps that long again, not the whole request. */
static void sleep_the_rest(struct user_regs_struct *r)
{
	if (r->orig_rax == __NR_nanosleep && r->rsi)
		r->rdi = r->rsi;
	else if (r->orig_rax == __NR_clock_nanosleep && !(r->rsi & TIMER_ABSTIME) && r->r10)
		r->rdx = r->r10;
}

static bool restart_syscall(pid_t tid, struct user_regs_struct *r)
{
	bool again = false;

	if ((long)r->orig_rax >= 0) {
		switch ((long)r->rax) {
		case -ERESTART_RESTARTBLOCK:
			sleep_the_rest(r);
			/* fall through */
		case -ERESTARTSYS:
		case -ERESTARTNOINTR:
		case -ERESTARTNOHAND:
			r->rax = r->orig_rax;
			r->rip -= 2;
			again = true;
			pr_debug("%d: restarting syscall %ld\n", tid, (long)r->orig_rax);
			break;
		}
	}
	r->orig_rax = -1;
	return again;
}

static int set_xstate(pid_t tid, const ProtobufCBinaryData *x)
{
	struct iovec iov = {x->data, x->len};

	if (!x->len)
		return 0;
	if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov)) {
		int err = -errno;

		pr_perror("%d: cannot load its FPU/xstate (%zu bytes)", tid, x->len);
		return err;
	}
	return 0;
}

static int finish_thread(struct rst_tree *t, struct rst_thread *th, int unmap_gadget)
{
	struct user_regs_struct r;
	uint64_t mask = th->tc->blk_sigset;
	int ret;

	(void)t;
	image_regs(th->tc->regs, &r);
	th->restarting = restart_syscall(th->tid, &r) ? (long)r.rax : -1;
	if (th->tc->has_xsave) {
		ret = set_xstate(th->tid, &th->tc->xsave);
		if (ret)
			return ret;
	}
	ret = inj_finish(th->inj, &r, unmap_gadget);
	if (ret) {
		pr_errno(ret, "%d: cannot load the final registers", th->tid);
		return ret;
	}
	if (ptrace(PTRACE_SETSIGMASK, th->tid, sizeof(mask), &mask)) {
		ret = -errno;
		pr_perror("%d: cannot set its signal mask", th->tid);
		return ret;
	}
	return 0;
}

int rst_finish_task(struct rst_tree *t, struct rst_task *tk)
{
	size_t i;
	int ret;

	/* the leader goes last: its munmap removes the gadget the others were stopped in */
	for (i = tk->nr_threads; i-- > 0;) {
		ret = finish_thread(t, &tk->threads[i], i == 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether tid is asleep in syscall nr (or anywhere but running user code: it got past it). */
static bool in_syscall(pid_t pid, pid_t tid, long nr)
{
	char path[64], buf[64];
	long got;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	if (!strncmp(buf, "running", 7))
		return false;
	got = strtol(buf, NULL, 10);
	(void)nr; /* in it, or in a later one: either way past the point of danger */
	return got != -1;
}

/* CPU time of a thread (schedstat), 0 when unknown. */
static uint64_t run_time(pid_t pid, pid_t tid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtoull(buf, NULL, 10);
}

static bool thread_settled(struct rst_task *tk, struct rst_thread *th)
{
	if (run_time(tk->pid, th->tid) == th->ran)
		return false;
	return th->restarting < 0 || in_syscall(tk->pid, th->tid, th->restarting);
}

/* The tree is declared restored only once every thread (of a multi-threaded process) has run
 * since its detach, and those that re-enter an interrupted syscall are back in it (bounded: a call
 * that returns at once never shows). Detaching leaves TIF_SIGPENDING set on each thread: until a
 * thread has been through its return to user space, it can take a process-directed signal meant for
 * a sibling (a thread in sigsuspend misses the signal it waits for, which a running sibling
 * handled). */
void rst_settle(struct rst_tree *t)
{
	struct timespec ts = {0, 200000};
	struct rst_task *tk;
	int i;

	for (i = 0; i < 500; i++) {
		bool waiting = false;

		for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
			size_t j;

			/* one thread: every signal is its own, nothing to wait for */
			if (tk->zombie || tk->nr_threads == 1)
				continue;
			for (j = 0; j < tk->nr_threads; j++) {
				struct rst_thread *th = &tk->threads[j];

				if (th->settled)
					continue;
				if (thread_settled(tk, th))
					th->settled = true;
				else
					waiting = true;
			}
		}
		if (!waiting)
			return;
		nanosleep(&ts, NULL);
	}
	pr_info("some threads did not settle within 100 ms\n");
}

/* Scheduling is set from outside, last: the injections ran pinned at our priority. The
 * affinity is the thread's own when the image has it, else what we had before pinning. */
static void restore_sched(struct rst_tree *t, struct rst_thread *th)
{
	const ThreadCoreEntry *tc = th->tc;
	cpu_set_t cpus = t->orig_cpus;
	int nice;

	if (tc && tc->has_cpus_allowed && tc->cpus_allowed.len) {
		size_t n = tc->cpus_allowed.len, b;

		CPU_ZERO(&cpus);
		for (b = 0; b < n * 8 && b < CPU_SETSIZE; b++)
			if (tc->cpus_allowed.data[b / 8] & (1u << (b % 8)))
				CPU_SET(b, &cpus);
		CPU_AND(&cpus, &cpus, &t->orig_cpus);
		if (!CPU_COUNT(&cpus))
			cpus = t->orig_cpus; /* none of its CPUs is ours to give */
	}
	if (sched_setaffinity(th->tid, sizeof(cpus), &cpus))
		pr_warn("%d: cannot set its CPU affinity: %s\n", th->tid, strerror(errno));
	if (!tc)
		return;
	if (tc->has_sched_policy && tc->sched_policy != SCHED_OTHER) {
		struct sched_param sp = {.sched_priority = tc->has_sched_prio ? tc->sched_prio : 0};

		if (sched_setscheduler(th->tid, tc->sched_policy, &sp))
			pr_warn("%d: cannot set scheduling policy %u: %s\n", th->tid,
				tc->sched_policy, strerror(errno));
	}
	nice = tc->has_nice ? tc->nice : t->nice == RST_NO_NICE ? 0 : t->nice;
	if (setpriority(PRIO_PROCESS, th->tid, nice))
		pr_warn("%d: cannot set nice %d: %s\n", th->tid, nice, strerror(errno));
}

int rst_detach_task(struct rst_tree *t, struct rst_task *tk)
{
	size_t i;
	int ret = 0;

	/* A task that was stopped (SIGSTOP, ^Z) stops again: the signal is queued while it is
	 * still ours and taken on its way back to user space, before it runs anything. */
	if (tk->core->tc->state == TASK_STATE__TASK_STOPPED && kill(tk->pid, SIGSTOP))
		pr_warn("%d: cannot stop it again: %s\n", tk->pid, strerror(errno));
	for (i = 0; i < tk->nr_threads; i++) {
		struct rst_thread *th = &tk->threads[i];

		restore_sched(t, th);
		th->ran = run_time(tk->pid, th->tid);
		if (ptrace(PTRACE_DETACH, th->tid, NULL, NULL) && !ret) {
			ret = -errno;
			pr_perror("%d: cannot detach", th->tid);
		}
		inj_free(th->inj);
		th->inj = NULL;
	}
	tk->detached = true;
	return ret;
}
