/* Creating the tasks of the tree with their own PIDs, stopped and traced by us.
 *
 * The root is a clone3(set_tid) child of the restorer: it maps the gadget at the address chosen for
 * the whole tree, closes every fd but the fd-passing socket, and stops. Every other process is made
 * by an injected clone3(set_tid) inside its parent, before the parent's own address space is built:
 * so it gets the right parent, pid namespace, session and process group by inheritance (no helper
 * to reparent, no CLONE_PARENT tricks), and is a copy of a task that holds only the gadget, the
 * vDSO and the socket; PTRACE_O_TRACEFORK makes it ours from its first instruction. Threads are
 * injected clone3(CLONE_THREAD) calls in their leader, caught with PTRACE_O_TRACECLONE.
 */
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

#define TRACE_OPTS                                                                                 \
	(PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP)

#ifndef RSEQ_SIG
#define RSEQ_SIG 0x53053053
#endif

/* The restorer's rseq area would be unmapped under the kernel's feet: drop the registration the
 * fork inherited before anything else happens in the child. */
static void helper_unregister_rseq(void)
{
	char *area = (char *)__builtin_thread_pointer() + __rseq_offset;

	if (!__rseq_size)
		return;
	if (syscall(__NR_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG))
		syscall(__NR_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
}

/* Runs in the root's task before it is ours: only async-signal-safe calls, no logging. */
static __attribute__((noreturn)) void helper_main(const struct rst_tree *t)
{
	size_t len;
	const void *code = inj_gadget_code(&len);
	void *g;
	char c;

	helper_unregister_rseq();
	g = mmap((void *)t->gadget, INJ_GADGET_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (g != (void *)t->gadget)
		_exit(90);
	memcpy(g, code, len);
	syscall(SYS_close_range, 0, t->task_sk - 1, 0);
	syscall(SYS_close_range, t->task_sk + 1, ~0U, 0);
	/* wait until we are traced, so the stop below is a ptrace stop */
	if (read(t->task_sk, &c, 1) != 1)
		_exit(91);
	syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
	_exit(92);
}

static int seize(pid_t pid)
{
	if (!ptrace(PTRACE_SEIZE, pid, NULL, TRACE_OPTS))
		return 0;
	/* without CONFIG_CHECKPOINT_RESTORE: go on, seccomp is then restored last of all */
	if (errno == EINVAL &&
	    !ptrace(PTRACE_SEIZE, pid, NULL, TRACE_OPTS & ~PTRACE_O_SUSPEND_SECCOMP))
		return 0;
	return -errno;
}

static int attach_new(struct rst_task *tk, struct rst_tree *t)
{
	int ret = inj_open(&tk->threads[0].inj, tk->pid);

	if (ret)
		return ret;
	tk->threads[0].seen = true;
	ret = inj_use_gadget(task_inj(tk), t->gadget);
	if (ret)
		pr_err("%d: the gadget is not where it should be\n", tk->pid);
	return ret;
}

/* A pid can stay taken for a moment after its process died: a zombie waiting for its reaper,
 * a group leader waiting for its threads. Worth another try (after a short sleep) while that
 * lasts, up to five seconds (an init that reaps lazily keeps them that long); not when a live
 * process has it. */
static bool pid_freeing(pid_t pid, int *tries)
{
	struct timespec ts = {0, 10000000};
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (++*tries > 500)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X')
				return false;
		}
	}
	nanosleep(&ts, NULL);
	return true;
}

static int pid_taken_err(pid_t pid, const char *what)
{
	pr_err("%s %d is taken on this machine: cannot restore it with the same id\n", what, pid);
	return -EEXIST;
}

static int create_root(struct rst_tree *t, struct rst_task *tk)
{
	pid_t set_tid = tk->pid;
	/* --restore-sibling: the root is a child of our parent, as CRIU's option says */
	struct clone_args a = {
	    .flags = t->o->restore_sibling ? CLONE_PARENT : 0,
	    .exit_signal = t->o->restore_sibling ? 0 : SIGCHLD,
	    .set_tid = (uintptr_t)&set_tid,
	    .set_tid_size = 1,
	};
	int status, ret, tries = 0;
	char go = 0;
	long pid;

	fflush(NULL);
again:
	pid = syscall(SYS_clone3, &a, sizeof(a));
	if (pid < 0) {
		ret = -errno;
		if (ret == -EEXIST && pid_freeing(tk->pid, &tries))
			goto again;
		if (ret == -EEXIST)
			return pid_taken_err(tk->pid, "pid");
		pr_perror("clone3 with pid %d", tk->pid);
		return ret;
	}
	if (pid == 0)
		helper_main(t);
	tk->created = true;
	if (pid != tk->pid) {
		pr_err("clone3 gave pid %ld, not %d\n", pid, tk->pid);
		return -EINVAL;
	}
	ret = seize(pid);
	if (ret) {
		pr_errno(ret, "cannot trace the new task %d", tk->pid);
		return ret;
	}
	if (write(t->sk, &go, 1) != 1) {
		ret = -errno;
		pr_perror("cannot wake task %d", tk->pid);
		return ret;
	}
	close(t->task_sk_local); /* the tree has it from now on */
	t->task_sk_local = -1;
	ret = ptrace_wait_stop(pid, &status);
	if (ret == -ESRCH) {
		pr_err("task %d died while starting (status 0x%x): gadget at %#lx refused?\n",
		       tk->pid, status, t->gadget);
		return ret;
	}
	if (ret < 0)
		return ret;
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
		pr_err("task %d: unexpected first stop 0x%x\n", tk->pid, status);
		return -EINVAL;
	}
	return attach_new(tk, t);
}

/* clone3 injected in parent (a process or a thread group leader): returns the new id's first stop
 * waited for. */
static int inject_clone(struct rst_tree *t, struct inj_ctx *parent, pid_t id, uint64_t flags,
			int exit_signal, const char *what)
{
	unsigned long scratch = inj_scratch(parent);
	struct {
		struct clone_args a;
		pid_t set_tid;
	} arg = {
	    .a =
		{
		    .flags = flags,
		    .exit_signal = exit_signal,
		    .set_tid = scratch + offsetof(typeof(arg), set_tid),
		    .set_tid_size = 1,
		},
	    .set_tid = id,
	};
	int status, ret, tries = 0;
	long res;

	(void)t;
	ret = inj_write(parent, scratch, &arg, sizeof(arg));
	if (ret)
		return ret;
again:
	ret = rst_syscall(parent, &res, __NR_clone3, scratch, sizeof(arg.a), 0, 0, 0, 0);
	if (ret)
		return ret;
	if (res == -EEXIST && pid_freeing(id, &tries))
		goto again;
	if (res == -EEXIST)
		return pid_taken_err(id, what);
	if (res < 0) {
		pr_err("%d: clone3 for %s %d failed: %s\n", inj_tid(parent), what, id,
		       strerror(-res));
		return (int)res;
	}
	if (res != id) {
		pr_err("%d: clone3 gave %s %ld, not %d\n", inj_tid(parent), what, res, id);
		return -EINVAL;
	}
	ret = ptrace_wait_stop(id, &status);
	if (ret < 0) {
		pr_errno(ret, "%s %d did not stop after its creation", what, id);
		return ret;
	}
	if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
		pr_err("%s %d: unexpected first stop 0x%x\n", what, id, status);
		return -EINVAL;
	}
	return 0;
}

static int create_child(struct rst_tree *t, struct rst_task *tk)
{
	int ret = inject_clone(t, task_inj(tk->parent), tk->pid, 0, SIGCHLD, "pid");

	if (ret == 0 || ret == -EINVAL)
		tk->created = true;
	if (ret)
		return ret;
	return attach_new(tk, t);
}

/* A session or group leader becomes one right away, so that the processes created under it
 * inherit the session and group; joining a group led by someone else waits for rst_set_groups. */
static int become_leader(struct rst_task *tk)
{
	PstreeEntry *pe = tk->pe;
	long res = 0;
	int ret = 0;

	if (pe->sid == (uint32_t)tk->pid)
		ret = rst_syscall(task_inj(tk), &res, __NR_setsid, 0, 0, 0, 0, 0, 0);
	else if (pe->pgid == (uint32_t)tk->pid)
		ret = rst_syscall(task_inj(tk), &res, __NR_setpgid, 0, 0, 0, 0, 0, 0);
	if (ret)
		return ret;
	if (res < 0) {
		pr_err("%d: cannot become leader of its %s: %s\n", tk->pid,
		       pe->sid == (uint32_t)tk->pid ? "session" : "process group", strerror(-res));
		return (int)res;
	}
	return 0;
}

int rst_create_tree(struct rst_tree *t)
{
	struct rst_task *tk;
	int ret;

	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		ret = tk == t->tasks ? create_root(t, tk) : create_child(t, tk);
		if (ret)
			return ret;
		ret = become_leader(tk);
		if (ret)
			return ret;
		pr_info("%d: created\n", tk->pid);
	}
	return 0;
}

int rst_set_groups(struct rst_tree *t)
{
	struct rst_task *tk;
	long res;
	int ret;

	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		pid_t pgid = getpgid(tk->pid), sid = getsid(tk->pid);

		if (sid != (pid_t)tk->pe->sid)
			pr_info("%d: session %d instead of %u (the restorer's)\n", tk->pid, sid,
				tk->pe->sid);
		if (pgid == (pid_t)tk->pe->pgid)
			continue;
		ret = rst_syscall(task_inj(tk), &res, __NR_setpgid, 0, tk->pe->pgid, 0, 0, 0, 0);
		if (ret)
			return ret;
		if (res == 0)
			continue;
		if (tk == t->tasks) {
			/* a shell job: its group lived in the shell that started it */
			pr_info("%d: stays in group %d (%u is not in this session)\n", tk->pid,
				pgid, tk->pe->pgid);
			continue;
		}
		pr_err("%d: cannot join process group %u: %s\n", tk->pid, tk->pe->pgid,
		       strerror(-res));
		return (int)res;
	}
	return 0;
}

#define THREAD_FLAGS                                                                               \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

int rst_create_threads(struct rst_tree *t, struct rst_task *tk)
{
	size_t i;
	int ret;

	for (i = 1; i < tk->nr_threads; i++) {
		struct rst_thread *th = &tk->threads[i];

		ret = inject_clone(t, task_inj(tk), th->tid, THREAD_FLAGS, 0, "thread id");
		if (ret)
			return ret;
		ret = inj_open_thread(&th->inj, th->tid, task_inj(tk));
		if (ret)
			return ret;
		th->seen = true;
	}
	return 0;
}

/* Waits (bounded) until pid is a zombie. */
static int wait_zombie(pid_t pid)
{
	struct timespec ts = {0, 1000000};
	char path[64], buf[256], *p;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 2000; i++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
				return 0;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/* The SIGCHLD a zombie's exit just sent: the parent had it long ago, unless it was still pending
 * at dump time (then the image queues it again). */
static int take_back_sigchld(struct rst_task *parent)
{
	const TaskCoreEntry *tc = parent->core->tc;
	struct inj_ctx *inj = task_inj(parent);
	struct timespec zero = {0, 0};
	uint64_t set = 1ULL << (SIGCHLD - 1);
	unsigned long scratch = inj_scratch(inj);
	size_t i;
	long res;
	int ret;

	for (i = 0; i < tc->n_shared_pending; i++) {
		int sig = 0;

		if (tc->shared_pending[i]->siginfo.len >= sizeof(sig))
			memcpy(&sig, tc->shared_pending[i]->siginfo.data, sizeof(sig));
		if (sig == SIGCHLD)
			return 0;
	}
	ret = inj_write(inj, scratch, &set, sizeof(set));
	if (!ret)
		ret = inj_write(inj, scratch + 64, &zero, sizeof(zero));
	if (!ret)
		ret = rst_syscall(inj, &res, __NR_rt_sigtimedwait, scratch, 0, scratch + 64,
				  sizeof(set), 0, 0);
	return ret;
}

/* The zombie's parent is still stopped: the task exits the way it did, and the parent finds it
 * unreaped when it resumes. The SIGCHLD this sends the parent is taken back (finish.c) unless
 * the parent had one pending at dump time. */
int rst_make_zombie(struct rst_tree *t, struct rst_task *tk)
{
	struct inj_ctx *inj = task_inj(tk);
	uint32_t st = tk->core->tc->has_exit_code ? tk->core->tc->exit_code : 0;
	struct user_regs_struct r = *inj_saved_regs(inj);
	struct rlimit64 {
		uint64_t cur, max;
	} no_core = {0, 0};
	struct rst_batch b;
	uint64_t mask = 0;
	int ret;

	ret = batch_init(&b, inj);
	if (ret)
		return ret;
	batch_add(&b, "prlimit(RLIMIT_CORE)", __NR_prlimit64, 0, RLIMIT_CORE,
		  batch_data(&b, &no_core, sizeof(no_core)), 0, 0, 0);
	if (WIFSIGNALED(st)) {
		long ksa[4] = {(long)SIG_DFL, 0, 0, 0};

		batch_add(&b, "rt_sigaction", __NR_rt_sigaction, WTERMSIG(st),
			  batch_data(&b, ksa, sizeof(ksa)), 0, 8, 0, 0);
	}
	ret = batch_run(&b);
	batch_fini(&b);
	if (ret)
		return ret;

	r.rip = t->gadget;
	r.orig_rax = -1;
	if (WIFSIGNALED(st)) {
		r.rax = __NR_kill;
		r.rdi = tk->pid;
		r.rsi = WTERMSIG(st);
	} else {
		r.rax = __NR_exit_group;
		r.rdi = WEXITSTATUS(st);
	}
	if (ptrace(PTRACE_SETREGS, tk->pid, NULL, &r) ||
	    ptrace(PTRACE_SETSIGMASK, tk->pid, sizeof(mask), &mask) ||
	    ptrace(PTRACE_DETACH, tk->pid, NULL, NULL)) {
		ret = -errno;
		pr_perror("%d: cannot let the zombie go", tk->pid);
		return ret;
	}
	inj_free(inj);
	tk->threads[0].inj = NULL;
	tk->detached = true;
	ret = wait_zombie(tk->pid);
	if (ret) {
		pr_errno(ret, "%d: did not become a zombie", tk->pid);
		return ret;
	}
	return take_back_sigchld(tk->parent);
}

void rst_kill_tree(struct rst_tree *t)
{
	struct timespec ts = {0, 1000000};
	struct rst_task *tk;
	int i, status, left;

	if (!t->tasks)
		return;
	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		size_t j;

		for (j = 0; j < tk->nr_threads; j++) {
			inj_free(tk->threads[j].inj);
			tk->threads[j].inj = NULL;
		}
		if (tk->created)
			kill(tk->pid, SIGKILL);
	}
	/* we are the subreaper while restoring: every orphan of the killed tree comes to us and
	 * is reaped here, so not even a zombie is left behind (bounded) */
	for (i = 0; i < 2000; i++) {
		while (waitpid(-1, &status, __WALL | WNOHANG) > 0)
			;
		left = 0;
		for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
			if (!tk->created)
				continue;
			if (kill(tk->pid, 0) && errno == ESRCH)
				tk->created = false;
			else
				left++;
		}
		if (!left)
			break;
		nanosleep(&ts, NULL);
	}
}
