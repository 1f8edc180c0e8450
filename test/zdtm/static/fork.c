/* A process tree: children, grandchildren and a zombie. Each process checks its pid and parent
 * after restore; the zombie's exit status must still be there to collect. */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR_CHILDREN 3
#define NR_GRAND 2

struct ident {
	pid_t pid, ppid;
};

static int check_ident(const struct ident *id)
{
	if (getpid() != id->pid || getppid() != id->ppid) {
		fail("pid %d ppid %d, were %d %d", getpid(), getppid(), id->pid, id->ppid);
		return 1;
	}
	return 0;
}

static int grandchild(void *arg)
{
	struct ident id = {getpid(), getppid()};

	(void)arg;
	test_sync_post();
	test_waitsig();
	return check_ident(&id);
}

static int zombie(void *arg)
{
	(void)arg;
	return 42;
}

static int child(void *arg)
{
	struct ident id = {getpid(), getppid()};
	pid_t gc[NR_GRAND];
	int i, ret = 0;

	for (i = 0; i < NR_GRAND; i++)
		gc[i] = test_fork(grandchild, arg);
	test_sync_post();
	test_waitsig();
	ret |= check_ident(&id);
	if (test_stop_children(gc, NR_GRAND, 10000))
		ret |= 2;
	return ret;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	pid_t kids[NR_CHILDREN], z;
	char state[32], path[64];
	int i, status;

	test_init(argc, argv);
	test_sync_init();
	for (i = 0; i < NR_CHILDREN; i++)
		kids[i] = test_fork(child, (void *)(long)i);
	z = test_fork(zombie, NULL);
	if (test_sync_wait(NR_CHILDREN * (1 + NR_GRAND), 10000))
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/status", z);
	for (i = 0; i < 500; i++) {
		if (!test_status_field(path, "State", state, sizeof(state)) && state[0] == 'Z')
			break;
		nanosleep(&ts, NULL);
	}
	if (state[0] != 'Z')
		pr_perror("the zombie did not become one");
	test_daemon();
	test_waitsig();

	if (test_status_field(path, "State", state, sizeof(state)) || state[0] != 'Z')
		fail("the zombie %d is not a zombie any more (%s)", z, state);
	if (waitpid(z, &status, WNOHANG) != z)
		fail("cannot collect the zombie %d: %s", z, strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		fail("the zombie's status is %#x, not exit 42", status);
	test_stop_children(kids, NR_CHILDREN, 10000);
	pass();
	return 0;
}
