/* Two stacked seccomp filters (and no_new_privs) still apply after restore: the syscalls they
 * deny fail with their own errnos, the others work. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static int deny(int nr, int err)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void expect(long ret, int err, const char *what)
{
	if (ret != -1 || errno != err)
		fail("%s: %ld (%s), want errno %d", what, ret, strerror(errno), err);
}

int main(int argc, char **argv)
{
	char val[32], uts[512];

	test_init(argc, argv);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || deny(SYS_uname, 77) ||
	    deny(SYS_getpriority, 78))
		pr_perror("seccomp");
	expect(syscall(SYS_uname, uts), 77, "uname before");
	test_daemon();
	test_waitsig();

	expect(syscall(SYS_uname, uts), 77, "uname");
	expect(syscall(SYS_getpriority, 0, 0), 78, "getpriority");
	if (syscall(SYS_getppid) <= 0)
		fail("an allowed syscall fails");
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fail("no_new_privs is lost");
	if (test_status_field("/proc/self/status", "Seccomp", val, sizeof(val)) || strcmp(val, "2"))
		fail("Seccomp: %s", val);
	if (test_status_field("/proc/self/status", "Seccomp_filters", val, sizeof(val)) ||
	    strcmp(val, "2"))
		fail("Seccomp_filters: %s", val);
	pass();
	return 0;
}
