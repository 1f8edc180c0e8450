/* Remote syscalls in ptrace-stopped threads (see inject.h).
 *
 * Two ways to run a syscall in a stopped thread:
 * - borrowed: point the thread at a "syscall" instruction of its own vDSO and step it through the
 *   syscall-entry and syscall-exit stops. Needs nothing of ours in the task, costs two stops.
 * - gadget: our code area in the task ("syscall; int3", and a loop that runs a table of calls and
 *   traps once at the end). One stop per syscall, or one per batch.
 * Registers are set with orig_ax = -1 so that the kernel never applies its syscall-restart logic
 * to the injected state when the thread leaves the stop it was in.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "inject: "
#include "log.h"
#include "inject.h"

#define INJ_TABLE_OFF INJ_CODE_SIZE
#define INJ_TABLE_SIZE (3 * 4096UL)
#define INJ_TABLE_SLOTS (INJ_TABLE_SIZE / sizeof(struct inj_call))
#define INJ_DATA_OFF (INJ_TABLE_OFF + INJ_TABLE_SIZE)
#define INJ_WAIT_TIMEOUT_S 10

/*
 * The gadget: position independent, copied byte for byte into the task.
 *   +0   syscall; int3                 one call, rax/args from the registers
 *   +16  loop over struct inj_call at rbx: stops at nr == -1 or at the first failing call
 */
extern const char inj_gadget_start[], inj_gadget_batch[], inj_gadget_end[];
asm(".pushsection .rodata\n"
    ".globl inj_gadget_start\n"
    ".globl inj_gadget_batch\n"
    ".globl inj_gadget_end\n"
    "inj_gadget_start:\n"
    "	syscall\n"
    "	int3\n"
    "	.balign 16, 0xcc\n"
    "inj_gadget_batch:\n"
    "1:	movq (%rbx), %rax\n"
    "	cmpq $-1, %rax\n"
    "	je 2f\n"
    "	movq 8(%rbx), %rdi\n"
    "	movq 16(%rbx), %rsi\n"
    "	movq 24(%rbx), %rdx\n"
    "	movq 32(%rbx), %r10\n"
    "	movq 40(%rbx), %r8\n"
    "	movq 48(%rbx), %r9\n"
    "	syscall\n"
    "	movq %rax, 56(%rbx)\n"
    "	addq $64, %rbx\n"
    "	cmpq $-4095, %rax\n"
    "	jb 1b\n"
    "2:	int3\n"
    "inj_gadget_end:\n"
    ".popsection\n");

_Static_assert(sizeof(struct inj_call) == 64, "the gadget loop walks 64-byte calls");

struct inj_ctx {
	pid_t tid;
	struct user_regs_struct saved;
	uint64_t saved_mask;
	unsigned long gadget;	    /* 0: none */
	int own_gadget;		    /* installed by inj_install_gadget: removed by inj_close */
	unsigned long vdso_syscall; /* 0: not looked up yet */
	int mem_fd;		    /* /proc/TID/mem, opened on first need */
};

static volatile sig_atomic_t wait_timed_out;

static void on_wait_alarm(int sig)
{
	(void)sig;
	wait_timed_out = 1;
}

int ptrace_wait_stop(pid_t tid, int *status)
{
	static int alarm_ready;
	struct itimerval it = {.it_value = {.tv_sec = INJ_WAIT_TIMEOUT_S}};
	struct itimerval off = {};
	int ret;

	if (!alarm_ready) {
		struct sigaction sa = {.sa_handler = on_wait_alarm}; /* no SA_RESTART */

		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		alarm_ready = 1;
	}
	wait_timed_out = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	do {
		ret = waitpid(tid, status, __WALL);
	} while (ret < 0 && errno == EINTR && !wait_timed_out);
	setitimer(ITIMER_REAL, &off, NULL);

	if (ret < 0) {
		if (wait_timed_out) {
			pr_err("thread %d: no ptrace stop within %d s\n", tid, INJ_WAIT_TIMEOUT_S);
			return -ETIMEDOUT;
		}
		return -errno;
	}
	if (WIFEXITED(*status) || WIFSIGNALED(*status))
		return -ESRCH;
	return *status;
}

static int get_regs(pid_t tid, struct user_regs_struct *regs)
{
	if (ptrace(PTRACE_GETREGS, tid, NULL, regs)) {
		int err = -errno;

		pr_perror("thread %d: PTRACE_GETREGS", tid);
		return err;
	}
	return 0;
}

static int set_regs(pid_t tid, const struct user_regs_struct *regs)
{
	if (ptrace(PTRACE_SETREGS, tid, NULL, regs)) {
		int err = -errno;

		pr_perror("thread %d: PTRACE_SETREGS", tid);
		return err;
	}
	return 0;
}

/* Resumes with req (PTRACE_CONT or PTRACE_SYSCALL) until the next stop we asked for. Event stops
 * (a clone the injected syscall made, say) are passed over; other signals were blocked by
 * inj_open, so a foreign stop here is a bug or SIGSTOP: it is reported and suppressed. */
static int resume_until_stop(struct inj_ctx *ctx, int req)
{
	int status, ret;

	while (1) {
		if (ptrace(req, ctx->tid, NULL, NULL)) {
			ret = -errno;
			pr_perror("thread %d: cannot resume", ctx->tid);
			return ret;
		}
	again:
		ret = ptrace_wait_stop(ctx->tid, &status);
		if (ret == -ESRCH) {
			pr_err("thread %d: died while running an injected syscall (status 0x%x)\n",
			       ctx->tid, status);
			return ret;
		}
		if (ret < 0)
			return ret;
		if (!WIFSTOPPED(status)) {
			pr_err("thread %d: unexpected wait status 0x%x\n", ctx->tid, status);
			return -EINVAL;
		}
		if (status >> 16) {
			/* PTRACE_EVENT_*: clone/fork/exec/stop; exec would be a bug of ours */
			if ((status >> 16) == PTRACE_EVENT_STOP && WSTOPSIG(status) != SIGTRAP) {
				/* a group stop (SIGSTOP from outside) */
				pr_warn("thread %d: group stop during injection, going on\n",
					ctx->tid);
			}
			continue;
		}
		if ((WSTOPSIG(status) & 0x7f) == SIGTRAP)
			return 0;
		pr_warn("thread %d: signal %d arrived during injection; suppressed\n", ctx->tid,
			WSTOPSIG(status));
		if (ptrace(req, ctx->tid, NULL, NULL))
			return -errno;
		goto again;
	}
}

/* A killed task keeps its ptrace link until reaped but loses its mappings: tell that apart from a
 * task that really has no vDSO. */
static bool task_is_dead(pid_t tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && (p[2] == 'Z' || p[2] == 'X');
}

static int find_vdso_syscall(struct inj_ctx *ctx)
{
	unsigned long start = 0, end = 0, s, e, nr_lines = 0;
	char path[64], line[512];
	unsigned char *buf;
	size_t i;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/maps", ctx->tid);
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		pr_perror("cannot open %s", path);
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		nr_lines++;
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &s, &e) == 2) {
			start = s;
			end = e;
			break;
		}
	}
	fclose(f);
	/* a task killed under us drops its mm before it turns into a zombie: no mappings at all */
	if (!start && (!nr_lines || task_is_dead(ctx->tid)))
		return -ESRCH;
	if (!start || end - start > (1 << 20)) {
		pr_err("thread %d: no vDSO to borrow a syscall instruction from\n", ctx->tid);
		return -ENOENT;
	}
	buf = malloc(end - start);
	if (!buf)
		return -ENOMEM;
	ret = inj_read(ctx, start, buf, end - start);
	if (ret)
		goto out;
	ret = -ENOENT;
	for (i = 0; i + 1 < end - start; i++) {
		if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
			ctx->vdso_syscall = start + i;
			ret = 0;
			break;
		}
	}
	if (ret)
		pr_err("thread %d: no syscall instruction in the vDSO\n", ctx->tid);
out:
	free(buf);
	return ret;
}

static void load_call(struct user_regs_struct *r, long nr, long a1, long a2, long a3, long a4,
		      long a5, long a6)
{
	r->rax = nr;
	r->orig_rax = -1;
	r->rdi = a1;
	r->rsi = a2;
	r->rdx = a3;
	r->r10 = a4;
	r->r8 = a5;
	r->r9 = a6;
}

/* Two stops: syscall entry, syscall exit. */
static int syscall_borrowed(struct inj_ctx *ctx, struct user_regs_struct *r)
{
	int ret;

	if (!ctx->vdso_syscall) {
		ret = find_vdso_syscall(ctx);
		if (ret)
			return ret;
	}
	r->rip = ctx->vdso_syscall;
	ret = set_regs(ctx->tid, r);
	if (ret)
		return ret;
	ret = resume_until_stop(ctx, PTRACE_SYSCALL); /* entry */
	if (ret)
		return ret;
	ret = resume_until_stop(ctx, PTRACE_SYSCALL); /* exit */
	if (ret)
		return ret;
	return get_regs(ctx->tid, r);
}

static int syscall_gadget(struct inj_ctx *ctx, struct user_regs_struct *r)
{
	int ret;

	r->rip = ctx->gadget;
	ret = set_regs(ctx->tid, r);
	if (ret)
		return ret;
	ret = resume_until_stop(ctx, PTRACE_CONT);
	if (ret)
		return ret;
	return get_regs(ctx->tid, r);
}

int inj_syscall(struct inj_ctx *ctx, long *res, long nr, long a1, long a2, long a3, long a4,
		long a5, long a6)
{
	struct user_regs_struct r = ctx->saved;
	int ret;

	load_call(&r, nr, a1, a2, a3, a4, a5, a6);
	ret = ctx->gadget ? syscall_gadget(ctx, &r) : syscall_borrowed(ctx, &r);
	if (ret)
		return ret;
	*res = (long)r.rax;
	return 0;
}

static int batch_chunk(struct inj_ctx *ctx, struct inj_call *calls, int n)
{
	unsigned long table = ctx->gadget + INJ_TABLE_OFF;
	struct user_regs_struct r = ctx->saved;
	long end = -1;
	int i, ret;

	for (i = 0; i < n; i++)
		calls[i].ret = -ENOEXEC; /* what a call that never ran reads as */
	ret = inj_write(ctx, table, calls, n * sizeof(*calls));
	if (!ret)
		ret = inj_write(ctx, table + n * sizeof(*calls), &end, sizeof(end));
	if (ret)
		return ret;

	load_call(&r, 0, 0, 0, 0, 0, 0, 0);
	r.rip = ctx->gadget + (inj_gadget_batch - inj_gadget_start);
	r.rbx = table;
	ret = set_regs(ctx->tid, &r);
	if (!ret)
		ret = resume_until_stop(ctx, PTRACE_CONT);
	if (!ret)
		ret = inj_read(ctx, table, calls, n * sizeof(*calls));
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		if ((unsigned long)calls[i].ret >= (unsigned long)-4095)
			return i + 1;
	return 0;
}

int inj_batch(struct inj_ctx *ctx, struct inj_call *calls, int n)
{
	int done = 0, ret;

	if (!ctx->gadget) {
		pr_err("thread %d: batch without a gadget\n", ctx->tid);
		return -EINVAL;
	}
	while (done < n) {
		int chunk = n - done;

		if (chunk > (int)INJ_TABLE_SLOTS - 1)
			chunk = INJ_TABLE_SLOTS - 1;
		ret = batch_chunk(ctx, calls + done, chunk);
		if (ret < 0)
			return ret;
		if (ret > 0)
			return done + ret;
		done += chunk;
	}
	return 0;
}

static int open_common(struct inj_ctx **pctx, pid_t tid)
{
	struct inj_ctx *ctx;
	int ret;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->tid = tid;
	ctx->mem_fd = -1;
	ret = get_regs(tid, &ctx->saved);
	if (ret)
		goto err;
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(ctx->saved_mask), &ctx->saved_mask)) {
		ret = -errno;
		pr_perror("thread %d: PTRACE_GETSIGMASK", tid);
		goto err;
	}
	{
		uint64_t all = ~0ULL;

		if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(all), &all)) {
			ret = -errno;
			pr_perror("thread %d: PTRACE_SETSIGMASK", tid);
			goto err;
		}
	}
	*pctx = ctx;
	return 0;
err:
	free(ctx);
	return ret;
}

int inj_open(struct inj_ctx **ctx, pid_t tid)
{
	return open_common(ctx, tid);
}

int inj_open_thread(struct inj_ctx **ctx, pid_t tid, struct inj_ctx *leader)
{
	int ret = open_common(ctx, tid);

	if (ret)
		return ret;
	(*ctx)->gadget = leader->gadget;
	(*ctx)->vdso_syscall = leader->vdso_syscall;
	return 0;
}

pid_t inj_tid(const struct inj_ctx *ctx)
{
	return ctx->tid;
}

const struct user_regs_struct *inj_saved_regs(const struct inj_ctx *ctx)
{
	return &ctx->saved;
}

uint64_t inj_saved_sigmask(const struct inj_ctx *ctx)
{
	return ctx->saved_mask;
}

const void *inj_gadget_code(size_t *len)
{
	*len = inj_gadget_end - inj_gadget_start;
	return inj_gadget_start;
}

unsigned long inj_gadget_addr(const struct inj_ctx *ctx)
{
	return ctx->gadget;
}

unsigned long inj_scratch(const struct inj_ctx *ctx)
{
	return ctx->gadget ? ctx->gadget + INJ_DATA_OFF : 0;
}

size_t inj_scratch_size(const struct inj_ctx *ctx)
{
	return ctx->gadget ? INJ_GADGET_SIZE - INJ_DATA_OFF : 0;
}

int inj_install_gadget(struct inj_ctx *ctx, unsigned long addr)
{
	size_t len;
	const void *code = inj_gadget_code(&len);
	long res;
	int ret;

	ret = inj_syscall(ctx, &res, __NR_mmap, addr, INJ_GADGET_SIZE,
			  PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS | (addr ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (ret)
		return ret;
	if ((unsigned long)res >= (unsigned long)-4095) {
		pr_err("thread %d: cannot map the gadget at %#lx: %s\n", ctx->tid, addr,
		       strerror(-res));
		return res;
	}
	if (addr && (unsigned long)res != addr) {
		pr_err("thread %d: gadget mapped at %#lx, not at %#lx\n", ctx->tid, res, addr);
		inj_syscall(ctx, &res, __NR_munmap, res, INJ_GADGET_SIZE, 0, 0, 0, 0);
		return -EEXIST;
	}
	ret = inj_write(ctx, res, code, len);
	if (ret) {
		long unused;

		inj_syscall(ctx, &unused, __NR_munmap, res, INJ_GADGET_SIZE, 0, 0, 0, 0);
		return ret;
	}
	ctx->gadget = res;
	ctx->own_gadget = 1;
	pr_debug("thread %d: gadget at %#lx\n", ctx->tid, ctx->gadget);
	return 0;
}

int inj_use_gadget(struct inj_ctx *ctx, unsigned long addr)
{
	size_t len;
	const void *code = inj_gadget_code(&len);
	char *check = malloc(len);
	int ret;

	if (!check)
		return -ENOMEM;
	ret = inj_read(ctx, addr, check, len);
	if (!ret && memcmp(check, code, len)) {
		pr_err("thread %d: no gadget code at %#lx\n", ctx->tid, addr);
		ret = -EINVAL;
	}
	free(check);
	if (!ret)
		ctx->gadget = addr;
	return ret;
}

static int open_mem(struct inj_ctx *ctx)
{
	char path[64];

	if (ctx->mem_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", ctx->tid);
	ctx->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (ctx->mem_fd < 0) {
		int err = -errno;

		pr_perror("cannot open %s", path);
		return err;
	}
	return 0;
}

static int mem_rw(struct inj_ctx *ctx, unsigned long raddr, void *buf, size_t len, int write)
{
	size_t done = 0;
	int ret = open_mem(ctx);

	if (ret)
		return ret;
	while (done < len) {
		ssize_t n = write
				? pwrite(ctx->mem_fd, (char *)buf + done, len - done, raddr + done)
				: pread(ctx->mem_fd, (char *)buf + done, len - done, raddr + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			pr_errno(ret, "thread %d: cannot %s %zu bytes at %#lx", ctx->tid,
				 write ? "write" : "read", len - done, raddr + done);
			return ret;
		}
		done += n;
	}
	return 0;
}

int inj_write(struct inj_ctx *ctx, unsigned long raddr, const void *buf, size_t len)
{
	struct iovec l = {.iov_base = (void *)buf, .iov_len = len};
	struct iovec r = {.iov_base = (void *)raddr, .iov_len = len};

	if (process_vm_writev(ctx->tid, &l, 1, &r, 1, 0) == (ssize_t)len)
		return 0;
	return mem_rw(ctx, raddr, (void *)buf, len, 1);
}

int inj_read(struct inj_ctx *ctx, unsigned long raddr, void *buf, size_t len)
{
	struct iovec l = {.iov_base = buf, .iov_len = len};
	struct iovec r = {.iov_base = (void *)raddr, .iov_len = len};

	if (process_vm_readv(ctx->tid, &l, 1, &r, 1, 0) == (ssize_t)len)
		return 0;
	return mem_rw(ctx, raddr, buf, len, 0);
}

int inj_finish(struct inj_ctx *ctx, const struct user_regs_struct *final, int unmap_gadget)
{
	struct user_regs_struct r = ctx->saved;
	int ret;

	if (unmap_gadget && ctx->gadget) {
		/* The syscall instruction is in the area being unmapped: stop at the syscall
		 * exit, before the thread can fetch anything from it, and leave from there. */
		load_call(&r, __NR_munmap, ctx->gadget, INJ_GADGET_SIZE, 0, 0, 0, 0);
		r.rip = ctx->gadget;
		ret = set_regs(ctx->tid, &r);
		if (!ret)
			ret = resume_until_stop(ctx, PTRACE_SYSCALL);
		if (!ret)
			ret = resume_until_stop(ctx, PTRACE_SYSCALL);
		if (!ret)
			ret = get_regs(ctx->tid, &r);
		if (ret)
			return ret;
		if (r.rax) {
			pr_err("thread %d: cannot unmap the gadget: %s\n", ctx->tid,
			       strerror(-(long)r.rax));
			return (long)r.rax;
		}
		ctx->gadget = 0;
	}
	return set_regs(ctx->tid, final);
}

int inj_close(struct inj_ctx *ctx)
{
	int ret = 0;

	if (!ctx)
		return 0;
	if (ctx->gadget && ctx->own_gadget) {
		unsigned long gadget = ctx->gadget;
		long res;

		ctx->gadget = 0; /* unmap through the vDSO, not through itself */
		ret = inj_syscall(ctx, &res, __NR_munmap, gadget, INJ_GADGET_SIZE, 0, 0, 0, 0);
		if (!ret && res) {
			pr_err("thread %d: cannot unmap the gadget: %s\n", ctx->tid,
			       strerror(-res));
			ret = res;
		}
	}
	if (set_regs(ctx->tid, &ctx->saved) && !ret)
		ret = -EIO;
	if (ptrace(PTRACE_SETSIGMASK, ctx->tid, sizeof(ctx->saved_mask), &ctx->saved_mask)) {
		pr_perror("thread %d: cannot put the signal mask back", ctx->tid);
		if (!ret)
			ret = -EIO;
	}
	inj_free(ctx);
	return ret;
}

void inj_free(struct inj_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->mem_fd >= 0)
		close(ctx->mem_fd);
	free(ctx);
}
