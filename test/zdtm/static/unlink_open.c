/* An open file whose name was unlinked: still open, same data, still nameless (nlink 0), and no
 * name reappeared in the directory. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (128 * 1024)

int main(int argc, char **argv)
{
	static char buf[LEN], back[LEN];
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd;

	test_init(argc, argv);
	fd = open("unlinked.data", O_RDWR | O_CREAT | O_TRUNC, 0600);
	datagen(buf, LEN, 5);
	if (fd < 0 || write(fd, buf, LEN) != LEN || lseek(fd, 4096, SEEK_SET) != 4096)
		pr_perror("create");
	if (unlink("unlinked.data"))
		pr_perror("unlink");
	test_daemon();
	test_waitsig();

	if (fstat(fd, &st))
		fail("fstat: %s", strerror(errno));
	else if (st.st_nlink != 0 || st.st_size != LEN || (st.st_mode & 07777) != 0600)
		fail("nlink %lu size %ld mode %o", (unsigned long)st.st_nlink, (long)st.st_size,
		     st.st_mode & 07777);
	if (lseek(fd, 0, SEEK_CUR) != 4096)
		fail("offset changed");
	if (pread(fd, back, LEN, 0) != LEN || memcmp(buf, back, LEN))
		fail("data of the unlinked file changed");
	d = opendir(".");
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			fail("a name appeared in the directory: %s", de->d_name);
	if (d)
		closedir(d);
	pass();
	return 0;
}
