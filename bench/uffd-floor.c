/* The userfaultfd floor of this machine: what a fault costs when a handler thread serves it with
 * UFFDIO_COPY / UFFDIO_ZEROPAGE (same CPU as the faulting thread, the other CPU, unpinned), how
 * fast UFFDIO_COPY and UFFDIO_MOVE fill memory nobody touches, and the plain-restore floor (copying
 * into fresh pages). Prints `key value unit` lines; asserts nothing. */
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uffd-util.h"

/* Faults cycle through this many blocks, then the region is zapped and they start over. */
#define FAULT_REGION_PAGES 4096

enum fault_op {
	OP_COPY,       /* UFFDIO_COPY of the whole aligned block around the fault */
	OP_COPY_FIRST, /* the faulting page first (wakes the thread), then the rest of the block */
	OP_COPY_YIELD, /* as OP_COPY_FIRST, with sched_yield() in between: lets the thread run */
	OP_ZERO,
};

enum wait_how {
	WAIT_POLL,  /* poll() then a non-blocking read: what an event loop does */
	WAIT_SPIN,  /* non-blocking read in a loop: burns the CPU it runs on */
	WAIT_BLOCK, /* blocking read(): a thread that only serves faults */
};

struct handler {
	int uffd;
	int cpu;  /* -1: not pinned */
	int wait; /* enum wait_how */
	enum fault_op op;
	unsigned int around; /* pages served per fault, aligned block around the fault */
	char *base;
	size_t len; /* registered: the blocks faults cycle through, then the sentinel page */
	const char *src;
	int err;
};

/* kB of AnonHugePages in this process: tells whether THP really happened. */
static long anon_huge_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void fill_pattern(char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += sizeof(uint64_t))
		*(uint64_t *)(p + i) = i * 0x9e3779b97f4a7c15ull;
}

/* ---- (a) fault round trip ---- */

/* 1: served the sentinel page, the last fault the handler waits for; 0: served or nothing to
 * read; -errno. A stop flag would race with a handler that is about to block in read(). */
static int serve_one(struct handler *h)
{
	struct uffdio_zeropage z;
	struct uffd_msg msg;
	uintptr_t block = h->around * BENCH_PAGE, addr;
	size_t len = block;
	ssize_t n = read(h->uffd, &msg, sizeof(msg));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return 0;
	addr = (uintptr_t)msg.arg.pagefault.address & ~(block - 1);
	if (addr + len > (uintptr_t)h->base + h->len)
		len = (uintptr_t)h->base + h->len - addr;
	if ((h->op == OP_COPY_FIRST || h->op == OP_COPY_YIELD) && len > BENCH_PAGE) {
		uintptr_t fault = (uintptr_t)msg.arg.pagefault.address & ~(BENCH_PAGE - 1);
		int ret = uffd_copy(h->uffd, fault, h->src, BENCH_PAGE);

		if (h->op == OP_COPY_YIELD)
			sched_yield();
		if (!ret && fault > addr)
			ret = uffd_copy(h->uffd, addr, h->src, fault - addr);
		if (!ret && fault + BENCH_PAGE < addr + len)
			ret = uffd_copy(h->uffd, fault + BENCH_PAGE, h->src,
					addr + len - fault - BENCH_PAGE);
		if (ret)
			return ret;
	} else if (h->op != OP_ZERO) {
		int ret = uffd_copy(h->uffd, addr, h->src, len);

		if (ret)
			return ret;
	} else {
		z = (struct uffdio_zeropage){.range = {.start = addr, .len = len}};
		if (ioctl(h->uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST)
			return -errno;
	}
	return addr + len == (uintptr_t)h->base + h->len;
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct pollfd pfd = {.fd = h->uffd, .events = POLLIN};
	int ret = 0;

	if (h->cpu >= 0)
		pin_cpu(h->cpu);
	while (!ret) {
		if (h->wait == WAIT_POLL) {
			ret = poll(&pfd, 1, 10000);
			if (ret <= 0) {
				ret = ret ? -errno : -ETIMEDOUT;
				break;
			}
		}
		ret = serve_one(h);
	}
	h->err = ret < 0 ? ret : 0;
	if (h->err) {
		/* Unregistering wakes the faulting thread, which then faults like plain memory. */
		struct uffdio_range r = {.start = (uintptr_t)h->base, .len = h->len};

		ioctl(h->uffd, UFFDIO_UNREGISTER, &r);
	}
	return NULL;
}

struct fault_cfg {
	const char *name;
	int fault_cpu, handler_cpu; /* -1: not pinned */
	enum wait_how wait;
	enum fault_op op;
	unsigned int around;
	unsigned int touch; /* 0: time one fault; N: time touching N pages in a row (a block) */
};

/* At most nfaults samples, fewer once budget_ns has passed (at least 1000): a slow configuration
 * must not eat the time of the whole run. */
static int run_faults(const struct fault_cfg *cfg, unsigned long nfaults, uint64_t budget_ns)
{
	struct handler h = {
	    .cpu = cfg->handler_cpu, .wait = cfg->wait, .op = cfg->op, .around = cfg->around};
	unsigned int stride = cfg->touch > cfg->around ? cfg->touch : cfg->around, j;
	unsigned long nblocks = FAULT_REGION_PAGES / stride, warm = 200, i;
	uint64_t *lat = calloc(nfaults, sizeof(*lat)), start;
	size_t span, srclen = cfg->around * BENCH_PAGE;
	char prefix[96];
	pthread_t th;
	char *src;
	int ret;

	if (stride == 16)
		nblocks = 1024; /* 64 MiB: enough blocks that the zap is rare */
	span = nblocks * stride * BENCH_PAGE;
	h.len = span + BENCH_PAGE; /* the sentinel page last */
	h.base = map_aligned(h.len, HUGE, MADV_NOHUGEPAGE);
	h.src = src = map_aligned(srclen, BENCH_PAGE, -1);
	h.uffd = -1;
	if (!lat || !h.base || !src) {
		ret = -ENOMEM;
		goto out;
	}
	fill_pattern(src, srclen);
	h.uffd = uffd_open(0, NULL);
	if (h.uffd < 0) {
		ret = h.uffd;
		goto out;
	}
	if (cfg->wait == WAIT_BLOCK)
		fcntl(h.uffd, F_SETFL, 0);
	ret = uffd_register(h.uffd, h.base, h.len);
	if (ret)
		goto out;
	if (cfg->fault_cpu >= 0)
		pin_cpu(cfg->fault_cpu);
	else
		unpin_cpu();
	ret = -pthread_create(&th, NULL, handler_main, &h);
	if (ret)
		goto out;
	start = now_ns();
	for (i = 0; i < nfaults + warm; i++) {
		unsigned long b = i % nblocks;
		volatile char *p = h.base + b * stride * BENCH_PAGE;

		if (i >= warm + 1000 && now_ns() - start > budget_ns)
			break;
		uint64_t t0;

		if (b == 0 && i)
			madvise(h.base, span, MADV_DONTNEED);
		t0 = now_ns();
		(void)*p;
		for (j = 1; j < cfg->touch; j++)
			(void)p[j * BENCH_PAGE];
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
		if (__atomic_load_n(&h.err, __ATOMIC_RELAXED))
			break;
	}
	/* The handler leaves after serving this one (or has left already and unregistered). */
	(void)*(volatile char *)(h.base + span);
	pthread_join(th, NULL);
	ret = h.err;
	if (!ret) {
		snprintf(prefix, sizeof(prefix), "uffd.%s.%s", cfg->touch ? "block64k" : "fault",
			 cfg->name);
		result_lat(lat, i - warm, prefix);
	}
out:
	if (h.uffd >= 0)
		close(h.uffd);
	if (h.base)
		munmap(h.base, h.len);
	if (src)
		munmap(src, srclen);
	free(lat);
	return ret;
}

/* A fault no uffd sees: the kernel allocates and zeroes the page. The cheapest a fault can be. */
static void run_anon_faults(unsigned long nfaults)
{
	size_t len = FAULT_REGION_PAGES * BENCH_PAGE;
	char *base = map_aligned(len, HUGE, MADV_NOHUGEPAGE);
	uint64_t *lat = calloc(nfaults, sizeof(*lat));
	unsigned long i;

	if (!base || !lat)
		return;
	pin_cpu(0);
	for (i = 0; i < nfaults; i++) {
		unsigned long b = i % FAULT_REGION_PAGES;
		volatile char *p = base + b * BENCH_PAGE;
		uint64_t t0;

		if (b == 0 && i)
			madvise(base, len, MADV_DONTNEED);
		t0 = now_ns();
		*p = 1;
		lat[i] = now_ns() - t0;
	}
	result_lat(lat, nfaults, "anon.fault.write4k");
	munmap(base, len);
	free(lat);
}

static void faults(int ncpu, int full)
{
	static const struct fault_cfg cfgs[] = {
	    {"copy4k.same", 0, 0, WAIT_POLL, OP_COPY, 1},
	    {"copy4k.cross", 0, 1, WAIT_POLL, OP_COPY, 1},
	    {"copy4k.same_blockread", 0, 0, WAIT_BLOCK, OP_COPY, 1},
	    {"copy4k.cross_blockread", 0, 1, WAIT_BLOCK, OP_COPY, 1},
	    {"copy4k.cross_spin", 0, 1, WAIT_SPIN, OP_COPY, 1},
	    {"copy4k.unpinned", -1, -1, WAIT_POLL, OP_COPY, 1},
	    {"copy64k_around16.same", 0, 0, WAIT_POLL, OP_COPY, 16},
	    {"copy64k_around16.cross", 0, 1, WAIT_POLL, OP_COPY, 16},
	    {"copy64k_around16_first.same", 0, 0, WAIT_POLL, OP_COPY_FIRST, 16},
	    {"copy64k_around16_first.cross", 0, 1, WAIT_POLL, OP_COPY_FIRST, 16},
	    /* what a thread reading 64 KiB pays: every fault of it, or fault-around's one */
	    {"copy4k.same", 0, 0, WAIT_POLL, OP_COPY, 1, 16},
	    {"copy4k.cross", 0, 1, WAIT_POLL, OP_COPY, 1, 16},
	    {"around16.same", 0, 0, WAIT_POLL, OP_COPY, 16, 16},
	    {"around16.cross", 0, 1, WAIT_POLL, OP_COPY, 16, 16},
	    {"around16_first.same", 0, 0, WAIT_POLL, OP_COPY_FIRST, 16, 16},
	    {"around16_first.cross", 0, 1, WAIT_POLL, OP_COPY_FIRST, 16, 16},
	    {"around16_yield.same", 0, 0, WAIT_POLL, OP_COPY_YIELD, 16, 16},
	    {"zero4k.same", 0, 0, WAIT_POLL, OP_ZERO, 1},
	    {"zero4k.cross", 0, 1, WAIT_POLL, OP_ZERO, 1},
	};
	unsigned long n = full ? 100000 : 20000;
	size_t i;

	run_anon_faults(n);
	for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		char key[96];
		int ret;

		snprintf(key, sizeof(key), "uffd.%s.%s", cfgs[i].touch ? "block64k" : "fault",
			 cfgs[i].name);
		if ((cfgs[i].handler_cpu > 0 || cfgs[i].fault_cpu > 0) && ncpu < 2) {
			skip("one CPU only", "%s", key);
			continue;
		}
		ret = run_faults(&cfgs[i], n, (full ? 10000 : 800) * 1000000ull);
		if (ret)
			skip(strerror(-ret), "%s", key);
	}
}

/* ---- (b) UFFDIO_COPY fill, no faults ---- */

struct filler {
	int uffd;
	int cpu;
	char *dst;
	size_t len, chunk;
	const char *src;
	pthread_barrier_t *bar;
	uint64_t t0, t1;
	int err;
};

static void *filler_main(void *arg)
{
	struct filler *f = arg;
	size_t off;

	pin_cpu(f->cpu);
	pthread_barrier_wait(f->bar);
	f->t0 = now_ns();
	for (off = 0; off < f->len && !f->err; off += f->chunk)
		f->err = uffd_copy(f->uffd, (uintptr_t)f->dst + off, f->src, f->chunk);
	f->t1 = now_ns();
	return NULL;
}

#define MAX_PASSES 64

static int run_fill(size_t region, size_t chunk, int nthreads, uint64_t budget_ns)
{
	char *dst = map_aligned(region, HUGE, MADV_NOHUGEPAGE);
	struct filler f[2] = {};
	pthread_barrier_t bar;
	double rate[MAX_PASSES];
	uint64_t start = now_ns();
	int uffd, ret = 0, pass, t;

	if (!dst)
		return -ENOMEM;
	uffd = uffd_open(0, NULL);
	if (uffd < 0) {
		munmap(dst, region);
		return uffd;
	}
	ret = uffd_register(uffd, dst, region);
	for (t = 0; t < nthreads && !ret; t++) {
		char *src = map_aligned(chunk, BENCH_PAGE, -1);

		if (!src) {
			ret = -ENOMEM;
			break;
		}
		fill_pattern(src, chunk);
		f[t] = (struct filler){.uffd = uffd,
				       .cpu = t,
				       .dst = dst + t * region / nthreads,
				       .len = region / nthreads,
				       .chunk = chunk,
				       .src = src,
				       .bar = &bar};
	}
	for (pass = 0; !ret && pass < MAX_PASSES; pass++) {
		pthread_t th[2];
		uint64_t t0 = UINT64_MAX, t1 = 0;

		if (pass >= 3 && now_ns() - start > budget_ns)
			break;
		pthread_barrier_init(&bar, NULL, nthreads);
		for (t = 0; t < nthreads; t++)
			pthread_create(&th[t], NULL, filler_main, &f[t]);
		for (t = 0; t < nthreads; t++) {
			pthread_join(th[t], NULL);
			if (f[t].err)
				ret = f[t].err;
			t0 = f[t].t0 < t0 ? f[t].t0 : t0;
			t1 = f[t].t1 > t1 ? f[t].t1 : t1;
		}
		pthread_barrier_destroy(&bar);
		rate[pass] = gbps(region, t1 - t0);
		madvise(dst, region, MADV_DONTNEED);
	}
	if (!ret)
		result_rates("GB/s", rate, pass, "uffd.fill.copy%s.t%d", size_name(chunk),
			     nthreads);
	for (t = 0; t < nthreads; t++)
		if (f[t].src)
			munmap((void *)f[t].src, chunk);
	close(uffd);
	munmap(dst, region);
	return ret;
}

/* ---- (c) plain restore floor: copy into fresh pages ---- */

enum copy_how { COPY_MEMCPY, COPY_PVW };

static int run_fresh_copy(size_t region, int thp, enum copy_how how, uint64_t budget_ns)
{
	char *src = map_aligned(HUGE, BENCH_PAGE, -1);
	const char *name = how == COPY_MEMCPY ? "memcpy" : "pvwritev";
	double rate[MAX_PASSES];
	uint64_t start = now_ns();
	long huge_kb = 0;
	int pass, ret = 0;

	if (!src)
		return -ENOMEM;
	fill_pattern(src, HUGE);
	pin_cpu(0);
	for (pass = 0; pass < MAX_PASSES; pass++) {
		char *dst;
		uint64_t t0;
		size_t off;

		if (pass >= 3 && now_ns() - start > budget_ns)
			break;
		dst = map_aligned(region, HUGE, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		if (!dst) {
			ret = -ENOMEM;
			break;
		}
		t0 = now_ns();
		for (off = 0; off < region && !ret; off += HUGE) {
			if (how == COPY_MEMCPY) {
				memcpy(dst + off, src, HUGE);
			} else {
				struct iovec l = {src, HUGE}, r = {dst + off, HUGE};

				if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != (ssize_t)HUGE)
					ret = -errno;
			}
		}
		rate[pass] = gbps(region, now_ns() - t0);
		if (pass == 0)
			huge_kb = anon_huge_kb();
		munmap(dst, region);
	}
	munmap(src, HUGE);
	if (ret)
		return ret;
	result_rates("GB/s", rate, pass, "fresh.%s.%s", name, thp ? "thp" : "4k");
	if (thp)
		result("MiB", huge_kb / 1024.0, "fresh.%s.thp.anon_huge", name);
	return 0;
}

/* ---- (d) UFFDIO_MOVE of 2 MiB from a THP staging area ---- */

/* The staging area must live in the uffd's mm: a daemon in another process would first have to
 * put the data there (process_vm_writev), which is the copy this path is meant to avoid. The
 * number is the kernel's floor, not a design the daemon can use as is. */
static int run_move(size_t region, uint64_t budget_ns)
{
	char *dst, *stage, *src;
	double rate[MAX_PASSES], move_only[MAX_PASSES];
	uint64_t supported = 0, start = now_ns();
	long huge_kb = -1;
	int uffd, pass, ret;

	uffd = uffd_open(0, &supported);
	if (uffd < 0)
		return uffd;
	close(uffd);
	if (!(supported & UFFD_FEATURE_MOVE))
		return -EOPNOTSUPP;
	uffd = uffd_open(UFFD_FEATURE_MOVE, NULL);
	if (uffd < 0)
		return uffd;
	dst = map_aligned(region, HUGE, MADV_HUGEPAGE);
	stage = map_aligned(HUGE, HUGE, MADV_HUGEPAGE);
	src = map_aligned(HUGE, BENCH_PAGE, -1);
	if (!dst || !stage || !src) {
		ret = -ENOMEM;
		goto out;
	}
	fill_pattern(src, HUGE);
	ret = uffd_register(uffd, dst, region);
	pin_cpu(0);
	for (pass = 0; !ret && pass < MAX_PASSES; pass++) {
		uint64_t t0, tm = 0;
		size_t off;

		if (pass >= 3 && now_ns() - start > budget_ns)
			break;
		t0 = now_ns();
		for (off = 0; off < region; off += HUGE) {
			struct uffdio_move m = {
			    .dst = (uintptr_t)dst + off, .src = (uintptr_t)stage, .len = HUGE};
			uint64_t t1;

			memcpy(stage, src, HUGE); /* faults in a fresh THP after each move */
			t1 = now_ns();
			errno = 0;
			if (ioctl(uffd, UFFDIO_MOVE, &m) || m.move != (int64_t)HUGE) {
				ret = errno ? -errno : -EIO;
				break;
			}
			tm += now_ns() - t1;
		}
		rate[pass] = gbps(region, now_ns() - t0);
		move_only[pass] = gbps(region, tm);
		if (pass == 0)
			huge_kb = anon_huge_kb();
		madvise(dst, region, MADV_DONTNEED);
	}
	if (!ret) {
		result_rates("GB/s", rate, pass, "uffd.fill.move2m_staged.t1");
		result_rates("GB/s", move_only, pass, "uffd.fill.move2m_only.t1");
		result("MiB", huge_kb / 1024.0, "uffd.fill.move2m.anon_huge");
	}
out:
	close(uffd);
	munmap(dst, region);
	munmap(stage, HUGE);
	munmap(src, HUGE);
	return ret;
}

int main(void)
{
	int full = bench_full(), ncpu = nr_cpus();
	size_t region = (full ? 512 : 128) * MIB;
	uint64_t budget = (full ? 2000 : 300) * 1000000ull;
	static const size_t chunks[] = {4 * KIB, 64 * KIB, 2 * MIB};
	size_t i;
	int t, ret;

	printf("# uffd-floor: %d CPUs, region %zu MiB, %s mode\n", ncpu, region / MIB,
	       full ? "full" : "quick");
	faults(ncpu, full);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		for (t = 1; t <= 2; t++) {
			if (t > ncpu) {
				skip("one CPU only", "uffd.fill.copy%s.t%d", size_name(chunks[i]),
				     t);
				continue;
			}
			ret = run_fill(region, chunks[i], t, budget);
			if (ret)
				skip(strerror(-ret), "uffd.fill.copy%s.t%d", size_name(chunks[i]),
				     t);
		}
	ret = run_move(region, budget);
	if (ret)
		skip(ret == -EOPNOTSUPP ? "no UFFD_FEATURE_MOVE" : strerror(-ret),
		     "uffd.fill.move2m_staged.t1");
	for (i = 0; i < 4; i++) {
		enum copy_how how = i < 2 ? COPY_MEMCPY : COPY_PVW;

		ret = run_fresh_copy(region, i & 1, how, budget);
		if (ret)
			skip(strerror(-ret), "fresh.%s.%s",
			     how == COPY_MEMCPY ? "memcpy" : "pvwritev", i & 1 ? "thp" : "4k");
	}
	return 0;
}
