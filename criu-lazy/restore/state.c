/* Per-task and per-thread kernel state set from inside by injected batches: signal dispositions,
 * limits, timers, prctl bits, alternate stacks, rseq, robust lists, pending signals, credentials
 * and seccomp filters. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <linux/filter.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "pagestore.h"
#include "restore.h"

#define NSIG_KERNEL 64

struct k_sigaction {
	uint64_t handler, flags, restorer, mask;
};

struct k_rlimit {
	uint64_t cur, max;
};

static void add_sigactions(struct rst_batch *b, const TaskCoreEntry *tc)
{
	int sig;
	size_t i;

	for (sig = 1; sig <= NSIG_KERNEL; sig++) {
		struct k_sigaction ksa = {}; /* SIG_DFL unless the image says otherwise */

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		for (i = 0; i < tc->n_sigactions; i++) {
			const SaEntry *sa = tc->sigactions[i];

			if (sa->sig != (uint32_t)sig)
				continue;
			ksa.handler = sa->handler;
			ksa.flags = sa->flags;
			ksa.restorer = sa->restorer;
			ksa.mask = sa->mask;
		}
		batch_add(b, "rt_sigaction", __NR_rt_sigaction, sig,
			  batch_data(b, &ksa, sizeof(ksa)), 0, sizeof(uint64_t), 0, 0);
	}
}

/* We lack CAP_SYS_RESOURCE here: a hard limit above ours cannot come back. */
static void add_rlimits(struct rst_batch *b, const TaskCoreEntry *tc, pid_t pid)
{
	size_t i;

	for (i = 0; i < tc->n_rlimits; i++) {
		const RlimitEntry *r = tc->rlimits[i];
		struct k_rlimit kr = {r->cur, r->max};
		struct rlimit ours;

		if (r->resource >= RLIM_NLIMITS || getrlimit(r->resource, &ours))
			continue;
		if (ours.rlim_max != RLIM_INFINITY &&
		    (kr.max == RLIM_INFINITY || kr.max > ours.rlim_max)) {
			pr_warn("%d: limit %u lowered to our hard limit %llu\n", pid, r->resource,
				(unsigned long long)ours.rlim_max);
			kr.max = ours.rlim_max;
			if (kr.cur == RLIM_INFINITY || kr.cur > kr.max)
				kr.cur = kr.max;
		}
		batch_add(b, "prlimit64", __NR_prlimit64, 0, r->resource,
			  batch_data(b, &kr, sizeof(kr)), 0, 0, 0);
	}
}

static long cpu_itimer_tick_us;

/* setitimer() adds one tick (TICK_NSEC) to a CPU timer's value, so that time accounted per tick
 * never lets it fire early. A dumped value is what was left, that tick included: armed again as
 * it is, the timer would gain one more tick at every C/R cycle. The tick is what the kernel adds
 * here: arm ITIMER_PROF of our own and read it back at once (we use no ITIMER_PROF). */
static void measure_cpu_itimer_tick(void)
{
	struct itimerval v = {.it_value = {.tv_sec = 1000}}, got, off = {};
	long d;

	if (setitimer(ITIMER_PROF, &v, NULL))
		return;
	d = getitimer(ITIMER_PROF, &got)
		? 0
		: (got.it_value.tv_sec - v.it_value.tv_sec) * 1000000L + got.it_value.tv_usec;
	setitimer(ITIMER_PROF, &off, NULL);
	/* less than the tick (time accounted between the calls) only compensates less */
	if (d > 0 && d <= 20000)
		cpu_itimer_tick_us = d;
	pr_debug("setitimer adds %ld us to a CPU timer\n", cpu_itimer_tick_us);
}

static void add_itimer(struct rst_batch *b, int which, const ItimerEntry *it)
{
	static pthread_once_t tick_once = PTHREAD_ONCE_INIT;
	struct itimerval v;
	long long left;

	if (!it)
		return;
	v.it_interval.tv_sec = it->isec;
	v.it_interval.tv_usec = it->iusec;
	v.it_value.tv_sec = it->vsec;
	v.it_value.tv_usec = it->vusec;
	/* A periodic ITIMER_REAL that expired reads 0 left until its SIGALRM is dequeued: the
	 * kernel re-arms it only then, and only if it is still armed. Setting it to expire at once
	 * puts it back in that state (the SIGALRM it raises merges with the pending one restored);
	 * skipped like a disarmed timer, it would never fire again. The CPU timers re-arm
	 * themselves when they expire, so a 0 there is a disarmed timer. */
	if (which == ITIMER_REAL && !v.it_value.tv_sec && !v.it_value.tv_usec &&
	    (v.it_interval.tv_sec || v.it_interval.tv_usec))
		v.it_value.tv_usec = 1;
	if (!v.it_value.tv_sec && !v.it_value.tv_usec)
		return; /* disarmed, as in a new task */
	if (which != ITIMER_REAL) {
		pthread_once(&tick_once, measure_cpu_itimer_tick);
		left = v.it_value.tv_sec * 1000000LL + v.it_value.tv_usec;
		if (left > cpu_itimer_tick_us) {
			left -= cpu_itimer_tick_us;
			v.it_value.tv_sec = left / 1000000;
			v.it_value.tv_usec = left % 1000000;
		}
	}
	batch_add(b, "setitimer", __NR_setitimer, which, batch_data(b, &v, sizeof(v)), 0, 0, 0, 0);
}

static void add_siginfo(struct rst_batch *b, const SiginfoEntry *si, pid_t pid, pid_t tid)
{
	int sig;

	if (si->siginfo.len < sizeof(siginfo_t))
		return;
	memcpy(&sig, si->siginfo.data, sizeof(sig));
	if (tid)
		batch_add(b, "rt_tgsigqueueinfo", __NR_rt_tgsigqueueinfo, pid, tid, sig,
			  batch_data(b, si->siginfo.data, sizeof(siginfo_t)), 0, 0);
	else
		batch_add(b, "rt_sigqueueinfo", __NR_rt_sigqueueinfo, pid, sig,
			  batch_data(b, si->siginfo.data, sizeof(siginfo_t)), 0, 0, 0);
}

static int write_proc(pid_t pid, const char *file, const char *val)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

int rst_restore_task_state(struct rst_tree *t, struct rst_task *tk)
{
	const TaskCoreEntry *tc = tk->core->tc;
	struct rst_batch b;
	size_t i;
	int ret;

	(void)t;
	ret = batch_init(&b, task_inj(tk));
	if (ret)
		return ret;
	add_sigactions(&b, tc);
	ret = batch_run(&b);
	if (ret)
		goto out;

	add_rlimits(&b, tc, tk->pid);
	if (tc->has_personality)
		batch_add(&b, "personality", __NR_personality, tc->personality, 0, 0, 0, 0, 0);
	if (!tk->fs && tc->has_umask)
		batch_add(&b, "umask", __NR_umask, tc->umask, 0, 0, 0, 0, 0);
	if (tc->has_child_subreaper && tc->child_subreaper)
		batch_add(&b, "prctl(PR_SET_CHILD_SUBREAPER)", __NR_prctl, PR_SET_CHILD_SUBREAPER,
			  1, 0, 0, 0, 0);
	if (tc->has_thp_disabled || (tk->mm && tk->mm->has_thp_disabled))
		batch_add(&b, "prctl(PR_SET_THP_DISABLE)", __NR_prctl, PR_SET_THP_DISABLE,
			  tc->has_thp_disabled ? tc->thp_disabled : tk->mm->thp_disabled, 0, 0, 0,
			  0);
	if (tc->has_dumpable || (tk->mm && tk->mm->has_dumpable))
		batch_add(&b, "prctl(PR_SET_DUMPABLE)", __NR_prctl, PR_SET_DUMPABLE,
			  tc->has_dumpable ? tc->dumpable : tk->mm->dumpable, 0, 0, 0, 0);
	for (i = 0; i < tc->n_shared_pending; i++)
		add_siginfo(&b, tc->shared_pending[i], tk->pid, 0);
	add_itimer(&b, ITIMER_REAL, tc->itimer_real);
	add_itimer(&b, ITIMER_VIRTUAL, tc->itimer_virt);
	add_itimer(&b, ITIMER_PROF, tc->itimer_prof);
	ret = batch_run(&b);
	if (ret)
		goto out;

	if (tc->has_oom_score_adj) {
		char v[16];

		snprintf(v, sizeof(v), "%d", tc->oom_score_adj);
		if (write_proc(tk->pid, "oom_score_adj", v))
			pr_warn("%d: cannot set oom_score_adj %d\n", tk->pid, tc->oom_score_adj);
	}
out:
	batch_fini(&b);
	return ret;
}

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

/* Where the thread's clear_child_tid points when the image does not say (dump has no way to
 * read it on some kernels): glibc keeps it at a fixed offset from the thread pointer, the tid
 * field of struct pthread. Ours tells the offset; the task's memory, holding its own tid there,
 * confirms it is the same layout. 0 when unknown. */
/* A word of the task's memory: from the images when they have its page (reading the task
 * could wait for a lazy page), else from the task. 0 or -errno. */
static int read_mem(struct inj_ctx *inj, struct pgs_ctx *pages, uint64_t addr, void *val,
		    size_t len)
{
	if (pages && (addr & (PGS_PAGE_SIZE - 1)) + len <= PGS_PAGE_SIZE) {
		static __thread char page[PGS_PAGE_SIZE];

		/* a hole may be a page served from elsewhere (dump --lazy-pages): ask the task */
		if (pgs_read(pages, addr & ~(PGS_PAGE_SIZE - 1), 1, page) == 1) {
			memcpy(val, page + (addr & (PGS_PAGE_SIZE - 1)), len);
			return 0;
		}
	}
	return inj_read(inj, addr, val, len);
}

/* glibc's thread control block starts with two pointers to itself (tcb, self). */
static bool glibc_tcb(struct inj_ctx *inj, struct pgs_ctx *pages, uint64_t tp)
{
	uint64_t w[3];

	return !read_mem(inj, pages, tp, w, sizeof(w)) && w[0] == tp && w[2] == tp;
}

static uint64_t guess_clear_tid(struct inj_ctx *inj, struct pgs_ctx *pages,
				const ThreadCoreEntry *tc, bool repair)
{
	static long off = -1;
	uint64_t addr, tp = tc->regs->fs_base;
	uint32_t val;

	if (off == -1) {
		unsigned long a = 0;

		off = 0;
		if (!prctl(PR_GET_TID_ADDRESS, &a, 0, 0, 0) && a)
			off = a - (unsigned long)__builtin_thread_pointer();
		if (off < 0 || off > 65536)
			off = 0;
	}
	if (!off || !tp)
		return 0;
	addr = tp + off;
	if (read_mem(inj, pages, addr, &val, sizeof(val)))
		return 0;
	pr_debug("thread %u: tid word at %#" PRIx64 " reads %u\n", tc->tid, addr, val);
	if (val == tc->tid)
		return addr;
	/* Zero: the kernel cleared it when the dumped thread was killed while another process
	 * still shared its memory (a post-copy source on this host keeps the tree's memory alive
	 * that way), which glibc reads as "this thread has exited". A source that kills clears
	 * clear_child_tid first (dump_forget_exit_writes), so only older image sets need this;
	 * a live glibc thread never has 0 there, so it changes nothing else. Put the tid back. */
	if (repair && !val && glibc_tcb(inj, pages, tp) && !inj_write(inj, addr, &tc->tid, 4)) {
		pr_info("thread %u: its tid word in glibc's thread block was cleared: put back\n",
			tc->tid);
		return addr;
	}
	return 0;
}

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#endif

/* The kernel's struct sigevent. */
struct k_sigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

/* POSIX timers get their ids back through PR_TIMER_CREATE_RESTORE_IDS (timer_create then takes
 * the id it is given); they run again with the time they had left at the freeze. After the
 * threads exist: a timer may signal one of them. */
int rst_restore_posix_timers(struct rst_tree *t, struct rst_task *tk)
{
	const TaskCoreEntry *tc = tk->core->tc;
	struct rst_batch b;
	size_t i;
	int ret;

	(void)t;
	if (!tc->n_posix_timers)
		return 0;
	ret = batch_init(&b, task_inj(tk));
	if (ret)
		return ret;
	batch_add(&b, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", __NR_prctl, PR_TIMER_CREATE_RESTORE_IDS,
		  1, 0, 0, 0, 0);
	for (i = 0; i < tc->n_posix_timers; i++) {
		const PosixTimerEntry *pt = tc->posix_timers[i];
		struct k_sigevent ev = {.value = pt->sival,
					.signo = (int32_t)pt->signo,
					.notify = (int32_t)pt->sigev_notify,
					.tid = pt->has_notify_tid ? (int32_t)pt->notify_tid : 0};
		int32_t id = (int32_t)pt->it_id;

		batch_add(&b, "timer_create", __NR_timer_create, pt->clock_id,
			  batch_data(&b, &ev, sizeof(ev)), batch_data(&b, &id, sizeof(id)), 0, 0,
			  0);
	}
	batch_add(&b, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", __NR_prctl, PR_TIMER_CREATE_RESTORE_IDS,
		  0, 0, 0, 0, 0);
	for (i = 0; i < tc->n_posix_timers; i++) {
		const PosixTimerEntry *pt = tc->posix_timers[i];
		struct itimerspec its = {
		    .it_interval = {(time_t)pt->isec, (long)pt->insec},
		    .it_value = {(time_t)pt->vsec, (long)pt->vnsec},
		};

		if (!pt->vsec && !pt->vnsec) {
			if (!pt->isec && !pt->insec)
				continue;	  /* disarmed */
			its.it_value.tv_nsec = 1; /* periodic, due: fires at once */
		}
		batch_add(&b, "timer_settime", __NR_timer_settime, pt->it_id, 0,
			  batch_data(&b, &its, sizeof(its)), 0, 0, 0);
	}
	ret = batch_run(&b);
	if (ret)
		pr_err("%d: cannot restore its POSIX timers (this kernel may lack "
		       "PR_TIMER_CREATE_RESTORE_IDS)\n",
		       tk->pid);
	batch_fini(&b);
	return ret;
}

int rst_restore_thread_state(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th)
{
	const ThreadCoreEntry *tc = th->tc;
	const TaskCoreEntry *task = tk->core->tc;
	const char *comm = tc->comm ? tc->comm : task->comm;
	struct rst_batch b;
	char name[16] = {};
	size_t i;
	int ret;

	(void)t;
	ret = batch_init(&b, th->inj);
	if (ret)
		return ret;
	if (comm) {
		strncpy(name, comm, sizeof(name) - 1);
		batch_add(&b, "prctl(PR_SET_NAME)", __NR_prctl, PR_SET_NAME,
			  batch_data(&b, name, sizeof(name)), 0, 0, 0, 0);
	}
	if (tc->sas) {
		stack_t ss = {
		    .ss_sp = (void *)(uintptr_t)tc->sas->sp,
		    .ss_size = tc->sas->size,
		    .ss_flags = tc->sas->flags & ~SS_ONSTACK,
		};

		if (ss.ss_flags & SS_DISABLE)
			ss = (stack_t){.ss_flags = SS_DISABLE};
		batch_add(&b, "sigaltstack", __NR_sigaltstack, batch_data(&b, &ss, sizeof(ss)), 0,
			  0, 0, 0, 0);
	}
	if (tc->has_robust_list && tc->robust_list)
		batch_add(&b, "set_robust_list", __NR_set_robust_list, tc->robust_list,
			  tc->has_robust_list_len ? tc->robust_list_len : 24, 0, 0, 0, 0);
	if (tc->has_pdeath_sig && tc->pdeath_sig)
		batch_add(&b, "prctl(PR_SET_PDEATHSIG)", __NR_prctl, PR_SET_PDEATHSIG,
			  tc->pdeath_sig, 0, 0, 0, 0);
	if (task->has_timerslack_ns && task->timerslack_ns)
		batch_add(&b, "prctl(PR_SET_TIMERSLACK)", __NR_prctl, PR_SET_TIMERSLACK,
			  task->timerslack_ns, 0, 0, 0, 0);
	if (task->has_no_new_privs && task->no_new_privs)
		batch_add(&b, "prctl(PR_SET_NO_NEW_PRIVS)", __NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0,
			  0, 0, 0);
	for (i = 0; i < tc->n_pending; i++)
		add_siginfo(&b, tc->pending[i], tk->pid, th->tid);
	ret = batch_run(&b);
	batch_fini(&b);
	return ret;
}

static uint64_t cap_word(const uint32_t *w, size_t n)
{
	return (n > 0 ? w[0] : 0) | (n > 1 ? (uint64_t)w[1] << 32 : 0);
}

static int cap_last_cap(void)
{
	static int last = -1;
	char buf[16] = {};
	int fd;

	if (last >= 0)
		return last;
	fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		last = atoi(buf);
	if (fd >= 0)
		close(fd);
	if (last <= 0)
		last = 40;
	return last;
}

/* What reads or writes the thread's own memory (rseq registration writes its area; the
 * clear_child_tid guess reads the thread's TLS): on a lazy restore only once the memory is
 * registered with the daemon, or the kernel maps a zero page there that is never filled. */
int rst_restore_thread_mem_state(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th)
{
	const ThreadCoreEntry *tc = th->tc;
	struct rst_batch b;
	uint64_t clear_tid;
	int ret;

	ret = batch_init(&b, th->inj);
	if (ret)
		return ret;
	/* the guess also checks (and on a post-copy source's images repairs) glibc's tid word,
	 * which is where a known address points too */
	clear_tid = guess_clear_tid(th->inj, tk->pages, tc, t->inv->lazy_pages);
	if (tc->has_clear_tid_addr)
		clear_tid = tc->clear_tid_addr;
	if (clear_tid)
		batch_add(&b, "set_tid_address", __NR_set_tid_address, clear_tid, 0, 0, 0, 0, 0);
	if (tc->rseq && tc->rseq->rseq_abi_pointer)
		batch_add(&b, "rseq", __NR_rseq, tc->rseq->rseq_abi_pointer,
			  tc->rseq->rseq_abi_size, 0, tc->rseq->signature, 0, 0);
	ret = batch_run(&b);
	batch_fini(&b);
	return ret;
}

int rst_restore_creds(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th)
{
	const CredsEntry *c = th->tc->creds;
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint64_t eff, prm, inh, bnd, amb;
	struct rst_batch b;
	int cap, ret;

	(void)t;
	(void)tk;
	if (!c)
		return 0;
	ret = batch_init(&b, th->inj);
	if (ret)
		return ret;
	eff = cap_word(c->cap_eff, c->n_cap_eff);
	prm = cap_word(c->cap_prm, c->n_cap_prm);
	inh = cap_word(c->cap_inh, c->n_cap_inh);
	bnd = c->n_cap_bnd ? cap_word(c->cap_bnd, c->n_cap_bnd) : ~0ULL;
	amb = cap_word(c->cap_amb, c->n_cap_amb);
	for (cap = 0; cap <= cap_last_cap(); cap++)
		if (!(bnd & (1ULL << cap)))
			batch_add(&b, "prctl(PR_CAPBSET_DROP)", __NR_prctl, PR_CAPBSET_DROP, cap, 0,
				  0, 0, 0);
	batch_add(&b, "setgroups", __NR_setgroups, c->n_groups,
		  c->n_groups ? batch_data(&b, c->groups, c->n_groups * sizeof(uint32_t)) : 0, 0, 0,
		  0, 0);
	if (c->secbits)
		batch_add(&b, "prctl(PR_SET_SECUREBITS)", __NR_prctl, PR_SET_SECUREBITS,
			  c->secbits | SECBIT_KEEP_CAPS, 0, 0, 0, 0);
	else
		batch_add(&b, "prctl(PR_SET_KEEPCAPS)", __NR_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0);
	batch_add(&b, "setresgid", __NR_setresgid, c->gid, c->egid, c->sgid, 0, 0, 0);
	batch_add(&b, "setfsgid", __NR_setfsgid, c->fsgid, 0, 0, 0, 0, 0);
	batch_add(&b, "setresuid", __NR_setresuid, c->uid, c->euid, c->suid, 0, 0, 0);
	batch_add(&b, "setfsuid", __NR_setfsuid, c->fsuid, 0, 0, 0, 0, 0);
	data[0].effective = (uint32_t)eff;
	data[1].effective = (uint32_t)(eff >> 32);
	data[0].permitted = (uint32_t)prm;
	data[1].permitted = (uint32_t)(prm >> 32);
	data[0].inheritable = (uint32_t)inh;
	data[1].inheritable = (uint32_t)(inh >> 32);
	batch_add(&b, "capset", __NR_capset, batch_data(&b, &hdr, sizeof(hdr)),
		  batch_data(&b, data, sizeof(data)), 0, 0, 0, 0);
	for (cap = 0; cap <= cap_last_cap(); cap++)
		if (amb & (1ULL << cap))
			batch_add(&b, "prctl(PR_CAP_AMBIENT_RAISE)", __NR_prctl, PR_CAP_AMBIENT,
				  PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0);
	if (!(c->secbits & SECBIT_KEEP_CAPS))
		batch_add(&b, "prctl(PR_SET_KEEPCAPS)", __NR_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0, 0);
	ret = batch_run(&b);
	if (ret)
		pr_err("%d: cannot restore credentials (uid %u gid %u)\n", th->tid, c->uid, c->gid);
	batch_fini(&b);
	return ret;
}

/* Filters go in after the credentials, oldest first; the tracee's seccomp is suspended while we
 * trace it (PTRACE_O_SUSPEND_SECCOMP), so the last injected calls are not filtered. */
int rst_restore_seccomp(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th)
{
	const ThreadCoreEntry *tc = th->tc;
	struct rst_batch b;
	size_t i;
	int ret;

	(void)t;
	if (!tc->n_seccomp)
		return 0;
	ret = batch_init(&b, th->inj);
	if (ret)
		return ret;
	for (i = 0; i < tc->n_seccomp; i++) {
		const SeccompFilterEntry *f = tc->seccomp[i];
		struct sock_fprog prog = {.len = f->filter.len / sizeof(struct sock_filter)};
		unsigned long flags = f->has_flags ? f->flags : 0;

		if (!prog.len || f->filter.len % sizeof(struct sock_filter)) {
			pr_err("core-%d.img: thread %d: bad seccomp filter %zu\n", tk->pid, th->tid,
			       i);
			batch_fini(&b);
			return -EBADMSG;
		}
		prog.filter = (struct sock_filter *)batch_data(&b, f->filter.data, f->filter.len);
		flags &= SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		batch_add(&b, "seccomp", __NR_seccomp, SECCOMP_SET_MODE_FILTER, flags,
			  batch_data(&b, &prog, sizeof(prog)), 0, 0, 0);
	}
	ret = batch_run(&b);
	batch_fini(&b);
	return ret;
}
