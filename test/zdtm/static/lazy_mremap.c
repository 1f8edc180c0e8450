/* Moves and grows its memory right after restore, while pages may still be missing: the data
 * must follow the move, and the grown tail must be zero. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (64UL << 20)

int main(int argc, char **argv)
{
	char *area, *moved, *target;
	long bad, i;

	test_init(argc, argv);
	area = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	target = mmap(NULL, 2 * LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED || target == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, LEN, 32);
	test_daemon();
	test_waitsig();

	moved = mremap(area, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	if (moved != target) {
		fail("mremap: %s", strerror(errno));
	} else {
		/* Free the reservation's tail so the mapping can grow into it. */
		munmap(target + LEN, LEN);
		moved = mremap(moved, LEN, 2 * LEN, 0);
		if (moved != target)
			fail("growing in place: %s", strerror(errno));
		bad = datachk(target, LEN, 32);
		if (bad >= 0)
			fail("moved data bad at %ld", bad);
		for (i = LEN; i < (long)(2 * LEN); i += 4096)
			if (*(uint64_t *)(target + i)) {
				fail("grown tail not zero at %ld", i);
				break;
			}
	}
	pass();
	return 0;
}
