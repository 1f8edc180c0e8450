/* The blocked signal mask of the main thread (/proc SigBlk agrees), and blocked signals stay
 * blocked: one sent after restore stays pending. */
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

static const int blocked[] = {SIGUSR1, SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGCHLD, 34, 40, 50, 64};
#define NR (int)(sizeof(blocked) / sizeof(blocked[0]))

int main(int argc, char **argv)
{
	char before[32], after[32];
	sigset_t set, now, pend;
	int i, s;

	test_init(argc, argv);
	sigemptyset(&set);
	for (i = 0; i < NR; i++)
		sigaddset(&set, blocked[i]);
	if (sigprocmask(SIG_SETMASK, &set, NULL))
		pr_perror("sigprocmask");
	if (test_status_field("/proc/self/status", "SigBlk", before, sizeof(before)))
		pr_perror("SigBlk");
	test_daemon();
	test_waitsig();

	sigprocmask(SIG_SETMASK, NULL, &now);
	for (s = 1; s < NSIG; s++)
		if (sigismember(&now, s) != sigismember(&set, s))
			fail("signal %d: blocked %d, was %d", s, sigismember(&now, s),
			     sigismember(&set, s));
	if (test_status_field("/proc/self/status", "SigBlk", after, sizeof(after)) ||
	    strcmp(before, after))
		fail("SigBlk is %s, was %s", after, before);
	kill(getpid(), SIGUSR1);
	sigpending(&pend);
	if (!sigismember(&pend, SIGUSR1))
		fail("SIGUSR1 is not blocked any more");
	pass();
	return 0;
}
