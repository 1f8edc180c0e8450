/* mprotect splits one mapping into several VMAs of different protections; each keeps its data
 * and protection, and the read-only parts stay read-only. */
#include <setjmp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096
#define NR_PARTS 8
#define PART (16 * PAGE)

static const int prots[NR_PARTS] = {
    PROT_READ | PROT_WRITE,
    PROT_READ,
    PROT_READ | PROT_WRITE,
    PROT_NONE,
    PROT_READ | PROT_EXEC,
    PROT_READ | PROT_WRITE,
    PROT_READ,
    PROT_READ | PROT_WRITE | PROT_EXEC,
};

static sigjmp_buf jb;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static int write_faults(volatile char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	*p = *p;
	return 0;
}

static void expect_perms(char *p, int prot, int i)
{
	char want[8], got[8];

	snprintf(want, sizeof(want), "%c%c%cp", prot & PROT_READ ? 'r' : '-',
		 prot & PROT_WRITE ? 'w' : '-', prot & PROT_EXEC ? 'x' : '-');
	if (test_vma_perms(p, got))
		fail("part %d: no VMA", i);
	else if (strcmp(want, got))
		fail("part %d: perms %s, want %s", i, got, want);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_segv};
	char *area;
	long bad;
	int i;

	test_init(argc, argv);
	area =
	    mmap(NULL, NR_PARTS * PART, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		pr_perror("mmap");
	datagen(area, NR_PARTS * PART, 3);
	for (i = 0; i < NR_PARTS; i++)
		if (mprotect(area + i * PART, PART, prots[i]))
			pr_perror("mprotect");
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		pr_perror("sigaction");
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR_PARTS; i++) {
		char *p = area + i * PART;

		expect_perms(p, prots[i], i);
		if (!(prots[i] & PROT_WRITE) && !write_faults(p + 5))
			fail("part %d: read-only but writable", i);
		if (prots[i] & PROT_WRITE && write_faults(p + 5))
			fail("part %d: writable but faults", i);
		if (mprotect(p, PART, PROT_READ))
			fail("mprotect: %s", strerror(errno));
		bad = datachk_at(p, PART, 3, i * PART);
		if (bad >= 0)
			fail("part %d: bad data at %ld", i, bad);
	}
	pass();
	return 0;
}
