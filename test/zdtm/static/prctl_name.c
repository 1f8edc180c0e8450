/* Task names (comm) of the main thread and of a second thread. */
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static pthread_barrier_t start, stop;
static volatile pid_t thread_tid;

static void *thread(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "zdtm-thread");
	thread_tid = syscall(SYS_gettid);
	pthread_barrier_wait(&start);
	pthread_barrier_wait(&stop);
	return NULL;
}

int main(int argc, char **argv)
{
	char name[32], path[64], comm[32];
	pthread_t t;

	test_init(argc, argv);
	pthread_barrier_init(&start, NULL, 2);
	pthread_barrier_init(&stop, NULL, 2);
	if (prctl(PR_SET_NAME, "zdtm: comm 15c"))
		pr_perror("PR_SET_NAME");
	if (pthread_create(&t, NULL, thread, NULL))
		pr_perror("pthread_create");
	pthread_barrier_wait(&start);
	test_daemon();
	test_waitsig();

	memset(name, 0, sizeof(name));
	if (prctl(PR_GET_NAME, name) || strcmp(name, "zdtm: comm 15c"))
		fail("main thread comm is '%s'", name);
	if (test_read_file("/proc/self/comm", comm, sizeof(comm)) < 0 ||
	    strcmp(comm, "zdtm: comm 15c\n"))
		fail("/proc/self/comm is '%s'", comm);
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", thread_tid);
	if (test_read_file(path, comm, sizeof(comm)) < 0 || strcmp(comm, "zdtm-thread\n"))
		fail("thread comm is '%s'", comm);
	pthread_barrier_wait(&stop);
	pthread_join(t, NULL);
	pass();
	return 0;
}
