/* Offsets: two separate opens of a file keep their own offsets; dup()ed fds and a forked child's
 * inherited fd keep sharing theirs (one open file description). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

static int fd1, fd2, fd1dup;

static int child(void *arg)
{
	(void)arg;
	test_waitsig();
	/* fd1 is shared with the parent: the parent moved it to 3000 after restore. */
	if (lseek(fd1, 0, SEEK_CUR) != 3000)
		return 1;
	lseek(fd1, 4000, SEEK_SET);
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[8192];
	pid_t pid;
	int ret;

	test_init(argc, argv);
	datagen(buf, sizeof(buf), 1);
	fd1 = open("offset.data", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd1 < 0 || write(fd1, buf, sizeof(buf)) != sizeof(buf))
		pr_perror("create");
	fd2 = open("offset.data", O_RDONLY);
	fd1dup = dup(fd1);
	if (fd2 < 0 || fd1dup < 0)
		pr_perror("open");
	lseek(fd1, 1000, SEEK_SET);
	lseek(fd2, 2000, SEEK_SET);
	pid = test_fork(child, NULL);
	test_daemon();
	test_waitsig();

	if (lseek(fd1, 0, SEEK_CUR) != 1000 || lseek(fd2, 0, SEEK_CUR) != 2000)
		fail("offsets are %ld and %ld, were 1000 and 2000", (long)lseek(fd1, 0, SEEK_CUR),
		     (long)lseek(fd2, 0, SEEK_CUR));
	lseek(fd1dup, 3000, SEEK_SET);
	if (lseek(fd1, 0, SEEK_CUR) != 3000)
		fail("fd1 and its dup no longer share an offset");
	if (lseek(fd2, 0, SEEK_CUR) != 2000)
		fail("the separate open follows fd1's offset");
	ret = test_stop_children(&pid, 1, 10000);
	if (!ret && lseek(fd1, 0, SEEK_CUR) != 4000)
		fail("the child's fd is not shared with the parent's any more");
	pass();
	return 0;
}
