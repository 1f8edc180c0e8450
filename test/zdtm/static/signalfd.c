/* A signalfd watching blocked signals, with two of them pending: the fd still reads them, with
 * their data, and its mask is kept. */
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct signalfd_siginfo si;
	union sigval v = {.sival_int = 999};
	char mask_before[32], mask_after[32], path[64];
	sigset_t set;
	int fd;

	test_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, 45);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK);
	if (fd < 0)
		pr_perror("signalfd");
	kill(getpid(), SIGUSR1);
	sigqueue(getpid(), 45, v);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (test_status_field(path, "sigmask", mask_before, sizeof(mask_before)))
		pr_perror("no sigmask in %s", path);
	test_daemon();
	test_waitsig();

	if (test_status_field(path, "sigmask", mask_after, sizeof(mask_after)) ||
	    strcmp(mask_before, mask_after))
		fail("signalfd mask %s, was %s", mask_after, mask_before);
	if (read(fd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
		fail("SIGUSR1 does not come out of the signalfd");
	if (read(fd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != 45 || si.ssi_int != 999)
		fail("signal 45 with its value does not come out of the signalfd");
	if (read(fd, &si, sizeof(si)) != -1 || errno != EAGAIN)
		fail("more signals than were sent");
	pass();
	return 0;
}
