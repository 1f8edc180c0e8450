/* Kernel feature probes for userfaultfd and pagemap. Each feature bit the kernel advertises is
 * also exercised on a small private mapping, so "yes" means it worked here, not just that a bit
 * was set. Nothing registered is ever touched while a fault could be left pending: every probe
 * fills or protects pages with ioctls and reads only pages that are already present. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define LOG_PREFIX "kerndat: "
#include "log.h"
#include "compat.h"
#include "kerndat.h"
#include "kerndat-int.h"

#define PG 4096UL

#define NONCOOP_EVENTS                                                                             \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |          \
	 UFFD_FEATURE_EVENT_UNMAP)

/* A uffd with the API handshake done for features. Returns the fd or -errno. */
static int uffd_open(uint64_t features, struct uffdio_api *api)
{
	int fd, err;

	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memset(api, 0, sizeof(*api));
	api->api = UFFD_API;
	api->features = features;
	if (ioctl(fd, UFFDIO_API, api)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* 0 and the range's ioctls bitmask in *ioctls, or -errno. */
static int uffd_register(int fd, void *addr, size_t len, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register reg = {
	    .range = {.start = (uintptr_t)addr, .len = len},
	    .mode = mode,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		return -errno;
	*ioctls = reg.ioctls;
	return 0;
}

static int uffd_copy(int fd, void *dst, const void *src, size_t len)
{
	struct uffdio_copy c = {.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len};

	if (ioctl(fd, UFFDIO_COPY, &c))
		return -errno;
	return c.copy == (__s64)len ? 0 : -EIO;
}

static bool has_bits(const struct kerndat *kd, uint64_t bits)
{
	return (kd->uffd_api_features & bits) == bits;
}

/* MISSING registration, UFFDIO_COPY and UFFDIO_ZEROPAGE on private anonymous memory. */
static const char *basic_works(int fd)
{
	const uint64_t need =
	    (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE);
	struct uffdio_zeropage zp;
	const char *why = NULL;
	uint64_t ioctls = 0;
	char *p, src[PG];

	p = map_anon(2 * PG);
	if (!p)
		return "mmap failed";
	memset(src, 0x5a, sizeof(src));
	if (uffd_register(fd, p, 2 * PG, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
		why = "UFFDIO_REGISTER (MISSING) failed";
	else if ((ioctls & need) != need)
		why = "COPY/ZEROPAGE/WAKE not offered on anonymous memory";
	else if (uffd_copy(fd, p, src, PG) || memcmp(p, src, PG))
		why = "UFFDIO_COPY failed";
	if (!why) {
		zp.range.start = (uintptr_t)p + PG;
		zp.range.len = PG;
		zp.mode = 0;
		if (ioctl(fd, UFFDIO_ZEROPAGE, &zp) || zp.zeropage != (__s64)PG || p[PG + 7])
			why = "UFFDIO_ZEROPAGE failed";
	}
	munmap(p, 2 * PG);
	return why;
}

/* Requests features on a fresh uffd: 0 if the kernel accepts them. */
static int request(uint64_t features)
{
	struct uffdio_api api;
	int fd = uffd_open(features, &api);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static void probe_requestable(struct kerndat *kd, enum kd_feat f, uint64_t bits, const char *ok)
{
	int ret;

	if (!has_bits(kd, bits)) {
		kd_set(kd, f, false, "not in the kernel's UFFDIO_API features");
		return;
	}
	ret = request(bits);
	kd_set(kd, f, !ret, "%s", ret ? "advertised but refused when requested" : ok);
}

static void probe_shmem(struct kerndat *kd)
{
	uint64_t ioctls = 0;
	struct uffdio_api api;
	const char *why = NULL;
	char *p = MAP_FAILED, src[PG];
	int mfd, fd;

	if (!has_bits(kd, UFFD_FEATURE_MISSING_SHMEM)) {
		kd_set(kd, KD_UFFD_MISSING_SHMEM, false, "not in the kernel's UFFDIO_API features");
		return;
	}
	fd = uffd_open(UFFD_FEATURE_MISSING_SHMEM, &api);
	mfd = memfd_create("crl-probe", MFD_CLOEXEC);
	if (fd < 0 || mfd < 0 || ftruncate(mfd, PG))
		why = "cannot set up a memfd and a uffd";
	else
		p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	memset(src, 0xa5, sizeof(src));
	if (!why && p == MAP_FAILED)
		why = "cannot map a memfd";
	else if (!why && uffd_register(fd, p, PG, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
		why = "UFFDIO_REGISTER on a memfd mapping failed";
	else if (!why && (uffd_copy(fd, p, src, PG) || memcmp(p, src, PG)))
		why = "UFFDIO_COPY into a memfd mapping failed";
	kd_set(kd, KD_UFFD_MISSING_SHMEM, !why, "%s",
	       why ? why : "registered a memfd mapping and filled it with UFFDIO_COPY");
	if (p != MAP_FAILED)
		munmap(p, PG);
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		close(fd);
}

static void probe_wp(struct kerndat *kd)
{
	struct uffdio_writeprotect wp;
	struct uffdio_api api;
	uint64_t ioctls = 0;
	const char *why = NULL;
	char *p;
	int fd;

	if (!has_bits(kd, UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		kd_set(kd, KD_UFFD_WP, false, "not in the kernel's UFFDIO_API features");
		return;
	}
	fd = uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP, &api);
	p = map_anon(PG);
	if (fd < 0 || !p) {
		why = "cannot set up";
	} else {
		p[0] = 1;
		if (uffd_register(fd, p, PG, UFFDIO_REGISTER_MODE_WP, &ioctls))
			why = "UFFDIO_REGISTER (WP) failed";
		else if (!(ioctls & (1ull << _UFFDIO_WRITEPROTECT)))
			why = "WRITEPROTECT not offered";
	}
	if (!why) {
		/* Protect, then lift it again; the page is never written while protected. */
		wp.range.start = (uintptr_t)p;
		wp.range.len = PG;
		wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
		if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
			why = "UFFDIO_WRITEPROTECT failed";
		wp.mode = 0;
		if (!why && ioctl(fd, UFFDIO_WRITEPROTECT, &wp))
			why = "UFFDIO_WRITEPROTECT (unprotect) failed";
	}
	kd_set(kd, KD_UFFD_WP, !why, "%s",
	       why ? why : "registered in WP mode, protected and unprotected a page");
	if (p)
		munmap(p, PG);
	if (fd >= 0)
		close(fd);
}

static void probe_move(struct kerndat *kd)
{
	struct uffdio_move mv;
	struct uffdio_api api;
	uint64_t ioctls = 0;
	const char *why = NULL;
	char *src, *dst;
	int fd;

	if (!has_bits(kd, UFFD_FEATURE_MOVE)) {
		kd_set(kd, KD_UFFD_MOVE, false, "not in the kernel's UFFDIO_API features");
		return;
	}
	fd = uffd_open(UFFD_FEATURE_MOVE, &api);
	src = map_anon(PG);
	dst = map_anon(PG);
	if (fd < 0 || !src || !dst) {
		why = "cannot set up";
	} else {
		memset(src, 0x3c, PG);
		if (uffd_register(fd, dst, PG, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
			why = "UFFDIO_REGISTER failed";
		else if (!(ioctls & (1ull << _UFFDIO_MOVE)))
			why = "MOVE not offered on the range";
	}
	if (!why) {
		memset(&mv, 0, sizeof(mv));
		mv.dst = (uintptr_t)dst;
		mv.src = (uintptr_t)src;
		mv.len = PG;
		if (ioctl(fd, UFFDIO_MOVE, &mv) || mv.move != (__s64)PG)
			why = "UFFDIO_MOVE failed";
		else if (dst[0] != 0x3c || dst[PG - 1] != 0x3c)
			why = "UFFDIO_MOVE moved the wrong contents";
	}
	kd_set(kd, KD_UFFD_MOVE, !why, "%s", why ? why : "moved a page into a registered range");
	if (src)
		munmap(src, PG);
	if (dst)
		munmap(dst, PG);
	if (fd >= 0)
		close(fd);
}

static void probe_poison(struct kerndat *kd)
{
	struct uffdio_poison po;
	struct uffdio_api api;
	uint64_t ioctls = 0;
	const char *why = NULL;
	char *p;
	int fd;

	if (!has_bits(kd, UFFD_FEATURE_POISON)) {
		kd_set(kd, KD_UFFD_POISON, false, "not in the kernel's UFFDIO_API features");
		return;
	}
	fd = uffd_open(UFFD_FEATURE_POISON, &api);
	p = map_anon(PG);
	if (fd < 0 || !p)
		why = "cannot set up";
	else if (uffd_register(fd, p, PG, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
		why = "UFFDIO_REGISTER failed";
	else if (!(ioctls & (1ull << _UFFDIO_POISON)))
		why = "POISON not offered on the range";
	if (!why) {
		/* The page is never touched afterwards: reading it would raise SIGBUS. */
		memset(&po, 0, sizeof(po));
		po.range.start = (uintptr_t)p;
		po.range.len = PG;
		if (ioctl(fd, UFFDIO_POISON, &po) || po.updated != (__s64)PG)
			why = "UFFDIO_POISON failed";
	}
	kd_set(kd, KD_UFFD_POISON, !why, "%s", why ? why : "poisoned a page of a registered range");
	if (p)
		munmap(p, PG);
	if (fd >= 0)
		close(fd);
}

void kd_probe_uffd(struct kerndat *kd)
{
	static const enum kd_feat all[] = {
	    KD_UFFD_NONCOOP,
	    KD_UFFD_THREAD_ID,
	    KD_UFFD_MISSING_SHMEM,
	    KD_UFFD_MISSING_HUGETLBFS,
	    KD_UFFD_WP,
	    KD_UFFD_WP_ASYNC,
	    KD_UFFD_MOVE,
	    KD_UFFD_POISON,
	    KD_UFFD_EXACT_ADDRESS,
	};
	struct uffdio_api api;
	char sysctl[32];
	const char *why;
	size_t i;
	int fd;

	kd->unprivileged_uffd = -1;
	if (!kd_read_file("/proc/sys/vm/unprivileged_userfaultfd", sysctl, sizeof(sysctl)))
		kd->unprivileged_uffd = atoi(sysctl);

	fd = uffd_open(0, &api);
	if (fd < 0) {
		kd_set(kd, KD_UFFD, false, "userfaultfd: %s%s", strerror(-fd),
		       fd == -EPERM ? " (vm.unprivileged_userfaultfd=0 needs CAP_SYS_PTRACE)" : "");
		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			kd_set(kd, all[i], false, "needs uffd");
		return;
	}
	kd->uffd_api_features = api.features;
	kd->uffd_api_ioctls = api.ioctls;
	why = basic_works(fd);
	close(fd);
	kd_set(kd, KD_UFFD, !why, "%s; features 0x%llx; vm.unprivileged_userfaultfd=%d%s",
	       why ? why : "MISSING + COPY + ZEROPAGE work", (unsigned long long)api.features,
	       kd->unprivileged_uffd,
	       kd->unprivileged_uffd == 0 ? " (root or CAP_SYS_PTRACE only)" : "");
	if (why) {
		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			kd_set(kd, all[i], false, "basic uffd does not work");
		return;
	}

	probe_requestable(kd, KD_UFFD_NONCOOP, NONCOOP_EVENTS,
			  "events FORK REMAP REMOVE UNMAP can be enabled");
	probe_requestable(kd, KD_UFFD_THREAD_ID, UFFD_FEATURE_THREAD_ID,
			  "fault messages carry the thread id");
	probe_requestable(kd, KD_UFFD_EXACT_ADDRESS, UFFD_FEATURE_EXACT_ADDRESS, "can be enabled");
	probe_shmem(kd);
	if (has_bits(kd, UFFD_FEATURE_MISSING_HUGETLBFS)) {
		char nr[32] = "?";

		kd_read_file("/proc/sys/vm/nr_hugepages", nr, sizeof(nr));
		kd_set(kd, KD_UFFD_MISSING_HUGETLBFS, !request(UFFD_FEATURE_MISSING_HUGETLBFS),
		       "can be enabled; not exercised (vm.nr_hugepages=%s)", nr);
	} else {
		kd_set(kd, KD_UFFD_MISSING_HUGETLBFS, false,
		       "not in the kernel's UFFDIO_API features");
	}
	probe_wp(kd);
	probe_move(kd);
	probe_poison(kd);
	/* exercised by kd_probe_pagemap together with PAGEMAP_SCAN */
	kd_set(kd, KD_UFFD_WP_ASYNC, false, "%s",
	       has_bits(kd, UFFD_FEATURE_WP_ASYNC) ? "needs pagemap-scan to be checked"
						   : "not in the kernel's UFFDIO_API features");
}

/* PAGEMAP_SCAN over [start, end): number of regions in vec, or -errno. */
static long pm_scan(int pmfd, void *start, size_t len, uint64_t flags, uint64_t mask,
		    struct page_region *vec, size_t nvec, unsigned long *pages)
{
	struct pm_scan_arg a;
	long i, n;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	a.start = (uintptr_t)start;
	a.end = (uintptr_t)start + len;
	a.vec = (uintptr_t)vec;
	a.vec_len = nvec;
	a.category_mask = mask;
	a.return_mask = mask;
	n = ioctl(pmfd, PAGEMAP_SCAN, &a);
	if (n < 0)
		return -errno;
	*pages = 0;
	for (i = 0; i < n; i++)
		*pages += (vec[i].end - vec[i].start) / PG;
	return n;
}

/* The pre-dump recipe in miniature: WP_ASYNC on 8 pages, one scan that reports and protects
 * every page, two writes, a rescan that must find exactly those two, a third that finds none. */
static const char *wp_async_works(int pmfd)
{
	const uint64_t flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
	struct page_region vec[8];
	struct uffdio_api api;
	unsigned long n1 = 0, n2 = 0, n3 = 0;
	uint64_t ioctls;
	const char *why = NULL;
	char *p;
	int fd;

	fd = uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_ASYNC, &api);
	if (fd < 0)
		return "WP_ASYNC refused when requested";
	p = map_anon(8 * PG);
	if (!p) {
		close(fd);
		return "mmap failed";
	}
	memset(p, 1, 8 * PG);
	if (uffd_register(fd, p, 8 * PG, UFFDIO_REGISTER_MODE_WP, &ioctls))
		why = "UFFDIO_REGISTER (WP) failed";
	else if (pm_scan(pmfd, p, 8 * PG, flags, PAGE_IS_WRITTEN, vec, 8, &n1) < 0)
		why = "PAGEMAP_SCAN with PM_SCAN_WP_MATCHING failed";
	if (!why) {
		p[2 * PG] = 2; /* resolved by the kernel: no handler needed */
		p[7 * PG + 100] = 2;
		if (pm_scan(pmfd, p, 8 * PG, flags, PAGE_IS_WRITTEN, vec, 8, &n2) < 0 ||
		    pm_scan(pmfd, p, 8 * PG, flags, PAGE_IS_WRITTEN, vec, 8, &n3) < 0)
			why = "rescan failed";
		else if (n1 != 8 || n2 != 2 || n3 != 0)
			why = "written pages miscounted";
	}
	munmap(p, 8 * PG);
	close(fd);
	return why;
}

static void probe_soft_dirty(struct kerndat *kd, int pmfd)
{
	uint64_t ent = 0;
	char *p = map_anon(PG);

	if (!p) {
		kd_set(kd, KD_SOFT_DIRTY, false, "mmap failed");
		return;
	}
	/* A freshly written page in a new mapping is soft-dirty wherever the feature exists. */
	p[0] = 1;
	if (pread(pmfd, &ent, sizeof(ent), (uintptr_t)p / PG * sizeof(ent)) != sizeof(ent))
		kd_set(kd, KD_SOFT_DIRTY, false, "cannot read /proc/self/pagemap");
	else
		kd_set(kd, KD_SOFT_DIRTY, ent & (1ull << 55),
		       "pagemap bit 55 %s on a written page%s",
		       ent & (1ull << 55) ? "set" : "clear",
		       ent & (1ull << 55) ? "" : " (kernel built without CONFIG_MEM_SOFT_DIRTY)");
	munmap(p, PG);
}

void kd_probe_pagemap(struct kerndat *kd)
{
	struct page_region vec[8];
	unsigned long pages = 0;
	const char *why;
	long n;
	char *p;
	int pmfd;

	pmfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		kd_set(kd, KD_PAGEMAP_SCAN, false, "/proc/self/pagemap: %s", strerror(errno));
		kd_set(kd, KD_SOFT_DIRTY, false, "/proc/self/pagemap: %s", strerror(errno));
		return;
	}
	probe_soft_dirty(kd, pmfd);

	p = map_anon(16 * PG);
	if (!p) {
		kd_set(kd, KD_PAGEMAP_SCAN, false, "mmap failed");
		close(pmfd);
		return;
	}
	p[0] = p[5 * PG] = p[6 * PG] = 1;
	n = pm_scan(pmfd, p, 16 * PG, 0, PAGE_IS_PRESENT, vec, 8, &pages);
	munmap(p, 16 * PG);
	if (n < 0)
		kd_set(kd, KD_PAGEMAP_SCAN, false, "PAGEMAP_SCAN: %s", strerror(-n));
	else
		kd_set(kd, KD_PAGEMAP_SCAN, n == 2 && pages == 3,
		       "found %lu present pages in %ld ranges (touched 3 in 2)", pages, n);

	if (has_bits(kd, UFFD_FEATURE_WP_ASYNC) && kd->feat[KD_UFFD_WP].have &&
	    kd->feat[KD_PAGEMAP_SCAN].have) {
		why = wp_async_works(pmfd);
		kd_set(kd, KD_UFFD_WP_ASYNC, !why, "%s",
		       why ? why : "8 pages protected by a scan, 2 written, rescan found 2");
	}
	close(pmfd);
}
