/* userfaultfd ioctl wrappers (see uffd.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd.h"

int uffd_open(int flags)
{
	int fd = syscall(__NR_userfaultfd, flags);

	return fd < 0 ? -errno : fd;
}

int uffd_probe_features(uint64_t *features)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	int fd, ret = 0;

	fd = uffd_open(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api))
		ret = -errno;
	else
		*features = api.features;
	close(fd);
	return ret;
}

int uffd_api(int fd, uint64_t want, uint64_t *got)
{
	struct uffdio_api api = {.api = UFFD_API};
	uint64_t avail;
	int ret;

	/* A uffd takes UFFDIO_API once, and asking for an absent feature fails it: ask a spare
	 * one what this kernel has first. */
	ret = uffd_probe_features(&avail);
	if (ret)
		return ret;
	api.features = want & avail;
	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	if (got)
		*got = want & avail;
	return 0;
}

int uffd_register(int fd, uint64_t start, uint64_t len, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register reg = {.range = {.start = start, .len = len}, .mode = mode};

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int uffd_unregister(int fd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = {.start = start, .len = len};

	return ioctl(fd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

int uffd_copy(int fd, uint64_t dst, const void *src, uint64_t len, uint64_t mode, uint64_t *done)
{
	struct uffdio_copy c = {
	    .dst = dst, .src = (uint64_t)(uintptr_t)src, .len = len, .mode = mode};
	int ret = 0;

	if (ioctl(fd, UFFDIO_COPY, &c))
		ret = -errno;
	if (done)
		*done = c.copy > 0 ? (uint64_t)c.copy : 0;
	if (ret == 0 && c.copy >= 0 && (uint64_t)c.copy != len)
		ret = -EAGAIN; /* short copy: the kernel stopped early, try the rest again */
	return ret;
}

int uffd_zeropage(int fd, uint64_t dst, uint64_t len, uint64_t mode, uint64_t *done)
{
	struct uffdio_zeropage z = {.range = {.start = dst, .len = len}, .mode = mode};
	int ret = 0;

	if (ioctl(fd, UFFDIO_ZEROPAGE, &z))
		ret = -errno;
	if (done)
		*done = z.zeropage > 0 ? (uint64_t)z.zeropage : 0;
	return ret;
}

int uffd_wake(int fd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = {.start = start, .len = len};

	return ioctl(fd, UFFDIO_WAKE, &r) ? -errno : 0;
}

ssize_t uffd_read_msgs(int fd, struct uffd_msg *msgs, int max)
{
	ssize_t n = read(fd, msgs, sizeof(*msgs) * max);

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n % sizeof(*msgs))
		return -EIO;
	return n / sizeof(*msgs);
}

const char *uffd_event_name(uint8_t event)
{
	switch (event) {
	case UFFD_EVENT_PAGEFAULT:
		return "PAGEFAULT";
	case UFFD_EVENT_FORK:
		return "FORK";
	case UFFD_EVENT_REMAP:
		return "REMAP";
	case UFFD_EVENT_REMOVE:
		return "REMOVE";
	case UFFD_EVENT_UNMAP:
		return "UNMAP";
	default:
		return "UNKNOWN";
	}
}
