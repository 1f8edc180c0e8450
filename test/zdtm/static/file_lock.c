/* File locks: a flock and a POSIX byte-range lock held by the test keep excluding others (a
 * child checks), and are still the test's to release. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "zdtmtst.h"

static int probe(void *arg)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
	int fd = open("lock.data", O_RDWR);

	(void)arg;
	if (fd < 0)
		return 10;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 1; /* the flock is gone */
	if (fcntl(fd, F_GETLK, &fl) || fl.l_type == F_UNLCK || fl.l_pid != getppid())
		return 2; /* the POSIX lock is gone or not the parent's */
	return 0;
}

int main(int argc, char **argv)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
	int fd, fd2, ret;

	test_init(argc, argv);
	fd = open("lock.data", O_RDWR | O_CREAT, 0644);
	fd2 = open("lock.data", O_RDWR);
	if (fd < 0 || fd2 < 0 || flock(fd, LOCK_EX) || fcntl(fd2, F_SETLK, &fl))
		pr_perror("lock");
	test_daemon();
	test_waitsig();

	ret = test_wait_child(test_fork(probe, NULL), 10000);
	if (ret)
		fail("probe: %d (1: flock lost, 2: POSIX lock lost)", ret);
	if (flock(fd, LOCK_UN) || flock(fd2, LOCK_EX | LOCK_NB))
		fail("the flock is not ours to release");
	pass();
	return 0;
}
