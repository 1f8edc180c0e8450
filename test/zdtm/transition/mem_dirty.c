/* Rewrites its memory while it is checkpointed: 16 MiB of pages, each stamped with its index and
 * the pass number, in passes. Each pass first checks every page carries the previous pass's
 * stamp, so a page restored from an older state (or lost under lazy restore) is caught. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096UL
#define NR_PAGES 4096UL

int main(int argc, char **argv)
{
	uint64_t pass_nr = 0, i, *w;
	char *area;

	test_init(argc, argv);
	area =
	    mmap(NULL, NR_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	for (i = 0; i < NR_PAGES; i++) {
		w = (uint64_t *)(area + i * PAGE);
		w[0] = i;
		w[1] = 0;
		w[511] = ~i;
	}
	test_daemon();
	while (test_go()) {
		for (i = 0; i < NR_PAGES; i++) {
			w = (uint64_t *)(area + i * PAGE);
			if (w[0] != i || w[1] != pass_nr || w[511] != ~i) {
				fail("pass %lu: page %lu has index %lu pass %lu",
				     (unsigned long)pass_nr, (unsigned long)i, (unsigned long)w[0],
				     (unsigned long)w[1]);
				goto out;
			}
			w[1] = pass_nr + 1;
		}
		pass_nr++;
	}
out:
	test_msg("%lu passes", (unsigned long)pass_nr);
	if (!pass_nr)
		fail("no pass completed");
	pass();
	return 0;
}
