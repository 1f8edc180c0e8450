/* core-PID.img: the task-wide state and each thread's CPU and signal state. What /proc and ptrace
 * give is read from outside; sigactions, itimers, brk, sigaltstack and a few prctl values are
 * read by syscalls injected into the stopped threads, with a scratch area below the stack's red
 * zone whose bytes are put back afterwards. */
#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_PREFIX "core: "
#include "log.h"
#include "compat.h"
#include "image.h"
#include "inject.h"
#include "dump.h"

#include "core.pb-c.h"

#define XSTATE_MAX (16 * 1024)
#define SCRATCH_SIZE 256
#define RED_ZONE 128
#define MAX_PENDING 4096
#define SIGINFO_SIZE 128

struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

struct scratch {
	struct inj_ctx *inj;
	unsigned long addr;
	bool gadget; /* addr is in our gadget area (one stop per call, batches) */
	uint8_t saved[SCRATCH_SIZE];
};

/* The leader (leader == NULL) gets a gadget area, mapped for the time of the calls and unmapped
 * before memory is read; its other threads share it. Without one, calls go through the vDSO and
 * use a scratch area below the red zone of the thread's stack, whose bytes are put back. */
static int scratch_open(struct scratch *s, struct dump_thread *t, struct scratch *leader)
{
	int ret;

	s->gadget = false;
	if (leader && leader->gadget)
		ret = inj_open_thread(&s->inj, t->tid, leader->inj);
	else
		ret = inj_open(&s->inj, t->tid);
	if (ret) {
		pr_errno(ret, "thread %d: cannot run syscalls in it", t->tid);
		return ret;
	}
	t->injected = true;
	if (leader && leader->gadget) {
		s->gadget = true;
		s->addr = leader->addr;
		return 0;
	}
	if (!leader && !inj_install_gadget(s->inj, 0)) {
		s->gadget = true;
		s->addr = inj_scratch(s->inj);
		return 0;
	}
	s->addr = (t->regs.rsp - RED_ZONE - SCRATCH_SIZE) & ~63UL;
	ret = inj_read(s->inj, s->addr, s->saved, SCRATCH_SIZE);
	if (ret) {
		inj_close(s->inj);
		s->inj = NULL;
	}
	return ret;
}

/* The thread stays in the syscall-exit stop of the last injected call: it is brought back to an
 * ordinary stop only when the tree is let go (dump_release_tree), because resuming it now could
 * deliver a signal that came meanwhile and run a handler between our reads. */
static int scratch_close(struct scratch *s)
{
	int ret = 0, ret2;

	if (!s->inj)
		return 0;
	if (!s->gadget)
		ret = inj_write(s->inj, s->addr, s->saved, SCRATCH_SIZE);
	ret2 = inj_close(s->inj);
	s->inj = NULL;
	return ret ? ret : ret2;
}

/* One injected syscall; a remote failure comes back in *res, a ptrace failure as the return. */
static int rcall(struct scratch *s, long *res, long nr, long a1, long a2, long a3, long a4)
{
	int ret = inj_syscall(s->inj, res, nr, a1, a2, a3, a4, 0, 0);

	if (ret)
		pr_errno(ret, "thread %d: injected syscall %ld", inj_tid(s->inj), nr);
	return ret;
}

static int rcall_out(struct scratch *s, long nr, long a1, long a2, long a3, long a4, void *out,
		     size_t len)
{
	long res;
	int ret = rcall(s, &res, nr, a1, a2, a3, a4);

	if (ret)
		return ret;
	if (res < 0) {
		pr_err("thread %d: syscall %ld in the task failed: %s\n", inj_tid(s->inj), nr,
		       strerror(-res));
		return res;
	}
	return inj_read(s->inj, s->addr, out, len);
}

/* All 64 at once through the gadget: one stop instead of 124. */
static int batch_sigactions(struct scratch *s, struct ksigaction *all)
{
	struct inj_call calls[64];
	int sig, n = 0, ret;

	for (sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		memset(&calls[n], 0, sizeof(calls[n]));
		calls[n].nr = __NR_rt_sigaction;
		calls[n].arg[0] = sig;
		calls[n].arg[2] = s->addr + (sig - 1) * sizeof(*all);
		calls[n].arg[3] = 8;
		n++;
	}
	ret = inj_batch(s->inj, calls, n);
	if (ret > 0) {
		pr_err("thread %d: rt_sigaction %ld in the task failed: %s\n", inj_tid(s->inj),
		       calls[ret - 1].arg[0], strerror(-calls[ret - 1].ret));
		return calls[ret - 1].ret;
	}
	if (ret)
		return ret;
	return inj_read(s->inj, s->addr, all, 64 * sizeof(*all));
}

static int get_sigactions(struct scratch *s, TaskCoreEntry *tc)
{
	struct ksigaction ka, all[64];
	int sig, n = 0, ret;

	tc->sigactions = calloc(64, sizeof(SaEntry *));
	if (!tc->sigactions)
		return -ENOMEM;
	if (s->gadget) {
		ret = batch_sigactions(s, all);
		if (ret)
			return ret;
	}
	for (sig = 1; sig <= 64; sig++) {
		SaEntry *e;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (s->gadget)
			ka = all[sig - 1];
		else
			ret = rcall_out(s, __NR_rt_sigaction, sig, 0, s->addr, 8, &ka, sizeof(ka));
		if (ret)
			return ret;
		e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		sa_entry__init(e);
		e->sig = sig;
		e->handler = ka.handler;
		e->flags = ka.flags;
		e->restorer = ka.restorer;
		e->mask = ka.mask;
		tc->sigactions[n++] = e;
		tc->n_sigactions = n;
	}
	return 0;
}

static ItimerEntry *new_itimer(const struct itimerval *iv)
{
	ItimerEntry *e = malloc(sizeof(*e));

	if (!e)
		return NULL;
	itimer_entry__init(e);
	e->isec = iv->it_interval.tv_sec;
	e->iusec = iv->it_interval.tv_usec;
	e->vsec = iv->it_value.tv_sec;
	e->vusec = iv->it_value.tv_usec;
	return e;
}

/* POSIX timers: which exist from /proc, their time left and overrun from the task. */
static int get_posix_timers(struct scratch *s, pid_t pid, TaskCoreEntry *tc)
{
	struct proc_timer *pt = NULL;
	struct itimerspec its;
	int i, nr = 0, ret;
	long res;

	ret = proc_parse_timers(pid, &pt, &nr);
	if (ret || !nr)
		return ret;
	tc->posix_timers = calloc(nr, sizeof(*tc->posix_timers));
	if (!tc->posix_timers) {
		free(pt);
		return -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		PosixTimerEntry *e = malloc(sizeof(*e));

		ret = -ENOMEM;
		if (!e)
			break;
		posix_timer_entry__init(e);
		tc->posix_timers[tc->n_posix_timers++] = e;
		ret = rcall_out(s, __NR_timer_gettime, pt[i].id, s->addr, 0, 0, &its, sizeof(its));
		if (!ret)
			ret = rcall(s, &res, __NR_timer_getoverrun, pt[i].id, 0, 0, 0);
		if (ret)
			break;
		e->it_id = pt[i].id;
		e->clock_id = pt[i].clockid;
		e->sigev_notify = pt[i].notify;
		e->signo = pt[i].signo;
		e->sival = pt[i].sival;
		if (pt[i].notify == SIGEV_THREAD_ID) {
			e->has_notify_tid = true;
			e->notify_tid = pt[i].notify_tid;
		}
		e->isec = its.it_interval.tv_sec;
		e->insec = its.it_interval.tv_nsec;
		e->vsec = its.it_value.tv_sec;
		e->vnsec = its.it_value.tv_nsec;
		if (res >= 0) {
			e->has_overrun = true;
			e->overrun = res;
		}
	}
	free(pt);
	return ret;
}

/* Task-wide values only a syscall in the task can read. */
static int inject_task(struct scratch *s, pid_t pid, TaskCoreEntry *tc, unsigned long *brk)
{
	struct itimerval iv[3];
	long res;
	int i, val, ret;

	ret = get_sigactions(s, tc);
	for (i = 0; i < 3 && !ret; i++)
		ret = rcall_out(s, __NR_getitimer, i, s->addr, 0, 0, &iv[i], sizeof(iv[i]));
	if (ret)
		return ret;
	tc->itimer_real = new_itimer(&iv[ITIMER_REAL]);
	tc->itimer_virt = new_itimer(&iv[ITIMER_VIRTUAL]);
	tc->itimer_prof = new_itimer(&iv[ITIMER_PROF]);
	if (!tc->itimer_real || !tc->itimer_virt || !tc->itimer_prof)
		return -ENOMEM;

	ret = rcall(s, &res, __NR_brk, 0, 0, 0, 0);
	if (ret)
		return ret;
	*brk = res;
	ret = rcall(s, &res, __NR_prctl, PR_GET_DUMPABLE, 0, 0, 0);
	if (ret)
		return ret;
	if (res >= 0) {
		tc->has_dumpable = true;
		tc->dumpable = res;
	}
	ret = rcall(s, &res, __NR_prctl, PR_GET_THP_DISABLE, 0, 0, 0);
	if (ret)
		return ret;
	if (res >= 0) {
		tc->has_thp_disabled = true;
		tc->thp_disabled = res;
	}
	ret = rcall_out(s, __NR_prctl, PR_GET_CHILD_SUBREAPER, s->addr, 0, 0, &val, sizeof(val));
	if (ret)
		return ret;
	tc->has_child_subreaper = true;
	tc->child_subreaper = val;
	return get_posix_timers(s, pid, tc);
}

/* Per-thread values only a syscall in the thread can read. */
static int inject_thread(struct scratch *s, ThreadCoreEntry *th)
{
	uint64_t tid_addr = 0;
	long res;
	stack_t ss;
	int val, ret;

	ret = rcall_out(s, __NR_sigaltstack, 0, s->addr, 0, 0, &ss, sizeof(ss));
	if (ret)
		return ret;
	if (!(ss.ss_flags & SS_DISABLE)) {
		th->sas = malloc(sizeof(*th->sas));
		if (!th->sas)
			return -ENOMEM;
		sigaltstack_entry__init(th->sas);
		th->sas->sp = (unsigned long)ss.ss_sp;
		th->sas->size = ss.ss_size;
		th->sas->flags = ss.ss_flags;
	}
	ret = rcall_out(s, __NR_prctl, PR_GET_PDEATHSIG, s->addr, 0, 0, &val, sizeof(val));
	if (ret)
		return ret;
	th->has_pdeath_sig = true;
	th->pdeath_sig = val;
	/* set_tid_address()'s pointer (pthread_join waits on it); a kernel without it leaves the
	 * field absent: unknown */
	ret = rcall(s, &res, __NR_prctl, PR_GET_TID_ADDRESS, s->addr, 0, 0);
	if (ret)
		return ret;
	if (res == 0 && !inj_read(s->inj, s->addr, &tid_addr, sizeof(tid_addr))) {
		th->has_clear_tid_addr = true;
		th->clear_tid_addr = tid_addr;
	}
	return 0;
}

/* Queued signals, thread-directed (shared = false) or process-directed. */
static int peek_pending(pid_t tid, bool shared, SiginfoEntry ***out, size_t *nr)
{
	struct __ptrace_peeksiginfo_args a = {
	    .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
	    .nr = 1,
	};
	uint8_t si[SIGINFO_SIZE];
	SiginfoEntry **v = NULL, **nv;
	size_t n = 0;
	long r;

	for (a.off = 0; a.off < MAX_PENDING; a.off++) {
		SiginfoEntry *e;

		r = ptrace(PTRACE_PEEKSIGINFO, tid, &a, si);
		if (r < 0) {
			int err = -errno;

			pr_perror("thread %d: PTRACE_PEEKSIGINFO", tid);
			return err;
		}
		if (r == 0)
			break;
		nv = realloc(v, (n + 1) * sizeof(*v));
		e = malloc(sizeof(*e) + SIGINFO_SIZE);
		if (!nv || !e) {
			free(e);
			free(nv ? nv : v);
			return -ENOMEM;
		}
		v = nv;
		siginfo_entry__init(e);
		e->siginfo.len = SIGINFO_SIZE;
		e->siginfo.data = (uint8_t *)(e + 1);
		memcpy(e->siginfo.data, si, SIGINFO_SIZE);
		v[n++] = e;
	}
	*out = v;
	*nr = n;
	return 0;
}

static CredsEntry *make_creds(const struct proc_status *ps)
{
	CredsEntry *c = calloc(1, sizeof(*c) + 10 * sizeof(uint32_t));
	uint32_t *caps = (uint32_t *)(c + 1);
	const uint64_t *src[5] = {&ps->cap_inh, &ps->cap_prm, &ps->cap_eff, &ps->cap_bnd,
				  &ps->cap_amb};
	int i;

	if (!c)
		return NULL;
	creds_entry__init(c);
	c->uid = ps->uid[0];
	c->euid = ps->uid[1];
	c->suid = ps->uid[2];
	c->fsuid = ps->uid[3];
	c->gid = ps->gid[0];
	c->egid = ps->gid[1];
	c->sgid = ps->gid[2];
	c->fsgid = ps->gid[3];
	for (i = 0; i < 5; i++) {
		caps[2 * i] = (uint32_t)*src[i];
		caps[2 * i + 1] = (uint32_t)(*src[i] >> 32);
	}
	c->n_cap_inh = c->n_cap_prm = c->n_cap_eff = c->n_cap_bnd = c->n_cap_amb = 2;
	c->cap_inh = caps;
	c->cap_prm = caps + 2;
	c->cap_eff = caps + 4;
	c->cap_bnd = caps + 6;
	c->cap_amb = caps + 8;
	c->n_groups = ps->nr_groups;
	c->groups = ps->groups; /* owned by the status: freed with it */
	return c;
}

static int get_seccomp(pid_t tid, int nr_filters, ThreadCoreEntry *th)
{
	int i;

	th->seccomp = calloc(nr_filters, sizeof(*th->seccomp));
	if (!th->seccomp)
		return -ENOMEM;
	/* index 0 is the newest: the image keeps them oldest first */
	for (i = 0; i < nr_filters; i++) {
		struct __ptrace_seccomp_metadata md = {.filter_off = i};
		SeccompFilterEntry *e;
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)i, NULL);

		if (n < 0) {
			int err = -errno;

			pr_perror("thread %d: PTRACE_SECCOMP_GET_FILTER %d", tid, i);
			return err;
		}
		e = malloc(sizeof(*e) + n * 8);
		if (!e)
			return -ENOMEM;
		seccomp_filter_entry__init(e);
		e->filter.len = n * 8;
		e->filter.data = (uint8_t *)(e + 1);
		th->seccomp[nr_filters - 1 - i] = e;
		th->n_seccomp++;
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)i, e->filter.data) != n)
			return -EIO;
		if (ptrace(PTRACE_SECCOMP_GET_METADATA, tid, (void *)sizeof(md), &md) > 0) {
			e->has_flags = true;
			e->flags = md.flags;
		}
	}
	return 0;
}

static int read_comm(pid_t pid, pid_t tid, char **comm)
{
	char path[64];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	ret = proc_read_file(path, comm, NULL);
	if (!ret)
		(*comm)[strcspn(*comm, "\n")] = '\0';
	return ret;
}

static int get_affinity(pid_t tid, ThreadCoreEntry *th)
{
	size_t size = CPU_ALLOC_SIZE(4096);
	cpu_set_t *set = CPU_ALLOC(4096);

	if (!set)
		return -ENOMEM;
	if (sched_getaffinity(tid, size, set)) {
		int err = -errno;

		pr_perror("thread %d: sched_getaffinity", tid);
		CPU_FREE(set);
		return err;
	}
	/* trailing zero bytes say nothing: keep the image short */
	while (size > 8 && !((uint8_t *)set)[size - 1])
		size--;
	th->has_cpus_allowed = true;
	th->cpus_allowed.data = (uint8_t *)set;
	th->cpus_allowed.len = size;
	return 0;
}

static int dump_thread(struct dump_task *t, struct dump_thread *dt, ThreadCoreEntry *th,
		       struct proc_status *ps)
{
	struct iovec iov;
	struct __ptrace_rseq_configuration rseq;
	UserX86RegsEntry *r;
	const struct user_regs_struct *u = &dt->regs;
	uint64_t mask;
	long head = 0;
	size_t len = 0;
	int ret;

	th->tid = dt->tid;
	r = th->regs = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	user_x86_regs_entry__init(r);
	r->r15 = u->r15, r->r14 = u->r14, r->r13 = u->r13, r->r12 = u->r12, r->bp = u->rbp;
	r->bx = u->rbx, r->r11 = u->r11, r->r10 = u->r10, r->r9 = u->r9, r->r8 = u->r8;
	r->ax = u->rax, r->cx = u->rcx, r->dx = u->rdx, r->si = u->rsi, r->di = u->rdi;
	r->orig_ax = u->orig_rax, r->ip = u->rip, r->cs = u->cs, r->flags = u->eflags;
	r->sp = u->rsp, r->ss = u->ss, r->fs_base = u->fs_base, r->gs_base = u->gs_base;
	r->ds = u->ds, r->es = u->es, r->fs = u->fs, r->gs = u->gs;
	if (u->orig_rax == __NR_restart_syscall)
		pr_warn("thread %d: in restart_syscall since before this dump; its timeout lives "
			"in the "
			"kernel only, so after restore the call returns EINTR\n",
			dt->tid);

	th->has_xsave = true;
	th->xsave.data = malloc(XSTATE_MAX);
	if (!th->xsave.data)
		return -ENOMEM;
	iov.iov_base = th->xsave.data;
	iov.iov_len = XSTATE_MAX;
	if (ptrace(PTRACE_GETREGSET, dt->tid, (void *)NT_X86_XSTATE, &iov)) {
		ret = -errno;
		pr_perror("thread %d: PTRACE_GETREGSET NT_X86_XSTATE", dt->tid);
		return ret;
	}
	th->xsave.len = iov.iov_len;

	if (ptrace(PTRACE_GETSIGMASK, dt->tid, sizeof(mask), &mask)) {
		ret = -errno;
		pr_perror("thread %d: PTRACE_GETSIGMASK", dt->tid);
		return ret;
	}
	th->blk_sigset = mask;

	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, dt->tid, sizeof(rseq), &rseq) == sizeof(rseq) &&
	    rseq.rseq_abi_pointer) {
		th->rseq = malloc(sizeof(*th->rseq));
		if (!th->rseq)
			return -ENOMEM;
		rseq_entry__init(th->rseq);
		th->rseq->rseq_abi_pointer = rseq.rseq_abi_pointer;
		th->rseq->rseq_abi_size = rseq.rseq_abi_size;
		th->rseq->signature = rseq.signature;
		th->rseq->has_flags = true;
		th->rseq->flags = rseq.flags;
	}
	if (syscall(SYS_get_robust_list, dt->tid, &head, &len) == 0 && head) {
		th->has_robust_list = th->has_robust_list_len = true;
		th->robust_list = head;
		th->robust_list_len = len;
	}
	ret = peek_pending(dt->tid, false, &th->pending, &th->n_pending);
	if (ret)
		return ret;
	ret = read_comm(t->pid, dt->tid, &th->comm);
	if (ret)
		return ret;
	ret = proc_parse_status(t->pid, dt->tid, ps);
	if (ret)
		return ret;
	th->creds = make_creds(ps);
	if (!th->creds)
		return -ENOMEM;
	if (ps->seccomp == 1) {
		pr_err("thread %d: in seccomp strict mode: not supported\n", dt->tid);
		return -EOPNOTSUPP;
	}
	if (ps->seccomp == 2) {
		ret = get_seccomp(dt->tid, ps->seccomp_filters, th);
		if (ret)
			return ret;
	}
	{
		struct proc_stat st;

		ret = proc_parse_stat(t->pid, dt->tid, &st);
		if (ret)
			return ret;
		th->has_sched_policy = th->has_nice = th->has_sched_prio = true;
		th->sched_policy = st.policy;
		th->nice = st.nice;
		th->sched_prio = st.rt_priority;
	}
	return get_affinity(dt->tid, th);
}

static int read_proc_u64(pid_t pid, const char *file, int base, uint64_t *v)
{
	char path[64], *buf;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	*v = strtoll(buf, NULL, base);
	free(buf);
	return 0;
}

static int task_proc_fields(struct dump_task *t, TaskCoreEntry *tc, struct proc_status *ps)
{
	struct rlimit rl[RLIM_NLIMITS];
	uint64_t v;
	int i, ret;

	tc->has_personality = !read_proc_u64(t->pid, "personality", 16, &v);
	tc->personality = v;
	tc->has_loginuid = !read_proc_u64(t->pid, "loginuid", 10, &v);
	tc->loginuid = v;
	tc->has_oom_score_adj = !read_proc_u64(t->pid, "oom_score_adj", 10, &v);
	tc->oom_score_adj = (int32_t)v;
	tc->has_timerslack_ns = !read_proc_u64(t->pid, "timerslack_ns", 10, &v);
	tc->timerslack_ns = v;
	tc->has_no_new_privs = true;
	tc->no_new_privs = ps->no_new_privs;
	tc->has_umask = true;
	tc->umask = ps->umask;
	tc->has_sig_ignored = true;
	tc->sig_ignored = ps->sig_ign;
	tc->has_ppid = true;
	tc->ppid = t->ppid;

	ret = proc_parse_limits(t->pid, rl);
	if (ret)
		return ret;
	tc->rlimits = calloc(RLIM_NLIMITS, sizeof(*tc->rlimits));
	if (!tc->rlimits)
		return -ENOMEM;
	for (i = 0; i < RLIM_NLIMITS; i++) {
		RlimitEntry *e = malloc(sizeof(*e));

		if (!e)
			return -ENOMEM;
		rlimit_entry__init(e);
		e->resource = i;
		e->cur = rl[i].rlim_cur;
		e->max = rl[i].rlim_max;
		tc->rlimits[tc->n_rlimits++] = e;
	}
	return 0;
}

static void free_core(CoreEntry *ce, struct proc_status *ps, int nr)
{
	size_t i, j;

	/* the generated free only handles unpacked messages: free what we allocated */
	for (i = 0; i < ce->n_threads; i++) {
		ThreadCoreEntry *th = ce->threads[i];

		free(th->regs);
		free(th->xsave.data);
		free(th->sas);
		free(th->rseq);
		for (j = 0; j < th->n_pending; j++)
			free(th->pending[j]);
		free(th->pending);
		free(th->comm);
		free(th->creds);
		for (j = 0; j < th->n_seccomp; j++)
			free(th->seccomp[j]);
		free(th->seccomp);
		free(th->cpus_allowed.data);
	}
	for (i = 0; i < (size_t)nr; i++)
		proc_status_fini(&ps[i]);
	if (ce->tc) {
		for (i = 0; i < ce->tc->n_sigactions; i++)
			free(ce->tc->sigactions[i]);
		free(ce->tc->sigactions);
		for (i = 0; i < ce->tc->n_rlimits; i++)
			free(ce->tc->rlimits[i]);
		free(ce->tc->rlimits);
		for (i = 0; i < ce->tc->n_shared_pending; i++)
			free(ce->tc->shared_pending[i]);
		free(ce->tc->shared_pending);
		free(ce->tc->itimer_real);
		free(ce->tc->itimer_virt);
		free(ce->tc->itimer_prof);
		for (i = 0; i < ce->tc->n_posix_timers; i++)
			free(ce->tc->posix_timers[i]);
		free(ce->tc->posix_timers);
	}
}

static int dump_zombie(struct dump_ctx *d, struct dump_task *t, TaskCoreEntry *tc, CoreEntry *ce)
{
	struct img_file f = {};
	char id[16];
	int ret;

	tc->state = TASK_STATE__TASK_ZOMBIE;
	tc->comm = t->st.comm;
	tc->has_exit_code = true;
	tc->exit_code = t->st.exit_code;
	tc->has_ppid = true;
	tc->ppid = t->ppid;
	snprintf(id, sizeof(id), "%d", t->pid);
	ret = open_image_write(&f, d->dirfd, IMG_CORE, id);
	if (!ret)
		ret = pb_write_one(&f, ce);
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	return ret ? ret : dump_note_written(d, "core-%s.img", id);
}

int dump_task_core(struct dump_ctx *d, struct dump_task *t, unsigned long *brk)
{
	CoreEntry ce = CORE_ENTRY__INIT;
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	ThreadCoreEntry *ths = NULL, **pths = NULL;
	struct proc_status *ps = NULL;
	struct scratch lead = {}, s = {};
	struct img_file f = {};
	char id[16];
	int i, ret;

	ce.tc = &tc;
	if (t->state == 'Z')
		return dump_zombie(d, t, &tc, &ce);

	ret = -ENOMEM;
	ths = calloc(t->nr_threads, sizeof(*ths));
	pths = calloc(t->nr_threads, sizeof(*pths));
	ps = calloc(t->nr_threads, sizeof(*ps));
	if (!ths || !pths || !ps)
		goto out;
	ce.threads = pths;
	tc.state = t->state == 'T' || t->threads[0].stop_sig != SIGTRAP ? TASK_STATE__TASK_STOPPED
									: TASK_STATE__TASK_ALIVE;
	tc.comm = t->st.comm;
	for (i = 0; i < t->nr_threads; i++) {
		thread_core_entry__init(&ths[i]);
		pths[i] = &ths[i];
		ce.n_threads++;
		ret = dump_thread(t, &t->threads[i], &ths[i], &ps[i]);
		if (ret)
			goto out;
	}
	ret = task_proc_fields(t, &tc, &ps[0]);
	if (!ret)
		ret = peek_pending(t->pid, true, &tc.shared_pending, &tc.n_shared_pending);
	if (ret)
		goto out;

	ret = scratch_open(&lead, &t->threads[0], NULL);
	if (ret)
		goto out;
	ret = inject_task(&lead, t->pid, &tc, brk);
	if (!ret)
		ret = inject_thread(&lead, &ths[0]);
	for (i = 1; !ret && i < t->nr_threads; i++) {
		int ret2;

		ret = scratch_open(&s, &t->threads[i], &lead);
		if (ret)
			break;
		ret = inject_thread(&s, &ths[i]);
		ret2 = scratch_close(&s);
		if (!ret)
			ret = ret2;
	}
	i = scratch_close(&lead); /* the other threads are done with its gadget */
	if (!ret)
		ret = i;
	if (ret)
		goto out;

	snprintf(id, sizeof(id), "%d", t->pid);
	ret = open_image_write(&f, d->dirfd, IMG_CORE, id);
	if (!ret)
		ret = pb_write_one(&f, &ce);
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	if (!ret)
		ret = dump_note_written(d, "core-%s.img", id);
out:
	if (ret)
		pr_errno(ret, "process %d: cannot dump its core state", t->pid);
	free_core(&ce, ps, t->nr_threads);
	free(ths);
	free(pths);
	free(ps);
	return ret;
}
