/* Sockets at dump time, beyond what files-dump.c asks of them. */
#ifndef CRL_DUMP_SK_H
#define CRL_DUMP_SK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "files.pb-c.h"

struct dump_ctx;

/* sk-check.c: one MSG_PEEK of a unix socket's queue (bytes, -EAGAIN when empty, or -errno);
 * file descriptors in flight are refused with an error. */
ssize_t dump_sk_peek(int fd, void *buf, size_t len, const char *what);
/* SO_SNDBUF/SO_RCVBUF when a program chose them: they differ from a new socket's. TCP
 * connections are left out, the kernel tunes theirs as it goes. */
int dump_sk_bufs(int fd, SkEntry *sk);
/* The mode and owner of the socket file of a unix socket bound to a path, when it is still there
 * (seen from pid's root and cwd). */
void dump_unix_file(SkEntry *sk, pid_t pid);
/* Before memory is read: TCP connections the dump would refuse (0 or -EOPNOTSUPP). */
int dump_sk_precheck(const struct dump_ctx *d);
/* Refuses unix stream connections to sockets outside the tree (0 or -EOPNOTSUPP). */
int dump_sk_check_peers(struct dump_ctx *d);

/* sk-tcp.c: an established connection, frozen in TCP_REPAIR mode through a copy of fd that
 * stays open until dump_tcp_release(), which ends the repair of those whose process runs on
 * (none when tree_dies: the tree is being killed, the connections must go silently; a later
 * call still ends the repair of a tree that was let go after all). */
int dump_tcp_established(int fd, SkEntry *sk, pid_t pid, const char *what);
void dump_tcp_release(bool tree_dies);
void dump_tcp_free(SkEntry *sk);
/* "1.2.3.4:80 -> 5.6.7.8:1234" */
void dump_tcp_str(const SkEntry *sk, char *buf, size_t size);

#endif
