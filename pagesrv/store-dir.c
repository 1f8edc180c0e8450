/* The stores of an image directory for a page server: opened on first request, kept open, looked
 * up by owner id from any server thread. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page-xfer.h"

struct dir_store {
	uint64_t id;
	struct pgs_ctx *ctx;
};

struct pxf_store_dir {
	int dirfd;
	uint8_t uuid[PGS_UUID_LEN];
	pthread_mutex_t lock; /* guards the table */
	struct dir_store *tab;
	size_t nr, cap;
};

int pxf_store_dir_open(struct pxf_store_dir **dp, int dirfd, const uint8_t *uuid)
{
	struct pxf_store_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->dirfd = dirfd;
	memcpy(d->uuid, uuid, PGS_UUID_LEN);
	pthread_mutex_init(&d->lock, NULL);
	*dp = d;
	return 0;
}

/* Under lock: where id is in the table (sorted by id), or where it would go. */
static size_t slot_of(const struct pxf_store_dir *d, uint64_t id)
{
	size_t lo = 0, hi = d->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->tab[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct pgs_ctx *pxf_store_dir_lookup(void *arg, uint64_t id)
{
	struct pxf_store_dir *d = arg;
	struct pgs_ctx *ctx = NULL;
	char name[32];
	size_t i;

	pthread_mutex_lock(&d->lock);
	i = slot_of(d, id);
	if (i < d->nr && d->tab[i].id == id) {
		ctx = d->tab[i].ctx;
		goto out;
	}
	if (d->nr == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 16;
		struct dir_store *nt = realloc(d->tab, ncap * sizeof(*nt));

		if (!nt)
			goto out;
		d->tab = nt;
		d->cap = ncap;
	}
	snprintf(name, sizeof(name), "%" PRIu64, id);
	if (pgs_open_local(&ctx, d->dirfd, name, d->uuid)) {
		ctx = NULL; /* absent or damaged: the client is told there is no such owner */
		goto out;
	}
	memmove(&d->tab[i + 1], &d->tab[i], (d->nr - i) * sizeof(*d->tab));
	d->tab[i].id = id;
	d->tab[i].ctx = ctx;
	d->nr++;
out:
	pthread_mutex_unlock(&d->lock);
	return ctx;
}

void pxf_store_dir_close(struct pxf_store_dir *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nr; i++)
		pgs_close(d->tab[i].ctx);
	pthread_mutex_destroy(&d->lock);
	free(d->tab);
	free(d);
}
