/* File mappings: a private one keeps its COW-ed pages without touching the file, a shared one
 * stays bound to the file (writes after restore reach it). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (1UL << 20)
#define PAGE 4096

static int check_file(int fd, off_t off, size_t len, uint64_t seed, const char *what)
{
	static char buf[LEN];
	long bad;

	if (pread(fd, buf, len, off) != (ssize_t)len) {
		fail("%s: short read: %s", what, strerror(errno));
		return -1;
	}
	bad = datachk(buf, len, seed);
	if (bad >= 0) {
		fail("%s: bad data at %ld", what, off + bad);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *priv, *shared, *buf;
	long bad;
	int fd;

	test_init(argc, argv);
	buf = malloc(LEN);
	fd = open("maps01.data", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!buf || fd < 0)
		pr_perror("open");
	datagen(buf, LEN, 1);
	if (write(fd, buf, LEN) != LEN)
		pr_perror("write");
	priv = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shared = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED)
		pr_perror("mmap");
	/* Private: the first half COW-ed with another pattern, the second half untouched. */
	datagen(priv, LEN / 2, 2);
	/* Shared: the last quarter rewritten, through to the file. */
	datagen(shared + 3 * LEN / 4, LEN / 4, 3);
	test_daemon();
	test_waitsig();

	bad = datachk(priv, LEN / 2, 2);
	if (bad >= 0)
		fail("private COW half: bad data at %ld", bad);
	bad = datachk_at(priv + LEN / 2, LEN / 4, 1, LEN / 2);
	if (bad >= 0)
		fail("private untouched part: bad data at %ld", bad);
	bad = datachk(shared, LEN / 4, 1);
	if (bad >= 0)
		fail("shared mapping: bad data at %ld", bad);
	check_file(fd, 0, LEN / 2, 1, "file first half (private writes must not leak)");
	check_file(fd, 3 * LEN / 4, LEN / 4, 3, "file last quarter");
	/* The private view of the last quarter is the file's, written through the shared map. */
	bad = datachk(priv + 3 * LEN / 4, LEN / 4, 3);
	if (bad >= 0)
		fail("private view of shared writes: bad data at %ld", bad);
	/* The shared mapping is still the file. */
	shared[PAGE] = 'x';
	if (pread(fd, buf, 1, PAGE) != 1 || buf[0] != 'x')
		fail("shared mapping no longer writes to the file");
	priv[PAGE] = 'y';
	if (pread(fd, buf, 1, PAGE) != 1 || buf[0] != 'x')
		fail("private mapping writes to the file");
	pass();
	return 0;
}
