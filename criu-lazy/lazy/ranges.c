/* A task's missing pages: extents of source entries at their current addresses, split, moved and
 * dropped as the task remaps and unmaps its memory. Loop thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-int.h"

int ext_test(const struct lp_ext *e, unsigned int pg)
{
	pg -= e->ebase;
	return (e->bits[pg / 64] >> (pg % 64)) & 1;
}

void ext_clear(struct lp_ext *e, unsigned int pg)
{
	if (ext_test(e, pg)) {
		pg -= e->ebase;
		e->bits[pg / 64] &= ~(1ULL << (pg % 64));
		e->missing--;
	}
}

int lp_read_ext(const struct lp_src *src, uint32_t ent, uint32_t ebase, void *dst, int reader)
{
	const struct pgs_entry *pe = src->ops->entry(src->priv, ent);
	uint64_t n;

	if (pe->nr_pages <= PGS_MAX_FRAME_PAGES)
		return src->ops->read_frame(src->priv, ent, dst, reader);
	/* a long run of parent pages, read a window at a time */
	if (!src->ops->read_range)
		return -EOPNOTSUPP;
	n = pe->nr_pages - ebase < PGS_MAX_FRAME_PAGES ? pe->nr_pages - ebase : PGS_MAX_FRAME_PAGES;
	return src->ops->read_range(src->priv, pe->vaddr + (uint64_t)ebase * LP_PAGE, n, dst,
				    reader);
}

uint16_t ext_count(const struct lp_ext *e)
{
	unsigned int pg, n = 0;

	for (pg = e->pg0; pg < (unsigned int)e->pg0 + e->nr; pg++)
		n += ext_test(e, pg);
	return n;
}

static int ext_reserve(struct lp_task *t, size_t n)
{
	struct lp_ext *ext;
	size_t cap;

	if (n <= t->cap_ext)
		return 0;
	cap = t->cap_ext ? t->cap_ext * 2 : 64;
	while (cap < n)
		cap *= 2;
	ext = realloc(t->ext, cap * sizeof(*ext));
	if (!ext)
		return -ENOMEM;
	t->ext = ext;
	t->cap_ext = cap;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct lp_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int ext_append(struct lp_task *t, uint64_t addr, size_t ent, unsigned int ebase,
		      unsigned int pg0, unsigned int nr)
{
	struct lp_ext *e;
	unsigned int pg;

	if (ext_reserve(t, t->nr_ext + 1))
		return -ENOMEM;
	e = &t->ext[t->nr_ext++];
	memset(e, 0, sizeof(*e));
	e->addr = addr;
	e->ent = ent;
	e->ebase = ebase;
	e->pg0 = pg0;
	e->nr = nr;
	for (pg = pg0 - ebase; pg < pg0 - ebase + nr; pg++)
		e->bits[pg / 64] |= 1ULL << (pg % 64);
	e->missing = nr;
	t->missing += nr;
	return 0;
}

/* The pages to serve are the source's lazy entries inside the registered ranges. */
int ext_build(struct lp_task *t, const struct lp_range *ranges, int nr)
{
	size_t i, n = t->src->ops->nr_entries(t->src->priv);
	struct lp_range *r;
	int j = 0, ret = 0;

	r = malloc(sizeof(*r) * (nr ? nr : 1));
	if (!r)
		return -ENOMEM;
	memcpy(r, ranges, sizeof(*r) * nr);
	qsort(r, nr, sizeof(*r), cmp_range);

	for (i = 0; i < n && j < nr; i++) {
		const struct pgs_entry *pe = t->src->ops->entry(t->src->priv, i);
		uint32_t ebase;

		if (!(pe->flags & PGS_PE_LAZY))
			continue;
		/* frames are bounded; a run of parent pages is not, and goes by windows */
		if (pe->nr_pages == 0 ||
		    (pe->nr_pages > PGS_MAX_FRAME_PAGES && !(pe->flags & PGS_PE_PARENT))) {
			ret = -EBADMSG;
			break;
		}
		/* PARENT: the data is in an older image set; the source reads it from there */
		if (!(pe->flags & (PGS_PE_PRESENT | PGS_PE_PARENT)))
			continue;
		while (j < nr && r[j].end <= pe->vaddr)
			j++;
		for (ebase = 0; ebase < pe->nr_pages; ebase += PGS_MAX_FRAME_PAGES) {
			uint64_t wstart = pe->vaddr + (uint64_t)ebase * LP_PAGE;
			uint32_t wn = pe->nr_pages - ebase < PGS_MAX_FRAME_PAGES
					  ? pe->nr_pages - ebase
					  : PGS_MAX_FRAME_PAGES;
			uint64_t wend = wstart + (uint64_t)wn * LP_PAGE;
			int k;

			for (k = j; k < nr && r[k].start < wend; k++) {
				uint64_t s = wstart > r[k].start ? wstart : r[k].start;
				uint64_t e = wend < r[k].end ? wend : r[k].end;

				if (s >= e)
					continue;
				ret = ext_append(t, s, i, ebase, (s - pe->vaddr) / LP_PAGE,
						 (e - s) / LP_PAGE);
				if (ret)
					goto out;
			}
		}
	}
out:
	free(r);
	return ret;
}

long ext_find(const struct lp_task *t, uint64_t addr)
{
	size_t lo = 0, hi = t->nr_ext;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->ext[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	lo--;
	if (addr < t->ext[lo].addr + (uint64_t)t->ext[lo].nr * LP_PAGE)
		return lo;
	return -1;
}

/* Makes addr an extent boundary. */
int ext_split(struct lp_task *t, uint64_t addr)
{
	long i = ext_find(t, addr);
	struct lp_ext *e;
	unsigned int k;

	if (i < 0 || t->ext[i].addr == addr)
		return 0;
	if (ext_reserve(t, t->nr_ext + 1))
		return -ENOMEM;
	memmove(&t->ext[i + 1], &t->ext[i], (t->nr_ext - i) * sizeof(*e));
	t->nr_ext++;
	e = &t->ext[i];
	k = (addr - e->addr) / LP_PAGE;
	e[1].addr = addr;
	e[1].pg0 = e->pg0 + k;
	e[1].nr = e->nr - k;
	e->nr = k;
	e->missing = ext_count(e);
	e[1].missing = ext_count(&e[1]);
	return 0;
}

/* Extents in [start, end) are no longer ours to fill: the task unmapped or discarded them. */
int ext_drop_range(struct lp_task *t, uint64_t start, uint64_t end)
{
	size_t i, w = 0;
	int ret;

	/* no partial drop without a split: pages outside the range must stay tracked, or they
	 * would later be zero-filled */
	ret = ext_split(t, start);
	if (!ret)
		ret = ext_split(t, end);
	if (ret)
		return ret;
	for (i = 0; i < t->nr_ext; i++) {
		struct lp_ext *e = &t->ext[i];
		uint64_t eend = e->addr + (uint64_t)e->nr * LP_PAGE;

		if (e->addr < end && eend > start) {
			t->missing -= e->missing;
			continue;
		}
		if (w != i)
			t->ext[w] = *e;
		w++;
	}
	t->nr_ext = w;
	return 0;
}

static int cmp_ext(const void *a, const void *b)
{
	const struct lp_ext *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int ext_move_range(struct lp_task *t, uint64_t from, uint64_t to, uint64_t len)
{
	size_t i;
	int ret;

	/* mremap unmapped whatever was at the destination */
	ret = ext_drop_range(t, to, to + len);
	if (!ret)
		ret = ext_split(t, from);
	if (!ret)
		ret = ext_split(t, from + len);
	if (ret)
		return ret;
	for (i = 0; i < t->nr_ext; i++) {
		struct lp_ext *e = &t->ext[i];

		if (e->addr >= from && e->addr < from + len)
			e->addr = e->addr - from + to;
	}
	qsort(t->ext, t->nr_ext, sizeof(*t->ext), cmp_ext);
	return 0;
}

int ext_clone(struct lp_task *dst, const struct lp_task *src)
{
	size_t i;

	if (ext_reserve(dst, src->nr_ext))
		return -ENOMEM;
	memcpy(dst->ext, src->ext, src->nr_ext * sizeof(*src->ext));
	dst->nr_ext = src->nr_ext;
	dst->missing = src->missing;
	for (i = 0; i < dst->nr_ext; i++)
		dst->ext[i].queued = 0;
	return 0;
}
