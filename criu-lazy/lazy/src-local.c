/* Pages from local image directories: pagemap-PID.img / pages-PID.img through the page store, and
 * for pages a pre-dump chain left in a parent image set (PGS_PE_PARENT), the parents' stores, as
 * far up as the pages go. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "image.h"
#include "inventory.pb-c.h"
#include "lazy-pages.h"

#define LP_MAX_CHAIN 64

/* One task's store at one level of the chain. */
struct lsrc {
	struct pgs_ctx *ctx;
	struct lsrc *parent;
};

static void lsrc_close(struct lsrc *s)
{
	while (s) {
		struct lsrc *p = s->parent;

		pgs_close(s->ctx);
		free(s);
		s = p;
	}
}

/* The first entry that ends after vaddr (entries are sorted, not overlapping). */
static size_t lower_bound(struct pgs_ctx *ctx, uint64_t vaddr)
{
	size_t lo = 0, hi = pgs_nr_entries(ctx);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct pgs_entry *e = pgs_entry(ctx, mid);

		if (e->vaddr + (uint64_t)e->nr_pages * PGS_PAGE_SIZE <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* nr pages from vaddr as this level says they are: its frames, its holes (zero), and its parent's
 * pages where it has PARENT entries. 0 or -errno. */
static int read_range(struct lsrc *s, uint64_t vaddr, uint64_t nr, uint8_t *dst)
{
	uint64_t end = vaddr + nr * PGS_PAGE_SIZE, cur = vaddr;
	size_t k, n = pgs_nr_entries(s->ctx);
	int ret;

	ret = pgs_read(s->ctx, vaddr, nr, dst);
	if (ret >= 0) {
		if (ret == 0)
			memset(dst, 0, nr * PGS_PAGE_SIZE);
		return 0;
	}
	if (ret != -ENOENT)
		return ret;
	/* some of it is in the parent: go entry by entry */
	for (k = lower_bound(s->ctx, vaddr); k < n && cur < end; k++) {
		const struct pgs_entry *e = pgs_entry(s->ctx, k);
		uint64_t e_end = e->vaddr + (uint64_t)e->nr_pages * PGS_PAGE_SIZE;
		uint64_t from = e->vaddr > cur ? e->vaddr : cur;
		uint64_t to = e_end < end ? e_end : end;

		if (from >= end)
			break;
		if (from > cur)
			memset(dst + (cur - vaddr), 0, from - cur);
		if (e->flags & PGS_PE_PARENT) {
			if (!s->parent)
				return -ENOENT;
			ret = read_range(s->parent, from, (to - from) / PGS_PAGE_SIZE,
					 dst + (from - vaddr));
		} else {
			ret = pgs_read(s->ctx, from, (to - from) / PGS_PAGE_SIZE,
				       dst + (from - vaddr));
			ret = ret < 0 ? ret : 0;
		}
		if (ret)
			return ret;
		cur = to;
	}
	if (cur < end)
		memset(dst + (cur - vaddr), 0, end - cur);
	return 0;
}

static size_t local_nr(void *priv)
{
	return pgs_nr_entries(((struct lsrc *)priv)->ctx);
}

static const struct pgs_entry *local_entry(void *priv, size_t i)
{
	return pgs_entry(((struct lsrc *)priv)->ctx, i);
}

static int local_read(void *priv, size_t i, void *dst, int reader)
{
	struct lsrc *s = priv;
	const struct pgs_entry *e = pgs_entry(s->ctx, i);

	(void)reader; /* a local store serves every thread at once */
	if (!(e->flags & PGS_PE_PARENT))
		return pgs_read_frame(s->ctx, i, dst);
	if (!s->parent)
		return -ENOENT;
	return read_range(s->parent, e->vaddr, e->nr_pages, dst);
}

/* For runs of parent pages longer than a frame, a window at a time. */
static int local_read_range(void *priv, uint64_t vaddr, unsigned long nr, void *dst, int reader)
{
	(void)reader;
	return read_range(priv, vaddr, nr, dst);
}

static void local_close(void *priv)
{
	lsrc_close(priv);
}

static const struct lp_src_ops local_ops = {
    .nr_entries = local_nr,
    .entry = local_entry,
    .read_frame = local_read,
    .read_range = local_read_range,
    .close = local_close,
    .restore_has_pages = 1,
};

static int has_parent_pages(struct pgs_ctx *ctx)
{
	size_t i, n = pgs_nr_entries(ctx);

	for (i = 0; i < n; i++)
		if (pgs_entry(ctx, i)->flags & PGS_PE_PARENT)
			return 1;
	return 0;
}

static int open_level(const struct lp_local *l, pid_t pid, struct lsrc **ps)
{
	struct lsrc *s = calloc(1, sizeof(*s));
	uint64_t off = 0;
	char id[16];
	int ret;

	if (!s)
		return -ENOMEM;
	snprintf(id, sizeof(id), "%d", pid);
	ret = pgs_open_local(&s->ctx, l->dirfd, id, l->uuid);
	if (ret == -ENOENT) {
		pr_err("%d: no page images (pagemap-%d.img, pages-%d.img) in %s\n", pid, pid, pid,
		       l->dir);
	} else if (ret) {
		const char *why = pgs_last_error(&off);

		pr_err("%d: the page images in %s cannot be used: %s (offset %llu)\n", pid, l->dir,
		       why ? why : strerror(-ret), (unsigned long long)off);
	} else if (has_parent_pages(s->ctx)) {
		if (!l->parent) {
			pr_err("%d: pagemap-%d.img in %s has pages in a parent image set, but its "
			       "inventory names none\n",
			       pid, pid, l->dir);
			ret = -ENOENT;
		} else {
			ret = open_level(l->parent, pid, &s->parent);
		}
	}
	if (ret) {
		lsrc_close(s);
		return ret;
	}
	*ps = s;
	return 0;
}

int lp_open_local(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv)
{
	struct lsrc *s = NULL;
	int ret = open_level(arg, pid, &s);

	if (ret)
		return ret;
	*ops = &local_ops;
	*priv = s;
	return 0;
}

static int read_inventory(int dirfd, const char *dir, uint8_t *uuid, char **parent)
{
	InventoryEntry *inv = NULL;
	struct img_file f = {0};
	int ret;

	ret = open_image_read(&f, dirfd, IMG_INVENTORY, NULL);
	if (ret)
		return ret;
	ret = pb_read_one(&f, (void **)&inv);
	if (!ret && inv->dump_uuid.len != PGS_UUID_LEN) {
		pr_err("%s/inventory.img: the dump uuid has %zu bytes, not %d\n", dir,
		       inv->dump_uuid.len, PGS_UUID_LEN);
		ret = -EBADMSG;
	}
	if (!ret) {
		memcpy(uuid, inv->dump_uuid.data, PGS_UUID_LEN);
		*parent = inv->parent_dir && inv->parent_dir[0] ? strdup(inv->parent_dir) : NULL;
		if (inv->parent_dir && inv->parent_dir[0] && !*parent)
			ret = -ENOMEM;
	}
	if (inv)
		inventory_entry__free_unpacked(inv, NULL);
	imgf_close(&f);
	return ret;
}

int lp_local_open(struct lp_local **pl, int dirfd, const char *dir)
{
	struct lp_local *head = NULL, **tail = &head;
	int depth, fd = dirfd, ret = 0;
	char *path = strdup(dir);

	for (depth = 0; path; depth++) {
		struct lp_local *l;
		char *parent = NULL;

		if (depth == LP_MAX_CHAIN) {
			pr_err("%s: a chain of more than %d image sets\n", dir, LP_MAX_CHAIN);
			ret = -ELOOP;
			break;
		}
		l = calloc(1, sizeof(*l) + PGS_UUID_LEN);
		if (!l) {
			ret = -ENOMEM;
			break;
		}
		l->dirfd = fd;
		l->dir = path;
		l->uuid = (uint8_t *)(l + 1);
		*tail = l;
		tail = (struct lp_local **)&l->parent;
		ret = read_inventory(fd, path, (uint8_t *)l->uuid, &parent);
		if (ret || !parent)
			break;
		/* the parent dir is named relative to its child's */
		fd = openat(fd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			pr_perror("%s: cannot open the parent image set %s", path, parent);
			free(parent);
			break;
		}
		path = malloc(strlen(l->dir) + strlen(parent) + 2);
		if (path)
			sprintf(path, "%s/%s", l->dir, parent);
		free(parent);
		if (!path) {
			close(fd);
			ret = -ENOMEM;
		}
	}
	if (ret) {
		lp_local_free(head);
		return ret;
	}
	*pl = head;
	return 0;
}

void lp_local_free(struct lp_local *l)
{
	int first = 1;

	while (l) {
		struct lp_local *p = (struct lp_local *)l->parent;

		if (!first)
			close(l->dirfd); /* the first is the caller's */
		free((char *)l->dir);
		free(l);
		l = p;
		first = 0;
	}
}
