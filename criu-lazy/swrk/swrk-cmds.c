/* DUMP, PRE_DUMP, RESTORE and PAGE_SERVER requests: map the options, run the subcommand, fill
 * the answer the runtime reads (the restored root's pid, the page server's pid and port). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "swrk: "
#include "log.h"
#include "cmds.h"
#include "swrk.h"

/* How long a page server forked for PAGE_SERVER may take to listen. */
#define PS_READY_TIMEOUT_MS 10000

static int need_opts(const CriuReq *req)
{
	if (!req->opts) {
		pr_err("the request has no options (criu_opts)\n");
		return -EINVAL;
	}
	return 0;
}

int swrk_dump(struct swrk *sw, const CriuReq *req, CriuResp *resp, bool pre)
{
	static CriuDumpResp dr = CRIU_DUMP_RESP__INIT;
	struct crl_opts o;
	int ret;

	ret = need_opts(req);
	if (ret)
		return ret;
	ret = swrk_map_opts(sw, req->opts, pre ? CMD_PRE_DUMP : CMD_DUMP, &o);
	if (!ret)
		ret = pre ? cmd_pre_dump(&o) : cmd_dump(&o);
	swrk_unmap_opts(sw, &o);
	if (ret)
		return ret < 0 ? ret : -EINVAL;
	if (!pre)
		resp->dump = &dr; /* restored stays unset: we never dump ourselves */
	return 0;
}

int swrk_restore(struct swrk *sw, const CriuReq *req, CriuResp *resp)
{
	static CriuRestoreResp rr = CRIU_RESTORE_RESP__INIT;
	struct crl_opts o;
	int ret;

	ret = need_opts(req);
	if (ret)
		return ret;
	ret = swrk_map_opts(sw, req->opts, CMD_RESTORE, &o);
	if (!ret)
		ret = cmd_restore(&o);
	swrk_unmap_opts(sw, &o);
	if (ret)
		return ret < 0 ? ret : -EINVAL;
	if (sw->restored <= 0) {
		pr_err("restore finished without telling the root's pid\n");
		return -EPROTO;
	}
	rr.pid = sw->restored;
	resp->restore = &rr;
	return 0;
}

/* Waits for the forked page server's ready byte, or its death, or the timeout. */
static int wait_ready(int rfd, pid_t pid)
{
	struct pollfd p = {.fd = rfd, .events = POLLIN};
	char c;
	int n;

	do
		n = poll(&p, 1, PS_READY_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		pr_err("the page server %d did not get ready in %d ms\n", pid, PS_READY_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	if (n < 0 || read(rfd, &c, 1) != 1) {
		pr_err("the page server %d failed to start (see its log)\n", pid);
		return -ECHILD;
	}
	return 0;
}

/* CRIU's RPC page server runs in the background and the answer says where: a forked
 * 'page-server' that says ready through a pipe. */
int swrk_page_server(struct swrk *sw, const CriuReq *req, CriuResp *resp)
{
	static CriuPageServerInfo ps = CRIU_PAGE_SERVER_INFO__INIT;
	struct crl_opts o;
	int pfd[2], ret;
	pid_t pid;

	ret = need_opts(req);
	if (ret)
		return ret;
	ret = swrk_map_opts(sw, req->opts, CMD_PAGE_SERVER, &o);
	if (!ret && !o.port) {
		pr_err("ps.port: the page server needs a port\n");
		ret = -EINVAL;
	}
	if (!ret && pipe2(pfd, O_CLOEXEC)) {
		ret = -errno;
		pr_perror("pipe");
	}
	if (ret)
		goto out;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		pr_perror("fork");
		close(pfd[0]);
		close(pfd[1]);
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		close(sw->sk);
		o.status_fd = pfd[1];
		o.notify = NULL;
		_exit(cmd_page_server(&o) ? 1 : 0);
	}
	close(pfd[1]);
	ret = wait_ready(pfd[0], pid);
	close(pfd[0]);
	if (ret) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	ps.has_pid = true;
	ps.pid = pid;
	ps.has_port = true;
	ps.port = o.port;
	resp->ps = &ps;
out:
	swrk_unmap_opts(sw, &o);
	return ret;
}
