/* Files being written: a plain O_WRONLY one mid-file and an O_APPEND one; writes after restore
 * land where the offsets and flags say. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN 65536

static int check_file(const char *path, const char *want, size_t len)
{
	static char back[2 * LEN];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, back, sizeof(back));
	close(fd);
	return n == (ssize_t)len && !memcmp(back, want, len) ? 0 : -1;
}

int main(int argc, char **argv)
{
	static char buf[2 * LEN], want[2 * LEN];
	int fd, afd;

	test_init(argc, argv);
	datagen(buf, sizeof(buf), 21);
	fd = open("file_write.data", O_WRONLY | O_CREAT | O_TRUNC, 0640);
	afd = open("file_write.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (fd < 0 || afd < 0)
		pr_perror("open");
	if (write(fd, buf, LEN) != LEN || lseek(fd, LEN / 2, SEEK_SET) != LEN / 2)
		pr_perror("write");
	if (write(afd, buf, 100) != 100)
		pr_perror("write");
	test_daemon();
	test_waitsig();

	if (!(fcntl(afd, F_GETFL) & O_APPEND))
		fail("O_APPEND is lost");
	/* Overwrites from LEN/2 to LEN/2 + LEN: half over old data, half extends the file. */
	if (write(fd, buf + LEN, LEN) != LEN)
		fail("write after restore: %s", strerror(errno));
	memcpy(want, buf, LEN / 2);
	memcpy(want + LEN / 2, buf + LEN, LEN);
	if (check_file("file_write.data", want, LEN / 2 + LEN))
		fail("file_write.data is not what the offset says");
	lseek(afd, 0, SEEK_SET);
	if (write(afd, buf + 100, 100) != 100 || check_file("file_write.log", buf, 200))
		fail("appending after restore does not append");
	pass();
	return 0;
}
