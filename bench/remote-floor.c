/* The remote lazy-pages floor: a fault served from a page server over loopback TCP. The handler,
 * on the faulting CPU, asks for the frame that holds the page, reads the reply (header + stored
 * bytes), checks and decodes it, and copies the whole frame in. "plain": the server sends the
 * pages themselves, as a post-copy source reading the frozen tree can, and nothing is decoded.
 * The server runs on the same CPU or on the other one. Prints `key value unit` lines; every
 * served page is checked. */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include "bench.h"
#include "frames.h"
#include "heapgen.h"
#include "net-util.h"
#include "uffd-util.h"

struct reply_hdr {
	uint32_t len, raw, csum, pad;
};

struct server {
	const struct image *im;
	int lfd, cpu, err;
	int plain; /* send the pages themselves, as a post-copy source reading the frozen tree can
		    */
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	const struct image *im = s->im;
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	uint64_t frame;
	int fd, ret;

	pin_cpu(s->cpu);
	if (poll(&p, 1, 10000) != 1) {
		s->err = -ETIMEDOUT;
		return NULL;
	}
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0) {
		s->err = -errno;
		return NULL;
	}
	set_nodelay(fd);
	while ((ret = read_full(fd, &frame, sizeof(frame))) == 0) {
		struct reply_hdr h;
		struct iovec iov[2];

		if (frame >= im->n) {
			ret = -EINVAL;
			break;
		}
		h = (struct reply_hdr){
		    .len = im->slen[frame], .raw = im->raw[frame], .csum = im->csum[frame]};
		iov[0] = (struct iovec){&h, sizeof(h)};
		iov[1] = (struct iovec){im->store + im->off[frame], im->slen[frame]};
		if (s->plain) {
			h = (struct reply_hdr){.len = im->fsize, .raw = 1};
			iov[1] = (struct iovec){im->data + frame * im->fsize, im->fsize};
		}
		if (writev(fd, iov, 2) != (ssize_t)(sizeof(h) + h.len)) {
			ret = -EIO;
			break;
		}
	}
	s->err = ret == 1 ? 0 : ret;
	close(fd);
	return NULL;
}

struct handler {
	const struct image *im;
	struct codec c;
	int uffd, stopfd, sock;
	int plain; /* replies are the pages themselves: no checksum (TCP has one), no decode */
	char *base;
	unsigned char *rbuf, *stage;
	int err;
};

static int serve(struct handler *h)
{
	const struct image *im = h->im;
	struct reply_hdr rh;
	struct uffd_msg msg;
	uint64_t frame;
	ssize_t n = read(h->uffd, &msg, sizeof(msg));
	int ret;

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return 0;
	frame = ((uintptr_t)msg.arg.pagefault.address - (uintptr_t)h->base) / im->fsize;
	ret = write_full(h->sock, &frame, sizeof(frame));
	ret = ret ?: read_full(h->sock, &rh, sizeof(rh));
	if (ret)
		return ret > 0 ? -EPIPE : ret;
	if (rh.len > im->fsize) /* a length from the wire: never trusted */
		return -EBADMSG;
	if (h->plain) {
		if (rh.len != im->fsize)
			return -EBADMSG;
		ret = read_full(h->sock, h->stage, rh.len);
		if (ret)
			return ret > 0 ? -EPIPE : ret;
		return uffd_copy(h->uffd, (uintptr_t)h->base + frame * im->fsize, h->stage,
				 im->fsize);
	}
	ret = read_full(h->sock, h->rbuf, rh.len);
	if (ret)
		return ret > 0 ? -EPIPE : ret;
	if (frame_csum(h->rbuf, rh.len) != rh.csum)
		return -EBADMSG;
	ret = codec_decode(&h->c, h->rbuf, rh.len, rh.raw, h->stage, im->fsize);
	return ret
		   ?: uffd_copy(h->uffd, (uintptr_t)h->base + frame * im->fsize, h->stage,
				im->fsize);
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct pollfd pfd[2] = {{.fd = h->uffd, .events = POLLIN},
				{.fd = h->stopfd, .events = POLLIN}};

	pin_cpu(0);
	for (;;) {
		int r = poll(pfd, 2, 10000);

		if (r <= 0) {
			h->err = r ? -errno : -ETIMEDOUT;
			break;
		}
		if (pfd[1].revents & POLLIN)
			break;
		h->err = serve(h);
		if (h->err)
			break;
	}
	if (h->err) {
		/* Unregistering wakes the faulting thread, which then faults like plain memory. */
		struct uffdio_range r = {.start = (uintptr_t)h->base, .len = h->im->len};

		ioctl(h->uffd, UFFDIO_UNREGISTER, &r);
	}
	return NULL;
}

static int run_remote(const struct image *im, int plain, int server_cpu, const char *where,
		      unsigned long nfaults, uint64_t budget)
{
	struct server srv = {.im = im, .cpu = server_cpu, .plain = plain};
	struct handler h = {.im = im, .uffd = -1, .stopfd = -1, .sock = -1, .plain = plain};
	uint64_t *lat = calloc(nfaults, sizeof(*lat)), start;
	struct rng r = {777};
	pthread_t sth, hth;
	unsigned short port = 0;
	unsigned long i = 0;
	char prefix[96];
	int ret, bad = 0;

	h.base = map_aligned(im->len, HUGE, MADV_NOHUGEPAGE);
	h.rbuf = malloc(im->fsize);
	h.stage = malloc(im->fsize);
	if (!lat || !h.base || !h.rbuf || !h.stage) {
		ret = -ENOMEM;
		goto out;
	}
	memset(h.rbuf, 0, im->fsize);
	memset(h.stage, 0, im->fsize);
	ret = codec_create(&h.c, 1);
	if (ret)
		goto out;
	srv.lfd = listen_any(&port);
	if (srv.lfd < 0) {
		ret = srv.lfd;
		goto out;
	}
	ret = -pthread_create(&sth, NULL, server_main, &srv);
	if (ret) {
		close(srv.lfd);
		goto out;
	}
	h.sock = connect_to(port);
	h.uffd = uffd_open(0, NULL);
	h.stopfd = eventfd(0, EFD_CLOEXEC);
	ret = h.sock < 0 ? h.sock : h.uffd < 0 ? h.uffd : uffd_register(h.uffd, h.base, im->len);
	if (!ret)
		ret = -pthread_create(&hth, NULL, handler_main, &h);
	if (ret)
		goto out_server;
	pin_cpu(0);
	start = now_ns();
	for (i = 0; i < nfaults; i++) {
		size_t frame = i % im->n, off;
		volatile unsigned char *p;
		uint64_t t0;

		if (i >= 200 && now_ns() - start > budget)
			break;
		if (frame == 0 && i)
			madvise(h.base, im->len, MADV_DONTNEED);
		off = frame * im->fsize + rng_below(&r, im->fsize / BENCH_PAGE) * BENCH_PAGE;
		p = (unsigned char *)h.base + off;
		t0 = now_ns();
		(void)*p;
		lat[i] = now_ns() - t0;
		if (memcmp((void *)p, im->data + off, BENCH_PAGE))
			bad++;
		if (__atomic_load_n(&h.err, __ATOMIC_RELAXED))
			break;
	}
	eventfd_write(h.stopfd, 1);
	pthread_join(hth, NULL);
	ret = h.err ?: (bad ? -EBADMSG : 0);
out_server:
	if (h.sock >= 0)
		close(h.sock); /* the server reads EOF and leaves */
	else
		shutdown(srv.lfd, SHUT_RDWR);
	pthread_join(sth, NULL);
	close(srv.lfd);
	ret = ret ?: srv.err;
	if (!ret) {
		snprintf(prefix, sizeof(prefix), "uffd.fault.remote%s_f%s_frame.srv_%s",
			 plain ? "_plain" : "", size_name(im->fsize), where);
		result_lat(lat, i, prefix);
	}
out:
	if (h.uffd >= 0)
		close(h.uffd);
	if (h.stopfd >= 0)
		close(h.stopfd);
	codec_free(&h.c);
	if (h.base)
		munmap(h.base, im->len);
	free(h.rbuf);
	free(h.stage);
	free(lat);
	return ret;
}

int main(void)
{
	static const size_t fsizes[] = {4 * KIB, 16 * KIB, 64 * KIB};
	int full = bench_full(), ncpu = nr_cpus(), c, ret;
	size_t len = (full ? 128 : 32) * MIB, i;
	uint64_t budget = (full ? 3000 : 400) * 1000000ull;
	unsigned long nfaults = full ? 20000 : 4000;
	unsigned char *heap = malloc(len);
	struct image im;

	if (!heap) {
		fprintf(stderr, "remote-floor: out of memory for a %zu MiB corpus\n", len / MIB);
		return 1;
	}
	heap_fill(heap, len, 3);
	printf("# remote-floor: heap-like corpus %zu MiB, zstd 1, loopback TCP, %s mode\n",
	       len / MIB, full ? "full" : "quick");
	for (i = 0; i < sizeof(fsizes) / sizeof(fsizes[0]); i++) {
		ret = image_build(&im, heap, len, fsizes[i], 1);
		for (c = 0; !ret && c < 4 && c / 2 < ncpu; c++) {
			const char *where = c / 2 ? "other" : "same";
			int err = run_remote(&im, c & 1, c / 2, where, nfaults, budget);

			if (err)
				skip(strerror(-err), "uffd.fault.remote%s_f%s_frame.srv_%s",
				     c & 1 ? "_plain" : "", size_name(fsizes[i]), where);
		}
		if (ret)
			skip(strerror(-ret), "uffd.fault.remote_f%s_frame", size_name(fsizes[i]));
		image_free(&im);
	}
	free(heap);
	return 0;
}
