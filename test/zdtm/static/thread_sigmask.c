/* Each thread has its own blocked mask and its own pending signal. */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 4

static pthread_barrier_t start, stop;
static pid_t tids[NR];
static sigset_t masks[NR];

static void *thread(void *arg)
{
	long i = (long)arg;
	struct timespec ts = {0, 0};
	sigset_t now, one;
	int s, ret = 0;

	sigemptyset(&masks[i]);
	sigaddset(&masks[i], SIGUSR1);
	for (s = 34; s < 64; s++)
		if (s % NR == i)
			sigaddset(&masks[i], s);
	pthread_sigmask(SIG_SETMASK, &masks[i], NULL);
	tids[i] = syscall(SYS_gettid);
	/* One signal pending for this thread only (36 + i is in its mask). */
	syscall(SYS_tgkill, getpid(), tids[i], 36 + (int)i);
	pthread_barrier_wait(&start);
	pthread_barrier_wait(&stop);

	pthread_sigmask(SIG_SETMASK, NULL, &now);
	for (s = 1; s < NSIG; s++)
		if (sigismember(&now, s) != sigismember(&masks[i], s)) {
			fail("thread %ld: signal %d blocked %d", i, s, sigismember(&now, s));
			ret = 1;
		}
	sigemptyset(&one);
	sigaddset(&one, 36 + (int)i);
	if (sigtimedwait(&one, NULL, &ts) != 36 + (int)i) {
		fail("thread %ld: its pending signal is gone", i);
		ret = 1;
	}
	return (void *)(long)ret;
}

int main(int argc, char **argv)
{
	pthread_t t[NR];
	sigset_t all;
	void *ret;
	long i;

	test_init(argc, argv);
	/* Threads start with everything blocked, then set their own masks. */
	sigfillset(&all);
	sigdelset(&all, SIGTERM);
	pthread_barrier_init(&start, NULL, NR + 1);
	pthread_barrier_init(&stop, NULL, NR + 1);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (i = 0; i < NR; i++)
		if (pthread_create(&t[i], NULL, thread, (void *)i))
			pr_perror("pthread_create");
	pthread_sigmask(SIG_UNBLOCK, &all, NULL);
	pthread_barrier_wait(&start);
	test_daemon();
	test_waitsig();

	pthread_barrier_wait(&stop);
	for (i = 0; i < NR; i++)
		if (pthread_join(t[i], &ret) || ret)
			fail("thread %ld failed its checks", i);
	pass();
	return 0;
}
