/* Table-driven unit tests.
 *
 *   static const struct unit_test tests[] = {
 *           { "round trip", test_round_trip, 0 },
 *           { "uffd copy", test_uffd_copy, UNIT_F_UFFD },
 *   };
 *   UNIT_MAIN(tests)
 *
 * Each test runs in a child process of its own (a crash or a hang fails that test, not the binary),
 * in its own process group that is killed afterwards, with an alarm of UNIT_TIMEOUT seconds
 * (default 60), and with a TMPDIR of its own that is removed when it passes (kept, and named,
 * when it fails). A test whose features_required the kernel lacks is skipped with a line naming the
 * missing features. An assertion that fails prints file:line and what it saw, and ends the test.
 *
 * Output, one line per test: "ok NAME", "FAIL NAME (...)", "SKIP NAME (...)"; last line:
 * "unit-result: P passed, F failed, S skipped" (test/unit/run.sh adds these up).
 * Arguments: -l lists the tests; any other argument runs only the tests whose name contains it.
 * UNIT_NOFORK=1 runs every test in the runner process (for gdb; a crash then ends the binary).
 */
#ifndef UNIT_H
#define UNIT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Kernel features a test may require; probed once, at start. */
enum {
	UNIT_F_ROOT = 1u << 0, /* euid 0 */
	UNIT_F_UFFD = 1u << 1, /* userfaultfd(2) usable by this process */
	UNIT_F_UFFD_WP_ASYNC = 1u << 2,
	UNIT_F_UFFD_MOVE = 1u << 3,
	UNIT_F_UFFD_POISON = 1u << 4,
	UNIT_F_PAGEMAP_SCAN = 1u << 5, /* ioctl(PAGEMAP_SCAN) on /proc/self/pagemap */
	UNIT_F_PIDFD_GETFD = 1u << 6,
	UNIT_F_CLONE3 = 1u << 7,
	UNIT_F_PTRACE = 1u << 8, /* PTRACE_SEIZE of our own child */
};

struct unit_test {
	const char *name;
	void (*fn)(void);
	unsigned int features_required;
};

int unit_main(int argc, char **argv, const struct unit_test *tests, size_t nr);

#define UNIT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNIT_MAIN(table)                                                                           \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return unit_main(argc, argv, table, UNIT_ARRAY_SIZE(table));                       \
	}

/* Outcome of one test run the way unit_main runs it (used by the framework's own tests). */
enum unit_result { UNIT_PASS, UNIT_FAIL, UNIT_SKIP };
enum unit_result unit_run_one(const struct unit_test *t, unsigned int timeout_s);

/* Bitmask of UNIT_F_* this machine has (probed on first call), and the name of one bit. */
unsigned int unit_features(void);
const char *unit_feature_name(unsigned int bit);

/* ---- inside a test ---- */

/* Prints "  file:line: message" and ends the current test as failed / skipped. */
void unit_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void unit_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Prints an indented line into the test's output (measurements, context). */
void unit_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *unit_errno_name(long err); /* -EBADMSG -> "-EBADMSG" */
/* First offset where a and b differ, or -1. */
long unit_memdiff(const void *a, const void *b, size_t len);

#define UT_FAIL(fmt, ...) unit_fail_at(__FILE__, __LINE__, fmt, ##__VA_ARGS__)

#define UT_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			UT_FAIL("assertion failed: %s", #cond);                                    \
	} while (0)

#define UT_CMP_(a, op, b)                                                                          \
	do {                                                                                       \
		long long ut_a_ = (long long)(a), ut_b_ = (long long)(b);                          \
		if (!(ut_a_ op ut_b_))                                                             \
			UT_FAIL("expected %s %s %s, got %lld vs %lld (0x%llx vs 0x%llx)", #a, #op, \
				#b, ut_a_, ut_b_, (unsigned long long)ut_a_,                       \
				(unsigned long long)ut_b_);                                        \
	} while (0)

/* integer comparisons (values are compared as long long: use UT_ASSERT for floating point) */
#define UT_EQ(a, b) UT_CMP_(a, ==, b)
#define UT_NE(a, b) UT_CMP_(a, !=, b)
#define UT_LT(a, b) UT_CMP_(a, <, b)
#define UT_LE(a, b) UT_CMP_(a, <=, b)
#define UT_GT(a, b) UT_CMP_(a, >, b)
#define UT_GE(a, b) UT_CMP_(a, >=, b)

/* expr must return 0 (the usual 0 / -errno convention). */
#define UT_OK(expr)                                                                                \
	do {                                                                                       \
		long ut_r_ = (long)(expr);                                                         \
		if (ut_r_ != 0)                                                                    \
			UT_FAIL("%s returned %ld (%s), expected 0", #expr, ut_r_,                  \
				unit_errno_name(ut_r_));                                           \
	} while (0)

/* expr must return exactly the negative errno err. */
#define UT_ERR(expr, err)                                                                          \
	do {                                                                                       \
		long ut_r_ = (long)(expr), ut_e_ = (long)(err);                                    \
		if (ut_r_ != ut_e_)                                                                \
			UT_FAIL("%s returned %ld (%s), expected %s", #expr, ut_r_,                 \
				unit_errno_name(ut_r_), unit_errno_name(ut_e_));                   \
	} while (0)

#define UT_MEMEQ(a, b, len)                                                                        \
	do {                                                                                       \
		long ut_d_ = unit_memdiff(a, b, len);                                              \
		if (ut_d_ >= 0)                                                                    \
			UT_FAIL("%s and %s differ at byte %ld of %zu", #a, #b, ut_d_,              \
				(size_t)(len));                                                    \
	} while (0)

#define UT_NONNULL(p)                                                                              \
	do {                                                                                       \
		if (!(p))                                                                          \
			UT_FAIL("%s is NULL", #p);                                                 \
	} while (0)

/* ---- helpers ---- */

/* Deterministic pseudo-random bytes (xorshift64*) from seed. */
void unit_fill_random(void *buf, size_t len, uint64_t seed);
/* Heap-like data: runs of small integers, pointers, text and zeroes (compresses ~3x with zstd). */
void unit_fill_heaplike(void *buf, size_t len, uint64_t seed);
/* Makes a fresh directory under $TMPDIR (path filled in; unit_rmdir removes it and what it holds)
 * and returns an O_DIRECTORY fd on it. Fails the test if it cannot. */
int unit_mkdtemp(char *path, size_t size);
void unit_rmdir(const char *path);
/* Monotonic seconds. */
double unit_now(void);
/* malloc that fails the test instead of returning NULL. */
void *unit_xmalloc(size_t len);

#endif
