/* Thread pointers: the fs base of every thread (its TLS block, __thread values) and a gs base
 * set by the test, read back through the segment itself. */
#include <asm/prctl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 3

static __thread uint64_t tls_word = 1;
static __thread char tls_buf[256];
static uint64_t gs_area[NR + 1][4];
static pthread_barrier_t start, stop;

static int check_self(int i)
{
	unsigned long fs = 0, gs = 0;
	uint64_t via_gs;

	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
	asm volatile("movq %%gs:8, %0" : "=r"(via_gs));
	if (fs != (unsigned long)pthread_self()) {
		fail("thread %d: fs base %#lx, pthread_self %#lx", i, fs,
		     (unsigned long)pthread_self());
		return 1;
	}
	if (gs != (unsigned long)gs_area[i] || via_gs != datagen_word(i, 8)) {
		fail("thread %d: gs base %#lx (%#lx through %%gs), want %p", i, gs,
		     (unsigned long)via_gs, (void *)gs_area[i]);
		return 1;
	}
	if (tls_word != datagen_word(i, 0) || datachk(tls_buf, sizeof(tls_buf), i) >= 0) {
		fail("thread %d: TLS data changed", i);
		return 1;
	}
	return 0;
}

static void setup_self(int i)
{
	tls_word = datagen_word(i, 0);
	datagen(tls_buf, sizeof(tls_buf), i);
	datagen(gs_area[i], sizeof(gs_area[i]), i);
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, gs_area[i]))
		pr_perror("ARCH_SET_GS");
}

static void *thread(void *arg)
{
	int i = (int)(long)arg;

	setup_self(i);
	pthread_barrier_wait(&start);
	pthread_barrier_wait(&stop);
	return (void *)(long)check_self(i);
}

int main(int argc, char **argv)
{
	pthread_t t[NR];
	void *ret;
	long i;

	test_init(argc, argv);
	pthread_barrier_init(&start, NULL, NR + 1);
	pthread_barrier_init(&stop, NULL, NR + 1);
	for (i = 1; i <= NR; i++)
		if (pthread_create(&t[i - 1], NULL, thread, (void *)i))
			pr_perror("pthread_create");
	setup_self(0);
	pthread_barrier_wait(&start);
	test_daemon();
	test_waitsig();

	check_self(0);
	pthread_barrier_wait(&stop);
	for (i = 0; i < NR; i++)
		if (pthread_join(t[i], &ret) || ret)
			fail("thread %ld failed its checks", i + 1);
	pass();
	return 0;
}
