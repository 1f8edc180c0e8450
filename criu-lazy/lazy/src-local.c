/* Pages from the local image directory: pagemap-PID.img / pages-PID.img through the page store. */
#include <errno.h>
#include <stdio.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-pages.h"

static size_t local_nr(void *priv)
{
	return pgs_nr_entries(priv);
}

static const struct pgs_entry *local_entry(void *priv, size_t i)
{
	return pgs_entry(priv, i);
}

static int local_read(void *priv, size_t i, void *dst)
{
	return pgs_read_frame(priv, i, dst);
}

static void local_close(void *priv)
{
	pgs_close(priv);
}

static const struct lp_src_ops local_ops = {
    .nr_entries = local_nr,
    .entry = local_entry,
    .read_frame = local_read,
    .close = local_close,
};

int lp_open_local(void *arg, pid_t pid, const struct lp_src_ops **ops, void **priv)
{
	const struct lp_local *l = arg;
	struct pgs_ctx *ctx = NULL;
	uint64_t off = 0;
	char id[16];
	int ret;

	snprintf(id, sizeof(id), "%d", pid);
	ret = pgs_open_local(&ctx, l->dirfd, id, l->uuid);
	if (ret == -ENOENT) {
		pr_err("%d: no page images (pagemap-%d.img, pages-%d.img) in %s\n", pid, pid, pid,
		       l->dir);
		return ret;
	}
	if (ret) {
		const char *why = pgs_last_error(&off);

		pr_err("%d: the page images in %s cannot be used: %s (offset %llu)\n", pid, l->dir,
		       why ? why : strerror(-ret), (unsigned long long)off);
		return ret;
	}
	*ops = &local_ops;
	*priv = ctx;
	return 0;
}
