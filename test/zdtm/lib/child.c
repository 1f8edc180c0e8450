/* Child processes of tests, and small /proc readers shared by the tests. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

pid_t test_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	pid = fork();
	if (pid < 0)
		pr_perror("fork");
	if (pid == 0) {
		test_close_ready_fd();
		_exit(fn(arg));
	}
	return pid;
}

int test_wait_child(pid_t pid, int timeout_ms)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int status, waited = 0;
	pid_t ret;

	for (;;) {
		ret = waitpid(pid, &status, WNOHANG);
		if (ret == pid)
			break;
		if (ret < 0 && errno != EINTR) {
			fail("waitpid(%d): %s", pid, strerror(errno));
			return -1;
		}
		if (waited >= timeout_ms) {
			fail("child %d did not exit within %d ms", pid, timeout_ms);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		nanosleep(&ts, NULL);
		waited += 10;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int test_stop_children(const pid_t *pids, int nr, int timeout_ms)
{
	int i, ret, bad = 0;

	for (i = 0; i < nr; i++)
		if (kill(pids[i], SIGTERM)) {
			fail("kill(%d): %s", pids[i], strerror(errno));
			bad++;
		}
	for (i = 0; i < nr; i++) {
		ret = test_wait_child(pids[i], timeout_ms);
		if (ret) {
			fail("child %d finished with %d", pids[i], ret);
			bad++;
		}
	}
	return bad ? -1 : 0;
}

ssize_t test_read_file(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (total < (ssize_t)size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = 0;
	return total;
}

int test_status_field(const char *path, const char *key, char *val, size_t size)
{
	static char buf[65536];
	size_t klen = strlen(key);
	char *line, *end;

	if (test_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = buf; line && *line; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		line += klen + 1;
		while (*line == ' ' || *line == '\t')
			line++;
		if (end)
			*end = 0;
		snprintf(val, size, "%s", line);
		return 0;
	}
	return -1;
}

static FILE *find_vma(void *addr, char *line, size_t size)
{
	unsigned long start, end, a = (unsigned long)addr;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return NULL;
	while (fgets(line, size, f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) != 2 || strchr(line, ':') < line + 20)
			continue;
		if (a >= start && a < end)
			return f;
	}
	fclose(f);
	return NULL;
}

int test_vmflags(void *addr, char *flags, size_t size)
{
	char line[512];
	FILE *f;

	f = find_vma(addr, line, sizeof(line));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmFlags:", 8))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(flags, size, "%s", line + 8);
		fclose(f);
		return 0;
	}
	fclose(f);
	return -1;
}

int test_vma_perms(void *addr, char *perms)
{
	char line[512];
	FILE *f;

	f = find_vma(addr, line, sizeof(line));
	if (!f)
		return -1;
	fclose(f);
	if (sscanf(line, "%*x-%*x %4s", perms) != 1)
		return -1;
	return 0;
}

static int sync_pipe[2] = {-1, -1};

void test_sync_init(void)
{
	if (pipe(sync_pipe))
		pr_perror("pipe");
}

void test_sync_post(void)
{
	if (write(sync_pipe[1], "S", 1) != 1)
		pr_perror("sync write");
	close(sync_pipe[0]);
	close(sync_pipe[1]);
}

int test_sync_wait(int nr, int timeout_ms)
{
	struct pollfd pfd = {.fd = sync_pipe[0], .events = POLLIN};
	char c;
	int got = 0;

	close(sync_pipe[1]);
	while (got < nr && poll(&pfd, 1, timeout_ms) == 1 && read(sync_pipe[0], &c, 1) == 1)
		got++;
	close(sync_pipe[0]);
	if (got < nr) {
		fail("only %d of %d processes reported they were set up", got, nr);
		return -1;
	}
	return 0;
}
