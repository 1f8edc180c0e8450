/* The vDSO still works where it was: clock_gettime/gettimeofday through it agree with the
 * syscalls, time moves forward, and [vdso] is at the address the auxv gives. */
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static long long ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static void check_clock(clockid_t clk, const char *name)
{
	struct timespec v, s;

	if (clock_gettime(clk, &v) || syscall(SYS_clock_gettime, clk, &s)) {
		fail("%s: %s", name, strerror(errno));
		return;
	}
	if (ns(&s) < ns(&v) || ns(&s) - ns(&v) > 1000000000LL)
		fail("%s: vDSO %lld, syscall %lld", name, ns(&v), ns(&s));
}

int main(int argc, char **argv)
{
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	struct timespec before, after;
	struct timeval tv;
	char perms[8];

	test_init(argc, argv);
	if (!ehdr || test_vma_perms((void *)ehdr, perms) || strcmp(perms, "r-xp"))
		pr_perror("no vDSO at %#lx", ehdr);
	clock_gettime(CLOCK_REALTIME, &before);
	test_daemon();
	test_waitsig();

	if (test_vma_perms((void *)ehdr, perms) || strcmp(perms, "r-xp"))
		fail("no vDSO at %#lx any more", ehdr);
	check_clock(CLOCK_REALTIME, "CLOCK_REALTIME");
	check_clock(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	check_clock(CLOCK_BOOTTIME, "CLOCK_BOOTTIME");
	clock_gettime(CLOCK_REALTIME, &after);
	if (ns(&after) < ns(&before))
		fail("CLOCK_REALTIME went back");
	if (gettimeofday(&tv, NULL) || tv.tv_sec < after.tv_sec - 1 || tv.tv_sec > after.tv_sec + 1)
		fail("gettimeofday disagrees with clock_gettime");
	if (time(NULL) < after.tv_sec - 1)
		fail("time() disagrees with clock_gettime");
	pass();
	return 0;
}
