/* MADV_DONTFORK and MADV_DONTDUMP stay set on their VMAs ("dc" and "dd" in VmFlags), and a child
 * forked after restore really does not get the DONTFORK range. */
#include <setjmp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (64 * 4096UL)

static char *nofork, *nodump, *plain;

static int has_flag(void *addr, const char *flag)
{
	char flags[256], pat[8];

	if (test_vmflags(addr, flags, sizeof(flags)))
		return -1;
	snprintf(pat, sizeof(pat), " %s", flag);
	strcat(flags, " ");
	return strstr(flags, pat) != NULL;
}

static int child(void *arg)
{
	char perms[8];

	(void)arg;
	/* The DONTFORK range must not exist in the child at all. */
	if (!test_vma_perms(nofork, perms))
		return 1;
	if (datachk(plain, LEN, 3) >= 0)
		return 2;
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	test_init(argc, argv);
	nofork = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	nodump = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	plain = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nofork == MAP_FAILED || nodump == MAP_FAILED || plain == MAP_FAILED)
		pr_perror("mmap");
	datagen(nofork, LEN, 1);
	datagen(nodump, LEN, 2);
	datagen(plain, LEN, 3);
	if (madvise(nofork, LEN, MADV_DONTFORK) || madvise(nodump, LEN, MADV_DONTDUMP))
		pr_perror("madvise");
	if (has_flag(nofork, "dc") != 1 || has_flag(nodump, "dd") != 1)
		pr_perror("the kernel does not show dc/dd");
	test_daemon();
	test_waitsig();

	if (has_flag(nofork, "dc") != 1)
		fail("MADV_DONTFORK is lost");
	if (has_flag(nodump, "dd") != 1)
		fail("MADV_DONTDUMP is lost");
	if (has_flag(plain, "dc") || has_flag(plain, "dd"))
		fail("the plain mapping gained dc or dd");
	if (datachk(nofork, LEN, 1) >= 0 || datachk(nodump, LEN, 2) >= 0 ||
	    datachk(plain, LEN, 3) >= 0)
		fail("data of the advised mappings changed");
	ret = test_wait_child(test_fork(child, NULL), 10000);
	if (ret)
		fail("child after restore: %d (1: it inherited the DONTFORK range)", ret);
	pass();
	return 0;
}
