/* Freezing the tree: PTRACE_SEIZE + PTRACE_INTERRUPT of every thread of every process, parents
 * first, rescanning threads and children until nothing new shows up; and letting it go again. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>

#define LOG_PREFIX "seize: "
#include "log.h"
#include "inject.h"
#include "dump.h"

#define MAX_SIGNAL_STOPS 32
#define MAX_RESCANS 64
#define ERESTART_RESTARTBLOCK 516

/* Waits for the PTRACE_EVENT_STOP a PTRACE_INTERRUPT asked for. A signal arriving first is handed
 * on, as it would have been without us: blocked ones stay queued and are dumped as pending. */
static int wait_interrupt_stop(struct dump_thread *t)
{
	int status, ret, i;

	for (i = 0; i < MAX_SIGNAL_STOPS; i++) {
		ret = ptrace_wait_stop(t->tid, &status);
		if (ret < 0)
			return ret;
		if (!WIFSTOPPED(status))
			return -EINVAL;
		if ((status >> 16) == PTRACE_EVENT_STOP) {
			t->stop_sig = WSTOPSIG(status);
			return 0;
		}
		if (status >> 16) {
			/* other events were not asked for: just go on */
			if (ptrace(PTRACE_CONT, t->tid, NULL, NULL))
				return -errno;
			continue;
		}
		pr_debug("thread %d: signal %d delivered while freezing\n", t->tid,
			 WSTOPSIG(status));
		if (ptrace(PTRACE_CONT, t->tid, NULL, (void *)(long)WSTOPSIG(status)))
			return -errno;
	}
	pr_err("thread %d: does not stop (signals keep arriving)\n", t->tid);
	return -EAGAIN;
}

static int get_regs(struct dump_thread *t)
{
	struct iovec iov = {.iov_base = &t->regs, .iov_len = sizeof(t->regs)};

	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &iov)) {
		int err = -errno;

		pr_perror("thread %d: PTRACE_GETREGSET", t->tid);
		return err;
	}
	return 0;
}

static int seize_thread(struct dump_thread *t, bool seccomp)
{
	long opts = seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0;
	int ret;

	if (ptrace(PTRACE_SEIZE, t->tid, NULL, (void *)opts)) {
		ret = -errno;
		if (ret == -EPERM && opts) {
			pr_warn("thread %d: cannot suspend seccomp (no CAP_SYS_ADMIN?)\n", t->tid);
			if (!ptrace(PTRACE_SEIZE, t->tid, NULL, NULL))
				goto seized;
			ret = -errno;
		}
		return ret;
	}
seized:
	t->seized = true;
	if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL))
		return -errno;
	ret = wait_interrupt_stop(t);
	if (ret)
		return ret;
	return get_regs(t);
}

/* TracerPid of a thread: another debugger holds it (0: none, <0: unknown). */
static pid_t traced_by(pid_t tid)
{
	char path[64], *buf;
	const char *v;
	pid_t tracer = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	if (proc_read_file(path, &buf, NULL))
		return -1;
	v = proc_field(buf, "TracerPid");
	if (v)
		tracer = atoi(v);
	free(buf);
	return tracer;
}

/* PTRACE_SEIZE says EPERM, not ESRCH, to a thread already on its way out: one that is gone within
 * 100 ms was exiting, not refusing us. */
static bool thread_exiting(pid_t tid)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/proc/%d", tid);
	for (i = 0; i < 100; i++) {
		if (access(path, F_OK))
			return true;
		usleep(1000);
	}
	return false;
}

static bool has_thread(struct dump_task *t, pid_t tid)
{
	int i;

	for (i = 0; i < t->nr_threads; i++)
		if (t->threads[i].tid == tid)
			return true;
	return false;
}

/* Threads of a process until a scan finds none new: a thread caught inside clone() may have
 * made one more before it stopped. */
static int seize_task(struct dump_task *t)
{
	struct proc_status ps;
	bool seccomp;
	int i, scan, ret;

	ret = proc_parse_status(t->pid, 0, &ps);
	if (ret)
		return ret;
	seccomp = ps.seccomp != 0;
	proc_status_fini(&ps);

	for (scan = 0; scan < MAX_RESCANS; scan++) {
		pid_t *tids;
		int nr, added = 0;

		ret = proc_list_tasks(t->pid, &tids, &nr);
		if (ret)
			return ret;
		for (i = 0; i < nr; i++) {
			struct dump_thread *th, *n;

			if (has_thread(t, tids[i]))
				continue;
			n = realloc(t->threads, (t->nr_threads + 1) * sizeof(*n));
			if (!n) {
				free(tids);
				return -ENOMEM;
			}
			t->threads = n;
			th = &t->threads[t->nr_threads];
			memset(th, 0, sizeof(*th));
			th->tid = tids[i];
			ret = seize_thread(th, seccomp);
			if (ret == -EPERM && !th->seized && tids[i] != t->pid &&
			    thread_exiting(th->tid))
				ret = -ESRCH;
			if (th->seized)
				t->nr_threads++;
			if (ret == -ESRCH && tids[i] != t->pid) {
				/* it exited before we got it: nothing to dump */
				pr_debug("thread %d exited while freezing\n", tids[i]);
				if (th->seized) {
					t->nr_threads--;
					ptrace(PTRACE_DETACH, th->tid, NULL, NULL);
				}
				continue;
			}
			if (ret) {
				pid_t tid = tids[i], tracer = traced_by(tid);

				free(tids);
				if (ret == -ESRCH)
					pr_debug("process %d exited while freezing\n", t->pid);
				else if (ret == -EPERM && tracer > 0)
					pr_err("process %d is traced by %d: cannot freeze it\n",
					       t->pid, tracer);
				else
					pr_errno(ret, "cannot freeze thread %d of %d", tid, t->pid);
				return ret;
			}
			added++;
		}
		free(tids);
		if (!added)
			break;
	}
	if (scan == MAX_RESCANS) {
		pr_err("process %d: threads keep appearing\n", t->pid);
		return -EAGAIN;
	}
	if (t->threads[0].tid != t->pid) {
		pr_debug("process %d: its leader is gone\n", t->pid);
		return -ESRCH;
	}
	return 0;
}

/* A child of the frozen tree that exited while we froze it: its parent, frozen, has not collected
 * it, so it is a zombie to dump as one once its exit is through (bounded wait), or gone at once
 * when its parent lets children go unreaped. 0: a zombie now, 1: gone, -ESRCH: neither. */
static int exited_child(struct dump_task *t)
{
	int i, j, status;

	for (j = 0; j < t->nr_threads; j++) {
		if (!t->threads[j].seized)
			continue;
		/* an exit reported to us, its tracer, holds the zombie back from its parent */
		if (ptrace(PTRACE_DETACH, t->threads[j].tid, NULL, NULL))
			waitpid(t->threads[j].tid, &status, __WALL | WNOHANG);
		t->threads[j].seized = false;
	}
	free(t->threads);
	t->threads = NULL;
	t->nr_threads = 0;
	for (i = 0; i < 200; i++) {
		if (proc_parse_stat(t->pid, 0, &t->st))
			return 1;
		if (t->st.state == 'Z' && t->st.num_threads <= 1)
			break;
		usleep(1000);
	}
	if (i == 200)
		return -ESRCH;
	t->ppid = t->st.ppid;
	t->pgid = t->st.pgid;
	t->sid = t->st.sid;
	t->state = 'Z';
	t->threads = calloc(1, sizeof(*t->threads));
	if (!t->threads)
		return -ENOMEM;
	t->threads[0].tid = t->pid;
	t->nr_threads = 1;
	pr_debug("process %d exited while freezing: dumped as a zombie\n", t->pid);
	return 0;
}

static int add_task(struct dump_ctx *d, pid_t pid, int parent)
{
	struct dump_task *n, *t;
	int ret;

	n = realloc(d->tasks, (d->nr_tasks + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->tasks = n;
	t = &d->tasks[d->nr_tasks];
	memset(t, 0, sizeof(*t));
	t->track.uffd = t->track.task_fd = -1;
	t->pid = pid;
	t->parent = parent;
	ret = proc_parse_stat(pid, 0, &t->st);
	if (ret == -ENOENT || ret == -ESRCH) {
		if (parent < 0)
			pr_err("process %d does not exist\n", pid);
		return parent < 0 ? -ESRCH : 1; /* a child that exited: not part of the tree */
	}
	if (ret)
		return ret;
	if (t->st.flags & 0x00200000 /* PF_KTHREAD */) {
		pr_err("process %d is a kernel thread\n", pid);
		return -EINVAL;
	}
	d->nr_tasks++;
	t->ppid = t->st.ppid;
	t->pgid = t->st.pgid;
	t->sid = t->st.sid;
	t->state = t->st.state;
	if (t->state == 'Z' && t->st.num_threads > 1) {
		pr_err("process %d: its main thread exited while %ld others run: not supported\n",
		       pid, t->st.num_threads - 1);
		return -EOPNOTSUPP;
	}
	if (t->state == 'Z') {
		/* a zombie cannot be traced: its stat says all there is (exit code included) */
		t->threads = calloc(1, sizeof(*t->threads));
		if (!t->threads)
			return -ENOMEM;
		t->threads[0].tid = pid;
		t->nr_threads = 1;
		return 0;
	}
	ret = seize_task(t);
	if (ret == -ESRCH && parent >= 0) {
		ret = exited_child(t);
		if (ret == 1) {
			d->nr_tasks--; /* a child that exited and was collected: not part of the
					  tree */
			return 1;
		}
	}
	if (ret == -ESRCH)
		pr_err("process %d exited while freezing\n", pid);
	return ret;
}

int dump_seize_tree(struct dump_ctx *d)
{
	pid_t root = d->o->tree_pid;
	struct timespec ts;
	int i, j, ret;

	if (root == getpid() || root == getppid()) {
		pr_err("process %d is this dump or its parent: cannot dump it\n", root);
		return -EINVAL;
	}
	ret = add_task(d, root, -1);
	if (ret)
		return ret < 0 ? ret : -ESRCH;
	if (d->tasks[0].state == 'Z') {
		pr_err("process %d is a zombie: nothing to dump\n", root);
		return -ESRCH;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	d->frozen_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	d->frozen_real_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;

	/* parents before children: a frozen parent cannot fork any more, so one scan each does */
	for (i = 0; i < d->nr_tasks; i++) {
		pid_t *kids;
		int nr;

		if (d->tasks[i].state == 'Z')
			continue;
		ret = proc_list_children(d->tasks[i].pid, &kids, &nr);
		if (ret)
			return ret;
		for (j = 0; j < nr; j++) {
			ret = add_task(d, kids[j], i);
			if (ret < 0)
				break;
		}
		free(kids);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < d->nr_tasks; i++)
		pr_info("process %d (%s): %d thread(s), state %c, parent %d\n", d->tasks[i].pid,
			d->tasks[i].st.comm, d->tasks[i].nr_threads, d->tasks[i].state,
			d->tasks[i].ppid);
	return 0;
}

int dump_restop_thread(struct dump_thread *t)
{
	/* The injected syscalls leave the thread in a syscall-exit stop, from which a syscall it
	 * was interrupted in would not be restarted: an interrupt makes it stop again in the signal
	 * path, where the kernel restarts it on the way out, as if we had never been there. */
	if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) ||
	    ptrace(PTRACE_CONT, t->tid, NULL, NULL)) {
		int err = -errno;

		if (err != -ESRCH)
			pr_perror("thread %d: cannot stop it again", t->tid);
		return err;
	}
	t->injected = false;
	return wait_interrupt_stop(t);
}

bool dump_task_gone(pid_t pid)
{
	struct proc_stat st;

	/* we hold every thread in a ptrace stop ('t'): anything else is a task on its way out */
	return proc_parse_stat(pid, 0, &st) || (st.state != 't' && st.state != 'T');
}

static void wait_gone(pid_t pid)
{
	struct proc_stat st;
	int i;

	/* bounded: SIGKILL is quick, but a task in uninterruptible sleep takes its time */
	for (i = 0; i < 200; i++) {
		if (proc_parse_stat(pid, 0, &st) || st.state == 'Z' || st.state == 'X')
			return;
		usleep(5000);
	}
	pr_warn("process %d still there 1 s after SIGKILL\n", pid);
}

/* A killed tracee's exit is reported to us first: until we collect it, its parent cannot reap it.
 * Threads before their leader, whose exit waits for theirs. */
static void reap_killed(struct dump_task *t)
{
	int j, status, i;

	for (j = t->nr_threads - 1; j >= 0; j--) {
		struct dump_thread *th = &t->threads[j];

		for (i = 0; th->seized && i < MAX_SIGNAL_STOPS; i++) {
			int r = ptrace_wait_stop(th->tid, &status);

			if (r < 0)
				break; /* -ESRCH: gone and collected; -ECHILD: not ours any more */
			ptrace(PTRACE_CONT, th->tid, NULL, NULL);
		}
		th->seized = false;
	}
}

/* A thread let go inside a syscall with a timeout (nanosleep, futex, poll) would be moved by the
 * kernel to restart_syscall, whose state (the restart block) lives in the kernel only: the next
 * dump could record nothing but "restart_syscall", which no restore can rebuild. So the thread
 * re-enters its original syscall instead, exactly as restore does: an absolute timeout ends on
 * time, a relative sleep sleeps the time the kernel wrote back as left, a relative futex or poll
 * timeout starts again in full (a timeout is a lower bound, so it may last longer, never shorter).
 * orig_ax -1 keeps the kernel's own restart logic out of it. */
static void reenter_syscall(struct dump_thread *th)
{
	struct user_regs_struct r;
	struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};

	if (ptrace(PTRACE_GETREGSET, th->tid, (void *)NT_PRSTATUS, &iov))
		return;
	if ((long)r.orig_rax < 0 || (long)r.rax != -ERESTART_RESTARTBLOCK ||
	    r.orig_rax == __NR_restart_syscall)
		return;
	if (r.orig_rax == __NR_nanosleep && r.rsi)
		r.rdi = r.rsi;
	else if (r.orig_rax == __NR_clock_nanosleep && !(r.rsi & TIMER_ABSTIME) && r.r10)
		r.rdx = r.r10;
	r.rax = r.orig_rax;
	r.rip -= 2;
	r.orig_rax = -1;
	if (ptrace(PTRACE_SETREGSET, th->tid, (void *)NT_PRSTATUS, &iov))
		pr_warn("thread %d: left to the kernel's restart_syscall\n", th->tid);
	else
		pr_debug("thread %d: re-enters syscall %ld\n", th->tid, (long)r.rax);
}

/* A thread that exits writes to its memory: 0 at its clear_child_tid address (glibc's tid word)
 * and OWNER_DIED into the robust futexes it holds. Memory still read after the kill (a keeper of
 * dump --lazy-pages shares the mm and serves it) or shared with other processes would then no
 * longer be what was dumped; so, once everything is taken and only when the tree is to be killed,
 * each thread forgets both. A tree that is let go keeps them: its threads still need them. */
int dump_forget_exit_writes(struct dump_ctx *d)
{
	int i, j, ret = 0;

	if (d->exit_forgotten)
		return 0;
	for (i = 0; i < d->nr_tasks && !ret; i++) {
		struct dump_task *t = &d->tasks[i];

		if (t->state == 'Z')
			continue;
		for (j = 0; j < t->nr_threads && !ret; j++) {
			struct dump_thread *th = &t->threads[j];
			struct inj_ctx *inj;
			long r;

			if (!th->seized)
				continue;
			ret = inj_open(&inj, th->tid);
			if (ret == -ESRCH) {
				ret = 0; /* on its way out already */
				continue;
			}
			if (ret)
				break;
			th->injected = true;
			ret = inj_syscall(inj, &r, SYS_set_tid_address, 0, 0, 0, 0, 0, 0);
			if (!ret && r < 0)
				ret = (int)r;
			/* a NULL head, but the length must be the kernel's struct robust_list_head
			 */
			if (!ret)
				ret = inj_syscall(inj, &r, SYS_set_robust_list, 0, 3 * sizeof(long),
						  0, 0, 0, 0);
			if (!ret && r < 0)
				ret = (int)r;
			r = inj_close(inj);
			if (!ret)
				ret = (int)r;
			if (ret)
				pr_warn("thread %d: cannot clear its clear_child_tid and robust "
					"list: %s\n",
					th->tid, strerror(-ret));
		}
	}
	if (!ret)
		d->exit_forgotten = true;
	return ret;
}

int dump_release_tree(struct dump_ctx *d, bool kill_tree, bool leave_stopped)
{
	int i, j, ret = 0;

	if (kill_tree && dump_forget_exit_writes(d))
		pr_warn("the tree is killed with its exit writes: shared memory may see them\n");
	for (i = 0; i < d->nr_tasks; i++) {
		struct dump_task *t = &d->tasks[i];

		if (t->state == 'Z' || !t->nr_threads || !t->threads[0].seized)
			continue;
		if (kill_tree)
			kill(t->pid, SIGKILL);
		else if (leave_stopped)
			kill(t->pid, SIGSTOP);
	}
	for (i = 0; i < d->nr_tasks; i++) {
		struct dump_task *t = &d->tasks[i];

		if (kill_tree) {
			reap_killed(t);
			continue;
		}
		for (j = 0; j < t->nr_threads; j++) {
			struct dump_thread *th = &t->threads[j];

			if (!th->seized)
				continue;
			if (th->injected) {
				int r = dump_restop_thread(th);

				if (r && r != -ESRCH)
					ret = -EIO;
			}
			reenter_syscall(th);
			if (ptrace(PTRACE_DETACH, th->tid, NULL, NULL) && errno != ESRCH) {
				pr_perror("thread %d: cannot detach", th->tid);
				ret = -EIO;
			}
			th->seized = false;
		}
	}
	if (kill_tree)
		for (i = 0; i < d->nr_tasks; i++)
			if (d->tasks[i].state != 'Z')
				wait_gone(d->tasks[i].pid);
	return ret;
}
