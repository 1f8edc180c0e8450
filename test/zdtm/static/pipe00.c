/* A pipe with data buffered in it (not read before the checkpoint) keeps the data, in order,
 * and both ends stay connected; the pipe's size and fd flags survive. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (48 * 1024)

int main(int argc, char **argv)
{
	static char buf[LEN], back[LEN];
	int p[2], size, flags;
	ssize_t n, got = 0;

	test_init(argc, argv);
	if (pipe(p))
		pr_perror("pipe");
	size = fcntl(p[1], F_GETPIPE_SZ);
	if (size < LEN)
		pr_perror("pipe size %d is below %d", size, LEN);
	if (fcntl(p[0], F_SETFL, O_NONBLOCK))
		pr_perror("fcntl");
	datagen(buf, LEN, 0x77);
	if (write(p[1], buf, LEN) != LEN)
		pr_perror("write");
	test_daemon();
	test_waitsig();

	if (fcntl(p[1], F_GETPIPE_SZ) != size)
		fail("pipe size is %d, was %d", fcntl(p[1], F_GETPIPE_SZ), size);
	flags = fcntl(p[0], F_GETFL);
	if (!(flags & O_NONBLOCK) || (flags & O_ACCMODE) != O_RDONLY)
		fail("read end flags are %#x", flags);
	if ((fcntl(p[1], F_GETFL) & O_ACCMODE) != O_WRONLY)
		fail("write end is not write-only");
	while (got < LEN) {
		n = read(p[0], back + got, LEN - got);
		if (n <= 0)
			break;
		got += n;
	}
	if (got != LEN)
		fail("read %zd of %d buffered bytes", got, LEN);
	else if (memcmp(buf, back, LEN))
		fail("buffered data changed");
	n = read(p[0], back, 1);
	if (n != -1 || errno != EAGAIN)
		fail("more data than written in the pipe (%zd)", n);
	if (write(p[1], "xyz", 3) != 3 || read(p[0], back, 3) != 3 || memcmp(back, "xyz", 3))
		fail("the two ends are no longer connected");
	pass();
	return 0;
}
