/* Logging to a per-command file and to stderr (see log.h). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_fd = -1;
static int log_level = LOG_WARN;
static struct timespec log_start;
static char first_error[512];

int log_init(const char *path, int level)
{
	log_level = level;
	first_error[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &log_start);
	if (!path || !*path || !strcmp(path, "-"))
		return 0;
	log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		int err = -errno;

		fprintf(stderr, "Error: cannot open log file %s: %s\n", path, strerror(errno));
		return err;
	}
	return 0;
}

void log_fini(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

const char *log_first_error(void)
{
	return first_error;
}

int log_get_level(void)
{
	return log_level;
}

int log_get_fd(void)
{
	return log_fd;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= n;
	}
}

void log_printf(int level, const char *fmt, ...)
{
	int saved_errno = errno;
	struct timespec now;
	char buf[4096];
	va_list ap;
	int hdr, len;

	if (level > log_level) {
		errno = saved_errno;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_sec -= log_start.tv_sec;
	now.tv_nsec -= log_start.tv_nsec;
	if (now.tv_nsec < 0) {
		now.tv_nsec += 1000000000L;
		now.tv_sec--;
	}
	hdr = snprintf(buf, sizeof(buf), "(%02ld.%06ld) ", (long)now.tv_sec, now.tv_nsec / 1000);
	va_start(ap, fmt);
	len = vsnprintf(buf + hdr, sizeof(buf) - hdr, fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	if ((size_t)(hdr + len) >= sizeof(buf))
		len = sizeof(buf) - hdr - 1;

	if (level == LOG_ERROR && !first_error[0])
		snprintf(first_error, sizeof(first_error), "%.*s", len, buf + hdr);
	if (log_fd >= 0)
		write_all(log_fd, buf, hdr + len);
	if (level == LOG_MSG)
		write_all(STDOUT_FILENO, buf + hdr, len);
	else if (log_fd < 0 || level <= LOG_ERROR)
		write_all(STDERR_FILENO, buf + hdr, len);
	errno = saved_errno;
}
