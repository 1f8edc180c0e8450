/* The uffd wrappers and the epoll loop on their own: feature negotiation, the partial results of
 * COPY/ZEROPAGE (EEXIST with a count), a fault read without blocking, wake; and the loop's order
 * of things (ready fds before idle), its timer and its stop from another thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/unit.h"
#include "ev.h"
#include "uffd.h"

#define PG 4096UL

static int reg(void *map, size_t len, uint64_t *got)
{
	int fd = uffd_open(O_CLOEXEC | O_NONBLOCK);

	UT_GE(fd, 0);
	UT_OK(uffd_api(fd, UFFD_WANTED_FEATURES, got));
	UT_OK(uffd_register(fd, (uint64_t)map, len, UFFDIO_REGISTER_MODE_MISSING, NULL));
	return fd;
}

static void test_features(void)
{
	uint64_t avail = 0, got = 0;
	int fd = uffd_open(O_CLOEXEC | O_NONBLOCK);

	UT_GE(fd, 0);
	UT_OK(uffd_probe_features(&avail));
	UT_OK(uffd_api(fd, UFFD_WANTED_FEATURES, &got));
	UT_EQ(got, avail & UFFD_WANTED_FEATURES);
	unit_log("wanted %#llx, this kernel gives %#llx", (unsigned long long)UFFD_WANTED_FEATURES,
		 (unsigned long long)got);
	/* a uffd takes the API once */
	UT_ERR(uffd_api(fd, 0, NULL), -EINVAL);
	close(fd);
}

static void test_copy_zeropage_eexist(void)
{
	unsigned char *map =
	    mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char src[4 * PG];
	uint64_t done = 0;
	int fd;

	UT_ASSERT(map != MAP_FAILED);
	fd = reg(map, 8 * PG, NULL);
	memset(src, 0xab, sizeof(src));
	UT_OK(uffd_copy(fd, (uint64_t)map + 2 * PG, src, PG, 0, &done));
	UT_EQ(done, PG);
	/* pages 0-3: the third is there already; two go in, then EEXIST or a short copy */
	done = 0;
	{
		int ret = uffd_copy(fd, (uint64_t)map, src, 4 * PG, 0, &done);

		UT_ASSERT(ret == -EEXIST || ret == -EAGAIN);
		UT_EQ(done, 2 * PG);
	}
	UT_ERR(uffd_copy(fd, (uint64_t)map + 2 * PG, src, PG, 0, &done), -EEXIST);
	UT_EQ(done, 0);
	UT_OK(uffd_zeropage(fd, (uint64_t)map + 4 * PG, 2 * PG, 0, &done));
	UT_EQ(done, 2 * PG);
	UT_ERR(uffd_zeropage(fd, (uint64_t)map + 4 * PG, PG, 0, &done), -EEXIST);
	UT_EQ(map[PG + 7], 0xab);
	UT_EQ(map[4 * PG + 7], 0);
	/* outside every registered range */
	UT_ERR(uffd_copy(fd, (uint64_t)map + 16 * PG, src, PG, 0, &done), -ENOENT);
	close(fd);
	munmap(map, 8 * PG);
}

struct toucher {
	volatile unsigned char *p;
	unsigned char v;
};

static void *touch(void *arg)
{
	struct toucher *t = arg;

	t->v = *t->p;
	return NULL;
}

static void test_fault_message(void)
{
	unsigned char *map =
	    mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct toucher t = {NULL, 0};
	struct uffd_msg msg[4];
	unsigned char page[PG];
	pthread_t th;
	ssize_t n = 0;
	int fd, i;

	UT_ASSERT(map != MAP_FAILED);
	fd = reg(map, 4 * PG, NULL);
	UT_EQ(uffd_read_msgs(fd, msg, 4), 0); /* nothing pending: not an error */
	t.p = map + 3 * PG + 5;
	UT_OK(-pthread_create(&th, NULL, touch, &t));
	for (i = 0; i < 2000 && n == 0; i++) {
		n = uffd_read_msgs(fd, msg, 4);
		if (!n)
			usleep(1000);
	}
	UT_EQ(n, 1);
	UT_EQ(msg[0].event, UFFD_EVENT_PAGEFAULT);
	UT_EQ(msg[0].arg.pagefault.address & ~(PG - 1), (uint64_t)map + 3 * PG);
	UT_ASSERT(!strcmp(uffd_event_name(msg[0].event), "PAGEFAULT"));
	memset(page, 0x5c, PG);
	UT_OK(uffd_copy(fd, (uint64_t)map + 3 * PG, page, PG, 0, NULL));
	pthread_join(th, NULL);
	UT_EQ(t.v, 0x5c);
	close(fd);
	munmap(map, 4 * PG);
}

/* ---- ev ---- */

struct evt {
	struct ev_fd a;
	struct ev_loop *l;
	int reads, idles, ticks;
	int order_ok;
};

static int on_a(struct ev_fd *e)
{
	struct evt *x = container_of(e, struct evt, a);
	uint64_t v;

	UT_EQ(read(e->fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	x->reads++;
	return 0;
}

static int idle(void *arg)
{
	struct evt *x = arg;
	uint64_t v;

	/* the ready fd was served before this ran */
	x->order_ok = x->order_ok && read(x->a.fd, &v, sizeof(v)) < 0;
	x->idles++;
	return 0;
}

static int tick(void *arg)
{
	struct evt *x = arg;

	if (++x->ticks == 3)
		ev_stop(x->l);
	return 0;
}

static void test_ev_loop(void)
{
	struct evt x = {.order_ok = 1};
	uint64_t one = 1;

	UT_OK(ev_create(&x.l));
	x.a.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x.a.on_read = on_a;
	UT_OK(ev_add(x.l, &x.a));
	ev_set_idle(x.l, idle, &x);
	UT_OK(ev_set_timer(x.l, 10, tick, &x));
	UT_EQ(write(x.a.fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	UT_OK(ev_run(x.l));
	UT_EQ(x.reads, 1);
	UT_EQ(x.ticks, 3);
	UT_GE(x.idles, 3);
	UT_ASSERT(x.order_ok);
	UT_OK(ev_del(x.l, &x.a));
	close(x.a.fd);
	ev_free(x.l);
}

static int fail_read(struct ev_fd *e)
{
	(void)e;
	return -EPROTO;
}

static void *stopper(void *arg)
{
	usleep(20000);
	ev_stop(arg);
	return NULL;
}

static void test_ev_stop_and_errors(void)
{
	struct ev_loop *l;
	struct ev_fd e = {.on_read = fail_read};
	pthread_t th;
	uint64_t one = 1;

	UT_OK(ev_create(&l));
	UT_OK(-pthread_create(&th, NULL, stopper, l));
	UT_OK(ev_run(l)); /* ends when the other thread says so */
	pthread_join(th, NULL);
	e.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	UT_OK(ev_add(l, &e));
	UT_EQ(write(e.fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	UT_ERR(ev_run(l), -EPROTO); /* a handler's error ends the loop with it */
	close(e.fd);
	ev_free(l);
}

static const struct unit_test tests[] = {
    {"uffd features negotiated", test_features, UNIT_F_UFFD},
    {"uffd copy, zeropage, EEXIST with counts", test_copy_zeropage_eexist, UNIT_F_UFFD},
    {"uffd fault message read without blocking", test_fault_message, UNIT_F_UFFD},
    {"ev loop: fds before idle, timer, stop", test_ev_loop, 0},
    {"ev loop: stop from a thread, handler errors", test_ev_stop_and_errors, 0},
};

UNIT_MAIN(tests)
