/* An in-memory image: a corpus cut into independently decodable frames with their checksums, as
 * pages-ID.img holds them (header-only: see bench.h). */
#ifndef BENCH_FRAMES_H
#define BENCH_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"

/* A corpus cut into independently decodable frames, as pages-ID.img holds them. */
struct image {
	unsigned char *data; /* the original, to check against */
	size_t len, fsize, n;
	unsigned char *store;
	size_t *off, *slen;
	uint32_t *csum;
	bool *raw;
};

static inline int image_build(struct image *im, unsigned char *data, size_t len, size_t fsize,
			      int level)
{
	struct codec c;
	size_t i, pos = 0, bound = codec_bound(fsize);
	int ret;

	*im = (struct image){.data = data, .len = len, .fsize = fsize, .n = len / fsize};
	im->store = malloc(im->n * bound);
	im->off = calloc(im->n, sizeof(*im->off));
	im->slen = calloc(im->n, sizeof(*im->slen));
	im->raw = calloc(im->n, sizeof(*im->raw));
	im->csum = calloc(im->n, sizeof(*im->csum));
	if (!im->store || !im->off || !im->slen || !im->raw || !im->csum)
		return -ENOMEM;
	ret = codec_create(&c, level);
	for (i = 0; !ret && i < im->n; i++) {
		ssize_t n =
		    codec_encode(&c, data + i * fsize, fsize, im->store + pos, bound, &im->raw[i]);

		if (n < 0) {
			ret = n;
			break;
		}
		im->off[i] = pos;
		im->slen[i] = n;
		im->csum[i] = frame_csum(im->store + pos, n);
		pos += n;
	}
	codec_free(&c);
	return ret;
}

static inline void image_free(struct image *im)
{
	free(im->store);
	free(im->off);
	free(im->slen);
	free(im->raw);
	free(im->csum);
}

/* What a reader does with a frame it has read: check its checksum, then decode it. */
static inline int image_decode(const struct image *im, struct codec *c, size_t i, void *dst)
{
	const unsigned char *src = im->store + im->off[i];

	if (frame_csum(src, im->slen[i]) != im->csum[i])
		return -EBADMSG;
	return codec_decode(c, src, im->slen[i], im->raw[i], dst, im->fsize);
}

#endif
