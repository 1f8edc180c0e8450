/* Sockets, made here in the restorer and passed like any other file.
 *
 * AF_UNIX: two sockets of the image that name each other as peers (a socketpair, or a client
 * and the connection a server accepted from it) become a socketpair; the data each had queued
 * for reading is sent back through its peer, datagram by datagram. A socket connected to a peer
 * outside the image connects to its name again; a bound one binds its name again (a stale
 * socket file left by the dead original is removed first); a listening one listens again.
 * AF_INET/AF_INET6: listening or unconnected TCP, bound or connected UDP, as dump allows.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

#define TCP_LISTEN_STATE 10

static FileEntry *sk_by_ino(struct rst_tree *t, uint64_t ino, size_t *idx)
{
	size_t i;

	for (i = 0; i < t->nr_files; i++) {
		const FileEntry *fe = t->files[i];

		if ((fe->type == FD_TYPE__FD_UNIXSK || fe->type == FD_TYPE__FD_INETSK) && fe->sk &&
		    fe->sk->ino == ino) {
			*idx = i;
			return t->files[i];
		}
	}
	return NULL;
}

static int set_opts(const FileEntry *fe, int fd)
{
	const SkEntry *sk = fe->sk;
	int one = 1;

	if ((sk->has_reuseaddr && sk->reuseaddr &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
	    (sk->has_reuseport && sk->reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    (sk->has_keepalive && sk->keepalive &&
	     setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one))) ||
	    (sk->has_passcred && sk->passcred &&
	     setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))) {
		pr_perror("socket %u: cannot set its options", fe->id);
		return -errno;
	}
	return 0;
}

/* The data queued for reading on fe's socket, sent through its peer's fd. */
static int refill_queue(const FileEntry *fe, int peer_fd)
{
	const SkEntry *sk = fe->sk;
	size_t i;

	for (i = 0; i < sk->n_queue; i++) {
		size_t done = 0, len = sk->queue[i].len;

		do {
			ssize_t n = send(peer_fd, sk->queue[i].data + done, len - done,
					 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n < 0) {
				pr_perror("socket %u: cannot queue its %zu bytes again", fe->id,
					  len);
				return -errno;
			}
			done += n;
		} while (done < len && sk->type == SOCK_STREAM);
	}
	return 0;
}

static int finish_sk(const FileEntry *fe, int fd)
{
	const SkEntry *sk = fe->sk;
	int how = -1;

	if (sk->has_shutdown && sk->shutdown) {
		if ((sk->shutdown & 3) == 3)
			how = SHUT_RDWR;
		else
			how = sk->shutdown & 1 ? SHUT_RD : SHUT_WR;
		if (shutdown(fd, how))
			pr_warn("socket %u: cannot shut it down again: %s\n", fe->id,
				strerror(errno));
	}
	if (sk->flags & O_NONBLOCK)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static int bind_name(const FileEntry *fe, int fd)
{
	const SkEntry *sk = fe->sk;
	const struct sockaddr_un *un = (const void *)sk->name.data;

	if (!sk->has_name || sk->name.len <= sizeof(sa_family_t))
		return 0;
	if (sk->family == AF_UNIX && sk->name.len > offsetof(struct sockaddr_un, sun_path) &&
	    un->sun_path[0]) {
		char path[sizeof(un->sun_path) + 1] = {};

		memcpy(path, un->sun_path, sk->name.len - offsetof(struct sockaddr_un, sun_path));
		unlink(path); /* the dead original's socket file */
	}
	if (bind(fd, (const struct sockaddr *)sk->name.data, sk->name.len)) {
		pr_perror("socket %u: cannot bind it to its name again", fe->id);
		return -errno;
	}
	return 0;
}

/* Opens fe and, for a pair, its peer (stored in t->file_fds[peer]). */
int rst_open_socket(struct rst_tree *t, size_t idx)
{
	const FileEntry *fe = t->files[idx];
	const SkEntry *sk = fe->sk;
	FileEntry *peer = NULL;
	size_t pidx = 0;
	int fd, sv[2], ret;

	if (!sk) {
		pr_err("file %u: socket without its description\n", fe->id);
		return -EBADMSG;
	}
	if (sk->family == AF_UNIX && sk->has_peer_ino && sk->peer_ino)
		peer = sk_by_ino(t, sk->peer_ino, &pidx);
	if (peer && peer->sk->has_peer_ino && peer->sk->peer_ino == sk->ino && pidx != idx) {
		if (socketpair(AF_UNIX, sk->type | SOCK_CLOEXEC, 0, sv)) {
			pr_perror("socket %u: socketpair", fe->id);
			return -errno;
		}
		ret = set_opts(fe, sv[0]);
		if (!ret)
			ret = set_opts(peer, sv[1]);
		if (!ret)
			ret = refill_queue(fe, sv[1]);
		if (!ret)
			ret = refill_queue(peer, sv[0]);
		if (ret) {
			close(sv[0]);
			close(sv[1]);
			return ret;
		}
		finish_sk(fe, sv[0]);
		finish_sk(peer, sv[1]);
		t->file_fds[pidx] = sv[1];
		return sv[0];
	}

	fd = socket(sk->family, sk->type | SOCK_CLOEXEC, sk->protocol);
	if (fd < 0) {
		pr_perror("socket %u: socket(%u, %u)", fe->id, sk->family, sk->type);
		return -errno;
	}
	ret = set_opts(fe, fd);
	if (!ret)
		ret = bind_name(fe, fd);
	if (!ret && sk->has_state && sk->state == TCP_LISTEN_STATE &&
	    listen(fd, sk->has_backlog ? (int)sk->backlog : 128)) {
		ret = -errno;
		pr_perror("socket %u: cannot listen again", fe->id);
	}
	if (!ret && sk->has_peer_name && sk->peer_name.len > sizeof(sa_family_t) &&
	    !(sk->has_state && sk->state == TCP_LISTEN_STATE)) {
		if (sk->family == AF_UNIX && peer)
			pr_warn("socket %u: its peer %" PRIu64 " does not name it back: connecting "
				"by name\n",
				fe->id, sk->peer_ino);
		if (connect(fd, (const struct sockaddr *)sk->peer_name.data, sk->peer_name.len)) {
			ret = -errno;
			pr_perror("socket %u: cannot connect to its peer again", fe->id);
		}
	}
	if (!ret && sk->n_queue)
		pr_warn("socket %u: %zu queued messages of an unpaired socket are dropped\n",
			fe->id, sk->n_queue);
	if (ret) {
		close(fd);
		return ret;
	}
	finish_sk(fe, fd);
	return fd;
}
