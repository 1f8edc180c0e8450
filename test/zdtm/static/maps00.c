/* Anonymous private and shared mappings keep their data, addresses and protections. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR_MAPS 4
#define MAP_LEN (4UL << 20)

struct map {
	int flags;
	int prot;
	void *addr;
	char perms[8];
};

static struct map maps[NR_MAPS] = {
    {MAP_PRIVATE, PROT_READ | PROT_WRITE},
    {MAP_SHARED, PROT_READ | PROT_WRITE},
    {MAP_PRIVATE, PROT_READ},
    {MAP_SHARED, PROT_READ},
};

int main(int argc, char **argv)
{
	char perms[8];
	long bad;
	int i;

	test_init(argc, argv);
	for (i = 0; i < NR_MAPS; i++) {
		struct map *m = &maps[i];

		m->addr =
		    mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, m->flags | MAP_ANONYMOUS, -1, 0);
		if (m->addr == MAP_FAILED)
			pr_perror("mmap");
		datagen(m->addr, MAP_LEN, i + 1);
		if (mprotect(m->addr, MAP_LEN, m->prot))
			pr_perror("mprotect");
		if (test_vma_perms(m->addr, m->perms))
			pr_perror("no VMA for %p", m->addr);
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR_MAPS; i++) {
		struct map *m = &maps[i];

		if (test_vma_perms(m->addr, perms))
			fail("mapping %d at %p is gone", i, m->addr);
		else if (strcmp(perms, m->perms))
			fail("mapping %d: perms %s, were %s", i, perms, m->perms);
		bad = datachk(m->addr, MAP_LEN, i + 1);
		if (bad >= 0)
			fail("mapping %d: bad data at offset %ld", i, bad);
	}
	/* Writes still work and stay private/shared as before. */
	memset(maps[0].addr, 0x5a, 4096);
	memset(maps[1].addr, 0xa5, 4096);
	if (((char *)maps[0].addr)[100] != 0x5a || ((unsigned char *)maps[1].addr)[100] != 0xa5)
		fail("writes after restore are lost");
	pass();
	return 0;
}
