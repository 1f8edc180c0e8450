/* The unit test framework tests itself: failures, crashes, hangs and skips are each counted as
 * such, and what a test leaves running is killed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lib/unit.h"

static void inner_pass(void)
{
	UT_EQ(2 + 2, 4);
	UT_OK(0);
	UT_ERR(-EBADMSG, -EBADMSG);
	UT_MEMEQ("abc", "abc", 3);
}

static void inner_fail_eq(void)
{
	UT_EQ(2 + 2, 5);
}

static void inner_fail_err(void)
{
	UT_ERR(0, -EBADMSG);
}

static void inner_fail_mem(void)
{
	UT_MEMEQ("abcd", "abXd", 4);
}

static void inner_crash(void)
{
	raise(SIGSEGV);
}

static void inner_hang(void)
{
	for (;;)
		pause();
}

static void inner_skip(void)
{
	unit_skip("nothing to see");
}

static void inner_exit(void)
{
	exit(3);
}

static void run_expect(void (*fn)(void), unsigned int features, enum unit_result want)
{
	struct unit_test t = {"inner", fn, features};

	unit_log("an inner test runs; its own report follows:");
	UT_EQ(unit_run_one(&t, 1), want);
}

static void test_pass_counted(void)
{
	run_expect(inner_pass, 0, UNIT_PASS);
}

static void test_failures_counted(void)
{
	run_expect(inner_fail_eq, 0, UNIT_FAIL);
	run_expect(inner_fail_err, 0, UNIT_FAIL);
	run_expect(inner_fail_mem, 0, UNIT_FAIL);
	run_expect(inner_exit, 0, UNIT_FAIL);
}

static void test_crash_counted(void)
{
	run_expect(inner_crash, 0, UNIT_FAIL);
}

static void test_hang_bounded(void)
{
	double t0 = unit_now();

	run_expect(inner_hang, 0, UNIT_FAIL);
	UT_LT(unit_now() - t0, 5.0);
}

static void test_skip_counted(void)
{
	run_expect(inner_skip, 0, UNIT_SKIP);
}

static void test_missing_feature_skipped(void)
{
	/* a bit no probe ever sets stands for a feature the kernel lacks */
	run_expect(inner_pass, 1u << 30, UNIT_SKIP);
}

static pid_t *leftover_pid;

static void inner_leave_process(void)
{
	pid_t pid = fork();

	UT_GE(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	*leftover_pid = pid;
}

static void test_leftovers_killed(void)
{
	leftover_pid = mmap(NULL, sizeof(*leftover_pid), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(leftover_pid != MAP_FAILED);
	*leftover_pid = 0;
	/* orphans come back to this process, so it can reap what it killed */
	UT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
	run_expect(inner_leave_process, 0, UNIT_PASS);
	UT_GT(*leftover_pid, 0);
	UT_EQ(kill(*leftover_pid, 0), -1);
	UT_EQ(errno, ESRCH);
}

static void test_helpers(void)
{
	unsigned char a[100], b[100];

	unit_fill_random(a, sizeof(a), 1);
	unit_fill_random(b, sizeof(b), 1);
	UT_MEMEQ(a, b, sizeof(a));
	unit_fill_random(b, sizeof(b), 2);
	UT_NE(unit_memdiff(a, b, sizeof(a)), -1);
	b[0] = a[0] + 1;
	memcpy(b + 1, a + 1, sizeof(a) - 1);
	UT_EQ(unit_memdiff(a, b, sizeof(a)), 0);
	UT_ASSERT(!strcmp(unit_errno_name(-EBADMSG), "-EBADMSG"));
	UT_ASSERT(!strcmp(unit_errno_name(7), "7"));
}

static void test_feature_probes(void)
{
	unsigned int f = unit_features(), bit;
	char line[256] = "";

	for (bit = 1; bit <= UNIT_F_PTRACE; bit <<= 1)
		if (f & bit)
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s",
				 unit_feature_name(bit));
	unit_log("this machine has:%s", line);
	UT_EQ(!!(f & UNIT_F_ROOT), geteuid() == 0);
	/* every finer uffd feature implies userfaultfd itself */
	if (f & (UNIT_F_UFFD_WP_ASYNC | UNIT_F_UFFD_MOVE | UNIT_F_UFFD_POISON))
		UT_ASSERT(f & UNIT_F_UFFD);
}

static void test_needs_uffd(void)
{
	/* runs only where the probe said yes: the probe must agree with the syscall */
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC);

	UT_GE(fd, 0);
	close(fd);
}

static const struct unit_test tests[] = {
    {"a passing test passes", test_pass_counted, 0},
    {"failed assertions fail", test_failures_counted, 0},
    {"a crash fails", test_crash_counted, 0},
    {"a hang is bounded and fails", test_hang_bounded, 0},
    {"a skip is a skip", test_skip_counted, 0},
    {"a missing kernel feature skips", test_missing_feature_skipped, 0},
    {"processes a test leaves are killed", test_leftovers_killed, 0},
    {"helpers", test_helpers, 0},
    {"kernel feature probes", test_feature_probes, 0},
    {"a test that needs userfaultfd", test_needs_uffd, UNIT_F_UFFD},
};

UNIT_MAIN(tests)
