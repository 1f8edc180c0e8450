/* For the lazy-pages tests: a child process standing in for a lazily restored task. It registers
 * a mapping it shares with its parent's layout (MISSING, nothing written but eager pages), hands
 * its uffd over as restore does, and once released reads every page in order, telling the parent
 * for each: 'o' right, 'Z' zero where data was expected, 'X' anything else wrong. A task killed
 * at a page it must not run on stops reporting there. */
#ifndef LAZY_TASK_H
#define LAZY_TASK_H

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/unit.h"
#include "uffd.h"

struct lazy_task {
	pid_t pid;
	int uffd;   /* the task's uffd, now ours */
	int sk;	    /* releases the task */
	int report; /* one byte per page read */
	size_t npages;
};

static int lt_zero(const unsigned char *p)
{
	size_t i;

	for (i = 0; i < PGS_PAGE_SIZE; i++)
		if (p[i])
			return 0;
	return 1;
}

static void lt_child(unsigned char *map, size_t npages, const unsigned char *want, size_t eager,
		     int sk, int report)
{
	char c[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {"u", 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	const size_t pg_size = PGS_PAGE_SIZE;
	size_t pg;
	int fd;

	alarm(20);
	memcpy(map, want, eager * pg_size);
	fd = uffd_open(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || uffd_api(fd, UFFD_WANTED_FEATURES, NULL) ||
	    uffd_register(fd, (uint64_t)map, npages * pg_size, UFFDIO_REGISTER_MODE_MISSING, NULL))
		_exit(2);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sk, &mh, 0) != 1)
		_exit(3);
	close(fd);
	if (read(sk, c, 1) != 1)
		_exit(4);
	for (pg = 0; pg < npages; pg++) {
		char v = memcmp(map + pg * pg_size, want + pg * pg_size, pg_size) ? 'X' : 'o';

		if (v == 'X' && lt_zero(map + pg * pg_size))
			v = 'Z';
		if (write(report, &v, 1) != 1)
			_exit(5);
	}
	_exit(0);
}

static void lazy_task_spawn(struct lazy_task *lt, unsigned char *map, size_t npages,
			    const unsigned char *want, size_t eager)
{
	char c[CMSG_SPACE(sizeof(int))];
	char b;
	struct iovec iov = {&b, 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c)};
	int sv[2], p[2];

	UT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	UT_OK(pipe2(p, O_CLOEXEC));
	lt->npages = npages;
	lt->pid = fork();
	UT_GE(lt->pid, 0);
	if (lt->pid == 0)
		lt_child(map, npages, want, eager, sv[1], p[1]);
	close(sv[1]);
	close(p[1]);
	lt->sk = sv[0];
	lt->report = p[0];
	UT_EQ(recvmsg(lt->sk, &mh, 0), 1);
	memcpy(&lt->uffd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
}

/* Lets the task read its memory (it may be dead already: that is for collect to say). */
static void lazy_task_go(struct lazy_task *lt)
{
	if (send(lt->sk, "g", 1, MSG_NOSIGNAL) != 1) {
		/* killed before it could start */
	}
}

/* Waits for the task's end; how many pages it read (all right, or the test fails) and how it
 * ended (the wait status). */
static size_t lazy_task_collect(struct lazy_task *lt, int *status)
{
	char *seen = unit_xmalloc(lt->npages);
	size_t n = 0, pg;

	while (n < lt->npages) {
		ssize_t k = read(lt->report, seen + n, lt->npages - n);

		if (k <= 0)
			break;
		n += k;
	}
	UT_EQ(waitpid(lt->pid, status, 0), lt->pid);
	for (pg = 0; pg < n; pg++)
		if (seen[pg] != 'o')
			UT_FAIL("the task read page %zu as '%c'", pg, seen[pg]);
	free(seen);
	close(lt->sk);
	close(lt->report);
	return n;
}

#endif
