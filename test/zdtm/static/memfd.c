/* A memfd with data, mapped shared, sealed: the fd and the mapping are still the same object
 * (a write through one shows in the other), size and seals are kept. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (1UL << 20)

int main(int argc, char **argv)
{
	static char back[LEN];
	char link[256];
	struct stat st;
	char *map;
	int fd, seals;

	test_init(argc, argv);
	fd = memfd_create("zdtm-memfd", MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, LEN))
		pr_perror("memfd");
	map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		pr_perror("mmap");
	datagen(map, LEN, 8);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		pr_perror("seal");
	seals = fcntl(fd, F_GET_SEALS);
	test_daemon();
	test_waitsig();

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	memset(back, 0, sizeof(back));
	if (readlink(link, back, 200) < 0 || strncmp(back, "/memfd:zdtm-memfd", 17))
		fail("fd %d is %s", fd, back);
	if (fstat(fd, &st) || st.st_size != (off_t)LEN)
		fail("size is %ld", (long)st.st_size);
	if (fcntl(fd, F_GET_SEALS) != seals)
		fail("seals are %#x, were %#x", fcntl(fd, F_GET_SEALS), seals);
	if (ftruncate(fd, LEN / 2) == 0)
		fail("F_SEAL_SHRINK no longer applies");
	if (datachk(map, LEN, 8) >= 0)
		fail("mapped data changed");
	if (pread(fd, back, LEN, 0) != (ssize_t)LEN || datachk(back, LEN, 8) >= 0)
		fail("data read through the fd changed");
	map[100] = 'M';
	if (pread(fd, back, 1, 100) != 1 || back[0] != 'M')
		fail("the mapping and the fd are no longer the same memory");
	pass();
	return 0;
}
