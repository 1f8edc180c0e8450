/* A big heap-like area (64 MiB by default) full of a pattern: every page must come back. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	size_t len = 64UL << 20;
	const char *mb = getenv("ZDTM_MAPS04_MB");
	char *area;
	long bad;

	test_init(argc, argv);
	if (mb)
		len = strtoul(mb, NULL, 0) << 20;
	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap %zu", len);
	datagen(area, len, 0x6404);
	test_daemon();
	test_waitsig();

	bad = datachk(area, len, 0x6404);
	if (bad >= 0)
		fail("bad data at offset %ld of %zu", bad, len);
	pass();
	return 0;
}
