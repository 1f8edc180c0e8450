/* The environment, argv and the mm's arg/env areas survive: /proc/self/{environ,cmdline} are
 * read from the task's memory through the mm's arg_start/env_start. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "zdtmtst.h"

static char environ_before[65536], cmdline_before[4096];
static char buf[65536];

int main(int argc, char **argv)
{
	ssize_t elen, clen, n;
	const char *v;

	test_init(argc, argv);
	if (setenv("ZDTM_ENV00", "value of env00 with spaces = and stuff", 1))
		pr_perror("setenv");
	elen = test_read_file("/proc/self/environ", environ_before, sizeof(environ_before));
	clen = test_read_file("/proc/self/cmdline", cmdline_before, sizeof(cmdline_before));
	if (elen <= 0 || clen <= 0)
		pr_perror("cannot read /proc/self/environ or cmdline");
	test_daemon();
	test_waitsig();

	v = getenv("ZDTM_ENV00");
	if (!v || strcmp(v, "value of env00 with spaces = and stuff"))
		fail("ZDTM_ENV00 is %s", v ? v : "(unset)");
	v = getenv("ZDTM_TEST");
	if (!v || strcmp(v, "static/env00"))
		fail("ZDTM_TEST from the harness is %s", v ? v : "(unset)");
	n = test_read_file("/proc/self/environ", buf, sizeof(buf));
	if (n != elen || memcmp(buf, environ_before, n))
		fail("/proc/self/environ changed (%zd bytes, was %zd)", n, elen);
	n = test_read_file("/proc/self/cmdline", buf, sizeof(buf));
	if (n != clen || memcmp(buf, cmdline_before, n))
		fail("/proc/self/cmdline changed (%zd bytes, was %zd)", n, clen);
	if (strcmp(argv[0], cmdline_before))
		fail("argv[0] is %s, cmdline says %s", argv[0], cmdline_before);
	pass();
	return 0;
}
