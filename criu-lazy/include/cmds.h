/* The subcommands. Each returns 0 on success or a negative value on failure (already logged);
 * restore in the foreground returns the root's exit status encoded by cmd_exit_code(). */
#ifndef CRL_CMDS_H
#define CRL_CMDS_H

#include <stddef.h>

#include "opts.h"

int cmd_dump(const struct crl_opts *o);
int cmd_pre_dump(const struct crl_opts *o);
int cmd_restore(const struct crl_opts *o);
int cmd_lazy_pages(const struct crl_opts *o);
int cmd_page_server(const struct crl_opts *o);
int cmd_check(const struct crl_opts *o);
int cmd_show(const struct crl_opts *o);
int cmd_swrk(const struct crl_opts *o);

/* For work not built yet: a clear error and a failure, never a silent success. */
int cmd_not_built(const struct crl_opts *o, const char *what);

#endif
