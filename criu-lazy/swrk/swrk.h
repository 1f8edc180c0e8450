/* swrk: CRIU's RPC service as container runtimes use it ("criu swrk FD"). One job per file:
 *   swrk.c       the socket, the request loop, VERSION / FEATURE_CHECK / CHECK, the notify
 *                exchange, the answers
 *   swrk-opts.c  criu_opts -> struct crl_opts: what we honour, and an error for what we cannot
 *   swrk-cmds.c  DUMP, PRE_DUMP, RESTORE, PAGE_SERVER on top of the subcommands
 */
#ifndef CRL_SWRK_H
#define CRL_SWRK_H

#include <stdbool.h>
#include <sys/types.h>

#include "opts.h"
#include "rpc.pb-c.h"

/* The CRIU version whose RPC semantics we implement, as VERSION reports it. runc asks for at least
 * 3.0 to use the RPC at all; from 3.14 it hands us the cgroup v2 freezer path, from 3.15 it takes
 * "status-ready" notifications instead of passing a status fd. We behave as 3.19 does for all of
 * these, so runc takes the paths we implement. */
#define SWRK_CRIU_MAJOR 3
#define SWRK_CRIU_MINOR 19

struct swrk {
	int sk;
	pid_t peer;	/* the runtime: the fds a request names are its own */
	bool notify;	/* notify_scripts: the runtime wants the hook round trips */
	pid_t restored; /* root pid, learnt from the post-restore hook */
	int images_fd;	/* our copies of the runtime's dirs, -1 when not open */
	int work_fd;
	char images_path[64]; /* /proc/self/fd/N: what crl_opts takes */
	char work_path[64];
	char log_path[4160];
};

/* Maps req->opts onto o for cmd (CMD_DUMP, CMD_PRE_DUMP, CMD_RESTORE, CMD_PAGE_SERVER), opening
 * the dirs and the status fd the request names and the log file. A field set to something we
 * cannot do is an error that names it (-EINVAL / -EOPNOTSUPP). */
int swrk_map_opts(struct swrk *sw, const CriuOpts *ro, enum crl_cmd cmd, struct crl_opts *o);
/* Closes what swrk_map_opts opened. */
void swrk_unmap_opts(struct swrk *sw, struct crl_opts *o);

/* The notify hook handed to the subcommands through crl_opts.notify. */
int swrk_notify(void *arg, const char *script, int pid);

int swrk_dump(struct swrk *sw, const CriuReq *req, CriuResp *resp, bool pre);
int swrk_restore(struct swrk *sw, const CriuReq *req, CriuResp *resp);
int swrk_page_server(struct swrk *sw, const CriuReq *req, CriuResp *resp);

#endif
