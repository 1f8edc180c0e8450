/* The last acts on each thread: its FPU/xstate, its registers (an interrupted syscall restarted as
 * the kernel would), the gadget unmapped by the last injected syscall, its own signal mask, its
 * affinity back, detach. */
#include <elf.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
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
 * kernel from applying its own restart logic on top). A restart block (nanosleep's remaining
 * time...) lived in the kernel and is gone: that call returns EINTR. */
static void restart_syscall(pid_t tid, struct user_regs_struct *r)
{
	if ((long)r->orig_rax >= 0) {
		switch ((long)r->rax) {
		case -ERESTARTSYS:
		case -ERESTARTNOINTR:
		case -ERESTARTNOHAND:
			r->rax = r->orig_rax;
			r->rip -= 2;
			pr_debug("%d: restarting syscall %ld\n", tid, (long)r->orig_rax);
			break;
		case -ERESTART_RESTARTBLOCK:
			pr_info("%d: interrupted syscall %ld returns EINTR\n", tid,
				(long)r->orig_rax);
			r->rax = -EINTR;
			break;
		}
	}
	r->orig_rax = -1;
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
	restart_syscall(th->tid, &r);
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

int rst_detach_task(struct rst_tree *t, struct rst_task *tk)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < tk->nr_threads; i++) {
		struct rst_thread *th = &tk->threads[i];

		if (sched_setaffinity(th->tid, sizeof(t->orig_cpus), &t->orig_cpus))
			pr_warn("%d: cannot give its CPU affinity back: %s\n", th->tid,
				strerror(errno));
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
