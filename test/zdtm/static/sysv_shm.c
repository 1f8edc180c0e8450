/* A System V shared memory segment attached twice (read-write and read-only) keeps its id, size,
 * data and attachments. */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (2UL << 20)

int main(int argc, char **argv)
{
	struct shmid_ds ds;
	char *rw, *ro, perms[8];
	int id;

	test_init(argc, argv);
	id = shmget(IPC_PRIVATE, LEN, IPC_CREAT | 0600);
	if (id < 0)
		pr_perror("shmget");
	rw = shmat(id, NULL, 0);
	ro = shmat(id, NULL, SHM_RDONLY);
	if (rw == (void *)-1 || ro == (void *)-1)
		pr_perror("shmat");
	/* Removed now: it lives as long as it is attached. */
	shmctl(id, IPC_RMID, NULL);
	datagen(rw, LEN, 9);
	test_daemon();
	test_waitsig();

	if (datachk(rw, LEN, 9) >= 0 || datachk(ro, LEN, 9) >= 0)
		fail("segment data changed");
	rw[10] = 'Z';
	if (ro[10] != 'Z')
		fail("the two attachments are no longer the same segment");
	if (test_vma_perms(ro, perms) || strcmp(perms, "r--s"))
		fail("read-only attachment: perms %s", perms);
	if (test_vma_perms(rw, perms) || strcmp(perms, "rw-s"))
		fail("read-write attachment: perms %s", perms);
	if (shmctl(id, IPC_STAT, &ds) == 0) {
		if (ds.shm_segsz != LEN || ds.shm_nattch != 2)
			fail("segment: size %zu nattch %lu", ds.shm_segsz,
			     (unsigned long)ds.shm_nattch);
	} else {
		fail("shmctl(IPC_STAT, %d): %s", id, strerror(errno));
	}
	pass();
	return 0;
}
