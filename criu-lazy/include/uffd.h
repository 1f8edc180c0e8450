/* Thin wrappers around the userfaultfd ioctls: 0 or -errno, never logging, so both the restorer
 * and the lazy-pages daemon (and its unit tests) use them. Partial results are reported through
 * an out parameter because the kernel returns both an error and a count (EEXIST, EAGAIN). */
#ifndef CRL_UFFD_H
#define CRL_UFFD_H

#include <stdint.h>
#include <sys/types.h>

#include "compat.h"

/* What the daemon asks for; uffd_api() trims it to what the kernel offers. */
#define UFFD_WANTED_FEATURES                                                                       \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |          \
	 UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MISSING_SHMEM |          \
	 UFFD_FEATURE_MISSING_HUGETLBFS)

/* A userfaultfd of the calling process. fd or -errno. */
int uffd_open(int flags);

/* The features this kernel offers (from a throw-away uffd). 0 or -errno. */
int uffd_probe_features(uint64_t *features);

/* Enables the API on fd with want & what the kernel offers; *got (may be NULL) says what was
 * enabled. 0 or -errno. */
int uffd_api(int fd, uint64_t want, uint64_t *got);

/* Registers [start, start + len) of the uffd's mm (not necessarily ours). mode:
 * UFFDIO_REGISTER_MODE_*. *ioctls (may be NULL) gets the ioctls the range supports. */
int uffd_register(int fd, uint64_t start, uint64_t len, uint64_t mode, uint64_t *ioctls);
int uffd_unregister(int fd, uint64_t start, uint64_t len);

/* Copies len bytes of src to dst in the uffd's mm. 0 when all was copied; otherwise -errno and
 * *done (may be NULL) holds the bytes that were copied before the error (-EEXIST: the page at
 * dst + *done is already there; -EAGAIN: the mm is changing, read the events first). */
int uffd_copy(int fd, uint64_t dst, const void *src, uint64_t len, uint64_t mode, uint64_t *done);

/* Maps the zero page over [dst, dst + len). Same returns as uffd_copy. */
int uffd_zeropage(int fd, uint64_t dst, uint64_t len, uint64_t mode, uint64_t *done);

/* Wakes the threads waiting on faults in [start, start + len). */
int uffd_wake(int fd, uint64_t start, uint64_t len);

/* Reads up to max messages from a non-blocking uffd: their number, 0 when none is pending, or
 * -errno. */
ssize_t uffd_read_msgs(int fd, struct uffd_msg *msgs, int max);

/* "PAGEFAULT", "FORK", ... for logs. */
const char *uffd_event_name(uint8_t event);

#endif
