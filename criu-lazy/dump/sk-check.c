/* Unix sockets beyond what sk-dump.c reads. Queued messages are peeked with their control data,
 * so that file descriptors in flight (SCM_RIGHTS) are seen: they are refused, as they would be
 * lost. Once every process's files are known: unix connections that leave the tree. A stream or
 * seqpacket connection to a socket outside the tree (journald's stream, an X server, a database)
 * cannot be rebuilt, since the other side keeps state about it: the dump is refused, naming the
 * peer. A datagram socket connected outside (syslog's /dev/log) is connected again by name. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "dump.h"
#include "sk.h"

#include "files.pb-c.h"

ssize_t dump_sk_peek(int fd, void *buf, size_t len, const char *what)
{
	char cbuf[CMSG_SPACE(64 * sizeof(int))];
	struct iovec iov = {buf, len};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int nfds = 0;

	n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		n = -errno;
		if (n == -EWOULDBLOCK)
			return -EAGAIN;
		pr_perror("%s: cannot peek at its queue", what);
		return n;
	}
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *fds = (int *)CMSG_DATA(c), i, k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++)
			close(fds[i]); /* peeking gave us copies */
		nfds += k;
	}
	if (nfds || (mh.msg_flags & MSG_CTRUNC)) {
		pr_err("%s: file descriptors in flight (SCM_RIGHTS) in its queue: not supported\n",
		       what);
		return -EOPNOTSUPP;
	}
	return n;
}

int dump_sk_bufs(int fd, SkEntry *sk)
{
	int v, fresh_v, tfd;
	socklen_t len = sizeof(v);

	if (sk->family != AF_UNIX && sk->type == SOCK_STREAM &&
	    !(sk->has_state && sk->state == TCP_LISTEN))
		return 0; /* a TCP connection (not a listener) */
	tfd = socket(sk->family, sk->type | SOCK_CLOEXEC, sk->protocol);
	if (tfd < 0)
		return 0; /* nothing to compare with: the defaults will do */
	len = sizeof(v);
	if (!getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len) &&
	    !getsockopt(tfd, SOL_SOCKET, SO_SNDBUF, &fresh_v, &len) && v != fresh_v) {
		sk->has_sndbuf = true;
		sk->sndbuf = v;
	}
	len = sizeof(v);
	if (!getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) &&
	    !getsockopt(tfd, SOL_SOCKET, SO_RCVBUF, &fresh_v, &len) && v != fresh_v) {
		sk->has_rcvbuf = true;
		sk->rcvbuf = v;
	}
	close(tfd);
	return 0;
}

void dump_unix_file(SkEntry *sk, pid_t pid)
{
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	const char *name = (const char *)sk->name.data + off;
	char path[PATH_MAX + 64];
	struct stat st;
	size_t len;

	if (!sk->has_name || sk->name.len <= off + 1 || name[0] == '\0' ||
	    sk->name.len > sizeof(struct sockaddr_un))
		return;
	len = strnlen(name, sk->name.len - off);
	snprintf(path, sizeof(path), "/proc/%d/%s/%.*s", pid, name[0] == '/' ? "root" : "cwd",
		 (int)len, name);
	if (lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return; /* unlinked, or replaced: bound again with the default mode */
	sk->has_file_mode = sk->has_file_uid = sk->has_file_gid = true;
	sk->file_mode = st.st_mode & 07777;
	sk->file_uid = st.st_uid;
	sk->file_gid = st.st_gid;
}

/* The TCP connections of one process, before any memory is read: a tree the dump will refuse
 * for them is refused at once, not after minutes of copying memory. */
static int precheck_task(const struct dump_ctx *d, pid_t pid)
{
	char path[320], link[64];
	struct dirent *de;
	int pidfd, ret = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return 0; /* the full dump says why */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	while (!ret && pidfd >= 0 && (de = readdir(dir))) {
		SkEntry sk = SK_ENTRY__INIT;
		struct sockaddr_storage a, b;
		socklen_t al = sizeof(a), bl = sizeof(b), len;
		struct tcp_info ti;
		char what[320], conn[160];
		int fd, v = 0;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0 || strncmp(link, "socket:[", 8) != 0)
			continue;
		fd = syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
		if (fd < 0)
			continue;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) ||
		    (v != AF_INET && v != AF_INET6))
			goto next;
		sk.family = v;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) || v != SOCK_STREAM)
			goto next;
		len = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
			goto next;
		if (ti.tcpi_state == TCP_LISTEN || ti.tcpi_state == TCP_CLOSE ||
		    (ti.tcpi_state == TCP_ESTABLISHED && d->o->tcp_established))
			goto next;
		if (!getsockname(fd, (struct sockaddr *)&a, &al)) {
			sk.has_name = true;
			sk.name.data = (uint8_t *)&a;
			sk.name.len = al;
		}
		if (!getpeername(fd, (struct sockaddr *)&b, &bl)) {
			sk.has_peer_name = true;
			sk.peer_name.data = (uint8_t *)&b;
			sk.peer_name.len = bl;
		}
		dump_tcp_str(&sk, conn, sizeof(conn));
		snprintf(what, sizeof(what), "process %d fd %s", pid, de->d_name);
		if (ti.tcpi_state == TCP_ESTABLISHED)
			pr_err("%s: established TCP connection %s: use --tcp-established\n", what,
			       conn);
		else
			pr_err("%s: TCP connection %s in state %u: not supported\n", what, conn,
			       ti.tcpi_state);
		ret = -EOPNOTSUPP;
	next:
		close(fd);
	}
	if (pidfd >= 0)
		close(pidfd);
	closedir(dir);
	return ret;
}

int dump_sk_precheck(const struct dump_ctx *d)
{
	int i, ret = 0;

	for (i = 0; i < d->nr_tasks && !ret; i++)
		if (d->tasks[i].state != 'Z')
			ret = precheck_task(d, d->tasks[i].pid);
	return ret;
}

static void peer_str(const SkEntry *sk, char *buf, size_t size)
{
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	const char *p = (const char *)sk->peer_name.data + off;
	size_t len;

	if (!sk->has_peer_name || sk->peer_name.len <= off ||
	    sk->peer_name.len > sizeof(struct sockaddr_un)) {
		snprintf(buf, size, "an unnamed socket");
		return;
	}
	len = sk->peer_name.len - off;
	if (p[0] == '\0')
		snprintf(buf, size, "@%.*s", (int)len - 1, p + 1);
	else
		snprintf(buf, size, "%.*s", (int)strnlen(p, len), p);
}

static bool in_tree(const struct dump_ctx *d, uint64_t ino)
{
	int i;

	for (i = 0; i < d->nr_files; i++) {
		const FileEntry *fe = d->files[i].entry;

		if (fe->type == FD_TYPE__FD_UNIXSK && fe->sk && fe->sk->ino == ino)
			return true;
	}
	return false;
}

static bool listener_in_tree(const struct dump_ctx *d, const SkEntry *sk)
{
	int i;

	for (i = 0; i < d->nr_files; i++) {
		const SkEntry *o = ((const FileEntry *)d->files[i].entry)->sk;

		if (o && o->family == AF_UNIX && o->has_state && o->state == TCP_LISTEN &&
		    o->has_name && o->name.len == sk->peer_name.len &&
		    !memcmp(o->name.data, sk->peer_name.data, o->name.len))
			return true;
	}
	return false;
}

/* A stream whose peer has no inode is a connection its listener has not accepted yet (or one
 * whose peer is closed: shut down both ways). */
static bool pending_outside(const struct dump_ctx *d, const SkEntry *sk)
{
	return sk->type != SOCK_DGRAM && sk->has_state && sk->state == TCP_ESTABLISHED &&
	       (!sk->has_peer_ino || !sk->peer_ino) && sk->has_peer_name &&
	       sk->peer_name.len > offsetof(struct sockaddr_un, sun_path) &&
	       !(sk->has_shutdown && sk->shutdown == 3) && !listener_in_tree(d, sk);
}

int dump_sk_check_peers(struct dump_ctx *d)
{
	char peer[128];
	int i;

	for (i = 0; i < d->nr_files; i++) {
		const struct dump_file *f = &d->files[i];
		const FileEntry *fe = f->entry;
		const SkEntry *sk = fe->sk;

		if (fe->type != FD_TYPE__FD_UNIXSK || !sk)
			continue;
		peer_str(sk, peer, sizeof(peer));
		if (pending_outside(d, sk)) {
			pr_err("process %d fd %d: unix socket %lu is connected to %s outside the "
			       "dumped tree (not accepted yet): not supported\n",
			       f->pid, f->fd, (unsigned long)sk->ino, peer);
			return -EOPNOTSUPP;
		}
		if (!sk->has_peer_ino || !sk->peer_ino || in_tree(d, sk->peer_ino))
			continue;
		if (sk->type != SOCK_DGRAM) {
			pr_err("process %d fd %d: unix socket %lu is connected to %s (socket %lu) "
			       "outside the dumped tree: not supported\n",
			       f->pid, f->fd, (unsigned long)sk->ino, peer,
			       (unsigned long)sk->peer_ino);
			return -EOPNOTSUPP;
		}
		if (sk->has_peer_name)
			pr_warn(
			    "process %d fd %d: datagram socket connected to %s outside the tree: "
			    "restore connects it again\n",
			    f->pid, f->fd, peer);
		else
			pr_warn("process %d fd %d: datagram socket connected to an unnamed socket "
				"outside the tree: restored unconnected\n",
				f->pid, f->fd);
	}
	return 0;
}
