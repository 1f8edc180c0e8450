/* Established TCP connections (restore --tcp-established): the socket is put in TCP_REPAIR mode,
 * bound to its address (repair mode lets it share a listener's port), given the sequence numbers
 * of its queues, "connected" without a handshake, given its negotiated options, its queues and
 * its window, and taken out of repair mode, which sends a window probe so that both sides agree
 * again at once. Bytes that were queued but never sent go out through an ordinary send after
 * that; bytes sent but not acknowledged are retransmitted by the kernel.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

#define BUF_SLACK (64u << 10)

static int tcp_set(int fd, int opt, const void *v, socklen_t len, const SkEntry *sk,
		   const char *name)
{
	if (setsockopt(fd, IPPROTO_TCP, opt, v, len)) {
		int err = -errno;

		pr_perror("tcp socket %" PRIu64 ": cannot set %s", sk->ino, name);
		return err;
	}
	return 0;
}

static int set_queue(int fd, int queue, const SkEntry *sk)
{
	return tcp_set(fd, TCP_REPAIR_QUEUE, &queue, sizeof(queue), sk, "TCP_REPAIR_QUEUE");
}

/* The queues must fit the buffers, or the repair-mode send blocks for good. */
static void grow_buf(int fd, int opt, int force, size_t need)
{
	int cur = 0, v;
	socklen_t len = sizeof(cur);

	if (!need || getsockopt(fd, SOL_SOCKET, opt, &cur, &len) || (size_t)cur >= 2 * need)
		return;
	v = need + BUF_SLACK; /* the kernel doubles it */
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)))
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static int send_all(int fd, const uint8_t *p, size_t len, const SkEntry *sk, const char *what)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, p + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			pr_errno(err, "tcp socket %" PRIu64 ": cannot put %zu bytes back in its %s",
				 sk->ino, len - done, what);
			return err;
		}
		done += n;
	}
	return 0;
}

static void conn_str(const SkEntry *sk, char *buf, size_t size)
{
	char a[64] = "?", b[64] = "?";

	if (sk->has_name)
		rst_inet_str(&sk->name, a, sizeof(a));
	if (sk->has_peer_name)
		rst_inet_str(&sk->peer_name, b, sizeof(b));
	snprintf(buf, size, "%s -> %s", a, b);
}

static int repair_options(int fd, const SkEntry *sk)
{
	const TcpRepairEntry *r = sk->tcp;
	struct tcp_repair_opt opts[4];
	int n = 0;

	opts[n].opt_code = TCPOPT_MAXSEG;
	opts[n++].opt_val = r->mss;
	if (r->options & TCPI_OPT_WSCALE) {
		opts[n].opt_code = TCPOPT_WINDOW;
		opts[n++].opt_val = r->snd_wscale | (r->rcv_wscale << 16);
	}
	if (r->options & TCPI_OPT_SACK) {
		opts[n].opt_code = TCPOPT_SACK_PERMITTED;
		opts[n++].opt_val = 0;
	}
	if (r->options & TCPI_OPT_TIMESTAMPS) {
		opts[n].opt_code = TCPOPT_TIMESTAMP;
		opts[n++].opt_val = 0;
	}
	return tcp_set(fd, TCP_REPAIR_OPTIONS, opts, n * sizeof(opts[0]), sk, "TCP_REPAIR_OPTIONS");
}

static int repair(int fd, const SkEntry *sk, const char *what)
{
	const TcpRepairEntry *r = sk->tcp;
	struct tcp_repair_window w = {r->snd_wl1, r->snd_wnd, r->max_window, r->rcv_wnd,
				      r->rcv_wup};
	size_t sent_len = r->send_queue.len - (r->has_unsent ? r->unsent : 0);
	int on = TCP_REPAIR_ON, ret;

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on))) {
		ret = -errno;
		pr_perror("tcp socket %" PRIu64 " (%s): TCP_REPAIR (needs CAP_NET_ADMIN)", sk->ino,
			  what);
		return ret;
	}
	if (bind(fd, (const struct sockaddr *)sk->name.data, sk->name.len)) {
		ret = -errno;
		pr_perror("tcp socket %" PRIu64 ": cannot bind %s", sk->ino, what);
		return ret;
	}
	ret = set_queue(fd, TCP_SEND_QUEUE, sk);
	if (!ret)
		ret = tcp_set(fd, TCP_QUEUE_SEQ, &r->snd_seq, sizeof(r->snd_seq), sk,
			      "TCP_QUEUE_SEQ(send)");
	if (!ret)
		ret = set_queue(fd, TCP_RECV_QUEUE, sk);
	if (!ret)
		ret = tcp_set(fd, TCP_QUEUE_SEQ, &r->rcv_seq, sizeof(r->rcv_seq), sk,
			      "TCP_QUEUE_SEQ(recv)");
	if (ret)
		return ret;
	if (connect(fd, (const struct sockaddr *)sk->peer_name.data, sk->peer_name.len)) {
		ret = -errno;
		pr_perror("tcp socket %" PRIu64 ": cannot connect %s in repair mode", sk->ino,
			  what);
		return ret;
	}
	ret = repair_options(fd, sk);
	if (!ret && (r->options & TCPI_OPT_TIMESTAMPS))
		ret = tcp_set(fd, TCP_TIMESTAMP, &r->timestamp, sizeof(r->timestamp), sk,
			      "TCP_TIMESTAMP");
	if (ret)
		return ret;
	grow_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, r->recv_queue.len);
	grow_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, r->send_queue.len);
	if (r->recv_queue.len) {
		ret = set_queue(fd, TCP_RECV_QUEUE, sk);
		if (!ret)
			ret = send_all(fd, r->recv_queue.data, r->recv_queue.len, sk,
				       "receive queue");
	}
	if (!ret && sent_len) {
		ret = set_queue(fd, TCP_SEND_QUEUE, sk);
		if (!ret)
			ret = send_all(fd, r->send_queue.data, sent_len, sk, "send queue");
	}
	if (!ret)
		ret = set_queue(fd, TCP_NO_QUEUE, sk);
	if (!ret)
		ret = tcp_set(fd, TCP_REPAIR_WINDOW, &w, sizeof(w), sk, "TCP_REPAIR_WINDOW");
	return ret;
}

int rst_open_tcp(const SkEntry *sk)
{
	const TcpRepairEntry *r = sk->tcp;
	char what[160];
	int fd, ret;

	conn_str(sk, what, sizeof(what));
	if (!r || sk->state != TCP_ESTABLISHED || !sk->has_name || !sk->has_peer_name) {
		pr_err("tcp socket %" PRIu64 " (%s): a connection in state %u without its repair "
		       "state: not supported\n",
		       sk->ino, what, sk->state);
		return -EOPNOTSUPP;
	}
	if (r->has_unsent && r->unsent > r->send_queue.len) {
		pr_err("tcp socket %" PRIu64 ": %u unsent bytes in a send queue of %zu\n", sk->ino,
		       r->unsent, r->send_queue.len);
		return -EBADMSG;
	}
	fd = rst_inet_socket(sk, false);
	if (fd < 0)
		return fd;
	ret = repair(fd, sk, what);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int rst_tcp_finish(int fd, const SkEntry *sk)
{
	const TcpRepairEntry *r = sk->tcp;
	int off = TCP_REPAIR_OFF, ret = 0;
	char what[160];

	conn_str(sk, what, sizeof(what));
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off))) {
		ret = -errno;
		pr_perror("tcp socket %" PRIu64 " (%s): cannot leave repair mode", sk->ino, what);
		return ret;
	}
	if (r->has_unsent && r->unsent)
		ret = send_all(fd, r->send_queue.data + r->send_queue.len - r->unsent, r->unsent,
			       sk, "unsent data");
	if (!ret && (sk->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK)) {
		ret = -errno;
		pr_perror("tcp socket %" PRIu64 ": O_NONBLOCK", sk->ino);
	}
	if (!ret)
		pr_info("tcp connection %s restored: %zu bytes to read, %zu to send\n", what,
			r->recv_queue.len, r->send_queue.len);
	return ret;
}
