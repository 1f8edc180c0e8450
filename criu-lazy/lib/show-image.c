/* One image, held in memory, to text or JSON: header, every record through the generic walker,
 * and summaries where a type has one (pagemap: pages and frames; mm: lazy and eager ranges).
 * Damage of any kind ends the rendering with a reason and the file offset of the damage. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <endian.h>

#include "show.h"
#include "image.h"
#include "pagestore.h"
#include "pagemap.pb-c.h"
#include "mm.pb-c.h"

struct pm_sum {
	uint32_t page_size;
	uint64_t entries, present, lazy, parent, raw_frames;
	uint64_t frames, stored, frames_end;
	uint64_t last_off, prev_end, overlaps;
	bool any_frame;
	/* what the head promises, when the writer recorded it */
	bool has_nr_entries, has_pages_size;
	uint64_t nr_entries, pages_size;
};

struct render {
	const char *name;
	int type;
	bool json;
	struct sbuf *out;
	struct show_err *err;
	struct pm_sum pm;
	int nrec;
};

static int fail(struct render *r, size_t off, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct render *r, size_t off, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err->why, sizeof(r->err->why), fmt, ap);
	va_end(ap);
	r->err->off = off;
	return ret;
}

/* The type's short name: its file name pattern up to the id. */
static void type_stem(int type, char *buf, size_t len)
{
	const char *fmt = img_types[type].fmt;
	size_t n = strcspn(fmt, "%");

	if (n == strlen(fmt))
		n = strlen(fmt) - strlen(".img");
	else if (n && fmt[n - 1] == '-')
		n--;
	snprintf(buf, len, "%.*s", (int)n, fmt);
}

/* Images that hold exactly one record. */
static bool single_record(int type)
{
	return type == IMG_INVENTORY || type == IMG_CORE || type == IMG_MM || type == IMG_FS;
}

static const ProtobufCMessageDescriptor *record_desc(int type, int idx)
{
	if (type == IMG_PAGEMAP)
		return idx ? &pagemap_entry__descriptor : &pagemap_head__descriptor;
	return img_types[type].desc;
}

static void human(char *buf, size_t len, uint64_t bytes)
{
	if (bytes < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (bytes < (1ull << 20))
		snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
	else if (bytes < (1ull << 30))
		snprintf(buf, len, "%.1f MiB", bytes / 1048576.0);
	else
		snprintf(buf, len, "%.2f GiB", bytes / 1073741824.0);
}

/* ---- pagemap ---- */

static int pm_add(struct render *r, const ProtobufCMessage *m, size_t rec_off)
{
	struct pm_sum *s = &r->pm;

	if (m->descriptor == &pagemap_head__descriptor) {
		const PagemapHead *h = (const PagemapHead *)m;

		s->page_size = h->page_size;
		s->has_nr_entries = h->has_nr_entries;
		s->nr_entries = h->nr_entries;
		s->has_pages_size = h->has_pages_size;
		s->pages_size = h->pages_size;
		if (!h->page_size || (h->page_size & (h->page_size - 1)))
			return fail(r, rec_off, -EBADMSG, "pagemap head: bad page size %u",
				    h->page_size);
		return 0;
	}
	const PagemapEntry *e = (const PagemapEntry *)m;
	uint64_t bytes = (uint64_t)e->nr_pages * s->page_size;

	if (s->has_nr_entries && s->entries == s->nr_entries)
		return fail(r, rec_off, -EBADMSG,
			    "more entries than the %llu the head announces (grown index)",
			    (unsigned long long)s->nr_entries);
	s->entries++;
	if (e->vaddr < s->prev_end)
		s->overlaps++;
	s->prev_end = e->vaddr + bytes;
	if (e->flags & PGS_PE_PRESENT) {
		s->present += e->nr_pages;
		if (!e->has_off || !e->has_len)
			return fail(
			    r, rec_off, -EBADMSG,
			    "pagemap entry at 0x%llx is PRESENT without a frame offset/length",
			    (unsigned long long)e->vaddr);
		/* entries may share a frame: count each frame once */
		if (!s->any_frame || e->off != s->last_off) {
			s->frames++;
			s->stored += e->len;
			if (e->flags & PGS_PE_RAW)
				s->raw_frames++;
		}
		s->any_frame = true;
		s->last_off = e->off;
		if (e->off + e->len > s->frames_end)
			s->frames_end = e->off + e->len;
	}
	if (e->flags & PGS_PE_LAZY)
		s->lazy += e->nr_pages;
	if (e->flags & PGS_PE_PARENT)
		s->parent += e->nr_pages;
	return 0;
}

/* The pages file next to a pagemap: its size, or -errno. */
static long long pages_file_size(int dirfd, const char *name, char *pname, size_t plen)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	struct stat st;

	if (dirfd < 0 || strncmp(base, "pagemap-", 8))
		return -ENOENT;
	snprintf(pname, plen, "pages-%s", base + 8);
	if (fstatat(dirfd, pname, &st, 0))
		return -errno;
	return st.st_size;
}

/* Opens the pair with the page store's own reader (every check it makes) and decodes every
 * frame, so show also says whether the contents are intact. The number of frames verified, or
 * -errno with the reason in r->err. */
static long pm_verify(struct render *r, int dirfd, const char *pname)
{
	const char *base = strrchr(r->name, '/') ? strrchr(r->name, '/') + 1 : r->name;
	char id[256];
	struct pgs_ctx *ctx;
	uint64_t off = 0;
	size_t i, n, len;
	long done = 0;
	void *buf;
	int ret = 0;

	snprintf(id, sizeof(id), "%.*s", (int)(strlen(base) - strlen("pagemap-.img")), base + 8);
	ret = pgs_open_local(&ctx, dirfd, id, NULL);
	if (ret) {
		const char *why = pgs_last_error(&off);

		return fail(r, off, ret, "the page store refuses it: %s", why);
	}
	buf = malloc((size_t)PGS_MAX_FRAME_PAGES * PGS_PAGE_SIZE);
	if (!buf) {
		pgs_close(ctx);
		return -ENOMEM;
	}
	n = pgs_nr_entries(ctx);
	for (i = 0; i < n; i++) {
		const struct pgs_entry *e = pgs_entry(ctx, i);

		if (!(e->flags & PGS_PE_PRESENT))
			continue;
		len = (size_t)e->nr_pages * PGS_PAGE_SIZE;
		ret = len <= (size_t)PGS_MAX_FRAME_PAGES * PGS_PAGE_SIZE
			  ? pgs_read_frame(ctx, i, buf)
			  : -EBADMSG;
		if (ret) {
			fail(r, e->off, ret, "%s: the frame of the pages at 0x%llx is corrupt (%s)",
			     pname, (unsigned long long)e->vaddr,
			     ret == -EBADMSG ? "checksum or decode" : strerror(-ret));
			break;
		}
		done++;
	}
	free(buf);
	pgs_close(ctx);
	return ret ? ret : done;
}

static int pm_summary(struct render *r, int dirfd, size_t end_off)
{
	long verified = -1;
	struct pm_sum *s = &r->pm;
	uint64_t raw = s->present * s->page_size;
	double ratio = raw ? (double)s->stored / raw : 0;
	char pname[300] = "", a[32], b[32];
	long long psize = pages_file_size(dirfd, r->name, pname, sizeof(pname));

	if (s->has_nr_entries && s->entries != s->nr_entries)
		return fail(
		    r, end_off, -EBADMSG,
		    "the index ends after %llu of the %llu entries its head announces (cut)",
		    (unsigned long long)s->entries, (unsigned long long)s->nr_entries);
	if (s->has_pages_size && s->frames_end > s->pages_size)
		return fail(r, IMG_HDR_SIZE, -EBADMSG,
			    "frames run to byte %llu, past the pages file size in the head (%llu)",
			    (unsigned long long)s->frames_end, (unsigned long long)s->pages_size);
	if (s->has_pages_size && psize >= 0 && (uint64_t)psize != s->pages_size)
		return fail(r, IMG_HDR_SIZE, -EBADMSG, "%s is %lld bytes, the head says %llu",
			    pname, psize, (unsigned long long)s->pages_size);
	if (psize >= 0 && s->frames_end > (uint64_t)psize)
		return fail(r, 0, -EBADMSG,
			    "frames run to byte %llu, past the end of %s (%lld bytes)",
			    (unsigned long long)s->frames_end, pname, psize);
	if (psize >= 0) {
		verified = pm_verify(r, dirfd, pname);
		if (verified < 0)
			return verified;
	}
	if (r->json) {
		sbuf_printf(r->out,
			    ",\n  \"summary\": {\"entries\": %llu, \"pages_present\": %llu, "
			    "\"pages_lazy\": %llu, \"pages_parent\": %llu, \"frames\": %llu, "
			    "\"raw_frames\": %llu, \"stored_bytes\": %llu, \"raw_bytes\": %llu, "
			    "\"ratio\": %.4f, \"overlaps\": %llu",
			    (unsigned long long)s->entries, (unsigned long long)s->present,
			    (unsigned long long)s->lazy, (unsigned long long)s->parent,
			    (unsigned long long)s->frames, (unsigned long long)s->raw_frames,
			    (unsigned long long)s->stored, (unsigned long long)raw, ratio,
			    (unsigned long long)s->overlaps);
		if (psize >= 0)
			sbuf_printf(r->out,
				    ", \"pages_file_bytes\": %lld, \"frames_verified\": %ld", psize,
				    verified);
		sbuf_printf(r->out, "}");
		return 0;
	}
	human(a, sizeof(a), s->stored);
	human(b, sizeof(b), raw);
	sbuf_printf(r->out,
		    "summary: %llu entries; pages: %llu present, %llu lazy, %llu in parent\n"
		    "  frames: %llu (%llu stored raw), %s stored for %s of pages, ratio %.3f\n",
		    (unsigned long long)s->entries, (unsigned long long)s->present,
		    (unsigned long long)s->lazy, (unsigned long long)s->parent,
		    (unsigned long long)s->frames, (unsigned long long)s->raw_frames, a, b, ratio);
	if (psize >= 0)
		sbuf_printf(r->out,
			    "  %s: %lld bytes; %ld frames decode and match their checksums\n",
			    pname, psize, verified);
	if (s->overlaps)
		sbuf_printf(r->out, "  warning: %llu entries overlap the one before\n",
			    (unsigned long long)s->overlaps);
	return 0;
}

/* ---- mm: which ranges come lazily ---- */

static void mm_summary(struct render *r, const MmEntry *mm)
{
	uint64_t lazy_b = 0, eager_b = 0, nlazy = 0;
	char a[32], b[32];
	size_t i;

	for (i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		uint64_t len = v->end > v->start ? v->end - v->start : 0;

		if (v->has_lazy && v->lazy) {
			lazy_b += len;
			nlazy++;
		} else {
			eager_b += len;
		}
	}
	if (r->json) {
		sbuf_printf(r->out,
			    ",\n  \"summary\": {\"vmas\": %zu, \"lazy_vmas\": %llu, "
			    "\"lazy_bytes\": %llu, \"eager_bytes\": %llu, \"ranges\": [",
			    mm->n_vmas, (unsigned long long)nlazy, (unsigned long long)lazy_b,
			    (unsigned long long)eager_b);
		for (i = 0; i < mm->n_vmas; i++) {
			const VmaEntry *v = mm->vmas[i];

			sbuf_printf(r->out,
				    "%s\n    {\"start\": \"0x%llx\", \"end\": \"0x%llx\", "
				    "\"lazy\": %s, \"name\": ",
				    i ? "," : "", (unsigned long long)v->start,
				    (unsigned long long)v->end,
				    v->has_lazy && v->lazy ? "true" : "false");
			show_json_str(r->out, v->name ? v->name : "",
				      v->name ? strlen(v->name) : 0);
			sbuf_printf(r->out, "}");
		}
		sbuf_printf(r->out, "%s]}", mm->n_vmas ? "\n  " : "");
		return;
	}
	human(a, sizeof(a), lazy_b);
	human(b, sizeof(b), eager_b);
	sbuf_printf(r->out, "summary: %zu vmas; lazy: %llu (%s), eager: %llu (%s)\n", mm->n_vmas,
		    (unsigned long long)nlazy, a, (unsigned long long)(mm->n_vmas - nlazy), b);
	for (i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		human(a, sizeof(a), v->end > v->start ? v->end - v->start : 0);
		sbuf_printf(r->out, "  %-5s %012llx-%012llx %10s %s\n",
			    v->has_lazy && v->lazy ? "lazy" : "eager", (unsigned long long)v->start,
			    (unsigned long long)v->end, a, v->name ? v->name : "");
	}
}

/* ---- records ---- */

static int one_record(struct render *r, const uint8_t *data, uint32_t len, size_t rec_off,
		      ProtobufCMessage **keep)
{
	const ProtobufCMessageDescriptor *d = record_desc(r->type, r->nrec);
	ProtobufCMessage *m;
	char why[200];
	size_t bad;
	int ret = 0;

	if (single_record(r->type) && r->nrec >= 1)
		return fail(r, rec_off, -EBADMSG, "a second record where one is expected");
	m = protobuf_c_message_unpack(d, NULL, len, data);
	if (!m) {
		if (!show_pb_diagnose(d, data, len, &bad, why, sizeof(why)))
			return fail(r, bad == SHOW_PB_WHOLE ? rec_off : rec_off + 4 + bad, -EBADMSG,
				    "record %d: %s", r->nrec, why);
		return fail(r, rec_off, -EBADMSG, "record %d does not decode as %s", r->nrec,
			    d->name);
	}
	if (r->type == IMG_PAGEMAP)
		ret = pm_add(r, m, rec_off);
	if (r->json) {
		sbuf_printf(r->out, "%s\n    ", r->nrec ? "," : "");
		show_pb_json(r->out, m, 4);
	} else {
		sbuf_printf(r->out, "[%d] %s\n", r->nrec, d->name);
		show_pb_text(r->out, m, 2);
	}
	r->nrec++;
	if (keep && !*keep)
		*keep = m;
	else
		protobuf_c_message_free_unpacked(m, NULL);
	return ret;
}

static int records(struct render *r, struct img_file *f, int dirfd)
{
	ProtobufCMessage *mm = NULL;
	const uint8_t *data;
	uint32_t len;
	size_t rec_off;
	int ret;

	if (r->json)
		sbuf_printf(r->out, ",\n  \"entries\": [");
	r->pm.page_size = PGS_PAGE_SIZE;
	for (;;) {
		rec_off = f->off;
		ret = imgf_next_raw(f, &data, &len);
		if (ret == 0)
			break;
		if (ret < 0) {
			ret = fail(r, rec_off, -EBADMSG, "%s", f->why ? f->why : "bad record");
			goto out;
		}
		ret = one_record(r, data, len, rec_off, r->type == IMG_MM ? &mm : NULL);
		if (ret)
			goto out;
	}
	if (!r->nrec && (single_record(r->type) || r->type == IMG_PAGEMAP)) {
		ret = fail(r, f->off, -EBADMSG, "expected record is missing (truncated)");
		goto out;
	}
	if (r->json)
		sbuf_printf(r->out, "%s]", r->nrec ? "\n  " : "");
	else if (!r->nrec)
		sbuf_printf(r->out, "(no records)\n");
	if (r->type == IMG_PAGEMAP)
		ret = pm_summary(r, dirfd, f->off);
	else if (mm)
		mm_summary(r, (const MmEntry *)mm);
out:
	if (mm)
		protobuf_c_message_free_unpacked(mm, NULL);
	return ret;
}

int show_image_mem(const char *name, const uint8_t *data, size_t size, int dirfd, bool json,
		   struct sbuf *out, struct show_err *err)
{
	struct render r = {.name = name, .json = json, .out = out, .err = err};
	struct img_file f;
	uint32_t magic, version;
	char stem[64];
	int ret;

	memset(err, 0, sizeof(*err));
	if (size < IMG_HDR_SIZE)
		return fail(&r, 0, -EBADMSG, "file shorter than the image header (%zu bytes)",
			    size);
	memcpy(&magic, data, 4);
	memcpy(&version, data + 4, 4);
	magic = le32toh(magic);
	version = le32toh(version);
	r.type = img_type_by_magic(magic);
	if (r.type < 0)
		return fail(&r, 0, -EBADMSG, "unknown magic 0x%08x (not a criu-lazy image)", magic);
	ret = imgf_open_mem(&f, data, size, name, magic);
	if (ret)
		imgf_close(&f);
	if (ret == -EPROTO)
		return fail(&r, 4, ret, "unsupported image format version %u (this build reads %d)",
			    version, IMG_FORMAT_VERSION);
	if (ret) {
		if (ret == -ENOMEM)
			return ret;
		return fail(&r, f.off, ret, "%s", f.why ? f.why : "bad header");
	}

	type_stem(r.type, stem, sizeof(stem));
	if (json) {
		sbuf_printf(out, "{\n  \"file\": ");
		show_json_str(out, name, strlen(name));
		sbuf_printf(out,
			    ",\n  \"type\": \"%s\",\n  \"what\": \"%s\",\n  \"magic\": \"0x%08x\","
			    "\n  \"version\": %u",
			    stem, img_types[r.type].what, magic, version);
	} else {
		sbuf_printf(out, "%s: %s image (%s), magic 0x%08x, version %u\n", name, stem,
			    img_types[r.type].what, magic, version);
	}
	if (img_types[r.type].desc || r.type == IMG_PAGEMAP) {
		ret = records(&r, &f, dirfd);
	} else if (json) {
		sbuf_printf(out, ",\n  \"data_bytes\": %zu", size - IMG_HDR_SIZE);
	} else {
		sbuf_printf(out, "%zu bytes of %s after the header (not protobuf records)\n",
			    size - IMG_HDR_SIZE, img_types[r.type].what);
	}
	if (!ret && json)
		sbuf_printf(out, "\n}");
	imgf_close(&f);
	if (!ret && out->oom)
		ret = -ENOMEM;
	return ret;
}
