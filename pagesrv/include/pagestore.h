/* The page store: one memory owner's pages (a process, or a shared memory object) as an index
 * (pagemap-ID.img, img-file framing, pagemap.proto records) and a frames file (pages-ID.img: the
 * image header, then independent frames). Each frame holds nr_pages contiguous pages,
 * zstd-compressed or stored raw when that is smaller, with a checksum of its stored bytes in the
 * index. Pages that are entirely zero are never stored: an address inside a dumped mapping that no
 * entry covers reads as zero.
 *
 * Library rules: caller-owned buffers, no globals, no logging; 0 or -errno, tri-states spelled out.
 * A reader may be used from several threads at once for pgs_read_frame / pgs_read.
 */
#ifndef PAGESRV_PAGESTORE_H
#define PAGESRV_PAGESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PGS_PAGE_SIZE 4096UL
#define PGS_PAGEMAP_MAGIC 0x50414d31u /* "1MAP" */
#define PGS_PAGES_MAGIC 0x53504731u   /* "1GPS" */
#define PGS_UUID_LEN 16
#define PGS_MAX_FRAME_PAGES 512	   /* 2 MiB: bounds every buffer a frame can ask for */
/* 64 KiB. bench/REPORT.md measures 16 KiB as the better trade (a fault decodes a third as much);
 * not switched yet: the index a restore hands to the daemon would grow 4x, on the resume path. */
#define PGS_DEFAULT_FRAME_PAGES 16

/* pagemap_entry.flags, as images/pagemap.proto names them */
#define PGS_PE_PRESENT 1u
#define PGS_PE_LAZY 2u
#define PGS_PE_PARENT 4u
#define PGS_PE_RAW 8u

struct pgs_entry {
	uint64_t vaddr;
	uint32_t nr_pages;
	uint32_t flags;
	uint64_t off; /* PRESENT: where the frame starts in pages-ID.img */
	uint32_t len; /* PRESENT: stored length */
	uint32_t csum;
};

struct pgs_stats {
	uint64_t pages_seen; /* pages handed to the writer */
	uint64_t pages_zero; /* of those, all-zero pages that were not stored */
	uint64_t pages_stored;
	uint64_t pages_parent;
	uint64_t bytes_raw;    /* pages_stored * page size */
	uint64_t bytes_stored; /* size of the frames written */
	uint64_t frames;
};

/* ---- writing (dump) ---- */

struct pgs_writer;

struct pgs_writer_opts {
	int level;		  /* zstd level; 0 means the library default (1) */
	unsigned int frame_pages; /* 0 means PGS_DEFAULT_FRAME_PAGES; at most PGS_MAX_FRAME_PAGES */
	const uint8_t *uuid;	  /* PGS_UUID_LEN bytes: the dump this belongs to */
	const char *owner;	  /* "pid 1234", "shmem 5678": for show and error messages */
	/* compression threads, the caller's included (at most 9); 0 or 1: the caller's only. With
	 * more, frames are copied into a ring and encoded while the caller reads on; the files are
	 * the same byte for byte whatever the number. */
	unsigned int threads;
};

/* Creates pagemap-ID.img and pages-ID.img in dirfd (under temporary names until commit). */
int pgs_writer_open(struct pgs_writer **w, int dirfd, const char *id,
		    const struct pgs_writer_opts *o);

/* Adds nr_pages pages at vaddr whose contents are at data. Calls must come in increasing vaddr
 * order. All-zero pages are dropped; the rest are cut into frames. flags: PGS_PE_LAZY or 0. */
int pgs_writer_add(struct pgs_writer *w, uint64_t vaddr, unsigned long nr_pages, const void *data,
		   uint32_t flags);

/* Records nr_pages at vaddr as unchanged since the parent image set (pre-dump chains). */
int pgs_writer_add_parent(struct pgs_writer *w, uint64_t vaddr, unsigned long nr_pages,
			  uint32_t flags);

/* Writes the index, renames both files into place, fills *st if st is not NULL. */
int pgs_writer_commit(struct pgs_writer *w, struct pgs_stats *st);

/* Frees the writer; an uncommitted writer's temporary files are removed. Accepts NULL. */
void pgs_writer_free(struct pgs_writer *w);

/* ---- reading (restore, lazy pages, page server) ---- */

struct pgs_ctx;

/* Opens pagemap-ID.img and pages-ID.img and checks them: magic, version, the uuid (when uuid is not
 * NULL), entries sorted and not overlapping, every frame inside the pages file, sizes within
 * PGS_MAX_FRAME_PAGES. -ENOENT: no such images; -EBADMSG: damaged, pgs_last_error() says where;
 * -EPROTO: an image format version this build does not know. The index counts its entries and
 * records the pages file's size, so a cut or grown file of either kind is -EBADMSG too. */
int pgs_open_local(struct pgs_ctx **ctx, int dirfd, const char *id, const uint8_t *uuid);

/* A human-readable reason and file offset for the last open error on this thread. */
const char *pgs_last_error(uint64_t *off);

void pgs_close(struct pgs_ctx *ctx); /* accepts NULL */

size_t pgs_nr_entries(const struct pgs_ctx *ctx);
const struct pgs_entry *pgs_entry(const struct pgs_ctx *ctx, size_t i); /* sorted by vaddr */

/* Index of the entry covering vaddr, or -ENOENT when vaddr is in a hole. */
long pgs_find(const struct pgs_ctx *ctx, uint64_t vaddr);

/* Decodes entry i into dst (entry nr_pages * PGS_PAGE_SIZE bytes). 0, -EBADMSG (checksum or
 * decode failure: never partial data), -EIO, -EINVAL (entry not PRESENT). */
int pgs_read_frame(struct pgs_ctx *ctx, size_t i, void *dst);

/* 1: the range had data and is in dst (holes inside it zero-filled), 0: the whole range is a hole
 * (dst untouched), <0: -errno as pgs_read_frame; -ENOENT if a page is PGS_PE_PARENT. */
int pgs_read(struct pgs_ctx *ctx, uint64_t vaddr, unsigned long nr_pages, void *dst);

/* The stored bytes of entry i (for a page server that ships frames without decoding them), not
 * checked against csum here: the receiver checks. Returns the length, -EINVAL (entry not PRESENT),
 * -ENOSPC (cap < len), -EIO. */
ssize_t pgs_read_stored(struct pgs_ctx *ctx, size_t i, void *dst, size_t cap);

/* ---- the frame codec underneath (also used by the page server and benchmarks) ---- */

struct frame_codec;

int frame_codec_create(struct frame_codec **c, int level);
void frame_codec_free(struct frame_codec *c); /* accepts NULL */

/* Compresses len bytes into dst (cap >= frame_bound(len)). Returns the stored length; sets
 * *raw when the frame was stored uncompressed because that was not larger. A compressed frame is
 * always shorter than len, a raw one exactly len, so frame_bound(len) == len. */
ssize_t frame_encode(struct frame_codec *c, const void *src, size_t len, void *dst, size_t cap,
		     bool *raw);
size_t frame_bound(size_t len);

/* Decodes a stored frame of slen bytes into exactly dlen bytes at dst. -EBADMSG if it is corrupt or
 * decodes to any other size. */
int frame_decode(struct frame_codec *c, const void *src, size_t slen, bool raw, void *dst,
		 size_t dlen);

uint32_t frame_csum(const void *p, size_t len);

#endif
