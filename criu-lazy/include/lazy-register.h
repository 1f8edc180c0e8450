/* The restore side of lazy pages: how restore hands a task's anonymous memory to the lazy-pages
 * daemon. Restore maps every VMA and writes the pages the pagemap does not flag PGS_PE_LAZY (the
 * page each thread's stack pointer is on, non-lazy mappings), then calls lazy_register_task()
 * while the task is still stopped, then resumes it. The daemon listens on "lazy-pages.socket" in
 * the work dir (-W) and answers faults until every page is in.
 */
#ifndef CRL_LAZY_REGISTER_H
#define CRL_LAZY_REGISTER_H

#include <sys/types.h>

#include "mm.pb-c.h"
#include "opts.h"

struct inj_ctx;
struct lazy_conn;

#define LAZY_SOCKET_NAME "lazy-pages.socket"

/* Connects to the daemon. -ECONNREFUSED/-ENOENT (logged: "no lazy-pages daemon at PATH") when it
 * is not running. */
int lazy_connect(struct lazy_conn **lc, const struct crl_opts *o);

/* Creates a userfaultfd inside the stopped task (through inj, which must have a gadget), takes it
 * with pidfd_getfd, closes the task's copy, negotiates the API and registers every VMA of mm whose
 * lazy flag is set, MISSING mode; then sends the uffd and pid to the daemon. 0 or -errno. */
int lazy_register_task(struct lazy_conn *lc, struct inj_ctx *inj, pid_t pid, const MmEntry *mm);

/* Every task is registered: the daemon may start prefetching. 0 or -errno. */
int lazy_conn_done(struct lazy_conn *lc);

/* Accepts NULL. */
void lazy_disconnect(struct lazy_conn *lc);

#endif
