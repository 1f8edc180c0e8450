/* Forks short-lived children all the time, while it is checkpointed: each child checks a
 * pattern inherited from the parent and exits with a code derived from its number, which the
 * parent checks. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (256 * 1024)

static char *buf;
static unsigned long nr;

static int child(void *arg)
{
	(void)arg;
	if (datachk(buf, LEN, 17) >= 0)
		return 255;
	return nr % 200;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	int ret;

	test_init(argc, argv);
	buf = malloc(LEN);
	if (!buf)
		pr_perror("malloc");
	datagen(buf, LEN, 17);
	test_daemon();
	while (test_go()) {
		pid_t pid = test_fork(child, NULL);

		ret = test_wait_child(pid, 10000);
		if (ret != (int)(nr % 200)) {
			fail("child %lu exited with %d, not %lu (255: bad inherited data)", nr, ret,
			     nr % 200);
			break;
		}
		nr++;
		nanosleep(&ts, NULL);
	}
	test_msg("%lu children", nr);
	if (!nr)
		fail("no child ran");
	pass();
	return 0;
}
