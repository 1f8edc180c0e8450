/* Per-fd flags (FD_CLOEXEC) and per-description flags (O_NONBLOCK, O_APPEND, O_SYNC ...):
 * each fd keeps exactly its own. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR 6

static const struct {
	int oflags;
	int cloexec;
} cases[NR] = {
    {O_RDONLY, 0},
    {O_RDONLY | O_CLOEXEC, 1},
    {O_WRONLY | O_APPEND, 0},
    {O_RDWR | O_NONBLOCK | O_CLOEXEC, 1},
    {O_WRONLY | O_SYNC, 0},
    {O_RDWR | O_DSYNC | O_CLOEXEC, 1},
};

#define CHECKED (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC)

int main(int argc, char **argv)
{
	int fds[NR], fl[NR], i, fdfl;

	test_init(argc, argv);
	if (close(open("cloexec.data", O_CREAT | O_WRONLY, 0644)))
		pr_perror("create");
	for (i = 0; i < NR; i++) {
		fds[i] = open("cloexec.data", cases[i].oflags);
		if (fds[i] < 0)
			pr_perror("open %d", i);
		fl[i] = fcntl(fds[i], F_GETFL) & CHECKED;
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		fdfl = fcntl(fds[i], F_GETFD);
		if (fdfl < 0) {
			fail("fd %d is gone", fds[i]);
			continue;
		}
		if (!!(fdfl & FD_CLOEXEC) != cases[i].cloexec)
			fail("fd %d: FD_CLOEXEC is %d", fds[i], !!(fdfl & FD_CLOEXEC));
		if ((fcntl(fds[i], F_GETFL) & CHECKED) != fl[i])
			fail("fd %d: status flags %#x, were %#x", fds[i],
			     fcntl(fds[i], F_GETFL) & CHECKED, fl[i]);
	}
	pass();
	return 0;
}
