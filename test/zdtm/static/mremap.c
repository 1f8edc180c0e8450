/* Mappings moved, grown and shrunk by mremap keep their data at their new addresses. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096UL
#define LEN (256 * PAGE)

int main(int argc, char **argv)
{
	char *a, *b, *c, *target, perms[8];
	long bad;

	test_init(argc, argv);
	a = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	target = mmap(NULL, 4 * LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED || c == MAP_FAILED || target == MAP_FAILED)
		pr_perror("mmap");
	datagen(a, LEN, 1);
	datagen(b, LEN, 2);
	datagen(c, LEN, 3);
	/* a grows (and may move), b moves to a fixed place, c shrinks. */
	a = mremap(a, LEN, 3 * LEN, MREMAP_MAYMOVE);
	b = mremap(b, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, target + LEN);
	if (a == MAP_FAILED || b == MAP_FAILED || mremap(c, LEN, LEN / 2, 0) == MAP_FAILED)
		pr_perror("mremap");
	datagen_at(a + LEN, 2 * LEN, 1, LEN);
	test_daemon();
	test_waitsig();

	bad = datachk(a, 3 * LEN, 1);
	if (bad >= 0)
		fail("grown mapping: bad data at %ld", bad);
	if (b != target + LEN)
		fail("fixed move went to %p", b);
	bad = datachk(b, LEN, 2);
	if (bad >= 0)
		fail("moved mapping: bad data at %ld", bad);
	bad = datachk(c, LEN / 2, 3);
	if (bad >= 0)
		fail("shrunk mapping: bad data at %ld", bad);
	if (!test_vma_perms(c + LEN / 2, perms) && strcmp(perms, "---p"))
		fail("the shrunk tail of c is mapped again: %s", perms);
	if (test_vma_perms(target, perms) || strcmp(perms, "---p"))
		fail("the PROT_NONE rest of the target area changed: %s", perms);
	pass();
	return 0;
}
