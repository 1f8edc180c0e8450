/* The parent-death signal of a child (and of the root) survives, and still fires: the child is
 * told its parent died by the signal it asked for. */
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static int pipefd[2];

static void on_usr2(int sig)
{
	(void)sig;
	/* Our parent (the middle process) died: tell the root. */
	if (write(pipefd[1], "D", 1) != 1)
		_exit(3);
	_exit(0);
}

static int grandchild(void *arg)
{
	int sig = 0;

	(void)arg;
	signal(SIGUSR2, on_usr2);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2))
		return 1;
	test_sync_post();
	test_waitsig();
	if (prctl(PR_GET_PDEATHSIG, &sig) || sig != SIGUSR2)
		return 2;
	pause();
	return 4;
}

static int middle(void *arg)
{
	pid_t gc;

	(void)arg;
	gc = test_fork(grandchild, NULL);
	test_sync_post();
	test_waitsig();
	/* Let the grandchild check its setting, then die to fire it. */
	kill(gc, SIGTERM);
	usleep(200 * 1000);
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pid;
	char c = 0;
	int sig = 0, ret;

	test_init(argc, argv);
	/* The root's parent, the launcher, exits when the test is ready: SIGURG is harmless. */
	if (pipe(pipefd) || prctl(PR_SET_PDEATHSIG, SIGURG))
		pr_perror("setup");
	test_sync_init();
	pid = test_fork(middle, NULL);
	if (test_sync_wait(2, 10000))
		return 1;
	test_daemon();
	test_waitsig();

	if (prctl(PR_GET_PDEATHSIG, &sig) || sig != SIGURG)
		fail("root's pdeath signal is %d", sig);
	kill(pid, SIGTERM);
	ret = test_wait_child(pid, 10000);
	if (ret)
		fail("middle process: %d", ret);
	alarm(10);
	if (read(pipefd[0], &c, 1) != 1 || c != 'D')
		fail("the grandchild did not get its parent-death signal");
	alarm(0);
	pass();
	return 0;
}
