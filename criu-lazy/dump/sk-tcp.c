/* Established TCP connections (dump --tcp-established). The connection is put in TCP_REPAIR
 * mode through our copy of the socket: it then sends nothing (no ACK, no FIN, no RST), its
 * queues can be read with MSG_PEEK and its sequence numbers, window and options asked for.
 *
 * The copies stay open, in repair mode, until the dump ends: when the tree is killed, the
 * last close of a socket in repair mode goes without a FIN or RST, so the peer (or the restored
 * connection) never hears of it. When the tree runs on (-R, -s, a failed dump) repair mode is
 * turned off again first. A post-copy source lets its copies go before it says it is ready: repair
 * mode belongs to the socket, so the killed tree still closes it silently, and a destination on
 * this host can rebuild the same connection (same addresses and ports) at once; if the tree is
 * left running after all, its sockets are found again by inode to end their repair.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "dump.h"
#include "sk.h"

#include "files.pb-c.h"

#define TCP_QUEUE_MAX (64u << 20)

/* The sockets in repair mode: our copy (-1 once let go), the process that holds them and the
 * socket's inode, by which a process left running finds it again. The dump is one per run of
 * the program, so one list does. */
struct repaired {
	int fd;
	pid_t pid;
	uint64_t ino;
};
static struct repaired *repaired;
static int nr_repaired;

static int remember(int fd, pid_t pid, uint64_t ino)
{
	struct repaired *n = realloc(repaired, (nr_repaired + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	repaired = n;
	repaired[nr_repaired].fd = fd;
	repaired[nr_repaired].pid = pid;
	repaired[nr_repaired].ino = ino;
	nr_repaired++;
	return 0;
}

static bool task_alive(pid_t pid)
{
	struct proc_stat st;

	return !proc_parse_stat(pid, 0, &st) && st.state != 'Z' && st.state != 'X';
}

/* A copy of the socket with inode ino that pid holds, or -1. */
static int refind(pid_t pid, uint64_t ino)
{
	char path[320], link[64], want[40];
	struct dirent *de;
	int fd = -1, pidfd;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	dir = opendir(path);
	if (!dir)
		return -1;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	while (pidfd >= 0 && fd < 0 && (de = readdir(dir))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, want))
			fd = syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
	}
	if (pidfd >= 0)
		close(pidfd);
	closedir(dir);
	return fd;
}

void dump_tcp_release(bool tree_dies)
{
	int off = TCP_REPAIR_OFF, i, fd;

	for (i = 0; i < nr_repaired; i++) {
		struct repaired *r = &repaired[i];

		if (!tree_dies && task_alive(r->pid)) {
			/* not found: the tree was killed, and the pid may be a restored task's */
			fd = r->fd >= 0 ? r->fd : refind(r->pid, r->ino);
			if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)))
				pr_perror(
				    "process %d: cannot take connection %llu out of repair mode",
				    r->pid, (unsigned long long)r->ino);
			if (fd >= 0 && fd != r->fd)
				close(fd);
		}
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
	}
	if (tree_dies)
		return; /* the records stay, in case the tree is let go after all */
	free(repaired);
	repaired = NULL;
	nr_repaired = 0;
}

void dump_tcp_str(const SkEntry *sk, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?", b[INET6_ADDRSTRLEN] = "?";
	unsigned int pa = 0, pb = 0;

	if (sk->has_name && sk->name.len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sk->name.data;
		const struct sockaddr_in6 *in6 = (const void *)sk->name.data;

		inet_ntop(sk->family,
			  sk->family == AF_INET ? (const void *)&in->sin_addr
						: (const void *)&in6->sin6_addr,
			  a, sizeof(a));
		pa = ntohs(in->sin_port);
	}
	if (sk->has_peer_name && sk->peer_name.len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sk->peer_name.data;
		const struct sockaddr_in6 *in6 = (const void *)sk->peer_name.data;

		inet_ntop(sk->family,
			  sk->family == AF_INET ? (const void *)&in->sin_addr
						: (const void *)&in6->sin6_addr,
			  b, sizeof(b));
		pb = ntohs(in->sin_port);
	}
	if (!sk->has_peer_name)
		snprintf(buf, size, sk->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, pa);
	else if (sk->family == AF_INET6)
		snprintf(buf, size, "[%s]:%u -> [%s]:%u", a, pa, b, pb);
	else
		snprintf(buf, size, "%s:%u -> %s:%u", a, pa, b, pb);
}

static int get_u32(int fd, int opt, uint32_t *v, const char *what, const char *name)
{
	socklen_t len = sizeof(*v);

	if (getsockopt(fd, IPPROTO_TCP, opt, v, &len)) {
		int err = -errno;

		pr_perror("%s: %s", what, name);
		return err;
	}
	return 0;
}

static int set_queue(int fd, int queue, const char *what)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue))) {
		int err = -errno;

		pr_perror("%s: TCP_REPAIR_QUEUE", what);
		return err;
	}
	return 0;
}

/* len bytes of the queue chosen with TCP_REPAIR_QUEUE, left in place. */
static int peek(int fd, ProtobufCBinaryData *out, size_t len, const char *what, const char *q)
{
	ssize_t n;

	if (!len)
		return 0;
	out->data = malloc(len);
	if (!out->data)
		return -ENOMEM;
	n = recv(fd, out->data, len, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		int err = n < 0 ? -errno : -EIO;

		pr_err("%s: %zd of the %zu bytes of its %s queue could be read%s%s\n", what, n, len,
		       q, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		free(out->data);
		out->data = NULL;
		return err;
	}
	out->len = len;
	return 0;
}

static int read_state(int fd, TcpRepairEntry *r, const char *what)
{
	struct tcp_repair_window w;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int inq = 0, outq = 0, unsent = 0, ret;
	uint32_t seq;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len)) {
		ret = -errno;
		pr_perror("%s: TCP_INFO", what);
		return ret;
	}
	if (ti.tcpi_state != TCP_ESTABLISHED) {
		pr_err("%s: the connection left ESTABLISHED (state %u) as it was frozen\n", what,
		       ti.tcpi_state);
		return -EAGAIN;
	}
	r->options = ti.tcpi_options;
	r->snd_wscale = ti.tcpi_snd_wscale;
	r->rcv_wscale = ti.tcpi_rcv_wscale;
	if (ioctl(fd, SIOCINQ, &inq) || ioctl(fd, SIOCOUTQ, &outq) ||
	    ioctl(fd, SIOCOUTQNSD, &unsent)) {
		ret = -errno;
		pr_perror("%s: cannot read its queue lengths", what);
		return ret;
	}
	if ((unsigned int)inq > TCP_QUEUE_MAX || (unsigned int)outq > TCP_QUEUE_MAX) {
		pr_err("%s: %d bytes to read and %d to send: more than %u, not supported\n", what,
		       inq, outq, TCP_QUEUE_MAX);
		return -EOPNOTSUPP;
	}
	ret = get_u32(fd, TCP_MAXSEG, &r->mss, what, "TCP_MAXSEG");
	if (!ret)
		ret = get_u32(fd, TCP_TIMESTAMP, &r->timestamp, what, "TCP_TIMESTAMP");
	if (ret)
		return ret;
	len = sizeof(w);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len)) {
		ret = -errno;
		pr_perror("%s: TCP_REPAIR_WINDOW", what);
		return ret;
	}
	r->snd_wl1 = w.snd_wl1;
	r->snd_wnd = w.snd_wnd;
	r->max_window = w.max_window;
	r->rcv_wnd = w.rcv_wnd;
	r->rcv_wup = w.rcv_wup;

	ret = set_queue(fd, TCP_RECV_QUEUE, what);
	if (!ret)
		ret = get_u32(fd, TCP_QUEUE_SEQ, &seq, what, "TCP_QUEUE_SEQ(recv)");
	if (!ret)
		ret = peek(fd, &r->recv_queue, inq, what, "receive");
	if (ret)
		return ret;
	r->rcv_seq = seq - inq; /* rcv_nxt is past the queue */
	r->has_recv_queue = inq > 0;
	ret = set_queue(fd, TCP_SEND_QUEUE, what);
	if (!ret)
		ret = get_u32(fd, TCP_QUEUE_SEQ, &seq, what, "TCP_QUEUE_SEQ(send)");
	if (!ret)
		ret = peek(fd, &r->send_queue, outq, what, "send");
	if (ret)
		return ret;
	r->snd_seq = seq - outq; /* write_seq is past the queue */
	r->has_send_queue = outq > 0;
	r->has_unsent = unsent > 0;
	r->unsent = unsent;
	return set_queue(fd, TCP_NO_QUEUE, what);
}

int dump_tcp_established(int fd, SkEntry *sk, pid_t pid, const char *what)
{
	TcpRepairEntry *r;
	char conn[160], w[256];
	int on = TCP_REPAIR_ON, rfd, ret;

	dump_tcp_str(sk, conn, sizeof(conn));
	snprintf(w, sizeof(w), "%s: tcp %s", what, conn);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	tcp_repair_entry__init(r);
	sk->tcp = r;
	rfd = dup(fd);
	if (rfd < 0)
		return -errno;
	if (setsockopt(rfd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on))) {
		ret = -errno;
		pr_perror("%s: TCP_REPAIR (needs CAP_NET_ADMIN)", w);
		close(rfd);
		return ret;
	}
	ret = remember(rfd, pid, sk->ino);
	if (ret) {
		int off = TCP_REPAIR_OFF;

		setsockopt(rfd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
		close(rfd);
		return ret;
	}
	ret = read_state(rfd, r, w);
	if (!ret)
		pr_info("%s: %zu bytes to read, %zu to send (%u never sent)\n", w,
			r->recv_queue.len, r->send_queue.len, r->unsent);
	return ret;
}

void dump_tcp_free(SkEntry *sk)
{
	if (!sk->tcp)
		return;
	free(sk->tcp->recv_queue.data);
	free(sk->tcp->send_queue.data);
	free(sk->tcp);
	sk->tcp = NULL;
}
