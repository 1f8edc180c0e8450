/* A deterministic generator of memory that looks like a process heap: malloc chunks with size
 * headers, structs of pointers into the heap and libraries, small integers, hashes, strings made of
 * words, int arrays, freed chunks (zero but for their list pointers) and runs of untouched zeros.
 * Tuned so zstd -1 on 64 KiB frames compresses it about 3x, as real heaps tend to do; random data
 * is the other extreme. Header-only: see bench.h. */
#ifndef BENCH_HEAPGEN_H
#define BENCH_HEAPGEN_H

#include <stdint.h>
#include <string.h>

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static const char *const heap_words[] = {
    "the",	    "user",	   "session",	"id",	   "name",	 "value",     "error",
    "request",	    "config",	   "server",	"client",  "timeout",	 "buffer",    "length",
    "http",	    "json",	   "key",	"path",	   "/usr/lib",	 "file",      "data",
    "status",	    "ok",	   "true",	"false",   "null",	 "count",     "index",
    "table",	    "row",	   "column",	"cache",   "entry",	 "hash",      "node",
    "list",	    "thread",	   "lock",	"memory",  "page",	 "GET",	      "POST",
    "Content-Type", "application", "text/html", "utf-8",   "localhost",	 "127.0.0.1", "debug",
    "info",	    "warning",	   "started",	"stopped", "connection", "closed",
};

#define HEAP_BASE 0x55d0c3a00000ull /* where pointers into the heap point */
#define LIB_BASE 0x7f3a1c200000ull  /* and into libraries/stack */

static inline void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline size_t heap_string(struct rng *r, unsigned char *p, size_t room)
{
	size_t n = 0;

	while (n < room) {
		const char *w =
		    heap_words[rng_below(r, sizeof(heap_words) / sizeof(heap_words[0]))];
		size_t l = strlen(w);

		if (n + l + 1 > room)
			break;
		memcpy(p + n, w, l);
		n += l;
		p[n++] = rng_below(r, 4) ? ' ' : (rng_below(r, 2) ? '=' : '\n');
	}
	if (n)
		p[n - 1] = 0;
	return n;
}

/* One 8-byte field of a struct. */
static inline uint64_t heap_field(struct rng *r, uint64_t cursor)
{
	unsigned int k = rng_below(r, 100);

	if (k < 32) /* pointer to a nearby object */
		return HEAP_BASE +
		       ((cursor + (rng_below(r, 1 << 16) - (1 << 15)) * 16) & 0x3fffff0);
	if (k < 38) /* pointer into a library or the stack */
		return LIB_BASE + rng_below(r, 1 << 20) * 8;
	if (k < 56)
		return rng_below(r, 256); /* small int, flag, enum */
	if (k < 68)
		return rng_below(r, 1 << 20) | (rng_below(r, 1 << 12) << 32); /* two int32 */
	if (k < 78)
		return rng_next(r); /* hash, double, random id */
	return 0;
}

/* Fills len bytes (a multiple of 16) at p with heap-like contents; seed picks the heap. */
static inline void heap_fill(unsigned char *p, size_t len, uint64_t seed)
{
	static const unsigned int sizes[] = {32, 32, 48, 48, 64, 64, 96, 128, 192, 256, 512};
	struct rng r = {seed * 0x9e3779b97f4a7c15ull + 1};
	size_t off = 0, i;

	while (off + 16 <= len) {
		unsigned int kind = rng_below(&r, 100);
		size_t sz = sizes[rng_below(&r, sizeof(sizes) / sizeof(sizes[0]))];

		if (kind >= 99) /* a run of never-written memory */
			sz = 4096;
		if (off + sz > len)
			sz = len - off;
		memset(p + off, 0, sz);
		put64(p + off, sz | 1); /* the allocator's chunk header */
		if (kind < 55) {
			for (i = 8; i + 8 <= sz; i += 8)
				put64(p + off + i, heap_field(&r, off));
		} else if (kind < 72) {
			heap_string(&r, p + off + 8, sz - 8);
		} else if (kind < 82) {
			uint32_t v = rng_below(&r, 1000), step = rng_below(&r, 4);

			for (i = 8; i + 4 <= sz; i += 4, v += step)
				memcpy(p + off + i, &v, 4);
		} else if (kind < 99) { /* freed: list pointers, the rest as it was zeroed */
			put64(p + off + 8, HEAP_BASE + rng_below(&r, 1 << 22) * 16);
			if (sz >= 24)
				put64(p + off + 16, HEAP_BASE + rng_below(&r, 1 << 22) * 16);
		} else {
			put64(p + off, 0);
		}
		off += sz;
	}
}

static inline void random_fill(unsigned char *p, size_t len, uint64_t seed)
{
	struct rng r = {seed * 0x9e3779b97f4a7c15ull + 7};
	size_t i;

	for (i = 0; i + 8 <= len; i += 8)
		put64(p + i, rng_next(&r));
}

#endif
