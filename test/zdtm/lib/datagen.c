/* A pattern that can be checked without keeping a copy: every 8-byte word is a mix of the seed
 * and the word's offset, so a page that moved, went missing or came back zeroed is caught. */
#include "zdtmtst.h"

static inline uint64_t mix(uint64_t x)
{
	/* splitmix64 finalizer: neighbouring offsets give unrelated words. */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t datagen_word(uint64_t seed, size_t off)
{
	return mix(seed * 0x100000001b3ULL ^ (off >> 3));
}

void datagen(void *buf, size_t len, uint64_t seed)
{
	datagen_at(buf, len, seed, 0);
}

long datachk(const void *buf, size_t len, uint64_t seed)
{
	return datachk_at(buf, len, seed, 0);
}

void datagen_at(void *buf, size_t len, uint64_t seed, size_t base)
{
	unsigned char *p = buf;
	size_t off;
	uint64_t w;

	for (off = 0; off + 8 <= len; off += 8) {
		w = datagen_word(seed, base + off);
		memcpy(p + off, &w, 8);
	}
	if (off < len) {
		w = datagen_word(seed, base + off);
		memcpy(p + off, &w, len - off);
	}
}

long datachk_at(const void *buf, size_t len, uint64_t seed, size_t base)
{
	const unsigned char *p = buf;
	size_t off, i;
	uint64_t w;

	for (off = 0; off < len; off += 8) {
		w = datagen_word(seed, base + off);
		if (off + 8 <= len) {
			if (!memcmp(p + off, &w, 8))
				continue;
		} else if (!memcmp(p + off, &w, len - off)) {
			continue;
		}
		for (i = 0; i < 8 && off + i < len; i++)
			if (p[off + i] != ((unsigned char *)&w)[i])
				return off + i;
	}
	return -1;
}
