/* The lazy-pages floor with compression in the loop: what a fault costs when its frame must be
 * decoded first (per frame size, copying the one page or the whole frame), and how fast decoding
 * plus UFFDIO_COPY fills memory on one and two cores (the prefetcher's ceiling).
 * Frames go through the page store's codec and checksum, as a reader sees them.
 * Prints `key value unit` lines; every served page is checked against the source data. */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "bench.h"
#include "codec.h"
#include "frames.h"
#include "heapgen.h"
#include "uffd-util.h"

#define MAX_PASSES 64

/* ---- faults served by decoding their frame ---- */

struct handler {
	const struct image *im;
	struct codec c;
	int uffd, stopfd, cpu;
	int whole_frame; /* copy every page of the frame (fault-around = frame) or only the faulting
			    one */
	char *base;
	unsigned char *stage;
	int err;
};

static int serve(struct handler *h)
{
	const struct image *im = h->im;
	struct uffd_msg msg;
	uintptr_t addr, frame_addr;
	size_t i;
	ssize_t n = read(h->uffd, &msg, sizeof(msg));
	int ret;

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return 0;
	addr = (uintptr_t)msg.arg.pagefault.address & ~(BENCH_PAGE - 1);
	i = (addr - (uintptr_t)h->base) / im->fsize;
	frame_addr = (uintptr_t)h->base + i * im->fsize;
	ret = image_decode(im, &h->c, i, h->stage);
	if (ret)
		return ret;
	if (h->whole_frame)
		return uffd_copy(h->uffd, frame_addr, h->stage, im->fsize);
	return uffd_copy(h->uffd, addr, h->stage + (addr - frame_addr), BENCH_PAGE);
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct pollfd pfd[2] = {{.fd = h->uffd, .events = POLLIN},
				{.fd = h->stopfd, .events = POLLIN}};

	pin_cpu(h->cpu);
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

/* A prefetcher stand-in: decodes and copies frames into a region of its own, over and over. */
struct background {
	const struct image *im;
	int cpu, nice;
	int stop, err;
	uint64_t bytes, ns;
};

static void *background_main(void *arg)
{
	struct background *b = arg;
	const struct image *im = b->im;
	char *base = map_aligned(im->len, HUGE, MADV_NOHUGEPAGE);
	unsigned char *stage = malloc(im->fsize);
	struct codec c = {};
	uint64_t t0 = now_ns();
	size_t i;
	int uffd = -1;

	pin_cpu(b->cpu);
	if (b->nice)
		setpriority(PRIO_PROCESS, syscall(SYS_gettid), b->nice);
	b->err = base && stage ? codec_create(&c, 1) : -ENOMEM;
	if (!b->err) {
		uffd = uffd_open(0, NULL);
		b->err = uffd < 0 ? uffd : uffd_register(uffd, base, im->len);
	}
	while (!b->err && !__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < im->n && !b->err && !__atomic_load_n(&b->stop, __ATOMIC_RELAXED);
		     i++) {
			b->err = image_decode(im, &c, i, stage);
			b->err = b->err
				     ?: uffd_copy(uffd, (uintptr_t)base + i * im->fsize, stage,
						  im->fsize);
			b->bytes += im->fsize;
		}
		madvise(base, im->len, MADV_DONTNEED);
	}
	b->ns = now_ns() - t0;
	if (uffd >= 0)
		close(uffd);
	codec_free(&c);
	free(stage);
	if (base)
		munmap(base, im->len);
	return NULL;
}

enum bg_mode {
	BG_NONE,
	BG_OTHER_CPU,  /* the prefetcher on the other CPU */
	BG_SAME_NICE5, /* the prefetcher on the faulting CPU at nice 5 */
};

static const char *const bg_name[] = {"", "_bg_other", "_bg_same_nice5"};

static int run_decode_faults(const struct image *im, int whole, const char *tag,
			     unsigned long nfaults, uint64_t budget, enum bg_mode bgm)
{
	struct handler h = {.im = im, .cpu = 0, .whole_frame = whole};
	struct background bg = {
	    .im = im, .cpu = bgm == BG_OTHER_CPU ? 1 : 0, .nice = bgm == BG_SAME_NICE5 ? 5 : 0};
	pthread_t bgth;
	uint64_t *lat = calloc(nfaults, sizeof(*lat)), start;
	struct rng r = {12345};
	char prefix[96];
	unsigned long i;
	pthread_t th;
	int ret, bad = 0;

	h.base = map_aligned(im->len, HUGE, MADV_NOHUGEPAGE);
	h.stage = malloc(im->fsize);
	if (!lat || !h.base || !h.stage) {
		ret = -ENOMEM;
		goto out;
	}
	memset(h.stage, 0, im->fsize);
	ret = codec_create(&h.c, 1);
	if (ret)
		goto out;
	h.uffd = uffd_open(0, NULL);
	if (h.uffd < 0) {
		ret = h.uffd;
		goto out;
	}
	h.stopfd = eventfd(0, EFD_CLOEXEC);
	ret = uffd_register(h.uffd, h.base, im->len);
	if (ret)
		goto out_close;
	pin_cpu(0);
	ret = -pthread_create(&th, NULL, handler_main, &h);
	if (ret)
		goto out_close;
	if (bgm != BG_NONE && pthread_create(&bgth, NULL, background_main, &bg))
		bgm = BG_NONE;
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
	pthread_join(th, NULL);
	if (bgm != BG_NONE) {
		__atomic_store_n(&bg.stop, 1, __ATOMIC_RELAXED);
		pthread_join(bgth, NULL);
	}
	ret = h.err ?: bg.err ?: (bad ? -EBADMSG : 0);
	if (!ret) {
		snprintf(prefix, sizeof(prefix), "uffd.fault.%s_f%s_%s.same%s", tag,
			 size_name(im->fsize), whole ? "frame" : "page", bg_name[bgm]);
		result_lat(lat, i, prefix);
		if (bgm != BG_NONE)
			result("GB/s", gbps(bg.bytes, bg.ns), "%s.bg_fill", prefix);
	}
out_close:
	close(h.stopfd);
	close(h.uffd);
out:
	codec_free(&h.c);
	if (h.base)
		munmap(h.base, im->len);
	free(h.stage);
	free(lat);
	return ret;
}

/* ---- decode + UFFDIO_COPY fill, no faults ---- */

struct filler {
	const struct image *im;
	struct codec c;
	int uffd, cpu, nthreads, idx;
	unsigned int batch; /* frames decoded into one staging buffer, then one UFFDIO_COPY */
	char *base;
	unsigned char *stage;
	pthread_barrier_t *bar;
	uint64_t t0, t1;
	int err;
};

static void *filler_main(void *arg)
{
	struct filler *f = arg;
	const struct image *im = f->im;
	size_t i;

	pin_cpu(f->cpu);
	pthread_barrier_wait(f->bar);
	f->t0 = now_ns();
	/* Runs of frames interleaved between threads, as a shared prefetch queue would hand them
	 * out: decoded side by side, copied in with one call. */
	for (i = f->idx * f->batch; f->batch > 1 && i < im->n && !f->err;
	     i += f->nthreads * f->batch) {
		size_t k, n = im->n - i < f->batch ? im->n - i : f->batch;

		for (k = 0; k < n && !f->err; k++)
			f->err = image_decode(im, &f->c, i + k, f->stage + k * im->fsize);
		f->err = f->err
			     ?: uffd_copy(f->uffd, (uintptr_t)f->base + i * im->fsize, f->stage,
					  n * im->fsize);
	}
	/* Frames one by one, interleaved between threads. */
	for (i = f->idx; f->batch == 1 && i < im->n && !f->err; i += f->nthreads) {
		uintptr_t dst = (uintptr_t)f->base + i * im->fsize;

		if (im->raw[i]) { /* stored raw: check, then copy straight from the image */
			if (frame_csum(im->store + im->off[i], im->slen[i]) != im->csum[i])
				f->err = -EBADMSG;
			else
				f->err = uffd_copy(f->uffd, dst, im->store + im->off[i], im->fsize);
			continue;
		}
		f->err = image_decode(im, &f->c, i, f->stage);
		f->err = f->err ?: uffd_copy(f->uffd, dst, f->stage, im->fsize);
	}
	f->t1 = now_ns();
	return NULL;
}

static int run_fill(const struct image *im, int nthreads, unsigned int batch, const char *what,
		    uint64_t budget)
{
	char sfx[24] = "";
	char *base = map_aligned(im->len, HUGE, MADV_NOHUGEPAGE);
	struct filler f[2] = {};
	pthread_barrier_t bar;
	double rate[MAX_PASSES];
	uint64_t start = now_ns();
	int uffd, ret = 0, pass, t;

	if (!base)
		return -ENOMEM;
	uffd = uffd_open(0, NULL);
	if (uffd < 0) {
		munmap(base, im->len);
		return uffd;
	}
	ret = uffd_register(uffd, base, im->len);
	for (t = 0; t < nthreads && !ret; t++) {
		f[t] = (struct filler){.im = im,
				       .uffd = uffd,
				       .cpu = t,
				       .nthreads = nthreads,
				       .idx = t,
				       .batch = batch,
				       .base = base,
				       .bar = &bar};
		f[t].stage = malloc(batch * im->fsize);
		ret = f[t].stage ? codec_create(&f[t].c, 1) : -ENOMEM;
		if (!ret)
			memset(f[t].stage, 0, batch * im->fsize);
	}
	for (pass = 0; !ret && pass < MAX_PASSES; pass++) {
		pthread_t th[2];
		uint64_t t0 = UINT64_MAX, t1 = 0;

		if (pass >= 3 && now_ns() - start > budget)
			break;
		pthread_barrier_init(&bar, NULL, nthreads);
		for (t = 0; t < nthreads; t++)
			pthread_create(&th[t], NULL, filler_main, &f[t]);
		for (t = 0; t < nthreads; t++) {
			pthread_join(th[t], NULL);
			ret = ret ?: f[t].err;
			t0 = f[t].t0 < t0 ? f[t].t0 : t0;
			t1 = f[t].t1 > t1 ? f[t].t1 : t1;
		}
		pthread_barrier_destroy(&bar);
		rate[pass] = gbps(im->len, t1 - t0);
		if (!ret && pass == 0 && memcmp(base, im->data, im->len))
			ret = -EBADMSG;
		madvise(base, im->len, MADV_DONTNEED);
	}
	if (batch > 1)
		snprintf(sfx, sizeof(sfx), "_x%u", batch);
	if (!ret)
		result_rates("GB/s", rate, pass, "fill.%s%s%s_copy.t%d", what, size_name(im->fsize),
			     sfx, nthreads);
	for (t = 0; t < 2; t++) {
		codec_free(&f[t].c);
		free(f[t].stage);
	}
	close(uffd);
	munmap(base, im->len);
	return ret;
}

/* The faults of one image: the page alone or the whole frame, and with a prefetcher running. */
static void fault_set(const struct image *im, const char *tag, int with_bg, unsigned long nfaults,
		      uint64_t budget, int ncpu)
{
	int whole, bgm;

	for (whole = 0; whole < 2; whole++) {
		if (whole && (im->fsize == 4 * KIB || im->fsize > 256 * KIB))
			continue;
		for (bgm = BG_NONE; bgm <= BG_SAME_NICE5; bgm++) {
			int ret;

			/* the prefetcher runs are for the frame sizes in question only */
			if (bgm != BG_NONE && (!with_bg || !whole || im->fsize > 64 * KIB))
				continue;
			if (bgm == BG_OTHER_CPU && ncpu < 2)
				continue;
			ret = run_decode_faults(im, whole, tag, nfaults, budget, bgm);
			if (ret)
				skip(strerror(-ret), "uffd.fault.%s_f%s_%s.same%s", tag,
				     size_name(im->fsize), whole ? "frame" : "page", bg_name[bgm]);
		}
	}
}

int main(void)
{
	static const size_t fsizes[] = {4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 2 * MIB};
	int full = bench_full(), ncpu = nr_cpus(), t, ret;
	unsigned int b;
	size_t len = (full ? 256 : 64) * MIB, i;
	uint64_t budget = (full ? 1500 : 200) * 1000000ull;
	unsigned long nfaults = full ? 20000 : 4000;
	unsigned char *heap = malloc(len), *rnd = malloc(len);
	struct image im;

	if (!heap || !rnd) {
		fprintf(stderr, "fill-floor: out of memory for a %zu MiB corpus\n", len / MIB);
		return 1;
	}
	heap_fill(heap, len, 2);
	random_fill(rnd, len, 2);
	printf("# fill-floor: heap-like corpus %zu MiB, zstd level 1, %s mode\n", len / MIB,
	       full ? "full" : "quick");
	for (i = 0; i < sizeof(fsizes) / sizeof(fsizes[0]); i++) {
		ret = image_build(&im, heap, len, fsizes[i], 1);
		if (ret) {
			skip(strerror(-ret), "fill.zstd%s", size_name(fsizes[i]));
			image_free(&im);
			continue;
		}
		fault_set(&im, "zstd", 1, nfaults, budget, ncpu);
		for (t = 1; t <= 2 && t <= ncpu; t++) {
			/* small frames: also decoded in runs of 64 KiB and 512 KiB per copy */
			for (b = 1; b <= 128; b *= 2) {
				size_t run = b * fsizes[i];

				if (b > 1 &&
				    ((run != 64 * KIB && run != 512 * KIB) || fsizes[i] > 16 * KIB))
					continue;
				ret = run_fill(&im, t, b, "zstd", budget);
				if (ret)
					skip(strerror(-ret), "fill.zstd%s_x%u_copy.t%d",
					     size_name(fsizes[i]), b, t);
			}
		}
		image_free(&im);
	}
	/* zstd's negative levels leave literals raw: smaller ratio, faster decode */
	for (i = 0; i < 2; i++) {
		ret = image_build(&im, heap, len, fsizes[i], -1);
		if (!ret)
			fault_set(&im, "zstdfast", 0, nfaults, budget, ncpu);
		image_free(&im);
	}
	/* Incompressible memory is stored raw and should fill at UFFDIO_COPY speed. */
	ret = image_build(&im, rnd, len, 64 * KIB, 1);
	for (t = 1; !ret && t <= 2 && t <= ncpu; t++)
		if (run_fill(&im, t, 1, "raw", budget))
			skip("fill failed", "fill.raw64k_copy.t%d", t);
	image_free(&im);
	free(heap);
	free(rnd);
	return 0;
}
