/* Right after restore, writes one word into each page before ever reading it: a write fault on
 * a missing page must bring the page's old content in first, so the rest of the page still
 * holds the pattern. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (64UL << 20)
#define PAGE 4096UL

int main(int argc, char **argv)
{
	char *area;
	unsigned long off;

	test_init(argc, argv);
	area = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, LEN, 35);
	test_daemon();
	test_waitsig();

	for (off = 0; off < LEN; off += PAGE)
		*(volatile uint64_t *)(area + off + 2048) = ~datagen_word(35, off + 2048);
	for (off = 0; off < LEN; off += PAGE) {
		if (datachk_at(area + off, 2048, 35, off) >= 0 ||
		    datachk_at(area + off + 2056, PAGE - 2056, 35, off + 2056) >= 0) {
			fail("page at %lu lost its content around the first write", off);
			break;
		}
		if (*(uint64_t *)(area + off + 2048) != ~datagen_word(35, off + 2048)) {
			fail("the write at page %lu is lost", off);
			break;
		}
	}
	pass();
	return 0;
}
