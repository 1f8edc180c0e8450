/* Threads blocked in futex waits (one without timeout, one with a long relative timeout, one on
 * a PI-free bitset wait) must stay blocked across checkpoint/restore: a wait that returns before
 * it is woken, or with an error, is a failure. */
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 3

static uint32_t words[NR];
static volatile int woken[NR];
static volatile int entered[NR];
static volatile pid_t tids[NR];

static void *waiter(void *arg)
{
	long i = (long)arg;
	struct timespec rel = {3600, 0}, abs;
	long ret;

	tids[i] = syscall(SYS_gettid);
	entered[i] = 1;
	if (i == 0) {
		ret = syscall(SYS_futex, &words[i], FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	} else if (i == 1) {
		ret = syscall(SYS_futex, &words[i], FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
	} else {
		clock_gettime(CLOCK_MONOTONIC, &abs);
		abs.tv_sec += 3600;
		ret = syscall(SYS_futex, &words[i], FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL,
			      FUTEX_BITSET_MATCH_ANY);
	}
	if (ret != 0) {
		fail("waiter %ld: futex returned %ld (%s)", i, ret, strerror(errno));
		return (void *)1L;
	}
	if (!woken[i]) {
		fail("waiter %ld: returned before it was woken", i);
		return (void *)1L;
	}
	return NULL;
}

static int blocked_in_futex(pid_t tid)
{
	char path[64], buf[128];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (test_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return atoi(buf) == SYS_futex;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	pthread_t t[NR];
	void *ret;
	long i;

	test_init(argc, argv);
	for (i = 0; i < NR; i++)
		if (pthread_create(&t[i], NULL, waiter, (void *)i))
			pr_perror("pthread_create");
	for (i = 0; i < NR; i++) {
		int tries = 500;

		while (!entered[i] || blocked_in_futex(tids[i]) != 1)
			if (!tries--)
				pr_perror("waiter %ld never blocked in futex", i);
			else
				nanosleep(&ts, NULL);
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++)
		if (blocked_in_futex(tids[i]) != 1)
			fail("waiter %ld is not blocked in futex any more", i);
	for (i = 0; i < NR; i++) {
		woken[i] = 1;
		__atomic_store_n(&words[i], 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &words[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	for (i = 0; i < NR; i++)
		if (pthread_join(t[i], &ret) || ret)
			fail("waiter %ld failed", i);
	pass();
	return 0;
}
