/* fds duplicated to scattered numbers (high ones included) are the same open files, and the gaps
 * between them stay free. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static const int targets[] = {10, 11, 100, 555, 1000};
#define NR (int)(sizeof(targets) / sizeof(targets[0]))

int main(int argc, char **argv)
{
	struct stat st0, st;
	int fd, i;

	test_init(argc, argv);
	fd = open("dup.data", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "0123456789", 10) != 10 || fstat(fd, &st0))
		pr_perror("open");
	for (i = 0; i < NR; i++)
		if (dup2(fd, targets[i]) != targets[i])
			pr_perror("dup2 %d", targets[i]);
	close(fd);
	if (fcntl(targets[3], F_SETFD, FD_CLOEXEC))
		pr_perror("fcntl");
	lseek(targets[0], 3, SEEK_SET);
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		if (fstat(targets[i], &st) || st.st_ino != st0.st_ino) {
			fail("fd %d is not dup.data", targets[i]);
			continue;
		}
		if (lseek(targets[i], 0, SEEK_CUR) != 3)
			fail("fd %d does not share the offset", targets[i]);
		if (!!(fcntl(targets[i], F_GETFD) & FD_CLOEXEC) != (i == 3))
			fail("fd %d: wrong FD_CLOEXEC", targets[i]);
	}
	for (i = 12; i < 1000; i++)
		if (i != 100 && i != 555 && fcntl(i, F_GETFD) != -1)
			fail("fd %d is open but was not", i);
	if (fcntl(fd, F_GETFD) != -1)
		fail("the closed original fd %d is open again", fd);
	pass();
	return 0;
}
