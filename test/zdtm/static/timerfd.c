/* timerfds: a periodic one that expired a few times (count not read) and a one-shot armed far
 * ahead; settings and pending expirations survive. */
#include <stdio.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct itimerspec per = {{0, 10000000}, {0, 10000000}}, far = {{0, 0}, {3600, 0}};
	struct itimerspec now;
	struct timespec ts = {0, 300 * 1000 * 1000};
	uint64_t n;
	int t1, t2;

	test_init(argc, argv);
	t1 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	t2 = timerfd_create(CLOCK_REALTIME, 0);
	if (t1 < 0 || t2 < 0 || timerfd_settime(t1, 0, &per, NULL) ||
	    timerfd_settime(t2, 0, &far, NULL))
		pr_perror("timerfd");
	nanosleep(&ts, NULL);
	test_daemon();
	test_waitsig();

	if (timerfd_gettime(t1, &now) || now.it_interval.tv_nsec != 10000000)
		fail("periodic timerfd: interval %ld ns", now.it_interval.tv_nsec);
	/* 30 expirations were pending before the checkpoint: a count restarted at restore has
	 * far fewer by now. */
	if (read(t1, &n, 8) != 8 || n < 25)
		fail("periodic timerfd: %llu expirations since it was armed 300+ ms ago",
		     (unsigned long long)n);
	if (timerfd_gettime(t2, &now) || now.it_value.tv_sec > 3600 ||
	    now.it_value.tv_sec < 3600 - 600)
		fail("one-shot timerfd: %ld s left", (long)now.it_value.tv_sec);
	pass();
	return 0;
}
