/* Helpers for page-store tests: a random memory layout written through the writer together with a
 * model of what every page must read back as, and a way to write any index, however wrong. */
#ifndef UNIT_PGS_UTIL_H
#define UNIT_PGS_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "pagestore.h"

enum page_state { PS_HOLE, PS_DATA, PS_PARENT };

struct model {
	uint64_t base;	/* address of page 0 */
	size_t n;	/* pages in the model */
	uint8_t *ref;	/* n pages: what data pages hold (zero elsewhere) */
	uint8_t *state; /* enum page_state per page (an all-zero data page is PS_HOLE) */
	uint8_t *lazy;	/* PGS_PE_LAZY or 0 per page */
	unsigned int frame_pages;
	struct pgs_stats st; /* what the writer reported */
	uint64_t zero_pages; /* pages handed in that were all zero */
};

extern const uint8_t unit_uuid[PGS_UUID_LEN];

/* Writes store `id` in dirfd: n pages from base, gaps, data runs (heap-like or random, some pages
 * zero), parent runs, handed in batches of random size and flags. Returns the model. */
void model_write(struct model *m, int dirfd, const char *id, size_t n, unsigned int frame_pages,
		 uint64_t seed);
/* The same, with the writer's compression threads set. */
void model_write_threads(struct model *m, int dirfd, const char *id, size_t n,
			 unsigned int frame_pages, uint64_t seed, unsigned int threads);
void model_free(struct model *m);

/* Every rule the index must obey and every page's content, by frame and by ranges. */
void model_check(const struct model *m, struct pgs_ctx *ctx, uint64_t seed);

/* Reads range [page, page + nr) the way pgs_read must answer it, into dst. Returns the expected
 * return value (1, 0, -ENOENT); for 0 dst is left alone. */
int model_expect(const struct model *m, size_t page, size_t nr, uint8_t *dst);

/* What an index file says, field by field, so a test can write one that lies. */
struct raw_index {
	uint32_t page_size;
	uint8_t uuid[PGS_UUID_LEN];
	size_t uuid_len;
	bool has_frame_pages, has_nr_entries, has_pages_size;
	uint32_t frame_pages;
	uint64_t nr_entries, pages_size;
	struct raw_entry {
		uint64_t vaddr;
		uint32_t nr_pages, flags;
		bool has_off, has_len, has_csum;
		uint64_t off;
		uint32_t len, csum;
	} * e;
	size_t nr;
};

/* Loads pagemap-ID.img as it is (no checks beyond the framing), or writes one from r. */
void raw_index_load(struct raw_index *r, int dirfd, const char *id);
void raw_index_store(const struct raw_index *r, int dirfd, const char *id);
void raw_index_free(struct raw_index *r);

/* File helpers: whole-file read/write relative to dirfd; fail the test on error. */
uint8_t *file_read(int dirfd, const char *name, size_t *size);
void file_write(int dirfd, const char *name, const void *buf, size_t size);

#endif
