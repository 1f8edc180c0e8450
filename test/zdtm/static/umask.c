/* The umask, checked through the kernel (the file mode it gives) and /proc. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	char val[32];
	struct stat st;
	mode_t m;
	int fd;

	test_init(argc, argv);
	umask(0123);
	test_daemon();
	test_waitsig();

	m = umask(0);
	if (m != 0123)
		fail("umask is %o, was 0123", m);
	umask(m);
	fd = open("umask.file", O_CREAT | O_WRONLY, 0777);
	if (fd < 0 || fstat(fd, &st))
		fail("create: %s", strerror(errno));
	else if ((st.st_mode & 0777) != (0777 & ~0123))
		fail("a new file got mode %o", st.st_mode & 0777);
	if (test_status_field("/proc/self/status", "Umask", val, sizeof(val)) ||
	    strcmp(val, "0123"))
		fail("/proc says umask %s", val);
	pass();
	return 0;
}
