/* Character devices: /dev/null, /dev/zero, /dev/urandom stay the same devices and behave. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

static const struct {
	const char *path;
	unsigned int major, minor;
	int flags;
} devs[] = {
    {"/dev/null", 1, 3, O_RDWR},
    {"/dev/zero", 1, 5, O_RDONLY},
    {"/dev/urandom", 1, 9, O_RDONLY},
};
#define NR (int)(sizeof(devs) / sizeof(devs[0]))

int main(int argc, char **argv)
{
	char buf[4096];
	struct stat st;
	int fds[NR], i;

	test_init(argc, argv);
	for (i = 0; i < NR; i++) {
		fds[i] = open(devs[i].path, devs[i].flags);
		if (fds[i] < 0)
			pr_perror("open %s", devs[i].path);
	}
	test_daemon();
	test_waitsig();

	for (i = 0; i < NR; i++) {
		if (fstat(fds[i], &st) || !S_ISCHR(st.st_mode) ||
		    major(st.st_rdev) != devs[i].major || minor(st.st_rdev) != devs[i].minor)
			fail("%s: fd %d is not that device", devs[i].path, fds[i]);
		if ((fcntl(fds[i], F_GETFL) & O_ACCMODE) != (devs[i].flags & O_ACCMODE))
			fail("%s: access mode changed", devs[i].path);
	}
	if (read(fds[0], buf, 10) != 0 || write(fds[0], buf, 10) != 10)
		fail("/dev/null does not behave");
	memset(buf, 1, sizeof(buf));
	if (read(fds[1], buf, sizeof(buf)) != sizeof(buf))
		fail("/dev/zero: short read");
	for (i = 0; i < (int)sizeof(buf); i++)
		if (buf[i]) {
			fail("/dev/zero gave a non-zero byte");
			break;
		}
	if (read(fds[2], buf, 16) != 16)
		fail("/dev/urandom: short read");
	pass();
	return 0;
}
