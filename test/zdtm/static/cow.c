/* Private memory shared copy-on-write between a parent and two children after fork: each keeps
 * its own view (one child rewrote a part), and a write by one after restore stays private. */
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (16UL << 20)
#define PART (LEN / 4)
/* Where process id (0: parent, 1 and 2: children) writes after restore. */
#define MARK(id) (3 * PART + (id)*4096UL)

static char *area;

static int child(void *arg)
{
	long id = (long)arg;
	struct timespec ts = {0, 100 * 1000 * 1000};

	if (id == 1)
		datagen(area + PART, PART, 77);
	test_sync_post();
	test_waitsig();
	if (datachk(area, PART, 7) >= 0)
		return 1;
	if (id == 1 ? datachk(area + PART, PART, 77) >= 0
		    : datachk_at(area + PART, PART, 7, PART) >= 0)
		return 2;
	/* Write our own mark, give the others time to write theirs, check none reached us. */
	*(uint64_t *)(area + MARK(id)) = ~datagen_word(7, MARK(id));
	nanosleep(&ts, NULL);
	if (*(uint64_t *)(area + MARK(0)) != datagen_word(7, MARK(0)) ||
	    *(uint64_t *)(area + MARK(3 - id)) != datagen_word(7, MARK(3 - id)))
		return 3;
	return 0;
}

int main(int argc, char **argv)
{
	pid_t kids[2];
	long bad;
	int i, ret;

	test_init(argc, argv);
	area = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, LEN, 7);
	test_sync_init();
	for (i = 0; i < 2; i++)
		kids[i] = test_fork(child, (void *)(long)(i + 1));
	if (test_sync_wait(2, 10000))
		return 1;
	test_daemon();
	test_waitsig();

	*(uint64_t *)(area + MARK(0)) = ~datagen_word(7, MARK(0));
	for (i = 0; i < 2; i++)
		kill(kids[i], SIGTERM);
	bad = datachk(area, 3 * PART, 7);
	if (bad >= 0)
		fail("parent: bad data at %ld (a child's write leaked in?)", bad);
	for (i = 0; i < 2; i++) {
		ret = test_wait_child(kids[i], 10000);
		if (ret)
			fail("child %d: %d (1: shared part, 2: its own part, 3: the parent's write "
			     "leaked in)",
			     i + 1, ret);
	}
	if (*(uint64_t *)(area + MARK(1)) != datagen_word(7, MARK(1)) ||
	    *(uint64_t *)(area + MARK(2)) != datagen_word(7, MARK(2)))
		fail("a child's write after restore reached the parent");
	pass();
	return 0;
}
