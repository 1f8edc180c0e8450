/* Signal dispositions: handlers with their flags and masks, ignored and default signals, and the
 * handlers still run (with SA_SIGINFO data, SA_RESETHAND once) after restore. */
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t hits[NSIG];
static volatile int info_ok;

static void handler(int sig)
{
	hits[sig]++;
}

static void info_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	hits[sig]++;
	info_ok = si->si_signo == sig && si->si_code == SI_QUEUE && si->si_value.sival_int == 4242;
}

struct disp {
	int sig;
	int flags;
	int kind; /* 0 handler, 1 info handler, 2 ignore, 3 default */
};

static const struct disp disps[] = {
    {SIGUSR1, SA_RESTART, 0},
    {SIGUSR2, SA_SIGINFO | SA_NODEFER, 1},
    {SIGHUP, SA_RESETHAND, 0},
    {SIGPIPE, 0, 2},
    {SIGALRM, SA_RESTART | SA_ONSTACK, 0},
    {37, SA_SIGINFO, 1}, /* a real-time signal: SIGRTMIN is 34 with glibc */
    {SIGWINCH, 0, 3},
    {SIGCHLD, SA_NOCLDSTOP, 0},
};
#define NR (int)(sizeof(disps) / sizeof(disps[0]))

static struct sigaction before[NR];

#define FLAGS (SA_RESTART | SA_SIGINFO | SA_NODEFER | SA_RESETHAND | SA_ONSTACK | SA_NOCLDSTOP)

int main(int argc, char **argv)
{
	struct sigaction sa, now;
	union sigval v = {.sival_int = 4242};
	int i;

	test_init(argc, argv);
	for (i = 0; i < NR; i++) {
		memset(&sa, 0, sizeof(sa));
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGRTMIN + i);
		if (i & 1)
			sigaddset(&sa.sa_mask, SIGINT);
		sa.sa_flags = disps[i].flags;
		if (disps[i].kind == 1)
			sa.sa_sigaction = info_handler;
		else if (disps[i].kind == 0)
			sa.sa_handler = handler;
		else
			sa.sa_handler = disps[i].kind == 2 ? SIG_IGN : SIG_DFL;
		if (sigaction(disps[i].sig, &sa, NULL) || sigaction(disps[i].sig, NULL, &before[i]))
			pr_perror("sigaction %d", disps[i].sig);
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		int sig = disps[i].sig, s;

		if (sigaction(sig, NULL, &now)) {
			fail("sigaction %d: %s", sig, strerror(errno));
			continue;
		}
		if (now.sa_handler != before[i].sa_handler)
			fail("signal %d: handler %p, was %p", sig, (void *)now.sa_handler,
			     (void *)before[i].sa_handler);
		if ((now.sa_flags & FLAGS) != (before[i].sa_flags & FLAGS))
			fail("signal %d: flags %#x, were %#x", sig, now.sa_flags & FLAGS,
			     before[i].sa_flags & FLAGS);
		for (s = 1; s < NSIG; s++)
			if (sigismember(&now.sa_mask, s) != sigismember(&before[i].sa_mask, s))
				fail("signal %d: signal %d in the handler mask changed", sig, s);
	}
	/* The handlers run. */
	raise(SIGUSR1);
	sigqueue(getpid(), SIGUSR2, v);
	if (hits[SIGUSR1] != 1 || hits[SIGUSR2] != 1 || !info_ok)
		fail("handlers after restore: usr1 %d usr2 %d info %d", hits[SIGUSR1],
		     hits[SIGUSR2], info_ok);
	raise(SIGPIPE);
	raise(SIGHUP);
	if (hits[SIGHUP] != 1)
		fail("SIGHUP handler ran %d times", hits[SIGHUP]);
	if (sigaction(SIGHUP, NULL, &now) || now.sa_handler != SIG_DFL)
		fail("SA_RESETHAND did not reset SIGHUP");
	pass();
	return 0;
}
