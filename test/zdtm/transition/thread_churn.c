/* Starts and joins short-lived threads all the time while it is checkpointed: each checks a
 * value handed to it and returns a value derived from it. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 4

static void *worker(void *arg)
{
	uint64_t v = (uint64_t)(uintptr_t)arg;

	return (void *)(uintptr_t)datagen_word(v, 0);
}

int main(int argc, char **argv)
{
	pthread_t t[NR];
	uint64_t round = 0;
	void *ret;
	int i;

	test_init(argc, argv);
	test_daemon();
	while (test_go()) {
		for (i = 0; i < NR; i++)
			if (pthread_create(&t[i], NULL, worker,
					   (void *)(uintptr_t)(round * NR + i))) {
				fail("pthread_create: round %lu", (unsigned long)round);
				goto out;
			}
		for (i = 0; i < NR; i++) {
			if (pthread_join(t[i], &ret)) {
				fail("pthread_join");
				goto out;
			}
			if ((uint64_t)(uintptr_t)ret != datagen_word(round * NR + i, 0)) {
				fail("thread %d of round %lu returned a wrong value", i,
				     (unsigned long)round);
				goto out;
			}
		}
		round++;
	}
out:
	test_msg("%lu rounds", (unsigned long)round);
	if (!round)
		fail("no round completed");
	pass();
	return 0;
}
