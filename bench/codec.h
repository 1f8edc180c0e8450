/* The page store's frame codec (pagesrv/include/pagestore.h) as the benchmarks drive it, so the
 * numbers are those of the code the tool runs (header-only: see bench.h). */
#ifndef BENCH_CODEC_H
#define BENCH_CODEC_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "pagestore.h"

struct codec {
	struct frame_codec *fc;
};

static inline int codec_create(struct codec *c, int level)
{
	return frame_codec_create(&c->fc, level);
}

static inline void codec_free(struct codec *c)
{
	frame_codec_free(c->fc);
	c->fc = NULL;
}

/* The stored length; *raw when the frame went in uncompressed because zstd could not shrink it. */
static inline ssize_t codec_encode(struct codec *c, const void *src, size_t len, void *dst,
				   size_t cap, bool *raw)
{
	return frame_encode(c->fc, src, len, dst, cap, raw);
}

static inline int codec_decode(struct codec *c, const void *src, size_t slen, bool raw, void *dst,
			       size_t dlen)
{
	return frame_decode(c->fc, src, slen, raw, dst, dlen);
}

static inline size_t codec_bound(size_t len)
{
	return frame_bound(len);
}

#endif
