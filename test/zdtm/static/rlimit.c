/* Resource limits (soft lowered below hard, hard lowered too) come back for each resource. */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "zdtmtst.h"

static const struct {
	int res;
	const char *name;
	rlim_t soft, hard; /* RLIM_INFINITY: keep the current one */
} lims[] = {
    {RLIMIT_NOFILE, "NOFILE", 1000, 2000},	     {RLIMIT_CORE, "CORE", 0, 1 << 20},
    {RLIMIT_STACK, "STACK", 4 << 20, RLIM_INFINITY}, {RLIMIT_NPROC, "NPROC", 5000, 6000},
    {RLIMIT_MSGQUEUE, "MSGQUEUE", 100000, 200000},   {RLIMIT_NICE, "NICE", 0, 0},
    {RLIMIT_CPU, "CPU", 100000, RLIM_INFINITY},	     {RLIMIT_FSIZE, "FSIZE", 1UL << 30, 2UL << 30},
};
#define NR (int)(sizeof(lims) / sizeof(lims[0]))

int main(int argc, char **argv)
{
	struct rlimit want[NR], now;
	int i;

	test_init(argc, argv);
	for (i = 0; i < NR; i++) {
		if (getrlimit(lims[i].res, &want[i]))
			pr_perror("getrlimit %s", lims[i].name);
		/* Only lower: raising a hard limit needs CAP_SYS_RESOURCE, absent here. */
		if (lims[i].hard < want[i].rlim_max)
			want[i].rlim_max = lims[i].hard;
		want[i].rlim_cur =
		    lims[i].soft < want[i].rlim_max ? lims[i].soft : want[i].rlim_max;
		if (setrlimit(lims[i].res, &want[i]))
			pr_perror("setrlimit %s", lims[i].name);
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		if (getrlimit(lims[i].res, &now)) {
			fail("getrlimit %s: %s", lims[i].name, strerror(errno));
			continue;
		}
		if (now.rlim_cur != want[i].rlim_cur || now.rlim_max != want[i].rlim_max)
			fail("RLIMIT_%s is %llu/%llu, was %llu/%llu", lims[i].name,
			     (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max,
			     (unsigned long long)want[i].rlim_cur,
			     (unsigned long long)want[i].rlim_max);
	}
	pass();
	return 0;
}
