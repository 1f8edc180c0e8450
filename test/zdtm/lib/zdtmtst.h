/* The zdtm test library: every test follows test_init -> test_daemon -> test_waitsig -> pass/fail.
 * Under the harness (--pidfile/--outfile) the test daemonizes into its own session, its output goes
 * to the outfile and the pidfile appears only once the test is ready to be checkpointed. */
#ifndef ZDTMTST_H
#define ZDTMTST_H

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

void test_init(int argc, char **argv);
/* Tell the harness the test is set up: it writes the pidfile and may checkpoint from now on. */
void test_daemon(void);
/* Children forked before test_daemon() must not keep the launcher's pipe: test_fork calls it. */
void test_close_ready_fd(void);
/* Wait for SIGTERM (race-free: the signal is blocked between the check and the wait). */
void test_waitsig(void);
/* 1 until SIGTERM arrived: loop condition of transition tests. */
int test_go(void);
/* Install the SIGTERM handler in the calling process again (children that reset it). */
void test_set_sigterm(void);

void test_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pass(void);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define fail(fmt, ...) test_fail(__FILE__, __LINE__, fmt, ##__VA_ARGS__)
/* Setup failed before anything could be checked: report and exit 1. */
#define pr_perror(fmt, ...)                                                                        \
	do {                                                                                       \
		test_fail(__FILE__, __LINE__, fmt ": %s", ##__VA_ARGS__, strerror(errno));         \
		_exit(1);                                                                          \
	} while (0)
/* Number of fail() calls so far in this process. */
int test_failed(void);

/* Checkable pseudo-random pattern: datagen fills, datachk returns the offset of the first bad
 * byte or -1 when every byte is as datagen wrote it with the same seed. */
void datagen(void *buf, size_t len, uint64_t seed);
long datachk(const void *buf, size_t len, uint64_t seed);
/* The same for the part of a pattern that starts base bytes in (base multiple of 8). */
void datagen_at(void *buf, size_t len, uint64_t seed, size_t base);
long datachk_at(const void *buf, size_t len, uint64_t seed, size_t base);
/* The 8-byte word datagen puts at byte offset off (off multiple of 8). */
uint64_t datagen_word(uint64_t seed, size_t off);

/* Child processes: test_fork runs fn(arg) in a child that exits with fn's return value
 * (0 = the child's checks passed). test_wait_child waits at most timeout_ms; it returns the
 * exit code, 128+signal if killed, or -1 on timeout/error (the child is then killed). */
pid_t test_fork(int (*fn)(void *), void *arg);
int test_wait_child(pid_t pid, int timeout_ms);
/* SIGTERM to each child, then wait for each; 0 if all exited with 0, else fail() per child. */
int test_stop_children(const pid_t *pids, int nr, int timeout_ms);

/* Setup barrier for process trees: test_sync_init() before forking, test_sync_post() in each
 * process once it is set up, test_sync_wait(nr) in the root before test_daemon(). All three
 * close the pipe, so it is not among the fds of the checkpointed tree. */
void test_sync_init(void);
void test_sync_post(void);
int test_sync_wait(int nr, int timeout_ms);

/* Read a whole small file (e.g. /proc/self/...) into buf, NUL-terminated; bytes read or -1. */
ssize_t test_read_file(const char *path, char *buf, size_t size);
/* The value of "Key:" in /proc/self/status (or any "Key:\tvalue" file), -1 if absent. */
int test_status_field(const char *path, const char *key, char *val, size_t size);
/* The VmFlags line of the /proc/self/smaps entry starting at addr, -1 if absent. */
int test_vmflags(void *addr, char *flags, size_t size);
/* The permissions ("rw-p") of the /proc/self/maps entry containing addr. */
int test_vma_perms(void *addr, char *perms);

#endif
