/* The working set: the pages the tasks faulted on, in order, recorded during a lazy restore and
 * kept in lazy-order.img next to the images. The next lazy restore of the same images prefetches
 * those pages first, before the rest by address, so what the tree needs soon after resuming is in
 * before it asks.
 *
 * lazy-order.img: the image header, then per task a record (u32 length, then the payload):
 * u32 pid, u32 nr, nr * u64 page addresses as in the task's pagemap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "image.h"
#include "lazy-int.h"

#define LP_ORDER_MAX (1 << 18) /* pages recorded, all tasks together */

struct order_hdr {
	uint32_t pid;
	uint32_t nr;
};

static const char *order_name(void)
{
	return img_types[IMG_LAZY_ORDER].fmt;
}

int lp_order_load(struct lp_daemon *d, int dirfd)
{
	struct img_file f = {0};
	const uint8_t *data;
	uint32_t len;
	int ret;

	d->order_dirfd = dirfd;
	ret = imgf_open_read(&f, dirfd, order_name(), img_types[IMG_LAZY_ORDER].magic);
	if (ret == -ENOENT)
		return 0; /* first restore of these images: this one records it */
	if (ret) {
		pr_warn("%s: %s: prefetching by address\n", order_name(),
			f.why ? f.why : strerror(-ret));
		imgf_close(&f);
		d->order_loaded = 1; /* and do not overwrite what we cannot read */
		return 0;
	}
	while ((ret = imgf_next_raw(&f, &data, &len)) == 1) {
		struct order_hdr h;
		struct lp_order *o;

		if (len < sizeof(h))
			break;
		memcpy(&h, data, sizeof(h));
		if ((uint64_t)h.nr * 8 != len - sizeof(h)) {
			ret = -EBADMSG;
			break;
		}
		o = realloc(d->orders, (d->nr_orders + 1) * sizeof(*o));
		if (!o) {
			ret = -ENOMEM;
			break;
		}
		d->orders = o;
		o = &d->orders[d->nr_orders];
		o->pid = h.pid;
		o->nr = h.nr;
		o->vaddr = malloc((size_t)h.nr * 8 + 1);
		if (!o->vaddr) {
			ret = -ENOMEM;
			break;
		}
		memcpy(o->vaddr, data + sizeof(h), (size_t)h.nr * 8);
		d->nr_orders++;
	}
	if (ret < 0)
		pr_warn("%s: damaged record at offset %zu: using what came before it\n",
			order_name(), f.off);
	imgf_close(&f);
	d->order_loaded = 1;
	pr_info("%s: a working set for %d tasks\n", order_name(), d->nr_orders);
	return 0;
}

/* The extents of t that the recorded working set names, in its order (loop thread). */
int lp_order_apply(struct lp_daemon *d, struct lp_task *t)
{
	struct lp_order *o = NULL;
	uint32_t i;
	int k;

	for (k = 0; k < d->nr_orders; k++)
		if (d->orders[k].pid == (uint32_t)t->pid)
			o = &d->orders[k];
	if (!o || !o->nr)
		return 0;
	t->order = malloc(o->nr * sizeof(*t->order));
	if (!t->order)
		return -ENOMEM;
	for (i = 0; i < o->nr; i++) {
		long e = ext_find(t, o->vaddr[i]);

		if (e >= 0 && (!t->nr_order || t->order[t->nr_order - 1] != (size_t)e))
			t->order[t->nr_order++] = e;
	}
	return 0;
}

void lp_order_note(struct lp_daemon *d, struct lp_task *t, uint64_t img_vaddr)
{
	struct lp_rec *r;

	if (d->order_loaded || d->order_dirfd < 0 || t->parent || d->nr_rec >= LP_ORDER_MAX)
		return;
	if (d->nr_rec == d->cap_rec) {
		size_t cap = d->cap_rec ? d->cap_rec * 2 : 1024;

		r = realloc(d->rec, cap * sizeof(*r));
		if (!r)
			return;
		d->rec = r;
		d->cap_rec = cap;
	}
	d->rec[d->nr_rec].pid = t->pid;
	d->rec[d->nr_rec].vaddr = img_vaddr;
	d->nr_rec++;
}

/* Writes what this restore recorded, unless the images already had a working set. */
int lp_order_save(struct lp_daemon *d)
{
	struct img_file f = {0};
	uint64_t *v = NULL;
	size_t i, j;
	int ret;

	if (d->order_loaded || d->order_dirfd < 0 || !d->nr_rec)
		return 0;
	v = malloc(d->nr_rec * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = imgf_open_write(&f, d->order_dirfd, order_name(), img_types[IMG_LAZY_ORDER].magic);
	/* one record per task, pages in the order they were asked for */
	for (i = 0; !ret && i < d->nr_rec; i++) {
		struct order_hdr h = {d->rec[i].pid, 0};
		uint32_t len;

		if (!d->rec[i].pid)
			continue;
		for (j = i; j < d->nr_rec; j++) {
			if (d->rec[j].pid != h.pid)
				continue;
			v[h.nr++] = d->rec[j].vaddr;
			d->rec[j].pid = 0;
		}
		len = sizeof(h) + h.nr * 8;
		ret = imgf_write_raw(&f, &len, sizeof(len));
		if (!ret)
			ret = imgf_write_raw(&f, &h, sizeof(h));
		if (!ret)
			ret = imgf_write_raw(&f, v, h.nr * 8);
	}
	if (!ret)
		ret = imgf_commit(&f);
	imgf_close(&f);
	free(v);
	if (ret)
		pr_warn("cannot write %s: %s\n", order_name(), strerror(-ret));
	else
		pr_info("%s: %zu pages of working set recorded\n", order_name(), d->nr_rec);
	return ret;
}

void lp_order_free(struct lp_daemon *d)
{
	int k;

	for (k = 0; k < d->nr_orders; k++)
		free(d->orders[k].vaddr);
	free(d->orders);
	free(d->rec);
}
