/* Interval timers: ITIMER_REAL/VIRTUAL/PROF keep their intervals, their remaining time does not
 * grow (it may shrink), and a short periodic timer keeps firing after restore. */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static long us(const struct timeval *tv)
{
	return tv->tv_sec * 1000000L + tv->tv_usec;
}

/* setitimer() adds one tick (TICK_NSEC: 1 to 10 ms by CONFIG_HZ) to a CPU timer's value, here
 * once at setup. Restore must arm the value left without a second tick, or each C/R cycle adds
 * one: allow a single tick of the largest size, 10 ms, whatever the number of cycles. */
#define SLACK 10000L

static int near(long a, long b)
{
	return a - b < SLACK && b - a < SLACK;
}

int main(int argc, char **argv)
{
	struct itimerval real = {{0, 50000}, {0, 50000}};
	struct itimerval virt = {{300, 0}, {200, 0}};
	struct itimerval prof = {{400, 5000}, {350, 0}};
	struct itimerval now;
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	struct timespec ts = {0, 10 * 1000 * 1000};
	int before, i;

	test_init(argc, argv);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) || setitimer(ITIMER_REAL, &real, NULL) ||
	    setitimer(ITIMER_VIRTUAL, &virt, NULL) || setitimer(ITIMER_PROF, &prof, NULL))
		pr_perror("setitimer");
	test_daemon();
	test_waitsig();

	/* Keep the (re-armed) values of the kernel, rounded to its tick. */
	getitimer(ITIMER_VIRTUAL, &now);
	if (!near(us(&now.it_interval), us(&virt.it_interval)) ||
	    us(&now.it_value) > us(&virt.it_value) + SLACK ||
	    us(&now.it_value) < us(&virt.it_value) - 10000000L)
		fail("ITIMER_VIRTUAL: %ld/%ld us", us(&now.it_value), us(&now.it_interval));
	getitimer(ITIMER_PROF, &now);
	if (!near(us(&now.it_interval), us(&prof.it_interval)) ||
	    us(&now.it_value) > us(&prof.it_value) + SLACK ||
	    us(&now.it_value) < us(&prof.it_value) - 10000000L)
		fail("ITIMER_PROF: %ld/%ld us", us(&now.it_value), us(&now.it_interval));
	getitimer(ITIMER_REAL, &now);
	if (!near(us(&now.it_interval), us(&real.it_interval)) || us(&now.it_value) > 60000)
		fail("ITIMER_REAL: %ld/%ld us", us(&now.it_value), us(&now.it_interval));
	before = alarms;
	for (i = 0; i < 50 && alarms < before + 3; i++)
		nanosleep(&ts, NULL);
	if (alarms < before + 3)
		fail("the periodic ITIMER_REAL fired %d times in 500 ms", alarms - before);
	pass();
	return 0;
}
