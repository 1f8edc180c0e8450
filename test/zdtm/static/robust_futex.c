/* Robust mutexes and the tid word held across C/R: a thread and the main thread each hold a
 * robust mutex while checkpointed. Had a dumped thread died with its robust list and
 * clear_child_tid still set while its memory was kept (a post-copy source), the kernel would
 * have marked the mutexes OWNER_DIED and zeroed the tid word in the memory restored. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static pthread_mutex_t held_by_thread, held_by_main;
static volatile int started, stop;
static volatile pid_t holder_tid;

static void *holder(void *arg)
{
	struct timespec ts = {0, 1000 * 1000};

	(void)arg;
	holder_tid = syscall(SYS_gettid);
	if (pthread_mutex_lock(&held_by_thread))
		return (void *)1L;
	started = 1;
	while (!stop)
		nanosleep(&ts, NULL);
	return (void *)(long)pthread_mutex_unlock(&held_by_thread);
}

/* The futex word of a robust mutex: the owner's tid, with FUTEX_OWNER_DIED set by the kernel's
 * cleanup of a dead owner. */
static unsigned int word(pthread_mutex_t *m)
{
	return *(volatile unsigned int *)&m->__data.__lock;
}

static void check_held(const char *what, pthread_mutex_t *m, pid_t owner)
{
	unsigned int w = word(m);
	int ret;

	if (w & FUTEX_OWNER_DIED)
		fail("%s: futex word %#x has OWNER_DIED", what, w);
	if ((w & FUTEX_TID_MASK) != (unsigned int)owner)
		fail("%s: futex word %#x, owner is %d", what, w, owner);
	/* the main thread owns held_by_main: only the other one can be tried from here */
	if (m == &held_by_thread) {
		ret = pthread_mutex_trylock(m);
		if (ret != EBUSY)
			fail("%s: trylock gives %d, not EBUSY", what, ret);
		if (!ret || ret == EOWNERDEAD)
			pthread_mutex_unlock(m);
	}
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 1000 * 1000}, deadline;
	pthread_mutexattr_t a;
	pthread_t t;
	void *ret;
	int i;

	test_init(argc, argv);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&held_by_thread, &a);
	pthread_mutex_init(&held_by_main, &a);
	if (pthread_mutex_lock(&held_by_main))
		pr_perror("lock");
	if (pthread_create(&t, NULL, holder, NULL))
		pr_perror("pthread_create");
	for (i = 0; i < 10000 && !started; i++)
		nanosleep(&ts, NULL);
	if (!started) {
		fail("the holder thread did not start within 10 s");
		return 1;
	}
	test_daemon();
	test_waitsig();

	check_held("the thread's mutex", &held_by_thread, holder_tid);
	check_held("main's mutex", &held_by_main, (pid_t)syscall(SYS_gettid));
	stop = 1;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	/* a zeroed tid word would end the join at once, with the thread still running */
	if (pthread_timedjoin_np(t, &ret, &deadline) || ret)
		fail("the holder thread did not end cleanly");
	else if (pthread_mutex_lock(&held_by_thread))
		fail("the thread's mutex cannot be taken after the thread unlocked it");
	if (pthread_mutex_unlock(&held_by_main))
		fail("main's mutex cannot be unlocked by main");
	pass();
	return 0;
}
