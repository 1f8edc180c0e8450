/* Scheduling: nice value, CPU affinity, and a thread with SCHED_BATCH; each survives. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static pthread_barrier_t start, stop;
static volatile pid_t thread_tid;

static void *thread(void *arg)
{
	struct sched_param p = {0};

	(void)arg;
	if (sched_setscheduler(0, SCHED_BATCH, &p))
		pr_perror("SCHED_BATCH");
	setpriority(PRIO_PROCESS, 0, 7);
	thread_tid = syscall(SYS_gettid);
	pthread_barrier_wait(&start);
	pthread_barrier_wait(&stop);
	return NULL;
}

int main(int argc, char **argv)
{
	cpu_set_t set, now;
	pthread_t t;
	int cpus = sysconf(_SC_NPROCESSORS_ONLN);

	test_init(argc, argv);
	CPU_ZERO(&set);
	CPU_SET(cpus - 1, &set);
	pthread_barrier_init(&start, NULL, 2);
	pthread_barrier_init(&stop, NULL, 2);
	if (pthread_create(&t, NULL, thread, NULL))
		pr_perror("pthread_create");
	pthread_barrier_wait(&start);
	if (setpriority(PRIO_PROCESS, 0, 5) || sched_setaffinity(0, sizeof(set), &set))
		pr_perror("setpriority/affinity");
	test_daemon();
	test_waitsig();

	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) != 5)
		fail("nice is %d, was 5", getpriority(PRIO_PROCESS, 0));
	if (getpriority(PRIO_PROCESS, thread_tid) != 7)
		fail("thread nice is %d, was 7", getpriority(PRIO_PROCESS, thread_tid));
	if (sched_getscheduler(thread_tid) != SCHED_BATCH)
		fail("thread policy is %d, not SCHED_BATCH", sched_getscheduler(thread_tid));
	if (sched_getscheduler(0) != SCHED_OTHER)
		fail("main policy is %d", sched_getscheduler(0));
	if (sched_getaffinity(0, sizeof(now), &now) || !CPU_EQUAL(&now, &set))
		fail("affinity changed");
	pthread_barrier_wait(&stop);
	pthread_join(t, NULL);
	pass();
	return 0;
}
