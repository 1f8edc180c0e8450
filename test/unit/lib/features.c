/* Which kernel features this machine has, probed once, for unit tests that need them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "unit.h"

static const char *const names[] = {
    "root",	    "userfaultfd", "uffd-wp-async", "uffd-move", "uffd-poison",
    "pagemap-scan", "pidfd-getfd", "clone3",	    "ptrace",
};

const char *unit_feature_name(unsigned int bit)
{
	unsigned int i;

	for (i = 0; i < UNIT_ARRAY_SIZE(names); i++)
		if (bit == 1u << i)
			return names[i];
	return "unknown-feature";
}

static unsigned int probe_uffd(void)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	unsigned int f = 0;
	int fd;

	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	/* features = 0 asks for nothing and reports everything the kernel supports */
	if (ioctl(fd, UFFDIO_API, &api) == 0) {
		f |= UNIT_F_UFFD;
		if (api.features & UFFD_FEATURE_WP_ASYNC)
			f |= UNIT_F_UFFD_WP_ASYNC;
		if (api.features & UFFD_FEATURE_MOVE)
			f |= UNIT_F_UFFD_MOVE;
		if (api.features & UFFD_FEATURE_POISON)
			f |= UNIT_F_UFFD_POISON;
	}
	close(fd);
	return f;
}

static unsigned int probe_pagemap_scan(void)
{
	long psz = sysconf(_SC_PAGESIZE);
	struct page_region reg;
	struct pm_scan_arg arg;
	unsigned int f = 0;
	void *page;
	int fd;

	page = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 0;
	*(volatile char *)page = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = (unsigned long)page;
		arg.end = (unsigned long)page + psz;
		arg.vec = (unsigned long)&reg;
		arg.vec_len = 1;
		arg.category_anyof_mask = PAGE_IS_PRESENT;
		arg.return_mask = PAGE_IS_PRESENT;
		if (ioctl(fd, PAGEMAP_SCAN, &arg) == 1)
			f = UNIT_F_PAGEMAP_SCAN;
		close(fd);
	}
	munmap(page, psz);
	return f;
}

static unsigned int probe_pidfd_getfd(void)
{
	unsigned int f = 0;
	int pidfd, fd;

	pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		return 0;
	fd = syscall(SYS_pidfd_getfd, pidfd, pidfd, 0);
	if (fd >= 0) {
		f = UNIT_F_PIDFD_GETFD;
		close(fd);
	}
	close(pidfd);
	return f;
}

static unsigned int probe_clone3(void)
{
	/* a zero-sized argument is refused with EINVAL by a kernel that has clone3 */
	if (syscall(SYS_clone3, NULL, 0) < 0 && errno == EINVAL)
		return UNIT_F_CLONE3;
	return 0;
}

static unsigned int probe_ptrace(void)
{
	unsigned int f = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		alarm(10); /* never outlive a runner that died before killing us */
		pause();
		_exit(0);
	}
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0)
		f = UNIT_F_PTRACE;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return f;
}

unsigned int unit_features(void)
{
	static int probed;
	static unsigned int features;

	if (probed)
		return features;
	probed = 1;
	if (geteuid() == 0)
		features |= UNIT_F_ROOT;
	features |= probe_uffd();
	features |= probe_pagemap_scan();
	features |= probe_pidfd_getfd();
	features |= probe_clone3();
	features |= probe_ptrace();
	return features;
}
