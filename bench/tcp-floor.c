/* The loopback TCP floor of this machine, in the page server's shapes: a request/reply round trip
 * (small request; reply of a header, a page or a 64 KiB frame), with both ends on one CPU or on
 * different CPUs, and bulk one-way throughput. Prints `key value unit` lines. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "net-util.h"

struct server {
	int lfd;
	int cpu;
	size_t req, reply; /* reply 0: bulk mode, read to EOF then ack with one byte */
	int err;
};

#define BULK_CHUNK (256 * KIB)

static void *server_main(void *arg)
{
	struct server *s = arg;
	size_t cap = s->reply ? (s->req > s->reply ? s->req : s->reply) : BULK_CHUNK;
	char *buf = calloc(1, cap);
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	int fd, ret = 0;

	pin_cpu(s->cpu);
	if (!buf || poll(&p, 1, 10000) != 1) {
		s->err = buf ? -ETIMEDOUT : -ENOMEM;
		free(buf);
		return NULL;
	}
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0) {
		s->err = -errno;
		free(buf);
		return NULL;
	}
	set_nodelay(fd);
	if (!s->reply) {
		ssize_t n;

		while ((n = read(fd, buf, cap)) > 0)
			;
		ret = n < 0 ? -errno : write_full(fd, "k", 1);
	} else {
		while ((ret = read_full(fd, buf, s->req)) == 0) {
			ret = write_full(fd, buf, s->reply);
			if (ret)
				break;
		}
		if (ret == 1)
			ret = 0;
	}
	s->err = ret;
	close(fd);
	free(buf);
	return NULL;
}

struct rtt_cfg {
	size_t req, reply;
};

/* Starts a server thread on server_cpu and connects to it from the calling thread. */
static int start(struct server *s, pthread_t *th, int server_cpu, size_t req, size_t reply)
{
	unsigned short port = 0;
	int fd;

	*s = (struct server){.cpu = server_cpu, .req = req, .reply = reply};
	s->lfd = listen_any(&port);
	if (s->lfd < 0)
		return s->lfd;
	if (pthread_create(th, NULL, server_main, s)) {
		close(s->lfd);
		return -EAGAIN;
	}
	fd = connect_to(port);
	if (fd < 0) {
		/* the server gives up after its poll timeout */
		pthread_join(*th, NULL);
		close(s->lfd);
	}
	return fd;
}

static int finish(struct server *s, pthread_t th, int fd)
{
	close(fd);
	pthread_join(th, NULL);
	close(s->lfd);
	return s->err;
}

static int run_rtt(const struct rtt_cfg *cfg, int server_cpu, const char *where, uint64_t budget)
{
	size_t max = 100000, n = 0;
	uint64_t *lat = calloc(max, sizeof(*lat)), start_ns;
	char *buf = calloc(1, cfg->reply > cfg->req ? cfg->reply : cfg->req);
	char prefix[96];
	struct server s;
	pthread_t th;
	int fd, ret = 0, c_ret, warm;

	if (!lat || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	fd = start(&s, &th, server_cpu, cfg->req, cfg->reply);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	for (warm = 0; warm < 100 && !ret; warm++) {
		ret = write_full(fd, buf, cfg->req);
		ret = ret ?: read_full(fd, buf, cfg->reply);
	}
	start_ns = now_ns();
	while (!ret && n < max && (n < 1000 || now_ns() - start_ns < budget)) {
		uint64_t t0 = now_ns();

		ret = write_full(fd, buf, cfg->req);
		ret = ret ?: read_full(fd, buf, cfg->reply);
		lat[n++] = now_ns() - t0;
	}
	c_ret = finish(&s, th, fd);
	ret = ret ?: c_ret;
	if (!ret) {
		snprintf(prefix, sizeof(prefix), "tcp.rtt.req%s_reply%s.%s", size_name(cfg->req),
			 size_name(cfg->reply), where);
		result_lat(lat, n, prefix);
	}
out:
	free(lat);
	free(buf);
	return ret;
}

static int run_bulk(int server_cpu, size_t total, double *rate)
{
	char *buf = calloc(1, BULK_CHUNK), ack;
	struct server s;
	pthread_t th;
	uint64_t t0;
	size_t sent;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = start(&s, &th, server_cpu, 0, 0);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	t0 = now_ns();
	for (sent = 0; sent < total && !ret; sent += BULK_CHUNK)
		ret = write_full(fd, buf, BULK_CHUNK);
	shutdown(fd, SHUT_WR);
	ret = ret ?: read_full(fd, &ack, 1);
	*rate = gbps(sent, now_ns() - t0);
	ret = finish(&s, th, fd) ?: ret;
	free(buf);
	return ret;
}

int main(void)
{
	static const struct rtt_cfg cfgs[] = {
	    {64, 64}, {64, 4 * KIB}, {4 * KIB, 4 * KIB}, {64, 64 * KIB}, {4 * KIB, 64 * KIB},
	};
	static const char *const where[] = {"same", "cross"};
	int full = bench_full(), ncpu = nr_cpus(), c, n, ret;
	double rates[3];
	uint64_t budget = (full ? 2000 : 250) * 1000000ull;
	size_t i;

	printf("# tcp-floor: loopback, %d CPUs, %s mode\n", ncpu, full ? "full" : "quick");
	pin_cpu(0);
	for (c = 0; c < 2; c++) {
		if (c >= ncpu) {
			skip("one CPU only", "tcp.*.%s", where[c]);
			continue;
		}
		for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
			ret = run_rtt(&cfgs[i], c, where[c], budget);
			if (ret)
				skip(strerror(-ret), "tcp.rtt.req%s_reply%s.%s",
				     size_name(cfgs[i].req), size_name(cfgs[i].reply), where[c]);
		}
		for (n = 0, ret = 0; n < 3 && !ret; n++)
			ret = run_bulk(c, (full ? 4096 : 512) * MIB, &rates[n]);
		if (ret)
			skip(strerror(-ret), "tcp.bulk.%s", where[c]);
		else
			result_rates("GB/s", rates, n, "tcp.bulk.%s", where[c]);
	}
	return 0;
}
