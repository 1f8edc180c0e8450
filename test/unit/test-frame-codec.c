/* The frame codec and frame_csum: round trips, and every kind of bad frame refused cleanly. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "lib/unit.h"
#include "pagestore.h"

#define PG PGS_PAGE_SIZE

/* A buffer of len bytes that ends right before an inaccessible page: a decoder that writes one
 * byte too many faults instead of passing. */
struct guarded {
	void *map;
	size_t maplen;
	unsigned char *p;
};

static unsigned char *guarded_alloc(struct guarded *g, size_t len)
{
	size_t body = (len + PG - 1) & ~(PG - 1);

	g->maplen = body + PG;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_ASSERT(g->map != MAP_FAILED);
	UT_OK(mprotect((char *)g->map + body, PG, PROT_NONE));
	g->p = (unsigned char *)g->map + body - len;
	return g->p;
}

static void guarded_free(struct guarded *g)
{
	munmap(g->map, g->maplen);
}

static struct frame_codec *codec(int level)
{
	struct frame_codec *c = NULL;

	UT_OK(frame_codec_create(&c, level));
	UT_NONNULL(c);
	return c;
}

enum fill { FILL_HEAP, FILL_RANDOM, FILL_ZEROISH, FILL_ZERO };

static void fill(void *buf, size_t len, enum fill how, uint64_t seed)
{
	size_t i;

	switch (how) {
	case FILL_HEAP:
		unit_fill_heaplike(buf, len, seed);
		break;
	case FILL_RANDOM:
		unit_fill_random(buf, len, seed);
		break;
	case FILL_ZEROISH:
		memset(buf, 0, len);
		for (i = seed % 97; i < len; i += 4093)
			((unsigned char *)buf)[i] = (unsigned char)(i * 7 + 1);
		break;
	case FILL_ZERO:
		memset(buf, 0, len);
		break;
	}
}

/* Encodes and decodes one frame; returns the stored length and whether it was raw. */
static size_t round_trip(int level, size_t npages, enum fill how, bool *rawp)
{
	size_t len = npages * PG;
	struct frame_codec *c = codec(level);
	unsigned char *src = unit_xmalloc(len), *enc = unit_xmalloc(frame_bound(len));
	struct guarded g;
	unsigned char *dst = guarded_alloc(&g, len);
	ssize_t n;
	bool raw = false;

	fill(src, len, how, npages + level);
	n = frame_encode(c, src, len, enc, frame_bound(len), &raw);
	UT_GT(n, 0);
	UT_LE(n, frame_bound(len));
	if (raw)
		UT_EQ(n, len);
	else
		UT_LT(n, len);
	UT_OK(frame_decode(c, enc, n, raw, dst, len));
	UT_MEMEQ(src, dst, len);
	/* a fresh codec decodes it too: nothing hides in the context */
	frame_codec_free(c);
	c = codec(level);
	memset(dst, 0xaa, len);
	UT_OK(frame_decode(c, enc, n, raw, dst, len));
	UT_MEMEQ(src, dst, len);
	frame_codec_free(c);
	guarded_free(&g);
	free(src);
	free(enc);
	*rawp = raw;
	return n;
}

static void test_round_trip(void)
{
	static const int levels[] = {0, 1, 3};
	static const size_t sizes[] = {1, 2, 16, 512};
	size_t l, s, n;
	bool raw;

	for (l = 0; l < UNIT_ARRAY_SIZE(levels); l++) {
		for (s = 0; s < UNIT_ARRAY_SIZE(sizes); s++) {
			n = round_trip(levels[l], sizes[s], FILL_HEAP, &raw);
			UT_ASSERT(!raw);
			UT_LT(n, sizes[s] * PG / 2);
			n = round_trip(levels[l], sizes[s], FILL_RANDOM, &raw);
			UT_ASSERT(raw);
			n = round_trip(levels[l], sizes[s], FILL_ZEROISH, &raw);
			UT_ASSERT(!raw);
			UT_LT(n, sizes[s] * PG / 20);
			n = round_trip(levels[l], sizes[s], FILL_ZERO, &raw);
			UT_ASSERT(!raw);
		}
	}
}

static void test_odd_sizes(void)
{
	struct frame_codec *c = codec(1);
	unsigned char src[100], enc[100], dst[100];
	size_t len;
	ssize_t n;
	bool raw;

	for (len = 1; len <= sizeof(src); len++) {
		fill(src, len, len % 2 ? FILL_RANDOM : FILL_ZERO, len);
		n = frame_encode(c, src, len, enc, len, &raw);
		UT_GT(n, 0);
		UT_LE(n, len);
		UT_OK(frame_decode(c, enc, n, raw, dst, len));
		UT_MEMEQ(src, dst, len);
	}
	frame_codec_free(c);
}

static void test_bad_args(void)
{
	struct frame_codec *c = NULL;
	unsigned char src[PG] = {0}, dst[PG];
	bool raw;

	UT_ERR(frame_codec_create(&c, 1000), -EINVAL);
	UT_ERR(frame_codec_create(&c, -1000000), -EINVAL);
	c = codec(1);
	UT_ERR(frame_encode(c, src, 0, dst, sizeof(dst), &raw), -EINVAL);
	UT_ERR(frame_encode(c, src, sizeof(src), dst, sizeof(src) - 1, &raw), -ENOSPC);
	UT_ERR(frame_decode(c, src, 10, false, dst, 0), -EINVAL);
	frame_codec_free(c);
	frame_codec_free(NULL);
}

/* Encodes npages of heap-like data at level 1: *src (npages * PG) and *enc (*n bytes). */
static void encoded(size_t npages, unsigned char **src, unsigned char **enc, size_t *n)
{
	struct frame_codec *c = codec(1);
	size_t len = npages * PG;
	ssize_t r;
	bool raw;

	*src = unit_xmalloc(len);
	*enc = unit_xmalloc(len);
	unit_fill_heaplike(*src, len, 42);
	r = frame_encode(c, *src, len, *enc, len, &raw);
	UT_GT(r, 0);
	UT_ASSERT(!raw);
	*n = r;
	frame_codec_free(c);
}

static void test_truncated(void)
{
	struct frame_codec *c = codec(1);
	unsigned char *src, *enc, *dst;
	struct guarded g;
	size_t n, cut;

	encoded(4, &src, &enc, &n);
	dst = guarded_alloc(&g, 4 * PG);
	for (cut = 0; cut < n; cut++)
		UT_ERR(frame_decode(c, enc, cut, false, dst, 4 * PG), -EBADMSG);
	/* and the whole frame still decodes with the same codec */
	UT_OK(frame_decode(c, enc, n, false, dst, 4 * PG));
	UT_MEMEQ(src, dst, 4 * PG);
	/* trailing bytes after the frame */
	memcpy(enc + n, "xyz", 3);
	UT_ERR(frame_decode(c, enc, n + 3, false, dst, 4 * PG), -EBADMSG);
	guarded_free(&g);
	frame_codec_free(c);
	free(src);
	free(enc);
}

/* Without a content checksum in the frame, a flipped byte in the literals can decode into other
 * data: the codec's part is to never crash, never write past dst, and never accept a frame whose
 * structure is broken; frame_csum (kept in the index) is what catches every flip. */
static void test_corrupted(void)
{
	struct frame_codec *c = codec(1);
	unsigned char *src, *enc, *bad, *dst;
	size_t n, i, rejected = 0, same = 0, tries = 0;
	struct guarded g;
	uint32_t good;
	int ret;

	encoded(8, &src, &enc, &n);
	bad = unit_xmalloc(n);
	dst = guarded_alloc(&g, 8 * PG);
	good = frame_csum(enc, n);
	for (i = 0; i < n; i += (i < 64 ? 1 : 7)) {
		static const unsigned char masks[] = {0x01, 0x80, 0xff, 0x5a};
		size_t m;

		for (m = 0; m < UNIT_ARRAY_SIZE(masks); m++) {
			memcpy(bad, enc, n);
			bad[i] ^= masks[m];
			UT_NE(frame_csum(bad, n), good);
			ret = frame_decode(c, bad, n, false, dst, 8 * PG);
			tries++;
			if (ret == -EBADMSG)
				rejected++;
			else if (ret == 0 && !memcmp(dst, src, 8 * PG))
				same++;
			else
				UT_EQ(ret, 0); /* any other error code is a bug */
		}
	}
	unit_log("%zu corruptions of a %zu-byte frame: %zu refused by the codec, %zu decoded "
		 "unchanged, all caught by frame_csum",
		 tries, n, rejected, same);
	/* header and block structure damage must be refused by the codec itself */
	UT_GT(rejected, tries / 4);
	/* a flipped magic number, always */
	memcpy(bad, enc, n);
	bad[0] ^= 0xff;
	UT_ERR(frame_decode(c, bad, n, false, dst, 8 * PG), -EBADMSG);
	guarded_free(&g);
	frame_codec_free(c);
	free(src);
	free(enc);
	free(bad);
}

static void test_size_lies(void)
{
	struct frame_codec *c = codec(1);
	unsigned char *src, *enc, *dst;
	struct guarded g;
	size_t n;

	encoded(4, &src, &enc, &n);
	/* the frame says 4 pages; the range it is decoded into says otherwise */
	dst = guarded_alloc(&g, 3 * PG);
	UT_ERR(frame_decode(c, enc, n, false, dst, 3 * PG), -EBADMSG);
	UT_ERR(frame_decode(c, enc, n, false, dst, 1), -EBADMSG);
	guarded_free(&g);
	dst = guarded_alloc(&g, 5 * PG);
	UT_ERR(frame_decode(c, enc, n, false, dst, 5 * PG), -EBADMSG);
	guarded_free(&g);
	/* a stored length not smaller than the pages cannot be a compressed frame */
	dst = guarded_alloc(&g, 4 * PG);
	UT_ERR(frame_decode(c, enc, 4 * PG, false, dst, 4 * PG), -EBADMSG);
	UT_ERR(frame_decode(c, enc, 0, false, dst, 4 * PG), -EBADMSG);
	/* raw frames of the wrong size */
	UT_ERR(frame_decode(c, src, 4 * PG - 1, true, dst, 4 * PG), -EBADMSG);
	UT_ERR(frame_decode(c, src, 4 * PG + 1, true, dst, 4 * PG), -EBADMSG);
	UT_ERR(frame_decode(c, src, 0, true, dst, 4 * PG), -EBADMSG);
	UT_OK(frame_decode(c, src, 4 * PG, true, dst, 4 * PG));
	UT_MEMEQ(src, dst, 4 * PG);
	/* a compressed frame handed over as raw and the other way round */
	UT_ERR(frame_decode(c, enc, n, true, dst, 4 * PG), -EBADMSG);
	UT_ERR(frame_decode(c, src, 4 * PG, false, dst, 4 * PG), -EBADMSG);
	guarded_free(&g);
	frame_codec_free(c);
	free(src);
	free(enc);
}

/* Frames other zstd writers could make: valid zstd, but not what this codec stores. */
static void test_foreign_frames(void)
{
	struct frame_codec *c = codec(1);
	size_t len = 4 * PG, n, n2;
	unsigned char *src = unit_xmalloc(len), *enc = unit_xmalloc(2 * len), *dst;
	ZSTD_CCtx *z = ZSTD_createCCtx();
	struct guarded g;

	UT_NONNULL(z);
	dst = guarded_alloc(&g, len);
	memset(src, 'a', len);
	/* no content size in the header */
	UT_EQ(ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, 0)), 0);
	n = ZSTD_compress2(z, enc, len, src, len);
	UT_EQ(ZSTD_isError(n), 0);
	UT_ERR(frame_decode(c, enc, n, false, dst, len), -EBADMSG);
	/* two frames of two pages each, back to back */
	UT_EQ(ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, 1)), 0);
	n = ZSTD_compress2(z, enc, len, src, len / 2);
	UT_EQ(ZSTD_isError(n), 0);
	n2 = ZSTD_compress2(z, enc + n, len, src, len / 2);
	UT_EQ(ZSTD_isError(n2), 0);
	UT_ERR(frame_decode(c, enc, n + n2, false, dst, len), -EBADMSG);
	/* a skippable frame */
	memcpy(enc,
	       "\x50\x2a\x4d\x18\x04\x00\x00\x00"
	       "abcd",
	       12);
	UT_ERR(frame_decode(c, enc, 12, false, dst, len), -EBADMSG);
	/* with a content checksum: valid, and still accepted (the format allows it) */
	UT_EQ(ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1)), 0);
	n = ZSTD_compress2(z, enc, len, src, len);
	UT_EQ(ZSTD_isError(n), 0);
	UT_OK(frame_decode(c, enc, n, false, dst, len));
	UT_MEMEQ(src, dst, len);
	enc[n - 1] ^= 1; /* its checksum now disagrees */
	UT_ERR(frame_decode(c, enc, n, false, dst, len), -EBADMSG);
	ZSTD_freeCCtx(z);
	guarded_free(&g);
	frame_codec_free(c);
	free(src);
	free(enc);
}

static uint32_t crc32c_bitwise(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t crc = 0xffffffffu;
	int k;

	while (len--) {
		crc ^= *b++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0);
	}
	return ~crc;
}

static void test_csum(void)
{
	unsigned char buf[1024 + 8], zeros[32] = {0};
	size_t off, len;

	/* published CRC-32C check values */
	UT_EQ(frame_csum("123456789", 9), 0xe3069283u);
	UT_EQ(frame_csum(zeros, 32), 0x8a9136aau);
	UT_EQ(frame_csum("", 0), 0);
	unit_fill_random(buf, sizeof(buf), 7);
	for (off = 0; off < 8; off++)
		for (len = 0; len <= 1024; len += (len < 40 ? 1 : 61))
			UT_EQ(frame_csum(buf + off, len), crc32c_bitwise(buf + off, len));
}

/* Not a benchmark (bench/ has those): a sanity check that nothing is grossly slow, and numbers
 * for the report. Level 1, 64 KiB frames, heap-like data. */
static void test_throughput(void)
{
	const size_t total = 64 << 20, fl = PGS_DEFAULT_FRAME_PAGES * PG;
	const size_t nframes = total / fl;
	unsigned char *src = unit_xmalloc(total), *enc = unit_xmalloc(total), *dst;
	const size_t nslots = nframes > 4096 ? nframes : 4096;
	size_t *lens = unit_xmalloc(nslots * sizeof(*lens)), i, stored = 0;
	bool *raws = unit_xmalloc(nslots * sizeof(*raws));
	struct frame_codec *c = codec(1);
	double t0, tc, td, ts, t4k, ratio;
	volatile uint32_t sink = 0;

	dst = unit_xmalloc(total);
	unit_fill_heaplike(src, total, 3);
	/* fault the pages in before timing */
	memset(dst, 1, total);
	memset(enc, 1, total);
	t0 = unit_now();
	for (i = 0; i < nframes; i++) {
		ssize_t n = frame_encode(c, src + i * fl, fl, enc + stored, fl, &raws[i]);

		UT_GT(n, 0);
		lens[i] = n;
		stored += n;
	}
	tc = unit_now() - t0;
	t0 = unit_now();
	for (i = 0, stored = 0; i < nframes; i++) {
		UT_OK(frame_decode(c, enc + stored, lens[i], raws[i], dst + i * fl, fl));
		stored += lens[i];
	}
	td = unit_now() - t0;
	UT_MEMEQ(src, dst, total);
	ratio = (double)stored / total;
	t0 = unit_now();
	sink ^= frame_csum(src, total);
	ts = unit_now() - t0;
	/* one page at a time, the fault path's worst case */
	for (i = 0, stored = 0; i < 4096; i++) {
		ssize_t n = frame_encode(c, src + i * PG, PG, enc + stored, PG, &raws[i]);

		UT_GT(n, 0);
		lens[i] = n;
		stored += n;
	}
	t0 = unit_now();
	for (i = 0, stored = 0; i < 4096; i++) {
		UT_OK(frame_decode(c, enc + stored, lens[i], raws[i], dst + i * PG, PG));
		stored += lens[i];
	}
	t4k = unit_now() - t0;
	unit_log("zstd-1 64 KiB frames, heap-like: ratio %.3f, compress %.2f GB/s, "
		 "decompress %.2f GB/s; crc32c %.2f GB/s; one 4 KiB frame decodes in %.1f us",
		 ratio, total / tc / 1e9, total / td / 1e9, total / ts / 1e9, t4k / 4096 * 1e6);
	UT_ASSERT(ratio < 0.5);
	/* far below this machine's figures (0.5 / 1.5 GB/s): only a broken build gets here */
	UT_ASSERT(total / td / 1e9 > 0.1);
	UT_ASSERT(total / ts / 1e9 > 0.2);
	(void)sink;
	frame_codec_free(c);
	free(src);
	free(enc);
	free(dst);
	free(lens);
	free(raws);
}

static const struct unit_test tests[] = {
    {"round trip: levels 0/1/3, 1..512 pages, heap/random/zero-ish/zero", test_round_trip, 0},
    {"round trip: sizes that are not pages", test_odd_sizes, 0},
    {"bad arguments", test_bad_args, 0},
    {"truncated frames are refused", test_truncated, 0},
    {"corrupted frames: refused or caught by frame_csum", test_corrupted, 0},
    {"frames that lie about their size are refused", test_size_lies, 0},
    {"foreign zstd frames", test_foreign_frames, 0},
    {"frame_csum is CRC-32C", test_csum, 0},
    {"throughput", test_throughput, 0},
};

UNIT_MAIN(tests)
