/* Right after restore, drops half of its memory (MADV_DONTNEED) and unmaps and remaps another
 * part: those pages must read as zero from then on, never as their old content coming back late
 * from the images; the rest keeps its data. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (64UL << 20)
#define Q (LEN / 4)

static int zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8)
		if (*(const uint64_t *)(p + i))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 200 * 1000 * 1000};
	char *area;
	long bad;

	test_init(argc, argv);
	area = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, LEN, 33);
	test_daemon();
	test_waitsig();

	if (madvise(area + Q, Q, MADV_DONTNEED))
		fail("madvise: %s", strerror(errno));
	if (munmap(area + 2 * Q, Q) ||
	    mmap(area + 2 * Q, Q, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) != area + 2 * Q)
		fail("munmap/mmap: %s", strerror(errno));
	/* Give a background filler time to (wrongly) put old pages back. */
	nanosleep(&ts, NULL);
	if (!zero(area + Q, Q))
		fail("dropped pages came back with data");
	if (!zero(area + 2 * Q, Q))
		fail("a remapped range has old data");
	bad = datachk(area, Q, 33);
	if (bad >= 0)
		fail("first quarter bad at %ld", bad);
	bad = datachk_at(area + 3 * Q, Q, 33, 3 * Q);
	if (bad >= 0)
		fail("last quarter bad at %ld", bad);
	pass();
	return 0;
}
