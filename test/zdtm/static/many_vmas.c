/* Two thousand small VMAs, every other page with another protection so none merge, each with
 * its own data. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096UL
#define NR 2000

int main(int argc, char **argv)
{
	char *area, perms[8], line[512];
	unsigned long start, end;
	int i, seen = 0;
	FILE *f;

	test_init(argc, argv);
	area = mmap(NULL, NR * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, NR * PAGE, 12);
	for (i = 1; i < NR; i += 2)
		if (mprotect(area + i * PAGE, PAGE, PROT_READ))
			pr_perror("mprotect");
	test_daemon();
	test_waitsig();

	/* One pass over maps: every page of the area is one VMA with the right perms. */
	f = fopen("/proc/self/maps", "r");
	if (!f)
		pr_perror("maps");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
			continue;
		if (start < (unsigned long)area || start >= (unsigned long)area + NR * PAGE)
			continue;
		i = (start - (unsigned long)area) / PAGE;
		if (end - start != PAGE || strcmp(perms, i & 1 ? "r--p" : "rw-p")) {
			fail("VMA %s", line);
			break;
		}
		seen++;
	}
	fclose(f);
	if (seen != NR)
		fail("%d VMAs in the area, were %d", seen, NR);
	if (datachk(area, NR * PAGE, 12) >= 0)
		fail("data changed");
	pass();
	return 0;
}
