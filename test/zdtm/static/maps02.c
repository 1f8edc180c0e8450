/* PROT_NONE mappings (guard pages, reserved ranges) stay inaccessible and in place. */
#include <setjmp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096
#define LEN (64 * PAGE)

static sigjmp_buf jb;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static int faults(volatile char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*p;
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_segv};
	char perms[8], *reserve, *guarded;
	long bad;

	test_init(argc, argv);
	/* A reservation never touched, and a data area with a guard page on each side. */
	reserve =
	    mmap(NULL, 256 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	guarded =
	    mmap(NULL, LEN + 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (reserve == MAP_FAILED || guarded == MAP_FAILED)
		pr_perror("mmap");
	datagen(guarded, LEN + 2 * PAGE, 7);
	/* The guard pages had data once: it must not become readable again. */
	if (mprotect(guarded, PAGE, PROT_NONE) || mprotect(guarded + PAGE + LEN, PAGE, PROT_NONE))
		pr_perror("mprotect");
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		pr_perror("sigaction");
	test_daemon();
	test_waitsig();

	if (test_vma_perms(reserve, perms) || strcmp(perms, "---p"))
		fail("reservation: perms %s", perms);
	if (test_vma_perms(guarded, perms) || strcmp(perms, "---p"))
		fail("low guard: perms %s", perms);
	if (test_vma_perms(guarded + PAGE + LEN, perms) || strcmp(perms, "---p"))
		fail("high guard: perms %s", perms);
	if (!faults(reserve + 100 * PAGE))
		fail("reservation is readable");
	if (!faults(guarded) || !faults(guarded + LEN + PAGE))
		fail("a guard page is readable");
	bad = datachk_at(guarded + PAGE, LEN, 7, PAGE);
	if (bad >= 0)
		fail("data between the guards: bad at offset %ld", bad);
	/* The guard pages kept their old content underneath. */
	if (mprotect(guarded, PAGE, PROT_READ))
		fail("mprotect: %s", strerror(errno));
	else if (datachk(guarded, PAGE, 7) >= 0)
		fail("content under the low guard page changed");
	pass();
	return 0;
}
