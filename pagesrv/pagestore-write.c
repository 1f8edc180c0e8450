/* The page-store writer: pages in, zero pages dropped, the rest cut into frames, frames appended
 * to pages-ID.img and described by pagemap_entry records in pagemap-ID.img.
 *
 * Frames are cut on frame_pages-aligned virtual addresses: a frame never crosses a multiple of
 * frame_pages * PGS_PAGE_SIZE, nor a gap (a zero page, a hole between calls, a change of flags).
 * So the frame holding an address is the same whatever the batches the dump read memory in, and
 * a fault-around window of that size decodes exactly one frame.
 * With threads, frames are encoded behind a ring (frame-pipe.c) and written in the order they
 * were cut, so the files are the same whatever the number of threads.
 * Entries are kept in memory (32 bytes per frame: 0.5 MiB per GiB of 64 KiB frames) and written at
 * commit, after a head that counts them and gives the frames file's size, so a reader can tell a
 * cut index or frames file from a complete one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame-pipe.h"
#include "img-file.h"
#include "pagestore.h"
#include "pagemap.pb-c.h"

#define PG PGS_PAGE_SIZE
/* a parent run longer than a frame is recorded as several entries: readers size their buffers by
 * PGS_MAX_FRAME_PAGES, whatever the kind of entry */
#define MAX_PARENT_PAGES PGS_MAX_FRAME_PAGES

struct pgs_writer {
	struct img_file map;
	struct img_file pages;
	int dirfd;
	PagemapHead head;
	uint8_t uuid[PGS_UUID_LEN];
	struct pgs_entry *ents;
	size_t nr_ents, cap_ents;
	struct frame_codec *codec;
	struct frame_pipe *pipe; /* NULL: encode in the caller's thread */
	unsigned int frame_pages;
	uint64_t off;	     /* where the next frame goes in pages-ID.img */
	uint64_t next_vaddr; /* everything below was already handed in */
	int err;	     /* sticky: once a write failed, every call fails the same way */
	bool committed;

	/* present pages waiting for the rest of their frame */
	uint8_t *stage;
	uint64_t st_vaddr;
	unsigned int st_nr;
	uint32_t st_flags;
	uint8_t *enc; /* frame_bound(frame_pages pages) */

	/* a run of parent pages not yet recorded */
	uint64_t par_vaddr;
	uint64_t par_nr;
	uint32_t par_flags;

	struct pgs_stats st;
};

static bool page_is_zero(const void *p)
{
	const uint64_t *w = p;
	size_t i;

	/* eight words at a time, leaving at the first block that has a bit set */
	for (i = 0; i < PG / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

static int add_entry(struct pgs_writer *w, uint64_t vaddr, uint32_t nr, uint32_t flags,
		     uint64_t off, uint32_t len, uint32_t csum)
{
	struct pgs_entry *e;

	if (w->nr_ents == w->cap_ents) {
		size_t ncap = w->cap_ents ? w->cap_ents * 2 : 256;

		e = realloc(w->ents, ncap * sizeof(*e));
		if (!e)
			return w->err = -ENOMEM;
		w->ents = e;
		w->cap_ents = ncap;
	}
	e = &w->ents[w->nr_ents++];
	e->vaddr = vaddr;
	e->nr_pages = nr;
	e->flags = flags;
	e->off = off;
	e->len = len;
	e->csum = csum;
	return 0;
}

static int write_index(struct pgs_writer *w)
{
	size_t i;
	int ret;

	w->head.has_nr_entries = w->head.has_pages_size = true;
	w->head.nr_entries = w->nr_ents;
	w->head.pages_size = w->off;
	ret = imgf_write_msg(&w->map, &w->head.base);
	for (i = 0; !ret && i < w->nr_ents; i++) {
		const struct pgs_entry *e = &w->ents[i];
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;

		pe.vaddr = e->vaddr;
		pe.nr_pages = e->nr_pages;
		pe.flags = e->flags;
		if (e->flags & PGS_PE_PRESENT) {
			pe.has_off = pe.has_len = pe.has_csum = true;
			pe.off = e->off;
			pe.len = e->len;
			pe.csum = e->csum;
		}
		ret = imgf_write_msg(&w->map, &pe.base);
	}
	return ret;
}

/* A frame, encoded, goes to the pages file and the index. */
static int write_frame(struct pgs_writer *w, uint64_t vaddr, uint32_t nr, uint32_t flags,
		       const uint8_t *enc, size_t n, bool raw, uint32_t csum)
{
	int ret;

	ret = imgf_write_raw(&w->pages, enc, n);
	if (!ret)
		ret = add_entry(w, vaddr, nr, flags | PGS_PE_PRESENT | (raw ? PGS_PE_RAW : 0),
				w->off, (uint32_t)n, csum);
	if (ret)
		return w->err = ret;
	w->off += n;
	w->st.pages_stored += nr;
	w->st.bytes_raw += (uint64_t)nr * PG;
	w->st.bytes_stored += n;
	w->st.frames++;
	return 0;
}

/* The pipe's results, in order: frames, and parent runs queued behind them. */
static int pipe_emit(void *arg, const struct fp_frame *f)
{
	struct pgs_writer *w = arg;

	if (!f->len)
		return add_entry(w, f->vaddr, f->nr, f->flags, 0, 0, 0);
	return write_frame(w, f->vaddr, f->nr, f->flags, f->enc, f->n, f->raw, f->csum);
}

static int emit_frame(struct pgs_writer *w, uint64_t vaddr, unsigned int nr, const void *src,
		      uint32_t flags)
{
	size_t len = (size_t)nr * PG;
	bool raw;
	ssize_t n;
	int ret;

	if (w->pipe) {
		ret = fp_push(w->pipe, src, len, vaddr, nr, flags);
		return ret ? (w->err = ret) : 0;
	}
	n = frame_encode(w->codec, src, len, w->enc, frame_bound(len), &raw);
	if (n < 0)
		return w->err = (int)n;
	return write_frame(w, vaddr, nr, flags, w->enc, n, raw, frame_csum(w->enc, n));
}

static int flush_stage(struct pgs_writer *w)
{
	int ret;

	if (!w->st_nr)
		return 0;
	ret = emit_frame(w, w->st_vaddr, w->st_nr, w->stage, w->st_flags);
	w->st_nr = 0;
	return ret;
}

static int flush_parent(struct pgs_writer *w)
{
	int ret;

	while (w->par_nr) {
		uint32_t n = w->par_nr > MAX_PARENT_PAGES ? MAX_PARENT_PAGES : (uint32_t)w->par_nr;

		if (w->pipe) /* behind the frames still in the pipe */
			ret = fp_push(w->pipe, NULL, 0, w->par_vaddr, n,
				      w->par_flags | PGS_PE_PARENT);
		else
			ret = add_entry(w, w->par_vaddr, n, w->par_flags | PGS_PE_PARENT, 0, 0, 0);
		if (ret)
			return ret;
		w->par_vaddr += (uint64_t)n * PG;
		w->par_nr -= n;
	}
	return 0;
}

/* Common checks of pgs_writer_add*: the range is page-aligned, does not wrap, and comes after
 * everything already added. */
static int check_range(struct pgs_writer *w, uint64_t vaddr, unsigned long nr_pages, uint32_t flags)
{
	if (w->err)
		return w->err;
	if (w->committed)
		return -EINVAL;
	if (!nr_pages || vaddr % PG || (flags & ~PGS_PE_LAZY))
		return -EINVAL;
	if (nr_pages > (UINT64_MAX - vaddr) / PG)
		return -EINVAL;
	if (vaddr < w->next_vaddr)
		return -EINVAL;
	return 0;
}

int pgs_writer_open(struct pgs_writer **wp, int dirfd, const char *id,
		    const struct pgs_writer_opts *o)
{
	unsigned int threads;
	struct pgs_writer *w;
	char name[256];
	int ret;

	if (!id || strlen(id) > 200)
		return -EINVAL;
	if (o && o->frame_pages > PGS_MAX_FRAME_PAGES)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dirfd = dirfd;
	w->map.fd = w->pages.fd = -1;
	pagemap_head__init(&w->head);
	w->head.page_size = PG;
	w->head.dump_uuid.len = PGS_UUID_LEN;
	w->head.dump_uuid.data = w->uuid;
	if (o && o->uuid)
		memcpy(w->uuid, o->uuid, PGS_UUID_LEN);
	w->frame_pages = o && o->frame_pages ? o->frame_pages : PGS_DEFAULT_FRAME_PAGES;
	ret = frame_codec_create(&w->codec, o ? o->level : 0);
	if (ret)
		goto out_free;
	ret = -ENOMEM;
	w->stage = malloc((size_t)w->frame_pages * PG);
	w->enc = malloc(frame_bound((size_t)w->frame_pages * PG));
	if (!w->stage || !w->enc)
		goto out_free;
	threads = o && o->threads ? o->threads : 1;
	if (threads > 1) {
		/* the caller cuts, copies and writes, and encodes too when the ring is full */
		ret = fp_create(&w->pipe, o->level, threads - 1, (size_t)w->frame_pages * PG,
				pipe_emit, w);
		if (ret)
			goto out_free;
	}

	snprintf(name, sizeof(name), "pages-%s.img", id);
	ret = imgf_open_write(&w->pages, dirfd, name, PGS_PAGES_MAGIC);
	if (ret)
		goto out_free;
	w->off = IMG_HDR_SIZE;
	snprintf(name, sizeof(name), "pagemap-%s.img", id);
	ret = imgf_open_write(&w->map, dirfd, name, PGS_PAGEMAP_MAGIC);
	if (ret)
		goto out_free;
	w->head.has_frame_pages = true;
	w->head.frame_pages = w->frame_pages;
	if (o && o->owner) {
		w->head.owner = strdup(o->owner);
		if (!w->head.owner) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	*wp = w;
	return 0;

out_free:
	pgs_writer_free(w);
	return ret;
}

int pgs_writer_add(struct pgs_writer *w, uint64_t vaddr, unsigned long nr_pages, const void *data,
		   uint32_t flags)
{
	const uint8_t *src = data;
	unsigned long i = 0, j;
	bool known_zero = false;
	int ret;

	ret = check_range(w, vaddr, nr_pages, flags);
	if (ret)
		return ret;
	ret = flush_parent(w);
	if (ret)
		return ret;
	w->next_vaddr = vaddr + nr_pages * PG;
	w->st.pages_seen += nr_pages;

	while (i < nr_pages) {
		uint64_t va = vaddr + i * PG;
		unsigned long room = w->frame_pages - (va / PG) % w->frame_pages;
		bool closed;

		if (known_zero || page_is_zero(src + i * PG)) {
			known_zero = false;
			w->st.pages_zero++;
			ret = flush_stage(w);
			if (ret)
				return ret;
			i++;
			continue;
		}
		/* [i, j): non-zero pages inside one aligned window */
		for (j = i + 1; j < nr_pages && j - i < room; j++) {
			if (page_is_zero(src + j * PG)) {
				known_zero = true;
				break;
			}
		}
		if (w->st_nr && (w->st_vaddr + (uint64_t)w->st_nr * PG != va ||
				 w->st_flags != flags || w->st_nr + (j - i) > w->frame_pages)) {
			ret = flush_stage(w);
			if (ret)
				return ret;
		}
		/* Closed: ended by the window's end or a zero page, so no later call can extend
		 * it. Only a run ending with this call's data waits in the stage. */
		closed = j - i == room || j < nr_pages;
		if (!w->st_nr && closed) {
			ret = emit_frame(w, va, j - i, src + i * PG, flags);
		} else {
			if (!w->st_nr) {
				w->st_vaddr = va;
				w->st_flags = flags;
			}
			memcpy(w->stage + (size_t)w->st_nr * PG, src + i * PG, (j - i) * PG);
			w->st_nr += j - i;
			ret = closed ? flush_stage(w) : 0;
		}
		if (ret)
			return ret;
		i = j;
	}
	return 0;
}

int pgs_writer_add_parent(struct pgs_writer *w, uint64_t vaddr, unsigned long nr_pages,
			  uint32_t flags)
{
	int ret;

	ret = check_range(w, vaddr, nr_pages, flags);
	if (ret)
		return ret;
	ret = flush_stage(w);
	if (ret)
		return ret;
	if (w->par_nr && (w->par_vaddr + w->par_nr * PG != vaddr || w->par_flags != flags)) {
		ret = flush_parent(w);
		if (ret)
			return ret;
	}
	if (!w->par_nr) {
		w->par_vaddr = vaddr;
		w->par_flags = flags;
	}
	w->par_nr += nr_pages;
	w->next_vaddr = vaddr + nr_pages * PG;
	w->st.pages_seen += nr_pages;
	w->st.pages_parent += nr_pages;
	return 0;
}

int pgs_writer_commit(struct pgs_writer *w, struct pgs_stats *st)
{
	int ret;

	if (w->err)
		return w->err;
	if (w->committed)
		return -EINVAL;
	ret = flush_stage(w);
	if (!ret)
		ret = flush_parent(w);
	if (!ret && w->pipe)
		ret = fp_flush(w->pipe);
	if (ret)
		return w->err = ret;
	ret = write_index(w);
	if (ret)
		return w->err = ret;
	/* frames first: an index in place always has its frames */
	ret = imgf_commit(&w->pages);
	if (ret)
		return w->err = ret;
	ret = imgf_commit(&w->map);
	if (ret) {
		unlinkat(w->dirfd, w->pages.name, 0);
		return w->err = ret;
	}
	w->committed = true;
	if (st)
		*st = w->st;
	return 0;
}

void pgs_writer_free(struct pgs_writer *w)
{
	if (!w)
		return;
	imgf_close(&w->map);
	imgf_close(&w->pages);
	fp_free(w->pipe);
	frame_codec_free(w->codec);
	free(w->head.owner);
	free(w->ents);
	free(w->stage);
	free(w->enc);
	free(w);
}
