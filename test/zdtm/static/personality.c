/* The personality: UNAME26 (checked by what uname says) and ADDR_NO_RANDOMIZE. */
#include <stdio.h>
#include <sys/personality.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct utsname u;
	int want = PER_LINUX | UNAME26 | ADDR_NO_RANDOMIZE, now;

	test_init(argc, argv);
	if (personality(want) < 0 || personality(0xffffffff) != want)
		pr_perror("personality");
	test_daemon();
	test_waitsig();

	now = personality(0xffffffff);
	if (now != want)
		fail("personality is %#x, was %#x", now, want);
	if (uname(&u) || strncmp(u.release, "2.6.", 4))
		fail("UNAME26 is not in effect: release %s", u.release);
	pass();
	return 0;
}
