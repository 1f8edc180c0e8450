/* The pattern library itself: datachk must catch one flipped byte anywhere, a shifted buffer and
 * a zeroed page; then a buffer checked after checkpoint/restore. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (1UL << 20)

int main(int argc, char **argv)
{
	char *buf, *buf2;
	size_t off;
	long bad;

	test_init(argc, argv);
	buf = malloc(LEN);
	buf2 = malloc(LEN);
	if (!buf || !buf2)
		pr_perror("malloc");
	datagen(buf, LEN, 99);
	if (datachk(buf, LEN, 99) != -1)
		fail("a fresh pattern does not check");
	if (datachk(buf, LEN, 98) == -1)
		fail("another seed checks");
	for (off = 0; off < LEN; off += 4093) {
		buf[off] ^= 0x10;
		bad = datachk(buf, LEN, 99);
		buf[off] ^= 0x10;
		if (bad != (long)off) {
			fail("flip at %zu reported at %ld", off, bad);
			break;
		}
	}
	memcpy(buf2, buf + 8, LEN - 8);
	if (datachk(buf2, LEN - 8, 99) == -1)
		fail("a shifted pattern checks");
	if (datachk_at(buf2, LEN - 8, 99, 8) != -1)
		fail("datachk_at does not check the shifted pattern");
	memset(buf2 + 8192, 0, 4096);
	if (datachk_at(buf2, LEN - 8, 99, 8) != 8192)
		fail("a zeroed page is not caught where it is");
	test_daemon();
	test_waitsig();

	bad = datachk(buf, LEN, 99);
	if (bad >= 0)
		fail("bad data at %ld", bad);
	pass();
	return 0;
}
