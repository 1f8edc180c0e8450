/* A named pipe opened read-write and read-only/write-only, with data in it: the same fifo (by
 * inode) and its data after restore. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN 8192

int main(int argc, char **argv)
{
	static char buf[LEN], back[LEN];
	struct stat st0, st1;
	int rw, rd, wr;

	test_init(argc, argv);
	if (mkfifo("fifo0", 0600))
		pr_perror("mkfifo");
	rw = open("fifo0", O_RDWR);
	rd = open("fifo0", O_RDONLY | O_NONBLOCK);
	wr = open("fifo0", O_WRONLY);
	if (rw < 0 || rd < 0 || wr < 0)
		pr_perror("open fifo");
	datagen(buf, LEN, 3);
	if (write(wr, buf, LEN / 2) != LEN / 2 || write(rw, buf + LEN / 2, LEN / 2) != LEN / 2)
		pr_perror("write");
	if (fstat(rw, &st0))
		pr_perror("fstat");
	test_daemon();
	test_waitsig();

	if (fstat(rd, &st1) || st1.st_ino != st0.st_ino || !S_ISFIFO(st1.st_mode))
		fail("the read end is not the fifo it was");
	if (stat("fifo0", &st1) || st1.st_ino != st0.st_ino)
		fail("the fifo on disk is another one");
	if (read(rd, back, LEN) != LEN || memcmp(buf, back, LEN))
		fail("data in the fifo changed");
	if (write(wr, "ab", 2) != 2 || read(rw, back, 2) != 2 || memcmp(back, "ab", 2))
		fail("the fifo ends are not connected");
	pass();
	return 0;
}
