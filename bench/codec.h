/* The frame codec as the benchmarks use it (header-only: see bench.h). */
#ifndef BENCH_CODEC_H
#define BENCH_CODEC_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <zstd.h>

/* The codec as the page store uses it: one frame per call, stored raw when compression does not
 * make it smaller. */
struct codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int level;
};

static inline int codec_create(struct codec *c, int level)
{
	c->level = level;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	return c->cctx && c->dctx ? 0 : -ENOMEM;
}

static inline void codec_free(struct codec *c)
{
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
}

static inline ssize_t codec_encode(struct codec *c, const void *src, size_t len, void *dst,
				   size_t cap, bool *raw)
{
	size_t n = ZSTD_compressCCtx(c->cctx, dst, cap, src, len, c->level);

	if (ZSTD_isError(n))
		return -EINVAL;
	*raw = n >= len;
	if (*raw) {
		memcpy(dst, src, len);
		return len;
	}
	return n;
}

static inline int codec_decode(struct codec *c, const void *src, size_t slen, bool raw, void *dst,
			       size_t dlen)
{
	size_t n;

	if (raw) {
		if (slen != dlen)
			return -EBADMSG;
		memcpy(dst, src, dlen);
		return 0;
	}
	n = ZSTD_decompressDCtx(c->dctx, dst, dlen, src, slen);
	return ZSTD_isError(n) || n != dlen ? -EBADMSG : 0;
}

static inline size_t codec_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

#endif
