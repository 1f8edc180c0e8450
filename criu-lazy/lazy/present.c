/* Pages a task already has when it is handed over. Restore writes only pages the images do not
 * flag lazy, so a lazy page present at that point was filled by someone else before the daemon
 * could fill it: mlock() or MAP_POPULATE populating zeros, say. With local images restore may
 * have written it from them (it does for locked memory): it is in, nothing to do. With a page
 * server restore had no data for it: the task holds a zero page where its memory should be, and
 * must not run on it. Checked with PAGEMAP_SCAN, before any fault of the task is served (after
 * registration every fill goes through the uffd, so presence means "before us"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "log.h"
#include "lazy-int.h"

#define SCAN_REGIONS 64

/* Clears the pages of [start, end) from t's extents; counts those that were still missing. */
static uint64_t take_range(struct lp_task *t, uint64_t start, uint64_t end)
{
	uint64_t n = 0, a;

	for (a = start; a < end;) {
		long i = ext_find(t, a);
		struct lp_ext *e;
		unsigned int pg;

		if (i < 0) {
			a += LP_PAGE;
			continue;
		}
		e = &t->ext[i];
		for (; a < end && a < e->addr + (uint64_t)e->nr * LP_PAGE; a += LP_PAGE) {
			pg = e->pg0 + (a - e->addr) / LP_PAGE;
			if (ext_test(e, pg)) {
				ext_clear(e, pg);
				t->missing--;
				n++;
			}
		}
	}
	return n;
}

int lp_check_present(struct lp_task *t, int restore_has_pages)
{
	struct page_region reg[SCAN_REGIONS];
	uint64_t first_bad = 0, taken = 0;
	char path[64];
	size_t i;
	int fd, ret = 0;

	if (!t->nr_ext)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", t->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* not ours to look at: the check is a safety net, not a requirement */
	for (i = 0; i < t->nr_ext && !ret;) {
		/* one scan over a run of extents that follow each other closely */
		uint64_t start = t->ext[i].addr, end;
		size_t j = i;

		while (j + 1 < t->nr_ext &&
		       t->ext[j + 1].addr <=
			   t->ext[j].addr + ((uint64_t)t->ext[j].nr + 512) * LP_PAGE)
			j++;
		end = t->ext[j].addr + (uint64_t)t->ext[j].nr * LP_PAGE;
		i = j + 1;
		while (start < end) {
			struct pm_scan_arg a = {
			    .size = sizeof(a),
			    .start = start,
			    .end = end,
			    .vec = (uint64_t)(uintptr_t)reg,
			    .vec_len = SCAN_REGIONS,
			    .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			    .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			};
			long k, n = ioctl(fd, PAGEMAP_SCAN, &a);

			if (n < 0) {
				ret = errno == EINVAL || errno == ENOTTY ? 0 : -errno;
				goto out; /* an older kernel: no check */
			}
			for (k = 0; k < n; k++) {
				uint64_t got = take_range(t, reg[k].start, reg[k].end);

				if (got && !first_bad)
					first_bad = reg[k].start;
				taken += got;
			}
			if (a.walk_end <= start)
				break;
			start = a.walk_end;
		}
	}
	if (taken && !restore_has_pages) {
		lp_err(t,
		       "%llu lazy pages (the first near %#llx) were filled before they were handed "
		       "over, without their data (locked or populated memory?)\n",
		       (unsigned long long)taken, (unsigned long long)first_bad);
		ret = -EIO;
	} else if (taken) {
		lp_debug(t, "%llu lazy pages were already in (written by restore)\n",
			 (unsigned long long)taken);
	}
out:
	close(fd);
	return ret;
}
