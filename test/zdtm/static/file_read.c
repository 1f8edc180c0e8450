/* A file half read: the offset stays, the rest reads as it was, flags (O_RDONLY|O_NOATIME-free)
 * and the file's identity are kept. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (256 * 1024)

int main(int argc, char **argv)
{
	static char buf[LEN], back[LEN];
	struct stat st0, st1;
	off_t at = LEN / 3 + 5;
	int fd, wfd;

	test_init(argc, argv);
	wfd = open("file_read.data", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	datagen(buf, LEN, 11);
	if (wfd < 0 || write(wfd, buf, LEN) != LEN || close(wfd))
		pr_perror("create the data file");
	fd = open("file_read.data", O_RDONLY);
	if (fd < 0 || read(fd, back, at) != at || fstat(fd, &st0))
		pr_perror("read");
	test_daemon();
	test_waitsig();

	if (lseek(fd, 0, SEEK_CUR) != at)
		fail("offset is %ld, was %ld", (long)lseek(fd, 0, SEEK_CUR), (long)at);
	if (fstat(fd, &st1) || st1.st_ino != st0.st_ino || st1.st_dev != st0.st_dev)
		fail("another file behind the fd");
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY)
		fail("access mode changed");
	if (read(fd, back + at, LEN - at) != LEN - at || memcmp(buf, back, LEN))
		fail("the rest of the file reads differently");
	if (write(fd, "x", 1) != -1)
		fail("a read-only fd can write");
	pass();
	return 0;
}
