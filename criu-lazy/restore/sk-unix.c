/* Unix sockets. They name each other (peer inodes, bound names), so all of them are made at
 * once, the first time one is asked for: bound and listening sockets first (connections need
 * their names), then socketpairs, then sockets connected by name; then the data each had queued
 * for reading is sent again by whoever can send to it, and shutdowns are replayed last.
 *
 * The sockets are made here in the restorer and passed to the tasks like any other file.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

#define RCV_SHUTDOWN 1
#define SEND_SHUTDOWN 2

struct usk {
	const FileEntry *fe;
	const SkEntry *sk;
	size_t idx;  /* in t->files */
	int fd;	     /* ours, -1 until made */
	int peer;    /* index of the peer in the usk array, -1: none in the image */
	bool mutual; /* the peer's peer is this one: a pair */
	int spare;   /* the other end of a pair whose peer was closed, until its data is in */
};

struct usk_set {
	struct rst_tree *t;
	struct usk *u;
	size_t nr;
};

/* sun_path length of a sockaddr_un: 0 for none (abstract names start with NUL). */
static size_t addr_len(const ProtobufCBinaryData *a)
{
	if (a->len <= offsetof(struct sockaddr_un, sun_path) || a->len > sizeof(struct sockaddr_un))
		return 0;
	return a->len - offsetof(struct sockaddr_un, sun_path);
}

static size_t name_len(const SkEntry *sk)
{
	return sk->has_name ? addr_len(&sk->name) : 0;
}

static void addr_str(const ProtobufCBinaryData *a, char *buf, size_t size)
{
	size_t len = addr_len(a);
	const char *p = (const char *)a->data + offsetof(struct sockaddr_un, sun_path);

	if (!len)
		snprintf(buf, size, "(unbound)");
	else if (p[0] == '\0')
		snprintf(buf, size, "@%.*s", (int)len - 1, p + 1);
	else
		snprintf(buf, size, "%.*s", (int)strnlen(p, len), p);
}

static void name_str(const SkEntry *sk, char *buf, size_t size)
{
	static const ProtobufCBinaryData none;

	addr_str(sk->has_name ? &sk->name : &none, buf, size);
}

static bool same_addr(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return addr_len(a) && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static bool same_name(const SkEntry *a, const SkEntry *b)
{
	return a->has_name && b->has_name && same_addr(&a->name, &b->name);
}

/* The cwd of the first task that holds file id: relative names were bound from there. */
static const char *task_cwd(const struct rst_tree *t, uint32_t id)
{
	size_t i, j;

	for (i = 0; i < t->nr_tasks; i++)
		for (j = 0; j < t->tasks[i].nr_fds; j++)
			if (t->tasks[i].fds[j]->id == id && t->tasks[i].fs)
				return t->tasks[i].fs->cwd;
	return NULL;
}

/* A relative name is used from the directory of the task that holds the socket: we go there
 * and come back. Returns the fd of where we were, -1 when nothing was needed, or -errno. */
static int enter_cwd(struct usk_set *s, const struct usk *u, const char *path)
{
	const char *cwd;
	int here;

	if (path[0] == '/' || path[0] == '\0')
		return -1;
	cwd = task_cwd(s->t, u->fe->id);
	here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!cwd || here < 0 || chdir(cwd)) {
		int err = cwd ? -errno : -ENOENT;

		pr_errno(err, "unix socket %" PRIu64 ": cannot use %s from %s", u->sk->ino, path,
			 cwd ? cwd : "(no cwd)");
		if (here >= 0)
			close(here);
		return err;
	}
	return here;
}

static void leave_cwd(int here)
{
	if (here < 0)
		return;
	if (fchdir(here))
		pr_perror("cannot go back to our directory");
	close(here);
}

static const char *addr_path(const ProtobufCBinaryData *a)
{
	return (const char *)a->data + offsetof(struct sockaddr_un, sun_path);
}

/* connect() to a name, relative ones from the task's directory. */
static int usk_connect(struct usk_set *s, const struct usk *u, int fd,
		       const ProtobufCBinaryData *to)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1] = "";
	int here, ret = 0;

	memcpy(path, addr_path(to), addr_len(to));
	here = enter_cwd(s, u, path);
	if (here < -1)
		return here;
	if (connect(fd, (const struct sockaddr *)to->data, to->len))
		ret = -errno;
	leave_cwd(here);
	return ret;
}

/* Binds u to its name. A socket file left behind by the dumped tree is removed first; a
 * relative name is bound from the directory of the task that holds it. */
static int usk_bind(struct usk_set *s, struct usk *u)
{
	const SkEntry *sk = u->sk;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = name_len(sk);
	int here = -1, ret = 0;
	char what[128];
	struct stat st;

	name_str(sk, what, sizeof(what));
	memcpy(sun.sun_path, (const char *)sk->name.data + offsetof(struct sockaddr_un, sun_path),
	       len);
	if (sun.sun_path[0] != '\0') {
		if (len == sizeof(sun.sun_path) && sun.sun_path[len - 1]) {
			pr_err("unix socket %" PRIu64 ": name %.20s... is not terminated\n",
			       sk->ino, sun.sun_path);
			return -EBADMSG;
		}
		here = enter_cwd(s, u, sun.sun_path);
		if (here < -1)
			return here;
		if (!lstat(sun.sun_path, &st) && S_ISSOCK(st.st_mode)) {
			pr_debug("unix socket %" PRIu64 ": removing the old socket file %s\n",
				 sk->ino, what);
			unlink(sun.sun_path);
		}
	}
	if (bind(u->fd, (struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path) + len)) {
		ret = -errno;
		pr_perror("unix socket %" PRIu64 ": cannot bind %s", sk->ino, what);
	} else if (sun.sun_path[0] && sk->has_file_mode &&
		   (chmod(sun.sun_path, sk->file_mode) ||
		    (sk->has_file_uid && sk->has_file_gid &&
		     chown(sun.sun_path, sk->file_uid, sk->file_gid)))) {
		ret = -errno;
		pr_perror("unix socket %" PRIu64 ": cannot give %s its mode and owner back",
			  sk->ino, what);
	}
	leave_cwd(here);
	return ret;
}

static int set_int(int fd, int level, int opt, int v, uint64_t ino, const char *name)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v))) {
		int err = -errno;

		pr_perror("unix socket %" PRIu64 ": cannot set %s", ino, name);
		return err;
	}
	return 0;
}

static int usk_opts(struct usk *u)
{
	const SkEntry *sk = u->sk;
	int ret = 0;

	if (sk->has_passcred && sk->passcred)
		ret = set_int(u->fd, SOL_SOCKET, SO_PASSCRED, 1, sk->ino, "SO_PASSCRED");
	if (!ret && sk->has_keepalive && sk->keepalive)
		ret = set_int(u->fd, SOL_SOCKET, SO_KEEPALIVE, 1, sk->ino, "SO_KEEPALIVE");
	if (!ret)
		ret = rst_sk_bufs(u->fd, sk);
	return ret;
}

static int usk_socket(struct usk *u)
{
	u->fd = socket(AF_UNIX, u->sk->type | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		int err = -errno;

		pr_perror("unix socket %" PRIu64 ": socket(type %u)", u->sk->ino, u->sk->type);
		return err;
	}
	return usk_opts(u);
}

/* A stream socket accepted from a listener carries the listener's name: it is not bound. */
static bool name_of_listener(const struct usk_set *s, const struct usk *u)
{
	size_t i;

	if (u->sk->type == SOCK_DGRAM || u->sk->state == TCP_LISTEN)
		return false;
	for (i = 0; i < s->nr; i++)
		if (&s->u[i] != u && s->u[i].sk->state == TCP_LISTEN &&
		    same_name(s->u[i].sk, u->sk))
			return true;
	return u->sk->state == TCP_ESTABLISHED; /* its listener is closed: the name is its */
}

/* Sockets on their own: made, bound, listening. */
static int make_single(struct usk_set *s, struct usk *u)
{
	int ret = usk_socket(u);

	if (ret)
		return ret;
	if (name_len(u->sk) && !name_of_listener(s, u)) {
		ret = usk_bind(s, u);
		if (ret)
			return ret;
	}
	if (u->sk->state == TCP_LISTEN) {
		int backlog = u->sk->has_backlog ? (int)u->sk->backlog : SOMAXCONN;

		if (listen(u->fd, backlog)) {
			ret = -errno;
			pr_perror("unix socket %" PRIu64 ": listen", u->sk->ino);
		}
	}
	return ret;
}

/* A connection accepted from a listener of the tree is made the same way, connect() then
 * accept(), so that the server's end carries the listener's name and the client sees it as its
 * peer's. The listener has nothing queued yet: connections it had not accepted come later. */
static int make_accepted(struct usk_set *s, struct usk *srv, struct usk *cli, struct usk *l)
{
	char what[128];
	int ret;

	name_str(l->sk, what, sizeof(what));
	cli->fd = socket(AF_UNIX, cli->sk->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cli->fd < 0) {
		ret = -errno;
		pr_perror("unix socket %" PRIu64 ": socket(type %u)", cli->sk->ino, cli->sk->type);
		return ret;
	}
	ret = usk_opts(cli);
	if (!ret)
		ret = usk_connect(s, l, cli->fd, &l->sk->name);
	if (!ret && fcntl(cli->fd, F_SETFL, 0))
		ret = -errno;
	if (ret) {
		pr_errno(ret, "unix socket %" PRIu64 ": cannot connect to %s", cli->sk->ino, what);
		return ret;
	}
	srv->fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (srv->fd < 0) {
		ret = -errno;
		pr_perror("unix socket %" PRIu64 ": cannot accept from %s", srv->sk->ino, what);
		return ret;
	}
	return usk_opts(srv);
}

static struct usk *listener_of(struct usk_set *s, const struct usk *u)
{
	size_t i;

	if (u->sk->type == SOCK_DGRAM || !name_len(u->sk))
		return NULL;
	for (i = 0; i < s->nr; i++)
		if (s->u[i].sk->state == TCP_LISTEN && s->u[i].fd >= 0 &&
		    same_name(s->u[i].sk, u->sk))
			return &s->u[i];
	return NULL;
}

static int make_pair(struct usk_set *s, struct usk *a, struct usk *b)
{
	struct usk *l;
	int sv[2], ret;

	if (b && (l = listener_of(s, a)))
		return make_accepted(s, a, b, l);
	if (b && (l = listener_of(s, b)))
		return make_accepted(s, b, a, l);

	if (socketpair(AF_UNIX, a->sk->type | SOCK_CLOEXEC, 0, sv)) {
		ret = -errno;
		pr_perror("unix sockets %" PRIu64 "/%" PRIu64 ": socketpair", a->sk->ino,
			  b ? b->sk->ino : 0);
		return ret;
	}
	a->fd = sv[0];
	if (b)
		b->fd = sv[1];
	else
		a->spare = sv[1]; /* the peer was closed: closed again once the data is in */
	ret = usk_opts(a);
	if (!ret && b)
		ret = usk_opts(b);
	/* datagram sockets of a pair may each have a name of their own */
	if (!ret && a->sk->type == SOCK_DGRAM && name_len(a->sk))
		ret = usk_bind(s, a);
	if (!ret && b && b->sk->type == SOCK_DGRAM && name_len(b->sk))
		ret = usk_bind(s, b);
	return ret;
}

static bool listener_named(const struct usk_set *s, const ProtobufCBinaryData *a)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (s->u[i].sk->state == TCP_LISTEN && s->u[i].sk->has_name &&
		    same_addr(&s->u[i].sk->name, a))
			return true;
	return false;
}

/* A socket connected by name: to a socket of the tree (a datagram server, or a listener that
 * had not accepted the connection yet), or, for datagrams only, to one outside the tree. */
static int make_connected(struct usk_set *s, struct usk *u)
{
	const SkEntry *sk = u->sk;
	const ProtobufCBinaryData *to = NULL;
	bool outside = false;
	char what[128];
	int ret;

	if (u->peer >= 0 && name_len(s->u[u->peer].sk)) {
		to = &s->u[u->peer].sk->name;
	} else if (sk->has_peer_name && addr_len(&sk->peer_name)) {
		to = &sk->peer_name;
		outside = !listener_named(s, to);
	}
	if (!to) {
		if (sk->type != SOCK_DGRAM) {
			pr_err("unix socket %" PRIu64 " is connected to socket %" PRIu64
			       " outside the dumped tree, which has no name: not supported\n",
			       sk->ino, sk->peer_ino);
			return -EOPNOTSUPP;
		}
		pr_warn("unix socket %" PRIu64 ": its peer %" PRIu64 " is gone; not connected "
			"again\n",
			sk->ino, sk->peer_ino);
		return make_single(s, u);
	}
	addr_str(to, what, sizeof(what));
	if (outside) {
		if (sk->type != SOCK_DGRAM) {
			pr_err("unix socket %" PRIu64
			       " is connected to %s, outside the dumped tree: "
			       "not supported\n",
			       sk->ino, what);
			return -EOPNOTSUPP;
		}
		pr_warn("unix socket %" PRIu64 ": connected to %s outside the tree, connected "
			"again\n",
			sk->ino, what);
	}
	ret = make_single(s, u);
	if (ret)
		return ret;
	ret = usk_connect(s, u, u->fd, to);
	if (ret)
		pr_errno(ret, "unix socket %" PRIu64 ": cannot connect to %s", sk->ino, what);
	return ret;
}

/* Who sends r's queued data again: its pair, a socket connected to it, or a new socket. */
static int queue_sender(struct usk_set *s, struct usk *r, bool *tmp)
{
	size_t i;
	int fd;

	*tmp = false;
	if (r->spare >= 0)
		return r->spare;
	if (r->peer >= 0 && r->mutual)
		return s->u[r->peer].fd;
	for (i = 0; i < s->nr; i++)
		if (s->u[i].peer == r - s->u && s->u[i].fd >= 0 && r->sk->type != SOCK_STREAM)
			return s->u[i].fd;
	if (r->sk->type == SOCK_DGRAM && name_len(r->sk) && !r->sk->peer_ino) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && usk_connect(s, r, fd, &r->sk->name) == 0) {
			*tmp = true;
			return fd;
		}
		if (fd >= 0)
			close(fd);
	}
	pr_err("unix socket %" PRIu64 ": %zu queued message(s) and nothing in the tree can send "
	       "them again\n",
	       r->sk->ino, r->sk->n_queue);
	return -EOPNOTSUPP;
}

static int fill_queue(struct usk_set *s, struct usk *r)
{
	bool tmp;
	size_t i;
	int fd, ret = 0;

	if (!r->sk->n_queue)
		return 0;
	fd = queue_sender(s, r, &tmp);
	if (fd < 0)
		return fd;
	for (i = 0; i < r->sk->n_queue && !ret; i++) {
		const ProtobufCBinaryData *q = &r->sk->queue[i];
		size_t done = 0;

		do {
			ssize_t n =
			    send(fd, q->data + done, q->len - done, MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n < 0) {
				ret = -errno;
				pr_perror("unix socket %" PRIu64 ": cannot queue %zu bytes again",
					  r->sk->ino, q->len - done);
				break;
			}
			done += n;
		} while (done < q->len && r->sk->type == SOCK_STREAM);
	}
	if (tmp)
		close(fd);
	return ret;
}

static int finish_one(struct usk *u)
{
	uint32_t shut = u->sk->has_shutdown ? u->sk->shutdown : 0;
	int how = -1;

	if (u->spare >= 0) {
		close(u->spare);
		u->spare = -1;
		shut = 0; /* closing the peer did it */
	}
	if ((shut & (RCV_SHUTDOWN | SEND_SHUTDOWN)) == (RCV_SHUTDOWN | SEND_SHUTDOWN))
		how = SHUT_RDWR;
	else if (shut & RCV_SHUTDOWN)
		how = SHUT_RD;
	else if (shut & SEND_SHUTDOWN)
		how = SHUT_WR;
	if (how >= 0 && shutdown(u->fd, how) && errno != ENOTCONN) {
		int err = -errno;

		pr_perror("unix socket %" PRIu64 ": shutdown(%d)", u->sk->ino, how);
		return err;
	}
	if ((u->sk->flags & O_NONBLOCK) && fcntl(u->fd, F_SETFL, O_NONBLOCK)) {
		int err = -errno;

		pr_perror("unix socket %" PRIu64 ": O_NONBLOCK", u->sk->ino);
		return err;
	}
	return 0;
}

static int collect(struct usk_set *s)
{
	struct rst_tree *t = s->t;
	size_t i, j;

	s->u = calloc(t->nr_files ? t->nr_files : 1, sizeof(*s->u));
	if (!s->u)
		return -ENOMEM;
	for (i = 0; i < t->nr_files; i++) {
		const FileEntry *fe = t->files[i];
		struct usk *u;

		if (fe->type != FD_TYPE__FD_UNIXSK || t->file_fds[i] >= 0)
			continue;
		if (!fe->sk || fe->sk->family != AF_UNIX) {
			pr_err("file %u: unix socket without its description\n", fe->id);
			return -EBADMSG;
		}
		u = &s->u[s->nr++];
		u->fe = fe;
		u->sk = fe->sk;
		u->idx = i;
		u->fd = u->spare = u->peer = -1;
	}
	for (i = 0; i < s->nr; i++) {
		struct usk *u = &s->u[i];

		if (!u->sk->has_peer_ino || !u->sk->peer_ino)
			continue;
		for (j = 0; j < s->nr; j++)
			if (s->u[j].sk->ino == u->sk->peer_ino)
				u->peer = j;
		if (u->peer >= 0) {
			const SkEntry *p = s->u[u->peer].sk;

			u->mutual = p->has_peer_ino && p->peer_ino == u->sk->ino;
		}
	}
	return 0;
}

/* A connection whose peer was closed: the kernel no longer names the peer (an orphan has no
 * inode) and has shut the survivor down both ways. */
static bool peer_closed(const struct usk *u)
{
	return u->sk->type != SOCK_DGRAM && u->peer < 0 && u->sk->state == TCP_ESTABLISHED &&
	       u->sk->has_shutdown && u->sk->shutdown == (RCV_SHUTDOWN | SEND_SHUTDOWN);
}

/* A connection a listener had not accepted yet names no peer (the server's end has no inode
 * before accept), only the listener's name. */
static bool connected(const struct usk *u)
{
	return (u->sk->has_peer_ino && u->sk->peer_ino) ||
	       (u->sk->type != SOCK_DGRAM && u->sk->state == TCP_ESTABLISHED &&
		u->sk->has_peer_name && addr_len(&u->sk->peer_name));
}

static int make_all(struct usk_set *s)
{
	size_t i;
	int ret = 0;

	/* names first: connections need them */
	for (i = 0; i < s->nr && !ret; i++) {
		struct usk *u = &s->u[i];

		if (!connected(u) && !peer_closed(u))
			ret = make_single(s, u);
	}
	for (i = 0; i < s->nr && !ret; i++) {
		struct usk *u = &s->u[i];

		if (u->fd >= 0)
			continue;
		if (u->mutual) {
			if (s->u[u->peer].fd < 0)
				ret = make_pair(s, u, &s->u[u->peer]);
		} else if (peer_closed(u)) {
			ret = make_pair(s, u, NULL);
		}
	}
	for (i = 0; i < s->nr && !ret; i++)
		if (s->u[i].fd < 0)
			ret = make_connected(s, &s->u[i]);
	for (i = 0; i < s->nr && !ret; i++)
		ret = fill_queue(s, &s->u[i]);
	for (i = 0; i < s->nr && !ret; i++)
		ret = finish_one(&s->u[i]);
	return ret;
}

int rst_open_unix_sk(struct rst_tree *t, size_t idx)
{
	struct usk_set s = {.t = t};
	size_t i;
	int ret;

	ret = collect(&s);
	if (!ret)
		ret = make_all(&s);
	for (i = 0; i < s.nr; i++) {
		if (s.u[i].spare >= 0)
			close(s.u[i].spare);
		if (ret && s.u[i].fd >= 0)
			close(s.u[i].fd);
		else if (!ret)
			t->file_fds[s.u[i].idx] = s.u[i].fd;
	}
	free(s.u);
	if (ret)
		return ret;
	if (t->file_fds[idx] < 0) {
		pr_err("file %u: unix socket not made\n", t->files[idx]->id);
		return -EINVAL;
	}
	pr_info("%zu unix socket(s) made\n", s.nr);
	return t->file_fds[idx];
}
