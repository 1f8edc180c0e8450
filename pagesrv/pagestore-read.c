/* The page-store reader: checks an index and its frames file once, at open, so that every later
 * read can trust offsets and sizes; then serves frames and ranges to any number of threads.
 *
 * Reads use pread on one fd. Decoding needs a zstd context and, for compressed frames and ranges
 * that cut an entry, a buffer: those live in a small pool of scratch sets, one taken per call, so
 * threads never share one and the fault path never allocates after the first few calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <endian.h>

#include "img-file.h"
#include "pagestore.h"
#include "pagemap.pb-c.h"

#define PG PGS_PAGE_SIZE
#define PE_KNOWN (PGS_PE_PRESENT | PGS_PE_LAZY | PGS_PE_PARENT | PGS_PE_RAW)

struct scratch {
	struct scratch *next;
	struct frame_codec *codec;
	uint8_t *sbuf; /* stored bytes of a compressed frame: max_len */
	uint8_t *dbuf; /* a whole decoded entry, when a range needs only part of it */
};

struct pgs_ctx {
	int fd; /* pages-ID.img */
	uint64_t size;
	struct pgs_entry *ents;
	size_t nr;
	uint32_t max_len;   /* largest stored frame */
	uint32_t max_pages; /* largest PRESENT entry */
	uint8_t uuid[PGS_UUID_LEN];
	pthread_mutex_t lock; /* guards pool */
	struct scratch *pool;
};

/* The reason for the last open error, per thread: the API promises it, and a library must not
 * print it. */
static __thread char last_err[320];
static __thread uint64_t last_err_off;

static int fail(int err, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(int err, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	last_err_off = off;
	return err;
}

const char *pgs_last_error(uint64_t *off)
{
	if (off)
		*off = last_err_off;
	return last_err[0] ? last_err : "no error";
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) /* the file shrank after it was checked */
			return -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* One entry against the rules; prev_end is where the previous entry ended. */
static int check_entry(struct pgs_ctx *ctx, const PagemapEntry *pe, uint64_t prev_end,
		       const char *name, uint64_t at)
{
	uint64_t bytes;

	if (!pe->nr_pages)
		return fail(-EBADMSG, at, "%s: entry of zero pages", name);
	if (pe->vaddr % PG)
		return fail(-EBADMSG, at, "%s: entry address 0x%llx is not page-aligned", name,
			    (unsigned long long)pe->vaddr);
	bytes = (uint64_t)pe->nr_pages * PG;
	if (pe->vaddr > UINT64_MAX - bytes)
		return fail(-EBADMSG, at, "%s: entry at 0x%llx runs past the address space", name,
			    (unsigned long long)pe->vaddr);
	if (pe->vaddr < prev_end)
		return fail(-EBADMSG, at,
			    "%s: entry at 0x%llx overlaps or precedes the one before (ends 0x%llx)",
			    name, (unsigned long long)pe->vaddr, (unsigned long long)prev_end);
	if (pe->flags & ~PE_KNOWN)
		return fail(-EBADMSG, at, "%s: entry at 0x%llx has unknown flags 0x%x", name,
			    (unsigned long long)pe->vaddr, pe->flags & ~PE_KNOWN);
	if (!!(pe->flags & PGS_PE_PRESENT) == !!(pe->flags & PGS_PE_PARENT))
		return fail(-EBADMSG, at, "%s: entry at 0x%llx must be either present or parent",
			    name, (unsigned long long)pe->vaddr);

	if (pe->flags & PGS_PE_PARENT) {
		if (pe->has_off || pe->has_len || (pe->flags & PGS_PE_RAW))
			return fail(-EBADMSG, at, "%s: parent entry at 0x%llx names a frame", name,
				    (unsigned long long)pe->vaddr);
		return 0;
	}
	if (!pe->has_off || !pe->has_len || !pe->has_csum)
		return fail(-EBADMSG, at, "%s: present entry at 0x%llx lacks off, len or csum",
			    name, (unsigned long long)pe->vaddr);
	if (pe->nr_pages > PGS_MAX_FRAME_PAGES)
		return fail(-EBADMSG, at, "%s: frame at 0x%llx of %u pages (at most %u)", name,
			    (unsigned long long)pe->vaddr, pe->nr_pages, PGS_MAX_FRAME_PAGES);
	if (!pe->len || pe->len > frame_bound(bytes) ||
	    ((pe->flags & PGS_PE_RAW) ? pe->len != bytes : pe->len >= bytes))
		return fail(-EBADMSG, at, "%s: frame at 0x%llx: stored length %u for %u pages%s",
			    name, (unsigned long long)pe->vaddr, pe->len, pe->nr_pages,
			    (pe->flags & PGS_PE_RAW) ? " (raw)" : "");
	if (pe->off < IMG_HDR_SIZE || pe->off > ctx->size || ctx->size - pe->off < pe->len)
		return fail(
		    -EBADMSG, at,
		    "%s: frame at 0x%llx lies outside pages file (off %llu len %u, file %llu)",
		    name, (unsigned long long)pe->vaddr, (unsigned long long)pe->off, pe->len,
		    (unsigned long long)ctx->size);
	return 0;
}

static int add_entry(struct pgs_ctx *ctx, size_t *cap, const PagemapEntry *pe)
{
	struct pgs_entry *e;

	if (ctx->nr == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;

		e = realloc(ctx->ents, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		ctx->ents = e;
		*cap = ncap;
	}
	e = &ctx->ents[ctx->nr++];
	e->vaddr = pe->vaddr;
	e->nr_pages = pe->nr_pages;
	e->flags = pe->flags;
	e->off = pe->off;
	e->len = pe->len;
	e->csum = pe->csum;
	if ((pe->flags & PGS_PE_PRESENT) && pe->len > ctx->max_len)
		ctx->max_len = pe->len;
	if ((pe->flags & PGS_PE_PRESENT) && pe->nr_pages > ctx->max_pages)
		ctx->max_pages = pe->nr_pages;
	return 0;
}

static int open_pages(struct pgs_ctx *ctx, int dirfd, const char *name)
{
	uint32_t hdr[2];
	struct stat st;
	int ret;

	ctx->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (ctx->fd < 0)
		return fail(-errno, 0, "%s: cannot open: %s", name, strerror(errno));
	if (fstat(ctx->fd, &st))
		return fail(-errno, 0, "%s: cannot stat: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(-EBADMSG, 0, "%s: not a regular file", name);
	ctx->size = st.st_size;
	if (ctx->size < IMG_HDR_SIZE)
		return fail(-EBADMSG, 0, "%s: file shorter than the image header", name);
	ret = pread_full(ctx->fd, hdr, sizeof(hdr), 0);
	if (ret)
		return fail(ret, 0, "%s: cannot read the header", name);
	if (le32toh(hdr[0]) != PGS_PAGES_MAGIC)
		return fail(-EBADMSG, 0, "%s: wrong magic (not a pages image)", name);
	if (le32toh(hdr[1]) != IMG_FORMAT_VERSION)
		return fail(-EPROTO, 4, "%s: unsupported image format version %u", name,
			    le32toh(hdr[1]));
	return 0;
}

static inline int get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x;
	int shift;

	if (p < end && !(*p & 0x80)) { /* keys, counts and flags: one byte */
		*v = *p;
		*pp = p + 1;
		return 0;
	}
	for (x = 0, shift = 0; shift < 64 && p < end; shift += 7) {
		uint8_t b = *p++;

		if (shift == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* A pagemap_entry record as this writer makes them (six varint fields), decoded without the
 * general unpacker, which costs several times more per entry and an allocation: an 8 GiB dump
 * has 131072 entries, read while a lazy restore waits to resume. 1: decoded; 0: the record holds
 * something else (unknown fields), ask protobuf-c; -1: corrupt, or a required field missing. */
static int parse_entry(const uint8_t *p, uint32_t len, PagemapEntry *pe)
{
	const uint8_t *end = p + len;
	unsigned int seen = 0;
	uint64_t key, v;

	pagemap_entry__init(pe);
	while (p < end) {
		if (get_varint(&p, end, &key))
			return -1;
		if ((key & 7) != 0 || (key >> 3) < 1 || (key >> 3) > 6)
			return 0;
		if (get_varint(&p, end, &v))
			return -1;
		if ((key >> 3) != 1 && (key >> 3) != 4 && v > UINT32_MAX)
			return -1;
		seen |= 1u << (key >> 3);
		switch (key >> 3) {
		case 1:
			pe->vaddr = v;
			break;
		case 2:
			pe->nr_pages = v;
			break;
		case 3:
			pe->flags = v;
			break;
		case 4:
			pe->has_off = true;
			pe->off = v;
			break;
		case 5:
			pe->has_len = true;
			pe->len = v;
			break;
		default:
			pe->has_csum = true;
			pe->csum = v;
			break;
		}
	}
	return (seen & 0xe) == 0xe ? 1 : -1;
}

static int read_index(struct pgs_ctx *ctx, struct img_file *f, const uint8_t *uuid)
{
	ProtobufCMessage *msg;
	PagemapHead *head;
	uint64_t prev_end = 0, at, nr_entries;
	size_t cap = 0;
	int ret;

	ret = imgf_read_one(f, &pagemap_head__descriptor, &msg);
	if (ret)
		return fail(ret, f->off, "%s: head: %s", f->name, f->why);
	head = (PagemapHead *)msg;
	if (head->page_size != PG)
		ret = fail(-EBADMSG, IMG_HDR_SIZE, "%s: page size %u, expected %lu", f->name,
			   head->page_size, PG);
	else if (head->dump_uuid.len != PGS_UUID_LEN)
		ret = fail(-EBADMSG, IMG_HDR_SIZE, "%s: dump uuid of %zu bytes", f->name,
			   head->dump_uuid.len);
	else if (uuid && memcmp(uuid, head->dump_uuid.data, PGS_UUID_LEN))
		ret = fail(-EBADMSG, IMG_HDR_SIZE,
			   "%s: belongs to another dump (uuid does not match the inventory)",
			   f->name);
	else if (head->has_frame_pages && head->frame_pages > PGS_MAX_FRAME_PAGES)
		ret = fail(-EBADMSG, IMG_HDR_SIZE, "%s: frame size of %u pages (at most %u)",
			   f->name, head->frame_pages, PGS_MAX_FRAME_PAGES);
	else if (!head->has_nr_entries || !head->has_pages_size)
		ret = fail(-EBADMSG, IMG_HDR_SIZE, "%s: head lacks the entry count or frames size",
			   f->name);
	else if (head->pages_size != ctx->size)
		ret = fail(-EBADMSG, 0, "%s: pages file is %llu bytes, the index says %llu%s",
			   f->name, (unsigned long long)ctx->size,
			   (unsigned long long)head->pages_size,
			   ctx->size < head->pages_size ? " (truncated)" : "");
	else
		memcpy(ctx->uuid, head->dump_uuid.data, PGS_UUID_LEN);
	nr_entries = head->nr_entries;
	protobuf_c_message_free_unpacked(msg, NULL);
	if (ret)
		return ret;
	/* room for every entry the head counts, as far as the file can hold them (10 bytes at
	 * least each): no copying while the table grows */
	cap = nr_entries < (f->size - f->off) / 10 ? nr_entries : (f->size - f->off) / 10;
	if (cap) {
		ctx->ents = malloc(cap * sizeof(*ctx->ents));
		if (!ctx->ents)
			return fail(-ENOMEM, 0, "out of memory");
	}

	for (;;) {
		PagemapEntry one, *pe = &one;
		const uint8_t *data;
		uint32_t len;

		at = f->off;
		ret = imgf_next_raw(f, &data, &len);
		if (ret == 0 && ctx->nr == nr_entries)
			return 0;
		if (ret == 0)
			return fail(-EBADMSG, at, "%s: %zu entries of %llu (truncated)", f->name,
				    ctx->nr, (unsigned long long)nr_entries);
		if (ret < 0)
			return fail(ret, f->off, "%s: entry %zu: %s", f->name, ctx->nr, f->why);
		if (ctx->nr == nr_entries)
			return fail(-EBADMSG, at, "%s: more entries than the %llu the head counts",
				    f->name, (unsigned long long)nr_entries);
		msg = NULL;
		ret = parse_entry(data, len, &one);
		if (ret == 0) { /* something the short parser does not know: the general one */
			msg =
			    protobuf_c_message_unpack(&pagemap_entry__descriptor, NULL, len, data);
			pe = (PagemapEntry *)msg;
		}
		if (ret < 0 || !pe)
			return fail(-EBADMSG, at, "%s: entry %zu: record does not decode", f->name,
				    ctx->nr);
		ret = check_entry(ctx, pe, prev_end, f->name, at);
		if (!ret)
			ret = add_entry(ctx, &cap, pe);
		prev_end = pe->vaddr + (uint64_t)pe->nr_pages * PG;
		if (msg)
			protobuf_c_message_free_unpacked(msg, NULL);
		if (ret)
			return ret;
	}
}

int pgs_open_local(struct pgs_ctx **ctxp, int dirfd, const char *id, const uint8_t *uuid)
{
	struct img_file f;
	struct pgs_ctx *ctx;
	char name[256];
	int ret;

	last_err[0] = 0;
	last_err_off = 0;
	if (!id || strlen(id) > 200)
		return fail(-EINVAL, 0, "bad image id");
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return fail(-ENOMEM, 0, "out of memory");
	ctx->fd = -1;
	pthread_mutex_init(&ctx->lock, NULL);

	snprintf(name, sizeof(name), "pagemap-%s.img", id);
	ret = imgf_open_read(&f, dirfd, name, PGS_PAGEMAP_MAGIC);
	if (ret == -ENOENT)
		fail(ret, 0, "%s: no such image", name);
	else if (ret)
		fail(ret, f.off, "%s: %s", name, f.why ? f.why : strerror(-ret));
	if (!ret) {
		snprintf(name, sizeof(name), "pages-%s.img", id);
		ret = open_pages(ctx, dirfd, name);
	}
	if (!ret)
		ret = read_index(ctx, &f, uuid);
	imgf_close(&f);
	if (ret) {
		pgs_close(ctx);
		return ret;
	}
	*ctxp = ctx;
	return 0;
}

void pgs_close(struct pgs_ctx *ctx)
{
	struct scratch *s;

	if (!ctx)
		return;
	while ((s = ctx->pool)) {
		ctx->pool = s->next;
		frame_codec_free(s->codec);
		free(s->sbuf);
		free(s->dbuf);
		free(s);
	}
	if (ctx->fd >= 0)
		close(ctx->fd);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->ents);
	free(ctx);
}

size_t pgs_nr_entries(const struct pgs_ctx *ctx)
{
	return ctx->nr;
}

const struct pgs_entry *pgs_entry(const struct pgs_ctx *ctx, size_t i)
{
	return i < ctx->nr ? &ctx->ents[i] : NULL;
}

/* The first entry that ends above vaddr (ctx->nr if none). */
static size_t lower_bound(const struct pgs_ctx *ctx, uint64_t vaddr)
{
	size_t lo = 0, hi = ctx->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pgs_entry *e = &ctx->ents[mid];

		if (e->vaddr + (uint64_t)e->nr_pages * PG <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

long pgs_find(const struct pgs_ctx *ctx, uint64_t vaddr)
{
	size_t i = lower_bound(ctx, vaddr);

	if (i < ctx->nr && ctx->ents[i].vaddr <= vaddr)
		return (long)i;
	return -ENOENT;
}

static struct scratch *get_scratch(struct pgs_ctx *ctx)
{
	struct scratch *s;
	int ret;

	pthread_mutex_lock(&ctx->lock);
	s = ctx->pool;
	if (s)
		ctx->pool = s->next;
	pthread_mutex_unlock(&ctx->lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	ret = frame_codec_create(&s->codec, 0);
	if (ret) {
		free(s);
		return NULL;
	}
	return s;
}

static void put_scratch(struct pgs_ctx *ctx, struct scratch *s)
{
	pthread_mutex_lock(&ctx->lock);
	s->next = ctx->pool;
	ctx->pool = s;
	pthread_mutex_unlock(&ctx->lock);
}

static int decode_entry(struct pgs_ctx *ctx, const struct pgs_entry *e, void *dst,
			struct scratch *s)
{
	size_t dlen = (size_t)e->nr_pages * PG;
	int ret;

	if (e->flags & PGS_PE_RAW) {
		ret = pread_full(ctx->fd, dst, e->len, e->off);
		if (ret)
			return ret;
		return frame_csum(dst, e->len) == e->csum ? 0 : -EBADMSG;
	}
	if (!s->sbuf) {
		s->sbuf = malloc(ctx->max_len);
		if (!s->sbuf)
			return -ENOMEM;
	}
	ret = pread_full(ctx->fd, s->sbuf, e->len, e->off);
	if (ret)
		return ret;
	if (frame_csum(s->sbuf, e->len) != e->csum)
		return -EBADMSG;
	return frame_decode(s->codec, s->sbuf, e->len, false, dst, dlen);
}

int pgs_read_frame(struct pgs_ctx *ctx, size_t i, void *dst)
{
	struct scratch *s;
	int ret;

	if (i >= ctx->nr || !(ctx->ents[i].flags & PGS_PE_PRESENT))
		return -EINVAL;
	if (ctx->ents[i].flags & PGS_PE_RAW)
		return decode_entry(ctx, &ctx->ents[i], dst, NULL);
	s = get_scratch(ctx);
	if (!s)
		return -ENOMEM;
	ret = decode_entry(ctx, &ctx->ents[i], dst, s);
	put_scratch(ctx, s);
	return ret;
}

/* Part of entry e, [from, to) in addresses, into dst: through a scratch buffer, since frames
 * decode whole. */
static int decode_part(struct pgs_ctx *ctx, const struct pgs_entry *e, uint64_t from, uint64_t to,
		       void *dst, struct scratch **sp)
{
	struct scratch *s = *sp;
	int ret;

	if (!s) {
		s = *sp = get_scratch(ctx);
		if (!s)
			return -ENOMEM;
	}
	if (!s->dbuf) {
		s->dbuf = malloc((size_t)ctx->max_pages * PG);
		if (!s->dbuf)
			return -ENOMEM;
	}
	ret = decode_entry(ctx, e, s->dbuf, s);
	if (ret)
		return ret;
	memcpy(dst, s->dbuf + (from - e->vaddr), to - from);
	return 0;
}

int pgs_read(struct pgs_ctx *ctx, uint64_t vaddr, unsigned long nr_pages, void *dst)
{
	struct scratch *s = NULL;
	uint64_t end, cur = vaddr;
	uint8_t *out = dst;
	size_t first, k;
	int ret = 0;

	if (!nr_pages || vaddr % PG || nr_pages > (UINT64_MAX - vaddr) / PG)
		return -EINVAL;
	end = vaddr + nr_pages * PG;
	first = lower_bound(ctx, vaddr);
	/* all or nothing: a range that needs the parent is not read at all */
	for (k = first; k < ctx->nr && ctx->ents[k].vaddr < end; k++)
		if (ctx->ents[k].flags & PGS_PE_PARENT)
			return -ENOENT;
	if (k == first)
		return 0;

	for (k = first; k < ctx->nr && ctx->ents[k].vaddr < end; k++) {
		const struct pgs_entry *e = &ctx->ents[k];
		uint64_t e_end = e->vaddr + (uint64_t)e->nr_pages * PG;
		uint64_t from = e->vaddr > cur ? e->vaddr : cur;
		uint64_t to = e_end < end ? e_end : end;

		if (from > cur)
			memset(out + (cur - vaddr), 0, from - cur);
		if (from == e->vaddr && to == e_end) {
			if (!(e->flags & PGS_PE_RAW) && !s) {
				s = get_scratch(ctx);
				if (!s) {
					ret = -ENOMEM;
					break;
				}
			}
			ret = decode_entry(ctx, e, out + (from - vaddr), s);
		} else {
			ret = decode_part(ctx, e, from, to, out + (from - vaddr), &s);
		}
		if (ret)
			break;
		cur = to;
	}
	if (!ret && cur < end)
		memset(out + (cur - vaddr), 0, end - cur);
	if (s)
		put_scratch(ctx, s);
	return ret ? ret : 1;
}

ssize_t pgs_read_stored(struct pgs_ctx *ctx, size_t i, void *dst, size_t cap)
{
	const struct pgs_entry *e;
	int ret;

	if (i >= ctx->nr || !(ctx->ents[i].flags & PGS_PE_PRESENT))
		return -EINVAL;
	e = &ctx->ents[i];
	if (cap < e->len)
		return -ENOSPC;
	ret = pread_full(ctx->fd, dst, e->len, e->off);
	return ret ? ret : (ssize_t)e->len;
}
