/* The compression floor of this machine: zstd compress/decompress throughput per core on heap-like
 * and random data at the frame sizes an image could use, the ratio each frame size gives, and what
 * decoding the one frame that holds a faulting page costs. Prints `key value unit` lines. */
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <zstd.h>

#include "bench.h"
#include "codec.h"
#include "heapgen.h"

/* ---- the measurements ---- */

#define MAX_PASSES 64

struct frames {
	size_t fsize, n;
	unsigned char *store; /* frame i at off[i], len[i] bytes */
	size_t *off, *len;
	bool *raw;
	size_t stored;
};

struct corpus {
	const char *name;
	unsigned char *data;
	size_t len;
};

static int encode_all(struct codec *c, const struct corpus *cp, struct frames *f)
{
	size_t i, pos = 0;

	for (i = 0; i < f->n; i++) {
		ssize_t n = codec_encode(c, cp->data + i * f->fsize, f->fsize, f->store + pos,
					 codec_bound(f->fsize), &f->raw[i]);

		if (n < 0)
			return n;
		f->off[i] = pos;
		f->len[i] = n;
		pos += n;
	}
	f->stored = pos;
	return 0;
}

static int decode_all(struct codec *c, const struct frames *f, unsigned char *out)
{
	size_t i;
	int ret;

	for (i = 0; i < f->n; i++) {
		ret = codec_decode(c, f->store + f->off[i], f->len[i], f->raw[i],
				   out + i * f->fsize, f->fsize);
		if (ret)
			return ret;
	}
	return 0;
}

static int frames_alloc(struct frames *f, size_t total, size_t fsize)
{
	f->fsize = fsize;
	f->n = total / fsize;
	f->store = malloc(f->n * codec_bound(fsize));
	f->off = calloc(f->n, sizeof(*f->off));
	f->len = calloc(f->n, sizeof(*f->len));
	f->raw = calloc(f->n, sizeof(*f->raw));
	if (!f->store || !f->off || !f->len || !f->raw)
		return -ENOMEM;
	memset(f->store, 0, f->n * codec_bound(fsize)); /* keep page faults out of the timing */
	return 0;
}

static void frames_free(struct frames *f)
{
	free(f->store);
	free(f->off);
	free(f->len);
	free(f->raw);
}

struct dec_thread {
	struct codec c;
	const struct frames *f;
	unsigned char *out;
	size_t first, last; /* frames [first, last) */
	int cpu, err;
	uint64_t ns;
};

static void *dec_thread_main(void *arg)
{
	struct dec_thread *d = arg;
	uint64_t t0;
	size_t i;

	pin_cpu(d->cpu);
	t0 = now_ns();
	for (i = d->first; i < d->last && !d->err; i++)
		d->err = codec_decode(&d->c, d->f->store + d->f->off[i], d->f->len[i], d->f->raw[i],
				      d->out + i * d->f->fsize, d->f->fsize);
	d->ns = now_ns() - t0;
	return NULL;
}

/* Both cores decoding halves of the frames: what a prefetcher with two workers can reach. */
static int decode_two_threads(int level, const struct frames *f, unsigned char *out, double *rate)
{
	struct dec_thread d[2] = {};
	pthread_t th[2];
	uint64_t ns = 0;
	int t, ret = 0;

	for (t = 0; t < 2; t++) {
		d[t] = (struct dec_thread){.f = f,
					   .out = out,
					   .cpu = t,
					   .first = t * f->n / 2,
					   .last = (t + 1) * f->n / 2};
		ret = codec_create(&d[t].c, level);
		if (ret)
			goto out;
	}
	for (t = 0; t < 2; t++)
		pthread_create(&th[t], NULL, dec_thread_main, &d[t]);
	for (t = 0; t < 2; t++) {
		pthread_join(th[t], NULL);
		ret = ret ?: d[t].err;
		ns = d[t].ns > ns ? d[t].ns : ns;
	}
	*rate = gbps(f->n * f->fsize, ns);
out:
	for (t = 0; t < 2; t++)
		codec_free(&d[t].c);
	return ret;
}

static int run_one(const struct corpus *cp, int level, size_t fsize, uint64_t budget,
		   unsigned char *out, int two)
{
	struct frames f = {};
	struct codec c = {};
	struct rng r = {fsize * 31 + level};
	char key[96];
	uint64_t t0, *lat = NULL;
	double rates[MAX_PASSES];
	size_t passes, nlat = 0, maxlat = 4000;
	int ret;

	snprintf(key, sizeof(key), "zstd.%s.l%d.f%s", cp->name, level, size_name(fsize));
	ret = frames_alloc(&f, cp->len, fsize);
	if (!ret)
		ret = codec_create(&c, level);
	lat = calloc(maxlat, sizeof(*lat));
	if (ret || !lat) {
		ret = ret ?: -ENOMEM;
		goto out;
	}

	t0 = now_ns();
	for (passes = 0; !ret && passes < MAX_PASSES && (passes < 2 || now_ns() - t0 < budget);
	     passes++) {
		uint64_t t1 = now_ns();

		ret = encode_all(&c, cp, &f);
		rates[passes] = gbps(cp->len, now_ns() - t1);
	}
	if (ret)
		goto out;
	result("x", (double)cp->len / f.stored, "%s.ratio", key);
	result_rates("GB/s", rates, passes, "%s.comp", key);

	t0 = now_ns();
	for (passes = 0; !ret && passes < MAX_PASSES && (passes < 3 || now_ns() - t0 < budget);
	     passes++) {
		uint64_t t1 = now_ns();

		ret = decode_all(&c, &f, out);
		rates[passes] = gbps(cp->len, now_ns() - t1);
	}
	if (ret)
		goto out;
	if (memcmp(out, cp->data, f.n * fsize)) {
		ret = -EBADMSG;
		goto out;
	}
	result_rates("GB/s", rates, passes, "%s.dec", key);

	for (passes = 0; two && !ret && passes < 3; passes++)
		ret = decode_two_threads(level, &f, out, &rates[passes]);
	if (ret)
		goto out;
	if (two)
		result_rates("GB/s", rates, passes, "%s.dec_t2", key);

	/* What one fault pays: decode the whole frame that holds its page, a different frame each
	 * time so the compressed bytes are not all in cache. */
	t0 = now_ns();
	while (nlat < maxlat && (nlat < 50 || now_ns() - t0 < budget / 2)) {
		size_t i = rng_below(&r, f.n);
		uint64_t t1 = now_ns();

		ret = codec_decode(&c, f.store + f.off[i], f.len[i], f.raw[i], out, fsize);
		if (ret)
			goto out;
		lat[nlat++] = now_ns() - t1;
	}
	snprintf(key + strlen(key), sizeof(key) - strlen(key), ".page");
	result_lat(lat, nlat, key);
out:
	if (ret)
		skip(strerror(-ret), "%s", key);
	free(lat);
	codec_free(&c);
	frames_free(&f);
	return ret;
}

/* CRC-32C with the SSE4.2 crc32 instruction, same polynomial and result as frame_csum: how much
 * of the checksum's cost is the software table walk. One dependent chain, not interleaved. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t crc = 0xffffffffu;

	for (; len >= 8; len -= 8, b += 8) {
		uint64_t v;

		memcpy(&v, b, 8);
		crc = __builtin_ia32_crc32di(crc, v);
	}
	for (; len; len--)
		crc = __builtin_ia32_crc32qi((uint32_t)crc, *b++);
	return (uint32_t)crc ^ 0xffffffffu;
}

/* The checksum readers verify before decoding a frame: on the fault path too. */
static void run_csum(const struct corpus *cp, size_t block, int hw, uint64_t budget)
{
	double rates[MAX_PASSES];
	volatile uint32_t sink = 0;
	uint64_t t0 = now_ns();
	int passes;
	size_t i;

	if (hw && !__builtin_cpu_supports("sse4.2")) {
		skip("no SSE4.2", "csum.crc32c_sse42.b%s", size_name(block));
		return;
	}
	if (hw && crc32c_hw(cp->data, 4096) != frame_csum(cp->data, 4096)) {
		skip("differs from frame_csum", "csum.crc32c_sse42.b%s", size_name(block));
		return;
	}
	for (passes = 0; passes < MAX_PASSES && (passes < 3 || now_ns() - t0 < budget / 2);
	     passes++) {
		uint64_t t1 = now_ns();

		for (i = 0; i + block <= cp->len; i += block)
			sink +=
			    hw ? crc32c_hw(cp->data + i, block) : frame_csum(cp->data + i, block);
		rates[passes] = gbps(cp->len, now_ns() - t1);
	}
	(void)sink;
	result_rates("GB/s", rates, passes, "csum.%s.b%s", hw ? "crc32c_sse42" : "frame_csum",
		     size_name(block));
}

int main(void)
{
	static const size_t fsizes[] = {4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 2 * MIB};
	static const int levels[] = {-1, 1, 3}; /* -1: zstd leaves literals uncompressed */
	int full = bench_full(), ncpu = nr_cpus();
	size_t len = (full ? 128 : 32) * MIB, i, j, k;
	uint64_t budget = (full ? 1000 : 120) * 1000000ull;
	struct corpus cps[2] = {{"heap", NULL, len}, {"random", NULL, len}};
	unsigned char *out = malloc(len);

	cps[0].data = malloc(len);
	cps[1].data = malloc(len);
	if (!out || !cps[0].data || !cps[1].data) {
		fprintf(stderr, "zstd-floor: out of memory for a %zu MiB corpus\n", len / MIB);
		return 1;
	}
	heap_fill(cps[0].data, len, 1);
	random_fill(cps[1].data, len, 1);
	memset(out, 0, len);
	pin_cpu(0);
	printf("# zstd-floor: libzstd %s, corpus %zu MiB, %s mode\n", ZSTD_versionString(),
	       len / MIB, full ? "full" : "quick");
	for (i = 0; i < 2; i++)
		for (j = 0; j < sizeof(levels) / sizeof(levels[0]); j++)
			for (k = 0; k < sizeof(fsizes) / sizeof(fsizes[0]); k++)
				run_one(&cps[i], levels[j], fsizes[k], budget, out,
					ncpu >= 2 && levels[j] == 1);
	for (k = 0; k < 2; k++)
		for (j = 0; j < 2; j++)
			run_csum(&cps[0], k ? 64 * KIB : 4 * KIB, j, budget);
	free(out);
	free(cps[0].data);
	free(cps[1].data);
	return 0;
}
