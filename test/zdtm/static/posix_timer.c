/* POSIX timers: a periodic CLOCK_MONOTONIC timer delivering a real-time signal with a value,
 * a one-shot CLOCK_REALTIME timer armed far ahead; ids, settings and delivery survive. */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t ticks, bad_value;

static void on_tick(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER || si->si_value.sival_int != 0x7157)
		bad_value++;
	ticks++;
}

static long long ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_sigaction = on_tick, .sa_flags = SA_SIGINFO | SA_RESTART};
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 40};
	struct itimerspec periodic = {{0, 20000000}, {0, 20000000}};
	struct itimerspec oneshot = {{0, 0}, {7200, 0}}, now;
	struct timespec ts = {0, 10 * 1000 * 1000};
	timer_t t1, t2;
	int before, i;

	test_init(argc, argv);
	sigemptyset(&sa.sa_mask);
	ev.sigev_value.sival_int = 0x7157;
	if (sigaction(40, &sa, NULL) || timer_create(CLOCK_MONOTONIC, &ev, &t1))
		pr_perror("timer_create");
	ev.sigev_signo = 41;
	ev.sigev_value.sival_int = 2;
	if (timer_create(CLOCK_REALTIME, &ev, &t2) || timer_settime(t1, 0, &periodic, NULL) ||
	    timer_settime(t2, 0, &oneshot, NULL))
		pr_perror("timer_settime");
	test_daemon();
	test_waitsig();

	if (timer_gettime(t1, &now))
		fail("timer 1 is gone: %s", strerror(errno));
	else if (ns(&now.it_interval) != ns(&periodic.it_interval))
		fail("timer 1 interval %lld ns", ns(&now.it_interval));
	if (timer_gettime(t2, &now))
		fail("timer 2 is gone: %s", strerror(errno));
	else if (ns(&now.it_interval) != 0 || now.it_value.tv_sec > 7200 ||
		 now.it_value.tv_sec < 7200 - 600)
		fail("timer 2: %lld ns left", ns(&now.it_value));
	before = ticks;
	for (i = 0; i < 100 && ticks < before + 3; i++)
		nanosleep(&ts, NULL);
	if (ticks < before + 3)
		fail("the periodic timer fired %d times in a second", ticks - before);
	if (bad_value)
		fail("%d timer signals came with the wrong siginfo", bad_value);
	pass();
	return 0;
}
