/* swrk as a container runtime drives it: we play the runtime on a SOCK_SEQPACKET pair, with the
 * service forked off. VERSION and FEATURE_CHECK answer as runc expects, unknown requests and
 * options we cannot honour fail with a reason, and a counting child is dumped and restored through
 * the RPC with the hook round trips in CRIU's order, the restored root as our child, counting on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "log.h"
#include "opts.h"
#include "lazy-register.h"
#include "lib/unit.h"

#include "rpc.pb-c.h"

struct session {
	int sk;	   /* our end */
	pid_t srv; /* the forked service */
	char hooks[256];
	int post_restore_pid;
};

static void session_start(struct session *s)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	UT_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	s->srv = fork();
	UT_ASSERT(s->srv >= 0);
	if (s->srv == 0) {
		struct crl_opts o = {.cmd = CMD_SWRK, .cmd_name = "swrk", .swrk_fd = sv[1]};

		close(sv[0]);
		log_init(NULL, 2);
		_exit(cmd_swrk(&o) ? 1 : 0);
	}
	close(sv[1]);
	s->sk = sv[0];
}

/* The service's exit status once we closed our end. */
static int session_end(struct session *s)
{
	int st;

	close(s->sk);
	UT_ASSERT(waitpid(s->srv, &st, 0) == s->srv);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void send_req(struct session *s, const CriuReq *req)
{
	size_t len = criu_req__get_packed_size(req);
	uint8_t buf[4096];

	UT_ASSERT(len <= sizeof(buf));
	criu_req__pack(req, buf);
	UT_ASSERT(send(s->sk, buf, len, 0) == (ssize_t)len);
}

static CriuResp *recv_resp(struct session *s)
{
	uint8_t buf[16384];
	CriuResp *resp;
	ssize_t n;

	n = recv(s->sk, buf, sizeof(buf), 0);
	if (n <= 0)
		UT_FAIL("no answer from the service (%zd, %s)", n, strerror(errno));
	resp = criu_resp__unpack(NULL, n, buf);
	UT_ASSERT(resp);
	return resp;
}

/* Sends req, answers every hook with success (noting its name), returns the final answer. */
static CriuResp *call(struct session *s, const CriuReq *req)
{
	CriuResp *resp;

	send_req(s, req);
	while (1) {
		CriuReq ack = CRIU_REQ__INIT;

		resp = recv_resp(s);
		if (resp->type != CRIU_REQ_TYPE__NOTIFY)
			return resp;
		UT_ASSERT(resp->success && resp->notify && resp->notify->script);
		snprintf(s->hooks + strlen(s->hooks), sizeof(s->hooks) - strlen(s->hooks), "%s%s",
			 s->hooks[0] ? "," : "", resp->notify->script);
		if (!strcmp(resp->notify->script, "post-restore"))
			s->post_restore_pid = resp->notify->pid;
		criu_resp__free_unpacked(resp, NULL);
		ack.type = CRIU_REQ_TYPE__NOTIFY;
		ack.has_notify_success = true;
		ack.notify_success = true;
		send_req(s, &ack);
	}
}

static void test_version(void)
{
	CriuReq req = CRIU_REQ__INIT;
	struct session s;
	CriuResp *resp;

	session_start(&s);
	req.type = CRIU_REQ_TYPE__VERSION;
	resp = call(&s, &req);
	UT_ASSERT(resp->type == CRIU_REQ_TYPE__VERSION && resp->success && resp->version);
	/* runc computes major*10000 + minor*100 and wants at least 3.0 (3.15 for notifications) */
	UT_ASSERT(resp->version->major_number * 10000 + resp->version->minor_number * 100 >= 31500);
	UT_ASSERT(!resp->version->gitid);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);
}

static void test_feature_check(void)
{
	CriuFeatures f = CRIU_FEATURES__INIT;
	CriuReq req = CRIU_REQ__INIT;
	struct session s;
	CriuResp *resp;

	session_start(&s);
	f.has_lazy_pages = f.lazy_pages = true;
	req.type = CRIU_REQ_TYPE__FEATURE_CHECK;
	req.features = &f;
	resp = call(&s, &req);
	UT_ASSERT(resp->success && resp->features);
	UT_ASSERT(resp->features->has_lazy_pages);
	UT_ASSERT(!resp->features->has_mem_track); /* only what was asked */
	unit_log("lazy_pages: %d", resp->features->lazy_pages);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);
}

static void test_unknown_type(void)
{
	CriuReq req = CRIU_REQ__INIT;
	struct session s;
	CriuResp *resp;

	session_start(&s);
	req.type = CRIU_REQ_TYPE__CPUINFO_DUMP;
	resp = call(&s, &req);
	UT_ASSERT(resp->type == CRIU_REQ_TYPE__CPUINFO_DUMP && !resp->success);
	UT_ASSERT(resp->has_cr_errno && resp->cr_errno == EOPNOTSUPP);
	UT_ASSERT(resp->cr_errmsg && strstr(resp->cr_errmsg, "not implemented"));
	criu_resp__free_unpacked(resp, NULL);
	session_end(&s);
}

static void count_forever(int fd)
{
	struct timespec ts = {0, 2000000};
	char buf[32];
	long i = 0;

	while (1) {
		int n = snprintf(buf, sizeof(buf), "%ld\n", ++i);

		if (pwrite(fd, buf, n, 0) != n)
			_exit(1);
		nanosleep(&ts, NULL);
	}
}

/* The counter runs from a copy of this binary: a restorer cannot make a task's exe the very file
 * it runs from itself while that is still mapped (PR_SET_MM_MAP says EBUSY). */
__attribute__((constructor)) static void counter_entry(void)
{
	const char *fd = getenv("SWRK_TEST_COUNTER_FD");

	if (fd)
		count_forever(atoi(fd));
}

static void copy_self(const char *to)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY), out;
	ssize_t n;

	UT_ASSERT(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	UT_ASSERT(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		UT_ASSERT(write(out, buf, n) == n);
	UT_ASSERT(n == 0);
	close(in);
	close(out);
}

/* A child that counts in a file, so a restored copy shows it goes on. */
static pid_t counter_start(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char bin[4200], env[64];
	pid_t pid;

	UT_ASSERT(fd >= 0);
	snprintf(bin, sizeof(bin), "%s.bin", path);
	copy_self(bin);
	snprintf(env, sizeof(env), "SWRK_TEST_COUNTER_FD=%d", fd);
	pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		char *argv[] = {bin, NULL}, *envp[] = {env, NULL};

		execve(bin, argv, envp);
		_exit(127);
	}
	close(fd);
	return pid;
}

static long counter_read(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);

	UT_ASSERT(fd >= 0);
	UT_ASSERT(read(fd, buf, sizeof(buf) - 1) >= 0); /* empty before the first count */
	close(fd);
	return atol(buf);
}

static void wait_count_above(const char *path, long v)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (counter_read(path) > v)
			return;
		usleep(10000);
	}
	UT_FAIL("the count stayed at %ld", counter_read(path));
}

/* The first hierarchy of /proc/self/cgroup: its controllers and our path in it. */
static void first_cgroup(char *ctrl, size_t clen, char *path, size_t plen)
{
	char line[4096], *c, *p;
	FILE *f = fopen("/proc/self/cgroup", "r");

	UT_ASSERT(f && fgets(line, sizeof(line), f));
	fclose(f);
	c = strchr(line, ':');
	p = c ? strchr(c + 1, ':') : NULL;
	UT_ASSERT(p);
	*p++ = '\0';
	p[strcspn(p, "\n")] = '\0';
	snprintf(ctrl, clen, "%s", c + 1);
	snprintf(path, plen, "%s", p);
}

static void test_refused_option(void)
{
	CgroupRoot cg = CGROUP_ROOT__INIT, *cgp = &cg;
	char ctrl[256], cg_path[4096];
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT;
	char dir[4096], path[4200];
	struct session s;
	CriuResp *resp;
	pid_t child;
	int dfd;

	snprintf(dir, sizeof(dir), "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	snprintf(path, sizeof(path), "%s/count", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	UT_ASSERT(dfd >= 0);
	child = counter_start(path);
	session_start(&s);
	opts.images_dir_fd = dfd;
	opts.has_pid = true;
	opts.pid = child;
	opts.has_ext_unix_sk = opts.ext_unix_sk = true;
	req.type = CRIU_REQ_TYPE__DUMP;
	req.opts = &opts;
	resp = call(&s, &req);
	UT_ASSERT(!resp->success && resp->cr_errmsg);
	UT_ASSERT(strstr(resp->cr_errmsg, "ext_unix_sk"));
	criu_resp__free_unpacked(resp, NULL);
	session_end(&s);

	/* tasks would not land in the cgroup asked for */
	first_cgroup(ctrl, sizeof(ctrl), cg_path, sizeof(cg_path));
	cg.ctrl = ctrl;
	cg.path = "/not-where-we-are";
	opts.n_cg_root = 1;
	opts.cg_root = &cgp;
	opts.has_ext_unix_sk = opts.ext_unix_sk = false;
	session_start(&s);
	resp = call(&s, &req);
	UT_ASSERT(!resp->success && resp->cr_errmsg);
	UT_ASSERT(strstr(resp->cr_errmsg, "cg_root"));
	criu_resp__free_unpacked(resp, NULL);
	session_end(&s);
	/* refused before anything was touched: still counting */
	wait_count_above(path, counter_read(path));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_dump_restore(void)
{
	CgroupRoot cg = CGROUP_ROOT__INIT, *cgp = &cg;
	char ctrl[256], cg_path[4096];
	struct timespec t0;
	double dump_ms;
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT;
	char dir[4096], path[4200], img[4200];
	struct session s;
	CriuResp *resp;
	long before;
	pid_t child, got;
	int dfd, st;

	snprintf(dir, sizeof(dir), "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	snprintf(path, sizeof(path), "%s/count", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	UT_ASSERT(mkdir(img, 0700) == 0);
	dfd = open(img, O_RDONLY | O_DIRECTORY);
	UT_ASSERT(dfd >= 0);
	child = counter_start(path);
	wait_count_above(path, 10);

	session_start(&s);
	opts.images_dir_fd = dfd;
	opts.has_pid = true;
	opts.pid = child;
	opts.log_file = "dump.log";
	opts.has_log_level = true;
	opts.log_level = 4;
	opts.has_notify_scripts = opts.notify_scripts = true;
	opts.has_manage_cgroups = opts.manage_cgroups = true;
	first_cgroup(ctrl, sizeof(ctrl), cg_path, sizeof(cg_path));
	cg.ctrl = ctrl;
	cg.path = cg_path;
	opts.n_cg_root = 1;
	opts.cg_root = &cgp;
	opts.root = "/";
	req.type = CRIU_REQ_TYPE__DUMP;
	req.opts = &opts;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	resp = call(&s, &req);
	dump_ms = ms_since(&t0);
	if (!resp->success)
		UT_FAIL("dump: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	UT_ASSERT(resp->type == CRIU_REQ_TYPE__DUMP);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);
	UT_ASSERT(!strcmp(s.hooks, "pre-dump,post-dump"));
	/* killed by the dump: reap it so its pid is free for the restore */
	UT_ASSERT(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
	before = counter_read(path);
	usleep(50000);
	UT_ASSERT(counter_read(path) == before);

	session_start(&s);
	opts.has_pid = false;
	opts.log_file = "restore.log";
	opts.has_rst_sibling = opts.rst_sibling = true;
	req.type = CRIU_REQ_TYPE__RESTORE;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	resp = call(&s, &req);
	unit_log("through the RPC, hooks included: dump %.1f ms, restore %.1f ms", dump_ms,
		 ms_since(&t0));
	if (!resp->success)
		UT_FAIL("restore: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	UT_ASSERT(resp->restore && resp->restore->pid == child);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);
	UT_ASSERT(!strcmp(s.hooks, "setup-namespaces,post-restore"));
	UT_ASSERT(s.post_restore_pid == child);
	wait_count_above(path, before + 5);
	/* a sibling of the service: ours to reap */
	kill(child, SIGKILL);
	got = waitpid(child, &st, 0);
	UT_ASSERT(got == child);
	close(dfd);
}

static void hooks_until(struct session *s, const char *last);

static void hooks_until_send(struct session *s, const CriuReq *req, const char *last)
{
	send_req(s, req);
	hooks_until(s, last);
}

static void test_garbage(void)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
	struct session s;
	CriuResp *resp;

	session_start(&s);
	UT_ASSERT(send(s.sk, junk, sizeof(junk), 0) == sizeof(junk));
	resp = recv_resp(&s);
	UT_ASSERT(!resp->success && resp->cr_errno == EBADMSG);
	UT_ASSERT(resp->cr_errmsg && strstr(resp->cr_errmsg, "not a criu_req"));
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) != 0);
}

/* The runtime fails its post-dump hook: the dump is undone and the tree goes on running. */
static void test_hook_failed(void)
{
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT, nack = CRIU_REQ__INIT;
	char dir[4096], path[4200];
	struct session s;
	CriuResp *resp;
	pid_t child;
	int dfd;

	snprintf(dir, sizeof(dir), "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	snprintf(path, sizeof(path), "%s/count", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	UT_ASSERT(dfd >= 0);
	child = counter_start(path);
	wait_count_above(path, 5);
	session_start(&s);
	opts.images_dir_fd = dfd;
	opts.has_pid = true;
	opts.pid = child;
	opts.has_notify_scripts = opts.notify_scripts = true;
	req.type = CRIU_REQ_TYPE__DUMP;
	req.opts = &opts;
	hooks_until_send(&s, &req, "pre-dump");
	resp = recv_resp(&s);
	UT_ASSERT(resp->type == CRIU_REQ_TYPE__NOTIFY && resp->notify &&
		  !strcmp(resp->notify->script, "post-dump"));
	criu_resp__free_unpacked(resp, NULL);
	nack.type = CRIU_REQ_TYPE__NOTIFY;
	nack.has_notify_success = true;
	nack.notify_success = false;
	send_req(&s, &nack);
	resp = recv_resp(&s);
	UT_ASSERT(resp->type == CRIU_REQ_TYPE__DUMP && !resp->success);
	UT_ASSERT(resp->cr_errmsg && strstr(resp->cr_errmsg, "post-dump"));
	criu_resp__free_unpacked(resp, NULL);
	session_end(&s);
	snprintf(path + strlen(dir), sizeof(path) - strlen(dir), "/inventory.img");
	UT_ASSERT(access(path, F_OK) && errno == ENOENT); /* no image set left behind */
	snprintf(path, sizeof(path), "%s/count", dir);
	wait_count_above(path, counter_read(path));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(dfd);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	UT_ASSERT(fd >= 0);
	UT_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	UT_ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Answers hooks until the one named last, which is acknowledged too; the final answer, if it came
 * first, is a failure. */
static void hooks_until(struct session *s, const char *last)
{
	while (1) {
		CriuReq ack = CRIU_REQ__INIT;
		CriuResp *resp = recv_resp(s);
		bool done;

		if (resp->type != CRIU_REQ_TYPE__NOTIFY)
			UT_FAIL("answer before the %s hook: %s", last,
				resp->cr_errmsg ? resp->cr_errmsg : "?");
		snprintf(s->hooks + strlen(s->hooks), sizeof(s->hooks) - strlen(s->hooks), "%s%s",
			 s->hooks[0] ? "," : "", resp->notify->script);
		done = !strcmp(resp->notify->script, last);
		criu_resp__free_unpacked(resp, NULL);
		ack.type = CRIU_REQ_TYPE__NOTIFY;
		ack.has_notify_success = ack.notify_success = true;
		send_req(s, &ack);
		if (done)
			return;
	}
}

/* Lazy migration the way runc does it: DUMP with lazy_pages and a page server (ready when the
 * status-ready hook comes), a lazy-pages daemon pulling from it, then RESTORE with lazy_pages and
 * a work dir of the runtime's own, where no daemon listens: it is found in the images dir. */
static void test_lazy_migration(void)
{
	CriuPageServerInfo ps = CRIU_PAGE_SERVER_INFO__INIT;
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT;
	char dir[4096], path[4200], img[4200], work[4200], sock[4300];
	struct session src, dst;
	CriuResp *resp;
	int dfd, wfd, st, i, port = free_port();
	pid_t child, daemon;
	long before;

	snprintf(dir, sizeof(dir), "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	snprintf(path, sizeof(path), "%s/count", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(work, sizeof(work), "%s/work", dir);
	UT_ASSERT(mkdir(img, 0700) == 0 && mkdir(work, 0700) == 0);
	dfd = open(img, O_RDONLY | O_DIRECTORY);
	wfd = open(work, O_RDONLY | O_DIRECTORY);
	UT_ASSERT(dfd >= 0 && wfd >= 0);
	child = counter_start(path);
	wait_count_above(path, 10);
	alarm(40);

	session_start(&src);
	opts.images_dir_fd = dfd;
	opts.has_work_dir_fd = true;
	opts.work_dir_fd = wfd;
	opts.has_pid = true;
	opts.pid = child;
	opts.log_file = "dump.log";
	opts.has_notify_scripts = opts.notify_scripts = true;
	opts.has_lazy_pages = opts.lazy_pages = true;
	ps.address = "127.0.0.1";
	ps.has_port = true;
	ps.port = port;
	opts.ps = &ps;
	req.type = CRIU_REQ_TYPE__DUMP;
	req.opts = &opts;
	send_req(&src, &req);
	hooks_until(&src, "status-ready");
	UT_ASSERT(!strcmp(src.hooks, "pre-dump,post-dump,status-ready"));
	UT_ASSERT(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
	before = counter_read(path);

	daemon = fork();
	UT_ASSERT(daemon >= 0);
	if (daemon == 0) {
		struct crl_opts o = {.cmd = CMD_LAZY_PAGES,
				     .cmd_name = "lazy-pages",
				     .images_dir = img,
				     .work_dir = img,
				     .page_server = true,
				     .address = "127.0.0.1",
				     .port = port,
				     .status_fd = -1,
				     .lazy_timeout = 10,
				     .swrk_fd = -1,
				     .log_level = 2};

		close(src.sk);
		_exit(cmd_lazy_pages(&o) ? 1 : 0);
	}
	snprintf(sock, sizeof(sock), "%s/%s", img, LAZY_SOCKET_NAME);
	for (i = 0; i < 500 && access(sock, F_OK); i++)
		usleep(10000);
	UT_ASSERT(!access(sock, F_OK));

	session_start(&dst);
	opts.has_pid = false;
	opts.ps = NULL;
	opts.log_file = "restore.log";
	opts.has_rst_sibling = opts.rst_sibling = true;
	req.type = CRIU_REQ_TYPE__RESTORE;
	resp = call(&dst, &req);
	if (!resp->success)
		UT_FAIL("restore: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	UT_ASSERT(resp->restore && resp->restore->pid == child);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&dst) == 0);
	wait_count_above(path, before + 5);

	/* every page pulled: the daemon and the source's dump both end well */
	UT_ASSERT(waitpid(daemon, &st, 0) == daemon && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	resp = recv_resp(&src);
	if (!resp->success)
		UT_FAIL("lazy dump: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	UT_ASSERT(resp->type == CRIU_REQ_TYPE__DUMP);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&src) == 0);
	wait_count_above(path, counter_read(path));
	alarm(0);
	kill(child, SIGKILL);
	UT_ASSERT(waitpid(child, &st, 0) == child);
	close(dfd);
	close(wfd);
}

/* True once pid has exited: reaped if it became ours, a zombie of whoever reaps it, or gone. */
static bool wait_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	int i, st, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return true;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			return true;
		usleep(10000);
	}
	return false;
}

/* Copies the files of from that to lacks (the dump's own images next to the pushed pages). */
static int merge_dir(const char *from, const char *to)
{
	char a[8192], b[8192], buf[65536];
	struct dirent *de;
	int n = 0, in, out;
	DIR *d = opendir(from);
	ssize_t r;

	UT_ASSERT(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		if (!access(b, F_OK))
			continue;
		in = open(a, O_RDONLY);
		out = open(b, O_WRONLY | O_CREAT | O_EXCL, 0600);
		UT_ASSERT(in >= 0 && out >= 0);
		while ((r = read(in, buf, sizeof(buf))) > 0)
			UT_ASSERT(write(out, buf, r) == r);
		close(in);
		close(out);
		n++;
	}
	closedir(d);
	return n;
}

/* Pre-copy migration through the RPC: PAGE_SERVER answers with the pid and port of a server
 * receiving into its images dir, DUMP with ps pushes the pages there, and the two dirs together
 * restore (RESTORE) to a tree that counts on. */
static void test_page_server_push(void)
{
	CriuPageServerInfo ps = CRIU_PAGE_SERVER_INFO__INIT;
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT;
	char dir[4096], path[4200], src_dir[4200], dst_dir[4200];
	struct session s;
	CriuResp *resp;
	int sfd, dfd, st, port = free_port();
	pid_t child, srv;
	long before;

	snprintf(dir, sizeof(dir), "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	snprintf(path, sizeof(path), "%s/count", dir);
	snprintf(src_dir, sizeof(src_dir), "%s/src", dir);
	snprintf(dst_dir, sizeof(dst_dir), "%s/dst", dir);
	UT_ASSERT(mkdir(src_dir, 0700) == 0 && mkdir(dst_dir, 0700) == 0);
	sfd = open(src_dir, O_RDONLY | O_DIRECTORY);
	dfd = open(dst_dir, O_RDONLY | O_DIRECTORY);
	UT_ASSERT(sfd >= 0 && dfd >= 0);
	child = counter_start(path);
	wait_count_above(path, 10);
	alarm(40);

	session_start(&s);
	opts.images_dir_fd = dfd;
	opts.log_file = "page-server.log";
	ps.address = "127.0.0.1";
	ps.has_port = true;
	ps.port = port;
	opts.ps = &ps;
	req.type = CRIU_REQ_TYPE__PAGE_SERVER;
	req.opts = &opts;
	resp = call(&s, &req);
	if (!resp->success)
		UT_FAIL("page server: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	UT_ASSERT(resp->ps && resp->ps->has_pid && resp->ps->has_port && resp->ps->port == port);
	srv = resp->ps->pid;
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);

	session_start(&s);
	opts.images_dir_fd = sfd;
	opts.log_file = "dump.log";
	opts.has_pid = true;
	opts.pid = child;
	req.type = CRIU_REQ_TYPE__DUMP;
	resp = call(&s, &req);
	if (!resp->success)
		UT_FAIL("dump to the page server: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);
	UT_ASSERT(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
	/* its client done, the server ends; it was the service's child, now reparented */
	UT_ASSERT(wait_gone(srv));
	before = counter_read(path);
	UT_ASSERT(merge_dir(src_dir, dst_dir) > 0);

	session_start(&s);
	opts.images_dir_fd = dfd;
	opts.has_pid = false;
	opts.ps = NULL;
	opts.log_file = "restore.log";
	opts.has_rst_sibling = opts.rst_sibling = true;
	req.type = CRIU_REQ_TYPE__RESTORE;
	resp = call(&s, &req);
	if (!resp->success)
		UT_FAIL("restore: %s", resp->cr_errmsg ? resp->cr_errmsg : "?");
	UT_ASSERT(resp->restore && resp->restore->pid == child);
	criu_resp__free_unpacked(resp, NULL);
	UT_ASSERT(session_end(&s) == 0);
	wait_count_above(path, before + 5);
	alarm(0);
	kill(child, SIGKILL);
	UT_ASSERT(waitpid(child, &st, 0) == child);
	close(sfd);
	close(dfd);
}

static const struct unit_test tests[] = {
    {"VERSION says CRIU 3.15 semantics or later", test_version, 0},
    {"FEATURE_CHECK answers what was asked", test_feature_check, 0},
    {"an unknown request fails with a reason", test_unknown_type, 0},
    {"a packet that is no request is answered with the reason", test_garbage, 0},
    {"a failed post-dump hook undoes the dump, the tree runs on", test_hook_failed,
     UNIT_F_ROOT | UNIT_F_PTRACE},
    {"an option we cannot honour fails the dump, the tree untouched", test_refused_option,
     UNIT_F_ROOT | UNIT_F_PTRACE},
    {"dump and restore through the RPC, hooks in order", test_dump_restore,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_CLONE3},
    {"lazy migration through the RPC, daemon found in the images dir", test_lazy_migration,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_CLONE3 | UNIT_F_UFFD | UNIT_F_PIDFD_GETFD},
    {"PAGE_SERVER receives what a DUMP with ps pushes; both dirs restore", test_page_server_push,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_CLONE3},
};

UNIT_MAIN(tests)
