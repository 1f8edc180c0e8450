/* Two processes bounce a sequence number over a pair of pipes, each adding one, while they are
 * checkpointed: every message must be exactly the previous one plus one. */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

static int to_child[2], to_parent[2];

/* Reads one number (1), 0 at EOF, -1 on error or timeout. */
static int get(int fd, uint64_t *v)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, 10000) != 1)
		return -1;
	n = read(fd, v, sizeof(*v));
	return n == sizeof(*v) ? 1 : n == 0 ? 0 : -1;
}

static int child(void *arg)
{
	uint64_t v, expect = 1;
	int ret;

	(void)arg;
	close(to_child[1]);
	close(to_parent[0]);
	signal(SIGTERM, SIG_IGN);
	while ((ret = get(to_child[0], &v)) == 1) {
		if (v != expect)
			return 1;
		v++;
		expect = v + 1;
		if (write(to_parent[1], &v, sizeof(v)) != sizeof(v))
			return 2;
	}
	return ret == 0 ? 0 : 3;
}

int main(int argc, char **argv)
{
	uint64_t v = 1, got;
	pid_t pid;
	int ret;

	test_init(argc, argv);
	if (pipe(to_child) || pipe(to_parent))
		pr_perror("pipe");
	pid = test_fork(child, NULL);
	close(to_child[0]);
	close(to_parent[1]);
	test_daemon();
	while (test_go()) {
		if (write(to_child[1], &v, sizeof(v)) != sizeof(v)) {
			if (errno == EINTR)
				continue;
			fail("write: %s", strerror(errno));
			break;
		}
		ret = get(to_parent[0], &got);
		if (ret != 1) {
			if (ret < 0 && errno == EINTR && !test_go())
				break;
			fail("no answer from the child (%d: %s)", ret, strerror(errno));
			break;
		}
		if (got != v + 1) {
			fail("sent %lu, got back %lu", (unsigned long)v, (unsigned long)got);
			break;
		}
		v = got + 1;
	}
	close(to_child[1]);
	ret = test_wait_child(pid, 10000);
	if (ret)
		fail("child: %d (1: out of sequence)", ret);
	test_msg("%lu round trips", (unsigned long)v / 2);
	pass();
	return 0;
}
