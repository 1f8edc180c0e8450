/* mlock()ed memory stays locked ("lo" in VmFlags, VmLck in status) with its data. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (256 * 1024UL)

int main(int argc, char **argv)
{
	char flags[256], lck[32];
	char *p;

	test_init(argc, argv);
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		pr_perror("mmap");
	datagen(p, LEN, 4);
	if (mlock(p, LEN))
		pr_perror("mlock");
	test_daemon();
	test_waitsig();

	if (test_vmflags(p, flags, sizeof(flags)) || !strstr(flags, " lo"))
		fail("the mapping is not locked: %s", flags);
	if (test_status_field("/proc/self/status", "VmLck", lck, sizeof(lck)) || atoi(lck) < 256)
		fail("VmLck is %s", lck);
	if (datachk(p, LEN, 4) >= 0)
		fail("locked data changed");
	pass();
	return 0;
}
