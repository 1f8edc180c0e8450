/* Forks right after restore, while (under lazy restore) most of its memory may still be
 * missing: parent and child each read all of it, and the child's copy must be the same data
 * although the parent writes its own afterwards. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (64UL << 20)

static char *area;

static int child(void *arg)
{
	(void)arg;
	/* Read in reverse, the other way from the parent: different fault order. */
	for (long off = LEN - 4096; off >= 0; off -= 4096)
		if (datachk_at(area + off, 4096, 31, off) >= 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pid;
	int ret;
	long bad;

	test_init(argc, argv);
	area = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, LEN, 31);
	test_daemon();
	test_waitsig();

	pid = test_fork(child, NULL);
	bad = datachk(area, LEN / 2, 31);
	if (bad >= 0)
		fail("parent: bad data at %ld", bad);
	/* The parent's writes must not show in the child (COW after fork). */
	memset(area + LEN / 2, 0, LEN / 2);
	ret = test_wait_child(pid, 30000);
	if (ret)
		fail("child: %d (1: bad data)", ret);
	pass();
	return 0;
}
