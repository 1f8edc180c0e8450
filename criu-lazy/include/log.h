/* Logging: one log per command (-o FILE, relative to the work dir), levels as CRIU's -v,
 * timestamps. Each .c file may define LOG_PREFIX before including this header. */
#ifndef CRL_LOG_H
#define CRL_LOG_H

#include <errno.h>
#include <string.h>

enum log_level {
	LOG_MSG = 0, /* what the user asked to see: always printed, to stdout and the log */
	LOG_ERROR = 1,
	LOG_WARN = 2,
	LOG_INFO = 3,
	LOG_DEBUG = 4,
};

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

/* Opens the log file (NULL or "-": stderr only). Errors are also copied to stderr. 0 or -errno. */
int log_init(const char *path, int level);
void log_fini(void);
int log_get_level(void);
/* The fd of the log file, or -1: children that must not inherit it close it. */
int log_get_fd(void);

/* The first error logged since log_init(), without its header; "" when none. swrk hands it to
 * the runtime as the reason of a failure. */
const char *log_first_error(void);

void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_msg(fmt, ...) log_printf(LOG_MSG, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) log_printf(LOG_INFO, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) log_printf(LOG_DEBUG, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)                                                                          \
	log_printf(LOG_WARN, "Warn  (%s:%d): " LOG_PREFIX fmt, __FILE__, __LINE__, ##__VA_ARGS__)
#define pr_err(fmt, ...)                                                                           \
	log_printf(LOG_ERROR, "Error (%s:%d): " LOG_PREFIX fmt, __FILE__, __LINE__, ##__VA_ARGS__)
/* Right after the failing call, while errno is fresh. */
#define pr_perror(fmt, ...) pr_err(fmt ": %s\n", ##__VA_ARGS__, strerror(errno))
/* For functions that return -errno instead of setting errno. */
#define pr_errno(err, fmt, ...) pr_err(fmt ": %s\n", ##__VA_ARGS__, strerror(-(err)))

#endif
