/* swrk FD: CRIU's RPC service on a SOCK_SEQPACKET socket the runtime made (runc, go-criu, crun).
 * Each packet holds one criu_req or criu_resp. A session serves one request, or several when the
 * runtime sets keep_open; between the request and its answer the subcommand may ask the runtime
 * to run its hooks (NOTIFY round trips). Every failure is answered with success=false, the errno
 * and the first error logged, so the runtime can show why. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "swrk: "
#include "log.h"
#include "cmds.h"
#include "kerndat.h"
#include "swrk.h"
#include "version.h"

#define SWRK_MAX_MSG (64 * 1024)

static int send_resp(struct swrk *sw, const CriuResp *resp)
{
	size_t len = criu_resp__get_packed_size(resp);
	uint8_t *buf;
	ssize_t n;

	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	criu_resp__pack(resp, buf);
	n = send(sw->sk, buf, len, MSG_NOSIGNAL);
	free(buf);
	if (n < 0) {
		pr_perror("cannot send the answer to the runtime");
		return -errno;
	}
	return 0;
}

/* The next request. 0 with *preq NULL: the runtime closed the socket. */
static int recv_req(struct swrk *sw, CriuReq **preq)
{
	uint8_t *buf;
	ssize_t n;

	*preq = NULL;
	buf = malloc(SWRK_MAX_MSG);
	if (!buf)
		return -ENOMEM;
	do
		n = recv(sw->sk, buf, SWRK_MAX_MSG, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		n = -errno;
		pr_perror("cannot read a request from the runtime");
		goto out;
	}
	if (n == 0)
		goto out;
	if (n > SWRK_MAX_MSG) {
		pr_err("a request of %zd bytes is larger than the %d this service takes\n", n,
		       SWRK_MAX_MSG);
		n = -EMSGSIZE;
		goto out;
	}
	*preq = criu_req__unpack(NULL, n, buf);
	if (!*preq) {
		pr_err("the runtime sent a packet of %zd bytes that is not a criu_req\n", n);
		n = -EBADMSG;
	}
out:
	free(buf);
	return n < 0 ? n : 0;
}

int swrk_notify(void *arg, const char *script, int pid)
{
	struct swrk *sw = arg;
	CriuNotify nt = CRIU_NOTIFY__INIT;
	CriuResp resp = CRIU_RESP__INIT;
	CriuReq *req;
	int ret;

	if (!strcmp(script, "post-restore"))
		sw->restored = pid;
	if (!sw->notify)
		return 0;
	nt.script = (char *)script;
	nt.has_pid = pid > 0;
	nt.pid = pid;
	resp.type = CRIU_REQ_TYPE__NOTIFY;
	resp.success = true;
	resp.notify = &nt;
	pr_info("hook %s (pid %d)\n", script, pid);
	ret = send_resp(sw, &resp);
	if (ret)
		return ret;
	ret = recv_req(sw, &req);
	if (ret)
		return ret;
	if (!req) {
		pr_err("the runtime went away during its %s hook\n", script);
		return -ECONNRESET;
	}
	if (req->type != CRIU_REQ_TYPE__NOTIFY || !req->has_notify_success ||
	    !req->notify_success) {
		pr_err("the runtime failed its %s hook\n", script);
		ret = -ECANCELED;
	}
	criu_req__free_unpacked(req, NULL);
	return ret;
}

static int do_version(struct swrk *sw, CriuResp *resp)
{
	static CriuVersion v = CRIU_VERSION__INIT;

	(void)sw;
	v.major_number = SWRK_CRIU_MAJOR;
	v.minor_number = SWRK_CRIU_MINOR;
	v.name = "criu-lazy " CRL_VERSION;
	resp->version = &v;
	return 0;
}

static bool have(const struct kerndat *kd, enum kd_feat a, enum kd_feat b)
{
	return kd->feat[a].have && kd->feat[b].have;
}

/* Answers exactly the features asked, each from what this kernel has and what we implement. */
static int do_feature_check(const CriuReq *req, CriuResp *resp)
{
	static CriuFeatures f = CRIU_FEATURES__INIT;
	struct kerndat kd;
	int ret;

	ret = kerndat_probe(&kd);
	if (ret) {
		pr_errno(ret, "cannot probe the kernel");
		return ret;
	}
	if (req->features && req->features->has_mem_track) {
		f.has_mem_track = true;
		f.mem_track = have(&kd, KD_UFFD_WP_ASYNC, KD_PAGEMAP_SCAN);
	}
	if (req->features && req->features->has_lazy_pages) {
		f.has_lazy_pages = true;
		f.lazy_pages = have(&kd, KD_UFFD, KD_UFFD_NONCOOP);
	}
	if (req->features && req->features->has_pidfd_store) {
		f.has_pidfd_store = true;
		f.pidfd_store = false; /* pidfd_store_sk is refused: no pid-reuse checks yet */
	}
	resp->features = &f;
	return 0;
}

static int do_check(void)
{
	struct crl_opts o = {.cmd = CMD_CHECK, .cmd_name = "check", .status_fd = -1};

	return cmd_check(&o);
}

/* Serves one request; resp is filled for the answer. */
static int serve(struct swrk *sw, const CriuReq *req, CriuResp *resp)
{
	if (req->base.n_unknown_fields) {
		pr_err("the request carries %u field(s) this version does not know (first: #%u)\n",
		       req->base.n_unknown_fields, req->base.unknown_fields[0].tag);
		return -EOPNOTSUPP;
	}
	switch (req->type) {
	case CRIU_REQ_TYPE__VERSION:
		return do_version(sw, resp);
	case CRIU_REQ_TYPE__FEATURE_CHECK:
		return do_feature_check(req, resp);
	case CRIU_REQ_TYPE__CHECK:
		return do_check();
	case CRIU_REQ_TYPE__DUMP:
		return swrk_dump(sw, req, resp, false);
	case CRIU_REQ_TYPE__PRE_DUMP:
		return swrk_dump(sw, req, resp, true);
	case CRIU_REQ_TYPE__RESTORE:
		return swrk_restore(sw, req, resp);
	case CRIU_REQ_TYPE__PAGE_SERVER:
		return swrk_page_server(sw, req, resp);
	case CRIU_REQ_TYPE__NOTIFY:
		pr_err("a NOTIFY answer came while no hook was running\n");
		return -EPROTO;
	default:
		pr_err("request type %d is not implemented in this version of criu-lazy\n",
		       req->type);
		return -EOPNOTSUPP;
	}
}

int cmd_swrk(const struct crl_opts *o)
{
	struct swrk sw = {.sk = o->swrk_fd, .images_fd = -1, .work_fd = -1};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int type = 0, ret = 0;
	socklen_t tlen = sizeof(type);

	if (getsockopt(sw.sk, SOL_SOCKET, SO_TYPE, &type, &tlen) || type != SOCK_SEQPACKET) {
		pr_err("fd %d is not a SOCK_SEQPACKET socket\n", sw.sk);
		return -EBADF;
	}
	if (!getsockopt(sw.sk, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.pid > 0)
		sw.peer = cred.pid;
	else
		sw.peer = getppid();

	while (1) {
		CriuResp resp = CRIU_RESP__INIT;
		CriuReq *req;
		bool keep;

		ret = recv_req(&sw, &req);
		if (ret == -EBADMSG || ret == -EMSGSIZE) {
			/* say why before going: the runtime waits for an answer */
			resp.type = CRIU_REQ_TYPE__EMPTY;
			resp.has_cr_errno = true;
			resp.cr_errno = -ret;
			resp.cr_errmsg = (char *)log_first_error();
			send_resp(&sw, &resp);
		}
		if (ret || !req)
			break;
		keep = req->has_keep_open && req->keep_open;
		sw.notify = false;
		sw.restored = 0;
		resp.type = req->type;
		ret = serve(&sw, req, &resp);
		resp.success = !ret;
		if (ret) {
			const char *why = log_first_error();

			resp.has_cr_errno = true;
			resp.cr_errno = -ret;
			resp.cr_errmsg = (char *)(*why ? why : strerror(-ret));
		}
		ret = send_resp(&sw, &resp);
		criu_req__free_unpacked(req, NULL);
		if (ret || !keep)
			break;
	}
	return ret;
}
