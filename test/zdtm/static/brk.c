/* The brk area: its end (sbrk(0)) and content come back, and it can still grow and shrink. */
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

#define GROW (8UL << 20)

int main(int argc, char **argv)
{
	char *start, *end, *now;
	long bad;

	test_init(argc, argv);
	start = sbrk(0);
	if (sbrk(GROW) == (void *)-1)
		pr_perror("sbrk");
	end = sbrk(0);
	datagen(start, GROW, 0xb4);
	test_daemon();
	test_waitsig();

	now = sbrk(0);
	if (now != end)
		fail("brk is %p, was %p", now, end);
	bad = datachk(start, GROW, 0xb4);
	if (bad >= 0)
		fail("brk data bad at %ld", bad);
	if (sbrk(GROW) == (void *)-1) {
		fail("sbrk grow after restore: %s", strerror(errno));
	} else {
		memset(end, 0x11, GROW);
		if (sbrk(-(long)GROW) == (void *)-1 || sbrk(0) != end)
			fail("sbrk shrink after restore");
	}
	pass();
	return 0;
}
