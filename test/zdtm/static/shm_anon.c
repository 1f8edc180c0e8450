/* Anonymous shared memory between a parent and its child stays shared: data written before is
 * there, and a write by one after restore is seen by the other. */
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (4UL << 20)

#define HALF (LEN / 2 - 4096)

static volatile char *shm;
/* The last page is for the handshake after restore. */
#define HS (shm + LEN - 4096)

static int child(void *arg)
{
	struct timespec ts = {0, 1000 * 1000};
	int i;

	(void)arg;
	datagen((char *)shm + LEN / 2, HALF, 2);
	test_waitsig();
	if (datachk((char *)shm, LEN / 2, 1) >= 0)
		return 1;
	/* The parent writes 'P' after restore; answer with 'C'. */
	for (i = 0; i < 5000 && HS[0] != 'P'; i++)
		nanosleep(&ts, NULL);
	if (HS[0] != 'P')
		return 2;
	HS[1] = 'C';
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 1000 * 1000};
	pid_t pid;
	int i, ret;

	test_init(argc, argv);
	shm = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		pr_perror("mmap");
	datagen((char *)shm, LEN / 2, 1);
	pid = test_fork(child, NULL);
	for (i = 0; i < 5000 && datachk((char *)shm + LEN / 2, HALF, 2) >= 0; i++)
		nanosleep(&ts, NULL);
	test_daemon();
	test_waitsig();

	if (datachk((char *)shm + LEN / 2, HALF, 2) >= 0)
		fail("the child's half changed");
	kill(pid, SIGTERM);
	HS[0] = 'P';
	ret = test_wait_child(pid, 10000);
	if (ret)
		fail("child: %d (2: it did not see the parent's write)", ret);
	else if (HS[1] != 'C')
		fail("the child's write is not visible to the parent");
	pass();
	return 0;
}
