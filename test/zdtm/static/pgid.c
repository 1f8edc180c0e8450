/* Process groups and sessions: a child leading its own group, one joining it, and one leading a
 * new session; every pgid and sid comes back. */
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

struct ids {
	pid_t pgid, sid;
};

static int report(void)
{
	struct ids id = {getpgid(0), getsid(0)};

	test_sync_post();
	test_waitsig();
	return id.pgid == getpgid(0) && id.sid == getsid(0) ? 0 : 1;
}

/* Joins group arg (0: its own); the parent does the same, so it holds whoever runs first. */
static int join_group(void *arg)
{
	if (setpgid(0, (pid_t)(long)arg))
		return 4;
	return report();
}

static int session_leader(void *arg)
{
	(void)arg;
	if (setsid() < 0)
		return 3;
	return report();
}

int main(int argc, char **argv)
{
	pid_t kids[3];
	int i;

	test_init(argc, argv);
	test_sync_init();
	kids[0] = test_fork(join_group, NULL);
	if (setpgid(kids[0], kids[0]))
		pr_perror("setpgid leader");
	kids[1] = test_fork(join_group, (void *)(long)kids[0]);
	if (setpgid(kids[1], kids[0]))
		pr_perror("setpgid member");
	kids[2] = test_fork(session_leader, NULL);
	if (test_sync_wait(3, 10000))
		return 1;
	test_daemon();
	test_waitsig();

	if (getpgid(0) != getpid() || getsid(0) != getpid())
		fail("root: pgid %d sid %d, both were %d", getpgid(0), getsid(0), getpid());
	if (getpgid(kids[0]) != kids[0] || getpgid(kids[1]) != kids[0])
		fail("group: %d and %d, both were %d", getpgid(kids[0]), getpgid(kids[1]), kids[0]);
	if (getsid(kids[2]) != kids[2] || getpgid(kids[2]) != kids[2])
		fail("session leader: sid %d pgid %d, were %d", getsid(kids[2]), getpgid(kids[2]),
		     kids[2]);
	for (i = 0; i < 3; i++)
		if (getsid(kids[i]) != (i == 2 ? kids[2] : getpid()))
			fail("child %d: sid %d", kids[i], getsid(kids[i]));
	test_stop_children(kids, 3, 10000);
	pass();
	return 0;
}
