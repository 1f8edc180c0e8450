/* malloc'ed blocks of many sizes (brk heap and mmap'ed chunks), some freed, keep their data and
 * the allocator keeps working on them. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 2000

static char *blk[NR];
static size_t len[NR];

int main(int argc, char **argv)
{
	long bad;
	int i;

	test_init(argc, argv);
	srandom(42);
	for (i = 0; i < NR; i++) {
		/* Mostly small, a few above the mmap threshold. */
		len[i] = i % 100 == 0 ? (256 << 10) + random() % 65536 : 1 + random() % 4000;
		blk[i] = malloc(len[i]);
		if (!blk[i])
			pr_perror("malloc");
		datagen(blk[i], len[i], i);
	}
	for (i = 0; i < NR; i += 3) {
		free(blk[i]);
		blk[i] = NULL;
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		if (!blk[i])
			continue;
		bad = datachk(blk[i], len[i], i);
		if (bad >= 0) {
			fail("block %d (%zu bytes): bad data at %ld", i, len[i], bad);
			break;
		}
	}
	/* The allocator's state (free lists in the heap) must still be consistent. */
	for (i = 0; i < NR; i++) {
		free(blk[i]);
		blk[i] = malloc(len[i]);
		if (!blk[i]) {
			fail("malloc after restore");
			break;
		}
		datagen(blk[i], len[i], i + 1);
	}
	for (i = 0; i < NR; i++)
		if (blk[i] && datachk(blk[i], len[i], i + 1) >= 0) {
			fail("block %d overlaps another after restore", i);
			break;
		}
	pass();
	return 0;
}
