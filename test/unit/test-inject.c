/* Remote syscalls (criu-lazy/lib/inject.c) against a real child spinning in user space. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "inject.h"
#include "lib/unit.h"

struct spinner {
	pid_t pid;
	int beat; /* read end: the child writes a byte now and then while it runs */
};

/* A child that never makes a syscall except its heartbeat, so it is stopped in user space. */
static void spinner_start(struct spinner *s)
{
	int p[2];

	UT_EQ(pipe(p), 0);
	s->pid = fork();
	UT_GE(s->pid, 0);
	if (s->pid == 0) {
		volatile unsigned long n = 0;

		close(p[0]);
		for (;;)
			if ((++n & 0x3ffffff) == 0 && write(p[1], "x", 1) != 1)
				_exit(1);
	}
	close(p[1]);
	s->beat = p[0];
	UT_EQ(ptrace(PTRACE_SEIZE, s->pid, 0, 0), 0);
	UT_EQ(ptrace(PTRACE_INTERRUPT, s->pid, 0, 0), 0);
	int status;
	UT_GE(ptrace_wait_stop(s->pid, &status), 0);
}

static void spinner_check_alive_and_kill(struct spinner *s)
{
	char c;

	UT_EQ(ptrace(PTRACE_DETACH, s->pid, 0, 0), 0);
	alarm(20);
	UT_EQ(read(s->beat, &c, 1), 1); /* it runs on after we let go */
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	close(s->beat);
}

static int maps_has(pid_t pid, unsigned long start)
{
	char path[64], line[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	UT_NONNULL(f);
	while (fgets(line, sizeof(line), f))
		if (strtoul(line, NULL, 16) == start)
			found = 1;
	fclose(f);
	return found;
}

static void test_vdso_syscall(void)
{
	struct spinner s;
	struct inj_ctx *c;
	long r;

	spinner_start(&s);
	UT_OK(inj_open(&c, s.pid));
	UT_OK(inj_syscall(c, &r, SYS_getpid, 0, 0, 0, 0, 0, 0));
	UT_EQ(r, s.pid);
	UT_OK(inj_syscall(c, &r, SYS_close, 12345, 0, 0, 0, 0, 0));
	UT_EQ(r, -EBADF);
	UT_OK(inj_close(c));
	spinner_check_alive_and_kill(&s);
}

static void test_gadget_and_memory(void)
{
	char buf[64] = "written from outside", back[64];
	struct spinner s;
	struct inj_ctx *c;
	unsigned long ga;
	long r;

	spinner_start(&s);
	UT_OK(inj_open(&c, s.pid));
	UT_OK(inj_install_gadget(c, 0));
	ga = inj_gadget_addr(c);
	UT_NE(ga, 0);
	UT_ASSERT(maps_has(s.pid, ga));
	UT_OK(inj_syscall(c, &r, SYS_getppid, 0, 0, 0, 0, 0, 0));
	UT_EQ(r, getpid());

	/* A read-only mapping can still be written (the /proc/PID/mem path). */
	UT_OK(inj_syscall(c, &r, SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	UT_GT(r, 0);
	UT_OK(inj_write(c, r, buf, sizeof(buf)));
	UT_OK(inj_read(c, r, back, sizeof(back)));
	UT_MEMEQ(buf, back, sizeof(buf));

	UT_OK(inj_close(c));
	UT_ASSERT(!maps_has(s.pid, ga)); /* no code of ours is left behind */
	spinner_check_alive_and_kill(&s);
}

static void test_batch(void)
{
	static struct inj_call calls[300];
	struct spinner s;
	struct inj_ctx *c;
	int i;

	spinner_start(&s);
	UT_OK(inj_open(&c, s.pid));
	UT_OK(inj_install_gadget(c, 0));
	for (i = 0; i < 300; i++) {
		memset(&calls[i], 0, sizeof(calls[i]));
		calls[i].nr = SYS_getpid;
	}
	UT_OK(inj_batch(c, calls, 300));
	UT_EQ(calls[0].ret, s.pid);
	UT_EQ(calls[299].ret, s.pid);

	/* The first failing call stops the batch and is named by its 1-based index. */
	for (i = 0; i < 10; i++)
		calls[i].ret = 0;
	calls[5].nr = SYS_close;
	calls[5].arg[0] = 9999;
	UT_EQ(inj_batch(c, calls, 10), 6);
	UT_EQ(calls[5].ret, -EBADF);
	UT_EQ(calls[6].ret, -ENOEXEC); /* never ran */
	UT_OK(inj_close(c));
	spinner_check_alive_and_kill(&s);
}

static void test_task_gone(void)
{
	struct spinner s;
	struct inj_ctx *c;
	long r;

	spinner_start(&s);
	UT_OK(inj_open(&c, s.pid));
	kill(s.pid, SIGKILL);
	UT_ERR(inj_syscall(c, &r, SYS_getpid, 0, 0, 0, 0, 0, 0), -ESRCH);
	inj_free(c);
	waitpid(s.pid, NULL, 0);
	close(s.beat);
}

static const struct unit_test tests[] = {
    {"syscall through the vdso", test_vdso_syscall, UNIT_F_PTRACE},
    {"gadget, remote memory, clean close", test_gadget_and_memory, UNIT_F_PTRACE},
    {"batch and first failing call", test_batch, UNIT_F_PTRACE},
    {"task killed under us", test_task_gone, UNIT_F_PTRACE},
};

UNIT_MAIN(tests)
