/* The frame codec: one zstd frame per run of pages, or the pages themselves when zstd does not
 * make them smaller (random data then decodes at memcpy speed).
 *
 * A compressed frame is one zstd frame that records its content size; the decoder insists on
 * exactly one frame, of exactly slen bytes, declaring exactly dlen bytes, before it decodes a byte.
 * No zstd content checksum: the index keeps a crc32c of the stored bytes (frame_csum), which the
 * readers check before decoding, so a second hash on the fault path would buy nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "pagestore.h"

struct frame_codec {
	int level;
	ZSTD_CCtx *cctx; /* made on first encode: a reader never pays for it */
	ZSTD_DCtx *dctx; /* made on first decode */
};

int frame_codec_create(struct frame_codec **c, int level)
{
	struct frame_codec *fc;

	if (level == 0)
		level = 1;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return -EINVAL;
	fc = calloc(1, sizeof(*fc));
	if (!fc)
		return -ENOMEM;
	fc->level = level;
	*c = fc;
	return 0;
}

void frame_codec_free(struct frame_codec *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c);
}

size_t frame_bound(size_t len)
{
	/* a frame that would not shrink is stored raw, so it never grows */
	return len;
}

static int zstd_err(size_t r)
{
	if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return -ENOMEM;
	return -EIO;
}

static int setup_cctx(struct frame_codec *c)
{
	size_t r;

	c->cctx = ZSTD_createCCtx();
	if (!c->cctx)
		return -ENOMEM;
	r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, c->level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_dictIDFlag, 0);
	if (ZSTD_isError(r)) {
		ZSTD_freeCCtx(c->cctx);
		c->cctx = NULL;
		return zstd_err(r);
	}
	return 0;
}

ssize_t frame_encode(struct frame_codec *c, const void *src, size_t len, void *dst, size_t cap,
		     bool *raw)
{
	size_t n;
	int ret;

	if (!len || len > SSIZE_MAX)
		return -EINVAL;
	if (cap < frame_bound(len))
		return -ENOSPC;
	if (!c->cctx) {
		ret = setup_cctx(c);
		if (ret)
			return ret;
	}
	/* Room for one byte less than the input: zstd gives up as soon as the frame would not be
	 * smaller, and the pages go in as they are. */
	n = ZSTD_compress2(c->cctx, dst, len - 1, src, len);
	if (!ZSTD_isError(n)) {
		*raw = false;
		return n;
	}
	if (ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall)
		return zstd_err(n);
	memcpy(dst, src, len);
	*raw = true;
	return len;
}

int frame_decode(struct frame_codec *c, const void *src, size_t slen, bool raw, void *dst,
		 size_t dlen)
{
	unsigned long long fcs;
	size_t n;

	if (!dlen)
		return -EINVAL;
	if (raw) {
		if (slen != dlen)
			return -EBADMSG;
		memcpy(dst, src, dlen);
		return 0;
	}
	/* the encoder stores a frame compressed only when that made it smaller */
	if (!slen || slen >= dlen)
		return -EBADMSG;
	fcs = ZSTD_getFrameContentSize(src, slen);
	if (fcs != dlen) /* also catches ZSTD_CONTENTSIZE_UNKNOWN / _ERROR */
		return -EBADMSG;
	n = ZSTD_findFrameCompressedSize(src, slen);
	if (ZSTD_isError(n) || n != slen) /* truncated, or something after the frame */
		return -EBADMSG;
	if (!c->dctx) {
		c->dctx = ZSTD_createDCtx();
		if (!c->dctx)
			return -ENOMEM;
	}
	n = ZSTD_decompressDCtx(c->dctx, dst, dlen, src, slen);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		return -EBADMSG;
	}
	return n == dlen ? 0 : -EBADMSG;
}
