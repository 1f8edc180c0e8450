/* What the restorer tells the lazy-pages daemon over LAZY_SOCKET_NAME (a unix stream socket):
 * one LAZY_MSG_TASK per lazily restored task, carrying its uffd (SCM_RIGHTS) and followed by the
 * ranges registered on it, then LAZY_MSG_DONE. Both ends are this program. */
#ifndef CRL_LAZY_PROTO_H
#define CRL_LAZY_PROTO_H

#include <stdint.h>

#define LAZY_MSG_MAGIC 0x4c5a5031u /* "1PZL" */
#define LAZY_MAX_RANGES 65536

enum lazy_msg_type {
	LAZY_MSG_TASK = 1,
	LAZY_MSG_DONE = 2,
};

struct lazy_msg {
	uint32_t magic;
	uint32_t type;
	int32_t pid;
	uint32_t nr_ranges; /* then nr_ranges of { u64 start, u64 end } */
};

#endif
