/* The working directory (a subdirectory, reached through a name with spaces) and the root. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	char before[PATH_MAX], after[PATH_MAX], root[PATH_MAX];
	struct stat st0, st1;
	ssize_t n;

	test_init(argc, argv);
	if (mkdir("a dir", 0755) || mkdir("a dir/sub", 0700) || chdir("a dir/sub"))
		pr_perror("mkdir/chdir");
	if (!getcwd(before, sizeof(before)) || stat(".", &st0))
		pr_perror("getcwd");
	test_daemon();
	test_waitsig();

	if (!getcwd(after, sizeof(after)))
		fail("getcwd: %s", strerror(errno));
	else if (strcmp(before, after))
		fail("cwd is %s, was %s", after, before);
	if (stat(".", &st1) || st1.st_ino != st0.st_ino || st1.st_dev != st0.st_dev)
		fail("cwd is another directory with the same name");
	n = readlink("/proc/self/root", root, sizeof(root) - 1);
	if (n != 1 || root[0] != '/')
		fail("root is not /");
	pass();
	return 0;
}
