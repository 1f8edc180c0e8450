/* Credentials: distinct real/effective/saved uids and gids, fsuid/fsgid, of a process that is
 * no longer root (the case that needs limits set from inside the task). */
#include <grp.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;

	test_init(argc, argv);
	if (setgroups(0, NULL) || setresgid(1001, 1002, 1003) || setresuid(2001, 2002, 2003))
		pr_perror("set credentials");
	test_daemon();
	test_waitsig();

	if (getresuid(&r, &e, &s) || r != 2001 || e != 2002 || s != 2003)
		fail("uids %d/%d/%d, were 2001/2002/2003", r, e, s);
	if (getresgid(&gr, &ge, &gs) || gr != 1001 || ge != 1002 || gs != 1003)
		fail("gids %d/%d/%d, were 1001/1002/1003", gr, ge, gs);
	/* setfsuid returns the previous value: set it to itself to read it. */
	if ((uid_t)setfsuid(2002) != 2002 || (gid_t)setfsgid(1002) != 1002)
		fail("fsuid/fsgid are not the effective ids");
	if (getgroups(0, NULL) != 0)
		fail("supplementary groups appeared");
	/* Not root any more: privileged calls must fail. */
	if (setresuid(0, 0, 0) == 0)
		fail("the restored task is root again");
	pass();
	return 0;
}
