/* test_init/test_daemon/test_waitsig/pass/fail: the protocol between a test and zdtm.py. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t got_sigterm;
static int ready_fd = -1;
static int nr_failed;

static void sigterm_handler(int sig)
{
	(void)sig;
	got_sigterm = 1;
}

void test_set_sigterm(void)
{
	struct sigaction sa = {.sa_handler = sigterm_handler};

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		pr_perror("sigaction(SIGTERM)");
}

static void usage(const char *prog)
{
	fprintf(stderr, "Usage: %s [--pidfile=FILE] [--outfile=FILE]\n", prog);
	exit(2);
}

static void write_pidfile(const char *path, pid_t pid)
{
	char tmp[4096], buf[32];
	int fd, len;

	/* Written then renamed, so the harness never reads a half-written pid. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror("open pidfile");
		exit(1);
	}
	len = snprintf(buf, sizeof(buf), "%d\n", pid);
	if (write(fd, buf, len) != len || close(fd) || rename(tmp, path)) {
		perror("write pidfile");
		exit(1);
	}
}

/* The launcher waits for test_daemon() of its child, publishes its pid, and leaves. The test is
 * ready only once no process of it holds the pipe any more: test_daemon() closes its end right
 * after writing, and children made with test_fork() close their inherited copy, but either may
 * not have run that close yet; until every copy is gone the harness would see an fd that is gone
 * after restore. End of file on our end says the last writer closed it. Bounded: a test whose
 * child keeps the pipe is published anyway, and the harness's fd comparison then says so. */
#define READY_CLOSE_TIMEOUT_MS 5000

static void wait_closed(int rfd)
{
	struct pollfd pfd = {.fd = rfd, .events = POLLIN};
	struct timespec t0, t;
	char c;
	long left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = READY_CLOSE_TIMEOUT_MS -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			fprintf(stderr, "the ready pipe is still open in the test after %d ms\n",
				READY_CLOSE_TIMEOUT_MS);
			return;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return;
		if (pfd.revents && read(rfd, &c, 1) <= 0)
			return; /* 0: every write end is closed */
	}
}

static void launcher(pid_t child, int rfd, const char *pidfile)
{
	char c;
	int status;

	if (read(rfd, &c, 1) == 1) {
		wait_closed(rfd);
		write_pidfile(pidfile, child);
		exit(0);
	}
	/* The test died during setup: report how. */
	if (waitpid(child, &status, 0) == child) {
		if (WIFEXITED(status))
			fprintf(stderr, "test exited with %d before it was ready\n",
				WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			fprintf(stderr, "test killed by signal %d before it was ready\n",
				WTERMSIG(status));
	}
	exit(1);
}

void test_init(int argc, char **argv)
{
	const char *pidfile = NULL, *outfile = NULL;
	int i, p[2], fd;
	pid_t pid;

	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--pidfile=", 10))
			pidfile = argv[i] + 10;
		else if (!strncmp(argv[i], "--outfile=", 10))
			outfile = argv[i] + 10;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			usage(argv[0]);
	}

	if (outfile) {
		fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0) {
			perror(outfile);
			exit(1);
		}
		if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			exit(1);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	test_set_sigterm();

	if (!pidfile)
		return;

	if (pipe2(p, O_CLOEXEC)) {
		perror("pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		launcher(pid, p[0], pidfile);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() < 0) {
		perror("setsid");
		exit(1);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
}

void test_daemon(void)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, "R", 1) != 1)
		pr_perror("cannot tell the launcher the test is ready");
	close(ready_fd);
	ready_fd = -1;
}

void test_waitsig(void)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigdelset(&old, SIGTERM);
	while (!got_sigterm)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void test_close_ready_fd(void)
{
	if (ready_fd >= 0)
		close(ready_fd);
	ready_fd = -1;
}

int test_go(void)
{
	return !got_sigterm;
}

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	struct timeval tv;
	struct tm tm;
	int n;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld %d: %s", tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (long)tv.tv_usec / 1000, (int)syscall(SYS_gettid), prefix);
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	if (buf[n - 1] != '\n')
		buf[n++] = '\n';
	/* One write per line so lines of several processes do not interleave. */
	if (write(STDOUT_FILENO, buf, n) < 0)
		return;
}

void test_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

static void msg(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(prefix, fmt, ap);
	va_end(ap);
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	char buf[768];
	va_list ap;
	int saved = errno;

	nr_failed++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	msg("", "FAIL: %s:%d: %s", file, line, buf);
	errno = saved;
}

int test_failed(void)
{
	return nr_failed;
}

void pass(void)
{
	if (nr_failed) {
		test_msg("FAIL: pass() called after %d failure(s)", nr_failed);
		return;
	}
	if (write(STDOUT_FILENO, "PASS\n", 5) != 5)
		exit(1);
}
