/* An eventfd with a count in it (and a semaphore-mode one), and an epoll set watching it:
 * counts, modes and readiness survive. */
#include <stdio.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xfeedULL}, out[4];
	uint64_t v;
	int efd, sem, ep, i;

	test_init(argc, argv);
	efd = eventfd(0, EFD_NONBLOCK);
	sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	ep = epoll_create1(0);
	if (efd < 0 || sem < 0 || ep < 0)
		pr_perror("eventfd/epoll");
	v = 41;
	if (write(efd, &v, 8) != 8 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev))
		pr_perror("setup");
	ev.data.u64 = 0xbeefULL;
	ev.events = EPOLLIN | EPOLLET;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sem, &ev))
		pr_perror("epoll_ctl");
	test_daemon();
	test_waitsig();

	i = epoll_wait(ep, out, 4, 0);
	if (i != 2)
		fail("epoll reports %d ready fds, not 2", i);
	while (i-- > 0)
		if (out[i].data.u64 != 0xfeedULL && out[i].data.u64 != 0xbeefULL)
			fail("epoll data %#llx is not ours", (unsigned long long)out[i].data.u64);
	if (read(efd, &v, 8) != 8 || v != 41)
		fail("eventfd count %llu, was 41", (unsigned long long)v);
	for (i = 0; i < 3; i++)
		if (read(sem, &v, 8) != 8 || v != 1)
			fail("semaphore read %d gave %llu", i, (unsigned long long)v);
	if (read(sem, &v, 8) != -1 || errno != EAGAIN)
		fail("the semaphore had more than 3");
	if (!(fcntl(sem, F_GETFD) & FD_CLOEXEC))
		fail("EFD_CLOEXEC lost");
	pass();
	return 0;
}
