/* The dump command end to end against a child of ours: the pages in the images are the child's
 * memory, the lazy flags follow the VMAs, the tree ends as asked (running, killed), and a dump that
 * fails leaves no image behind and the child running. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "image.h"
#include "log.h"
#include "opts.h"
#include "page-xfer.h"
#include "pagestore.h"
#include "lib/unit.h"

#include "core.pb-c.h"
#include "inventory.pb-c.h"
#include "mm.pb-c.h"
#include "pstree.pb-c.h"

#define BUF_LEN (8u << 20)
#define SEED 77

struct child {
	pid_t pid;
	int cmd, ans; /* our ends: a byte to it, a byte back when its memory is still right */
	char *buf;    /* where it keeps BUF_LEN heap-like bytes */
};

static void child_main(int cmd, int ans, bool with_inotify)
{
	char *buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *want = malloc(BUF_LEN), c;
	int sk = -1;

	unit_fill_heaplike(buf, BUF_LEN, SEED);
	memset(buf + 4096 * 3, 0, 4096 * 5); /* zero pages: never stored */
	memcpy(want, buf, BUF_LEN);
	if (with_inotify)
		sk = inotify_init1(0);
	if (write(ans, &buf, sizeof(buf)) != sizeof(buf))
		_exit(1);
	while (read(cmd, &c, 1) == 1) {
		if (c == 'w') { /* dirty pages 10, 20, ... 90 the same way in both copies */
			for (int i = 1; i < 10; i++)
				buf[i * 10 * 4096] = want[i * 10 * 4096] = i;
		}
		c = memcmp(buf, want, BUF_LEN) ? 'B' : 'G';
		if (write(ans, &c, 1) != 1)
			_exit(1);
	}
	(void)sk;
	_exit(0);
}

static void child_start(struct child *c, bool with_inotify)
{
	int to[2], from[2];

	UT_EQ(pipe2(to, O_CLOEXEC), 0);
	UT_EQ(pipe2(from, O_CLOEXEC), 0);
	c->pid = fork();
	UT_GE(c->pid, 0);
	if (!c->pid) {
		close(to[1]);
		close(from[0]);
		child_main(to[0], from[1], with_inotify);
	}
	close(to[0]);
	close(from[1]);
	c->cmd = to[1];
	c->ans = from[0];
	UT_EQ(read(c->ans, &c->buf, sizeof(c->buf)), sizeof(c->buf));
}

/* 'G' when the child is alive and its memory is what it was ('w': after it dirtied some). */
static char child_cmd(struct child *c, char what)
{
	char r = 0;

	alarm(20);
	if (write(c->cmd, &what, 1) != 1 || read(c->ans, &r, 1) != 1)
		r = 0;
	alarm(0);
	return r;
}

static char child_check(struct child *c)
{
	return child_cmd(c, '?');
}

static void child_kill(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	close(c->cmd);
	close(c->ans);
}

static int run_round(pid_t pid, const char *dir, bool leave_running, int port, int status_fd,
		     bool pre, const char *prev, bool track);

static int run_dump_opts(pid_t pid, const char *dir, bool leave_running, int port, int status_fd)
{
	return run_round(pid, dir, leave_running, port, status_fd, false, NULL, false);
}

/* One round of a chain: pre-dump or dump, with --prev-images-dir prev and --track-mem track. */
static int run_round(pid_t pid, const char *dir, bool leave_running, int port, int status_fd,
		     bool pre, const char *prev, bool track)
{
	struct crl_opts o;

	memset(&o, 0, sizeof(o));
	o.prev_images_dir = prev;
	o.track_mem = track;
	o.lazy_pages = port != 0;
	o.port = port;
	o.address = port ? "127.0.0.1" : NULL;
	o.cmd = CMD_DUMP;
	o.cmd_name = "dump";
	o.tree_pid = pid;
	o.images_dir = dir;
	o.work_dir = dir;
	o.compress_level = 1;
	o.status_fd = status_fd;
	o.leave_running = leave_running;
	log_init(NULL, 1);
	return pre ? cmd_pre_dump(&o) : cmd_dump(&o);
}

static int run_dump(pid_t pid, const char *dir, bool leave_running)
{
	return run_dump_opts(pid, dir, leave_running, 0, -1);
}

static int count_images(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	UT_NONNULL(d);
	while ((de = readdir(d)))
		n += strstr(de->d_name, ".img") != NULL;
	closedir(d);
	return n;
}

static void *read_one(int dirfd, enum img_type type, const char *id)
{
	struct img_file f = {};
	void *msg = NULL;

	UT_OK(open_image_read(&f, dirfd, type, id));
	UT_OK(pb_read_one(&f, &msg));
	imgf_close(&f);
	return msg;
}

static void test_dump_leave_running(void)
{
	char dir[256], id[16];
	struct child c;
	InventoryEntry *inv;
	PstreeEntry *ps;
	CoreEntry *core;
	MmEntry *mm;
	struct pgs_ctx *pgs;
	char *want, *got;
	size_t i, lazy = 0, eager = 0;
	int dirfd = unit_mkdtemp(dir, sizeof(dir));
	bool found = false;

	child_start(&c, false);
	UT_OK(run_dump(c.pid, dir, true));
	UT_EQ(child_check(&c), 'G');

	snprintf(id, sizeof(id), "%d", c.pid);
	inv = read_one(dirfd, IMG_INVENTORY, NULL);
	UT_EQ(inv->root_pid, c.pid);
	UT_EQ(inv->dump_uuid.len, PGS_UUID_LEN);
	ps = read_one(dirfd, IMG_PSTREE, NULL);
	UT_EQ(ps->pid, c.pid);
	UT_EQ(ps->n_threads, 1);
	core = read_one(dirfd, IMG_CORE, id);
	UT_EQ(core->n_threads, 1);
	UT_EQ(core->threads[0]->tid, c.pid);
	UT_EQ(core->tc->state, TASK_STATE__TASK_ALIVE);
	UT_EQ(core->tc->n_sigactions, 62);
	UT_ASSERT(core->threads[0]->has_xsave && core->threads[0]->xsave.len >= 512);

	/* the buffer's VMA is private anonymous and lazy */
	mm = read_one(dirfd, IMG_MM, id);
	for (i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];

		if (v->start <= (uint64_t)c.buf && (uint64_t)c.buf < v->end) {
			UT_NE(v->status & VMA_STATUS__VMA_ANON_PRIVATE, 0);
			UT_ASSERT(v->has_lazy && v->lazy);
			found = true;
		}
	}
	UT_ASSERT(found);

	/* the stored pages are the child's bytes */
	UT_OK(pgs_open_local(&pgs, dirfd, id, inv->dump_uuid.data));
	want = unit_xmalloc(BUF_LEN);
	got = unit_xmalloc(BUF_LEN);
	unit_fill_heaplike(want, BUF_LEN, SEED);
	memset(want + 4096 * 3, 0, 4096 * 5);
	memset(got, 0, BUF_LEN);
	UT_EQ(pgs_read(pgs, (uint64_t)c.buf, BUF_LEN / 4096, got), 1);
	UT_MEMEQ(got, want, BUF_LEN);
	UT_EQ(pgs_find(pgs, (uint64_t)c.buf + 4096 * 4), -ENOENT); /* a zero page */
	for (i = 0; i < pgs_nr_entries(pgs); i++) {
		if (pgs_entry(pgs, i)->flags & PGS_PE_LAZY)
			lazy++;
		else
			eager++;
	}
	UT_GT(lazy, 0);
	UT_GT(eager, 0); /* the stack pointer's page at least */
	pgs_close(pgs);

	protobuf_c_message_free_unpacked((ProtobufCMessage *)inv, NULL);
	protobuf_c_message_free_unpacked((ProtobufCMessage *)ps, NULL);
	protobuf_c_message_free_unpacked((ProtobufCMessage *)core, NULL);
	protobuf_c_message_free_unpacked((ProtobufCMessage *)mm, NULL);
	child_kill(&c);
	close(dirfd);
	unit_rmdir(dir);
}

static void test_dump_kills(void)
{
	char dir[256];
	struct child c;
	int status, dirfd = unit_mkdtemp(dir, sizeof(dir));

	child_start(&c, false);
	UT_OK(run_dump(c.pid, dir, false));
	/* we are its parent and its tracer: dump collected its exit, nothing is left of it */
	UT_EQ(waitpid(c.pid, &status, WNOHANG), -1);
	UT_EQ(kill(c.pid, 0), -1);
	UT_EQ(errno, ESRCH);
	UT_GE(count_images(dir), 9);
	close(c.cmd);
	close(c.ans);
	close(dirfd);
	unit_rmdir(dir);
}

static void test_failed_dump_leaves_nothing(void)
{
	char dir[256];
	struct child c;
	int dirfd = unit_mkdtemp(dir, sizeof(dir));

	child_start(&c, true); /* inotify: not supported, found after memory was written */
	UT_ERR(run_dump(c.pid, dir, false), -EOPNOTSUPP);
	UT_EQ(count_images(dir), 0);
	UT_EQ(child_check(&c), 'G');
	UT_EQ(child_check(&c), 'G');
	child_kill(&c);
	close(dirfd);
	unit_rmdir(dir);
}

static void test_absent_pid(void)
{
	char dir[256];
	pid_t pid = fork();
	int dirfd = unit_mkdtemp(dir, sizeof(dir));

	UT_GE(pid, 0);
	if (!pid)
		_exit(0);
	UT_EQ(waitpid(pid, NULL, 0), pid);
	UT_ERR(run_dump(pid, dir, false), -ESRCH);
	UT_EQ(count_images(dir), 0);
	close(dirfd);
	unit_rmdir(dir);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	UT_GE(fd, 0);
	UT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	UT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* dump --lazy-pages: the tree is gone when the status byte comes, and its pages come over the
 * page-xfer protocol, equal to what it had. */
static void test_dump_lazy_serve(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char dir[256], id[16], zero;
	struct child c;
	struct pxf_conn *pc;
	InventoryEntry *inv;
	int st[2], sk, status, port = free_port();
	int dirfd = unit_mkdtemp(dir, sizeof(dir));
	char *want, *got;
	pid_t dumper;

	child_start(&c, false);
	UT_EQ(pipe(st), 0);
	dumper = fork();
	UT_GE(dumper, 0);
	if (!dumper) {
		close(st[0]);
		_exit(run_dump_opts(c.pid, dir, false, port, st[1]) ? 1 : 0);
	}
	close(st[1]);
	alarm(30);
	UT_EQ(read(st[0], &zero, 1), 1);
	UT_EQ(waitpid(c.pid, &status, 0), c.pid); /* killed before the pages are served */
	UT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	inv = read_one(dirfd, IMG_INVENTORY, NULL);
	UT_ASSERT(inv->has_lazy_pages && inv->lazy_pages);
	sk = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(port);
	UT_EQ(connect(sk, (struct sockaddr *)&a, sizeof(a)), 0);
	UT_OK(pxf_conn_create(&pc, sk, 10000));
	UT_OK(pxf_hello(pc, inv->dump_uuid.data));
	want = unit_xmalloc(BUF_LEN);
	got = unit_xmalloc(BUF_LEN);
	unit_fill_heaplike(want, BUF_LEN, SEED);
	memset(want + 4096 * 3, 0, 4096 * 5);
	memset(got, 0, BUF_LEN);
	for (size_t off = 0; off < BUF_LEN; off += PXF_MAX_REQ_PAGES * 4096)
		UT_GE(pxf_read(pc, c.pid, (uint64_t)c.buf + off, PXF_MAX_REQ_PAGES, got + off), 0);
	UT_MEMEQ(got, want, BUF_LEN);
	snprintf(id, sizeof(id), "%d", c.pid);
	pxf_conn_free(pc);
	close(sk);
	UT_EQ(waitpid(dumper, &status, 0), dumper); /* the last client gone: the dump ends */
	UT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	alarm(0);
	protobuf_c_message_free_unpacked((ProtobufCMessage *)inv, NULL);
	close(c.cmd);
	close(c.ans);
	close(dirfd);
	unit_rmdir(dir);
}

/* pre-dump --track-mem, then pages written, then dump --prev-images-dir: the dump stores only what
 * was written, the rest is in the parent set, and the two together are the child's memory. */
static void test_pre_dump_chain(void)
{
	char dir[256], pre[300], fin[300], id[16];
	uint8_t uuid[2][PGS_UUID_LEN];
	struct pgs_ctx *ctx[2];
	InventoryEntry *inv;
	struct child c;
	char *want, *got;
	size_t i, parent = 0, data = 0;
	int dirfd = unit_mkdtemp(dir, sizeof(dir)), pfd, ffd, k;

	child_start(&c, false);
	snprintf(pre, sizeof(pre), "%s/pre", dir);
	snprintf(fin, sizeof(fin), "%s/final", dir);
	UT_OK(run_round(c.pid, pre, false, 0, -1, true, NULL, true));
	UT_EQ(child_check(&c), 'G'); /* pre-dump leaves it running */
	UT_EQ(child_cmd(&c, 'w'), 'G');
	UT_OK(run_round(c.pid, fin, true, 0, -1, false, "../pre", false));
	UT_EQ(child_check(&c), 'G');

	pfd = openat(dirfd, "pre", O_RDONLY | O_DIRECTORY);
	ffd = openat(dirfd, "final", O_RDONLY | O_DIRECTORY);
	UT_GE(pfd, 0);
	UT_GE(ffd, 0);
	inv = read_one(ffd, IMG_INVENTORY, NULL);
	UT_NONNULL(inv->parent_dir);
	UT_EQ(strcmp(inv->parent_dir, "../pre"), 0);
	memcpy(uuid[1], inv->dump_uuid.data, PGS_UUID_LEN);
	protobuf_c_message_free_unpacked((ProtobufCMessage *)inv, NULL);
	inv = read_one(pfd, IMG_INVENTORY, NULL);
	memcpy(uuid[0], inv->dump_uuid.data, PGS_UUID_LEN);
	protobuf_c_message_free_unpacked((ProtobufCMessage *)inv, NULL);

	snprintf(id, sizeof(id), "%d", c.pid);
	UT_OK(pgs_open_local(&ctx[0], pfd, id, uuid[0]));
	UT_OK(pgs_open_local(&ctx[1], ffd, id, uuid[1]));
	for (i = 0; i < pgs_nr_entries(ctx[1]); i++) {
		const struct pgs_entry *e = pgs_entry(ctx[1], i);

		if (e->vaddr < (uint64_t)c.buf || e->vaddr >= (uint64_t)c.buf + BUF_LEN)
			continue;
		if (e->flags & PGS_PE_PARENT)
			parent += e->nr_pages;
		else
			data += e->nr_pages;
	}
	UT_EQ(data, 9); /* exactly the dirtied pages */
	UT_EQ(parent, BUF_LEN / 4096 - 5 - 9);
	want = unit_xmalloc(BUF_LEN);
	got = unit_xmalloc(BUF_LEN);
	unit_fill_heaplike(want, BUF_LEN, SEED);
	memset(want + 4096 * 3, 0, 4096 * 5);
	for (k = 1; k < 10; k++)
		want[k * 10 * 4096] = k;
	memset(got, 0, BUF_LEN);
	for (i = 0; i < BUF_LEN / 4096; i++) {
		uint64_t va = (uint64_t)c.buf + i * 4096;
		int r = pgs_read(ctx[1], va, 1, got + i * 4096);

		if (r == -ENOENT)
			r = pgs_read(ctx[0], va, 1, got + i * 4096);
		UT_GE(r, 0);
	}
	UT_MEMEQ(got, want, BUF_LEN);
	pgs_close(ctx[0]);
	pgs_close(ctx[1]);
	child_kill(&c);
	close(pfd);
	close(ffd);
	close(dirfd);
	unit_rmdir(dir);
}

static const struct unit_test tests[] = {
    {"dump -R: pages, lazy flags, child keeps running", test_dump_leave_running,
     UNIT_F_ROOT | UNIT_F_PTRACE},
    {"dump kills the tree by default", test_dump_kills, UNIT_F_ROOT | UNIT_F_PTRACE},
    {"failed dump: no images, child running", test_failed_dump_leaves_nothing,
     UNIT_F_ROOT | UNIT_F_PTRACE},
    {"absent pid", test_absent_pid, 0},
    {"dump --lazy-pages serves the pages", test_dump_lazy_serve, UNIT_F_ROOT | UNIT_F_PTRACE},
    {"pre-dump chain: only written pages stored", test_pre_dump_chain,
     UNIT_F_ROOT | UNIT_F_PTRACE | UNIT_F_UFFD_WP_ASYNC | UNIT_F_PAGEMAP_SCAN},
};

UNIT_MAIN(tests)
