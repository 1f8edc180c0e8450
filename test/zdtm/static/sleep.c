/* Sleeps across checkpoint/restore: a relative nanosleep of an hour, interrupted after restore
 * by our signal, must report EINTR with a sane remaining time; an absolute clock_nanosleep ends
 * on time. A sleep that ends early or wrongly is a failure. */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile int interrupted_by_us;
static volatile pid_t sleeper_tid;
static struct timespec abs_deadline;

static void on_usr1(int sig)
{
	(void)sig;
}

static void *sleeper(void *arg)
{
	struct timespec req = {3600, 0}, rem = {0, 0};
	int ret;

	(void)arg;
	sleeper_tid = syscall(SYS_gettid);
	ret = nanosleep(&req, &rem);
	if (ret != -1 || errno != EINTR || !interrupted_by_us) {
		fail("nanosleep returned %d (%s) before our signal", ret, strerror(errno));
		return (void *)1L;
	}
	if (rem.tv_sec < 3000 || rem.tv_sec > 3600) {
		fail("remaining time %ld s is not sane", (long)rem.tv_sec);
		return (void *)1L;
	}
	return NULL;
}

static void *abs_sleeper(void *arg)
{
	struct timespec now;
	int ret;

	(void)arg;
	ret = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs_deadline, NULL);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ret) {
		fail("clock_nanosleep: %s", strerror(ret));
		return (void *)1L;
	}
	if (now.tv_sec < abs_deadline.tv_sec) {
		fail("absolute sleep ended early");
		return (void *)1L;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	struct timespec ts = {0, 20 * 1000 * 1000};
	pthread_t t, t2;
	void *ret;

	test_init(argc, argv);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &abs_deadline);
	abs_deadline.tv_sec += 1;
	if (pthread_create(&t, NULL, sleeper, NULL) || pthread_create(&t2, NULL, abs_sleeper, NULL))
		pr_perror("pthread_create");
	while (!sleeper_tid)
		nanosleep(&ts, NULL);
	nanosleep(&ts, NULL);
	test_daemon();
	test_waitsig();

	interrupted_by_us = 1;
	syscall(SYS_tgkill, getpid(), sleeper_tid, SIGUSR1);
	if (pthread_join(t, &ret) || ret)
		fail("the relative sleeper failed");
	if (pthread_join(t2, &ret) || ret)
		fail("the absolute sleeper failed");
	pass();
	return 0;
}
