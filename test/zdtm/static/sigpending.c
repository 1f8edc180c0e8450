/* Pending signals with their siginfo: process-wide and thread-directed, standard ones (merged)
 * and real-time ones (queued, in order, each with its value). */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR_RT 8

static int check_one(int sig, int code, int val)
{
	struct timespec ts = {0, 0};
	siginfo_t si;
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, sig);
	if (sigtimedwait(&one, &si, &ts) != sig) {
		fail("signal %d is not pending", sig);
		return -1;
	}
	if (si.si_code != code || (code == SI_QUEUE && si.si_value.sival_int != val) ||
	    si.si_pid != getpid()) {
		fail("signal %d: code %d value %d pid %d, want code %d value %d pid %d", sig,
		     si.si_code, si.si_value.sival_int, si.si_pid, code, val, getpid());
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char thr_before[32], shd_before[32], thr_after[32], shd_after[32];
	sigset_t set, pend;
	int tkill_code;
	union sigval v;
	int i, rt = SIGRTMIN + 2;

	test_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rt);
	sigaddset(&set, rt + 1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		pr_perror("sigprocmask");
	/* Process-wide: SIGUSR1 twice (merged into one), rt queued NR_RT times. */
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	for (i = 0; i < NR_RT; i++) {
		v.sival_int = 1000 + i;
		if (sigqueue(getpid(), rt, v))
			pr_perror("sigqueue");
	}
	/* The si_code this kernel gives tgkill (SI_TKILL, or SI_USER on some versions). */
	{
		siginfo_t si;

		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
		if (sigwaitinfo(&set, &si) != SIGUSR2)
			pr_perror("sigwaitinfo");
		tkill_code = si.si_code;
	}
	/* Thread-directed: SIGUSR2 and one rt + 1 with a value. */
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
	{
		siginfo_t si = {.si_signo = rt + 1, .si_code = SI_QUEUE};

		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value.sival_int = 77;
		if (syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), rt + 1, &si))
			pr_perror("rt_tgsigqueueinfo");
	}
	if (test_status_field("/proc/self/status", "SigPnd", thr_before, sizeof(thr_before)) ||
	    test_status_field("/proc/self/status", "ShdPnd", shd_before, sizeof(shd_before)))
		pr_perror("no SigPnd/ShdPnd");
	test_daemon();
	test_waitsig();

	/* Which signals are the thread's and which the process's. */
	test_status_field("/proc/self/status", "SigPnd", thr_after, sizeof(thr_after));
	test_status_field("/proc/self/status", "ShdPnd", shd_after, sizeof(shd_after));
	if (strcmp(thr_before, thr_after) || strcmp(shd_before, shd_after))
		fail("pending: thread %s process %s, were %s and %s", thr_after, shd_after,
		     thr_before, shd_before);
	sigpending(&pend);
	for (i = 1; i < NSIG; i++)
		if (sigismember(&pend, i) != sigismember(&set, i))
			fail("signal %d: pending %d", i, sigismember(&pend, i));
	check_one(SIGUSR1, SI_USER, 0);
	sigpending(&pend);
	if (sigismember(&pend, SIGUSR1))
		fail("SIGUSR1 was pending twice");
	check_one(SIGUSR2, tkill_code, 0);
	for (i = 0; i < NR_RT; i++)
		if (check_one(rt, SI_QUEUE, 1000 + i))
			break;
	check_one(rt + 1, SI_QUEUE, 77);
	pass();
	return 0;
}
