/* userfaultfd helpers shared by the floor benchmarks (header-only: see bench.h). */
#ifndef BENCH_UFFD_UTIL_H
#define BENCH_UFFD_UTIL_H

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "bench.h"

#define HUGE (2 * MIB)

static inline int uffd_open(uint64_t features, uint64_t *supported)
{
	struct uffdio_api api = {.api = UFFD_API, .features = features};
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	if (supported)
		*supported = api.features;
	return fd;
}

static inline int uffd_register(int fd, void *addr, size_t len)
{
	struct uffdio_register reg = {
	    .range = {.start = (uintptr_t)addr, .len = len},
	    .mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

/* UFFDIO_COPY of len bytes, resuming after partial copies (-EAGAIN with progress). */
static inline int uffd_copy(int fd, uintptr_t dst, const void *src, size_t len)
{
	while (len) {
		struct uffdio_copy c = {.dst = dst, .src = (uintptr_t)src, .len = len};

		if (ioctl(fd, UFFDIO_COPY, &c) == 0)
			return 0;
		if (errno == EEXIST)
			return 0;
		if (errno != EAGAIN || c.copy <= 0)
			return -errno;
		dst += c.copy;
		src = (const char *)src + c.copy;
		len -= c.copy;
	}
	return 0;
}

static inline void *map_aligned(size_t len, size_t align, int advice)
{
	char *p =
	    mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + align - a);
	if (advice >= 0)
		madvise((void *)a, len, advice);
	return (void *)a;
}

#endif
