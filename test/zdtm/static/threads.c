/* Several threads, each with its own stack data, thread-local value, tid and name, parked in a
 * condition wait: all come back with the same tids and state. */
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 8
#define STACK_DATA 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ready, go;
static __thread uint64_t tls_value;
static pid_t tids[NR];

static void *thread(void *arg)
{
	long i = (long)arg, bad;
	char stack[STACK_DATA], name[16];
	int ret = 0;

	snprintf(name, sizeof(name), "zdtm-t%ld", i);
	prctl(PR_SET_NAME, name);
	datagen(stack, STACK_DATA, 100 + i);
	tls_value = datagen_word(i, 0);
	tids[i] = syscall(SYS_gettid);
	pthread_mutex_lock(&lock);
	ready++;
	pthread_cond_broadcast(&cond);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	bad = datachk(stack, STACK_DATA, 100 + i);
	if (bad >= 0) {
		fail("thread %ld: stack data bad at %ld", i, bad);
		ret = 1;
	}
	if (tls_value != datagen_word(i, 0)) {
		fail("thread %ld: TLS value changed", i);
		ret = 1;
	}
	if (syscall(SYS_gettid) != tids[i]) {
		fail("thread %ld: tid %ld, was %d", i, syscall(SYS_gettid), tids[i]);
		ret = 1;
	}
	memset(name, 0, sizeof(name));
	prctl(PR_GET_NAME, name);
	if (strncmp(name, "zdtm-t", 6) || atol(name + 6) != i) {
		fail("thread %ld: name %s", i, name);
		ret = 1;
	}
	return (void *)(long)ret;
}

int main(int argc, char **argv)
{
	pthread_t t[NR];
	void *ret;
	char path[64];
	long i;

	test_init(argc, argv);
	for (i = 0; i < NR; i++)
		if (pthread_create(&t[i], NULL, thread, (void *)i))
			pr_perror("pthread_create");
	pthread_mutex_lock(&lock);
	while (ready < NR)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d", tids[i]);
		if (access(path, F_OK))
			fail("thread %ld (tid %d) is gone", i, tids[i]);
	}
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < NR; i++)
		if (pthread_join(t[i], &ret) || ret)
			fail("thread %ld failed its checks", i);
	pass();
	return 0;
}
