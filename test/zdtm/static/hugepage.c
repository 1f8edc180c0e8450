/* MADV_HUGEPAGE / MADV_NOHUGEPAGE stay on their VMAs ("hg" / "nh") and the data survives. */
#include <stdio.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define HPAGE (2UL << 20)
#define LEN (4 * HPAGE)

static int has_flag(void *addr, const char *flag)
{
	char flags[256], pat[8];

	if (test_vmflags(addr, flags, sizeof(flags)))
		return -1;
	snprintf(pat, sizeof(pat), " %s ", flag);
	strcat(flags, " ");
	return strstr(flags, pat) != NULL;
}

static char *aligned_map(void)
{
	char *p =
	    mmap(NULL, LEN + HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		pr_perror("mmap");
	return (char *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
}

int main(int argc, char **argv)
{
	char *huge, *nohuge;

	test_init(argc, argv);
	huge = aligned_map();
	nohuge = aligned_map();
	if (madvise(huge, LEN, MADV_HUGEPAGE) || madvise(nohuge, LEN, MADV_NOHUGEPAGE))
		pr_perror("madvise");
	datagen(huge, LEN, 1);
	datagen(nohuge, LEN, 2);
	if (has_flag(huge, "hg") != 1 || has_flag(nohuge, "nh") != 1)
		pr_perror("the kernel does not show hg/nh");
	test_daemon();
	test_waitsig();

	if (has_flag(huge, "hg") != 1)
		fail("MADV_HUGEPAGE is lost");
	if (has_flag(nohuge, "nh") != 1)
		fail("MADV_NOHUGEPAGE is lost");
	if (datachk(huge, LEN, 1) >= 0)
		fail("data of the huge page area changed");
	if (datachk(nohuge, LEN, 2) >= 0)
		fail("data of the no-huge-page area changed");
	pass();
	return 0;
}
