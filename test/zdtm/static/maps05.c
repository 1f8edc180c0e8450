/* A sparse mapping: one page in 17 written, the others never touched. Holes must read as zero
 * (and should not become resident: reported, not failed, since fill policies differ). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096UL
#define NR_PAGES (16384UL) /* 64 MiB */
#define STRIDE 17

static unsigned char vec[NR_PAGES];

int main(int argc, char **argv)
{
	unsigned long i, resident = 0;
	char *area;
	long bad;

	test_init(argc, argv);
	area = mmap(NULL, NR_PAGES * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	for (i = 0; i < NR_PAGES; i += STRIDE)
		datagen_at(area + i * PAGE, PAGE, 5, i * PAGE);
	test_daemon();
	test_waitsig();

	if (mincore(area, NR_PAGES * PAGE, vec))
		fail("mincore: %s", strerror(errno));
	for (i = 0; i < NR_PAGES; i++)
		if (i % STRIDE && (vec[i] & 1))
			resident++;
	if (resident)
		test_msg("%lu never-written pages are resident after restore", resident);
	for (i = 0; i < NR_PAGES; i++) {
		char *p = area + i * PAGE;

		if (i % STRIDE == 0) {
			bad = datachk_at(p, PAGE, 5, i * PAGE);
			if (bad >= 0) {
				fail("page %lu: bad data at %ld", i, bad);
				break;
			}
		} else {
			unsigned long j;

			for (j = 0; j < PAGE; j += 8)
				if (*(uint64_t *)(p + j))
					break;
			if (j < PAGE) {
				fail("hole page %lu is not zero at %lu", i, j);
				break;
			}
		}
	}
	pass();
	return 0;
}
