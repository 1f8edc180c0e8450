/* Four threads read and check disjoint, interleaved parts of the memory at the same time right
 * after restore, so faults come from several threads at once. */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (64UL << 20)
#define NR 4
#define CHUNK (64 * 1024UL)

static char *area;
static pthread_barrier_t go;

static void *reader(void *arg)
{
	long t = (long)arg;

	pthread_barrier_wait(&go);
	pthread_barrier_wait(&go);
	for (unsigned long off = t * CHUNK; off < LEN; off += NR * CHUNK)
		if (datachk_at(area + off, CHUNK, 34, off) >= 0) {
			fail("thread %ld: bad chunk at %lu", t, off);
			return (void *)1L;
		}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NR];
	void *ret;
	long i;

	test_init(argc, argv);
	area = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, LEN, 34);
	pthread_barrier_init(&go, NULL, NR + 1);
	for (i = 0; i < NR; i++)
		if (pthread_create(&th[i], NULL, reader, (void *)i))
			pr_perror("pthread_create");
	pthread_barrier_wait(&go);
	test_daemon();
	test_waitsig();

	pthread_barrier_wait(&go);
	for (i = 0; i < NR; i++)
		if (pthread_join(th[i], &ret) || ret)
			fail("reader %ld failed", i);
	pass();
	return 0;
}
