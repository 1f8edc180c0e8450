/* The unit test runner: one child per test, bounded, results counted (see unit.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#define EXIT_FAIL 1
#define EXIT_SKIP 77

/* The runner's state: which child to kill if the runner itself is told to stop, and, without
 * fork, where a failing assertion jumps back to. */
static volatile pid_t cur_child;
static int nofork;
static jmp_buf nofork_env;

static void flush_out(void)
{
	fflush(stdout);
	fflush(stderr);
}

static __attribute__((noreturn)) void end_test(int code)
{
	flush_out();
	if (nofork)
		longjmp(nofork_env, code);
	_exit(code);
}

void unit_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("  %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	end_test(EXIT_FAIL);
}

void unit_skip(const char *fmt, ...)
{
	va_list ap;

	printf("  skipped: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	end_test(EXIT_SKIP);
}

void unit_log(const char *fmt, ...)
{
	va_list ap;

	printf("  ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

const char *unit_errno_name(long err)
{
	static __thread char bufs[4][48];
	static __thread unsigned int next;
	char *buf = bufs[next++ % 4];
	const char *name;

	if (err >= 0) {
		snprintf(buf, sizeof(bufs[0]), "%ld", err);
		return buf;
	}
	name = err >= -4095 ? strerrorname_np((int)-err) : NULL;
	if (name)
		snprintf(buf, sizeof(bufs[0]), "-%s", name);
	else
		snprintf(buf, sizeof(bufs[0]), "%ld", err);
	return buf;
}

long unit_memdiff(const void *a, const void *b, size_t len)
{
	const unsigned char *pa = a, *pb = b;
	size_t i;

	if (!memcmp(a, b, len))
		return -1;
	for (i = 0; i < len; i++)
		if (pa[i] != pb[i])
			return (long)i;
	return -1;
}

double unit_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void *unit_xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		UT_FAIL("out of memory allocating %zu bytes", len);
	return p;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

void unit_fill_random(void *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1, v;
	unsigned char *p = buf;

	while (len >= 8) {
		v = xorshift(&s);
		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	v = xorshift(&s);
	memcpy(p, &v, len);
}

void unit_fill_heaplike(void *buf, size_t len, uint64_t seed)
{
	static const char *const words[] = {
	    "the ",    "session ", "request ", "user_id=", "GET /index.html ", "200 OK\n",
	    "error: ", "value ",   "config ",  "name: ",   "{\"id\": ",	       "}, ",
	};
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *p = buf, *end = p + len;

	while (p < end) {
		uint64_t r = xorshift(&s);
		size_t run = 16 + (r >> 8) % 240, i;

		if (run > (size_t)(end - p))
			run = end - p;
		switch (r % 10) {
		case 0:
		case 1:
		case 2: /* small integers in 8-byte slots */
			for (i = 0; i < run; i++)
				p[i] = (i % 8) ? 0 : (unsigned char)(xorshift(&s) % 64);
			break;
		case 3:
		case 4: /* pointers into one heap */
			for (i = 0; i + 8 <= run; i += 8) {
				uint64_t ptr =
				    0x00005555a0000000ull + (xorshift(&s) % 0x100000) * 16;

				memcpy(p + i, &ptr, 8);
			}
			memset(p + i, 0, run - i);
			break;
		case 5:
		case 6: /* text */
			for (i = 0; i < run;) {
				const char *w = words[xorshift(&s) % UNIT_ARRAY_SIZE(words)];
				size_t n = strlen(w);

				if (n > run - i)
					n = run - i;
				memcpy(p + i, w, n);
				i += n;
			}
			break;
		case 7:
		case 8: /* zeroes */
			memset(p, 0, run);
			break;
		default: /* noise: a counter, a hash */
			for (i = 0; i < run; i++)
				p[i] = (unsigned char)xorshift(&s);
			break;
		}
		p += run;
	}
}

int unit_mkdtemp(char *path, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(path, size, "%s/unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(path))
		UT_FAIL("mkdtemp(%s): %s", path, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		UT_FAIL("open(%s): %s", path, strerror(errno));
	return fd;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void unit_rmdir(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the runner ---- */

static void on_stop_signal(int sig)
{
	pid_t c = cur_child;

	if (c > 0)
		kill(-c, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Kills whatever the test left in its process group and reaps it (we are a subreaper, so its
 * orphans come back to us), waiting at most a second. */
static void reap_leftovers(pid_t pgid)
{
	double deadline = unit_now() + 1.0;

	kill(-pgid, SIGKILL);
	while (unit_now() < deadline) {
		pid_t p = waitpid(-1, NULL, WNOHANG);

		if (p < 0)
			return;
		if (p == 0)
			usleep(1000);
	}
	printf("  warning: processes started by the test did not exit\n");
}

static enum unit_result run_nofork(const struct unit_test *t)
{
	int code;

	code = setjmp(nofork_env);
	if (code == 0) {
		t->fn();
		return UNIT_PASS;
	}
	return code == EXIT_SKIP ? UNIT_SKIP : UNIT_FAIL;
}

enum unit_result unit_run_one(const struct unit_test *t, unsigned int timeout_s)
{
	unsigned int missing = t->features_required & ~(t->features_required ? unit_features() : 0);
	const char *base = getenv("TMPDIR");
	enum unit_result res;
	char tmpdir[512];
	bool have_tmp;
	int status;
	pid_t pid;

	if (missing) {
		unsigned int bit;

		printf("  the kernel lacks:");
		for (bit = 1; bit; bit <<= 1)
			if (missing & bit)
				printf(" %s", unit_feature_name(bit));
		printf("\n");
		return UNIT_SKIP;
	}
	if (nofork)
		return run_nofork(t);

	/* Each test gets a TMPDIR of its own, removed after it passes whatever the test left
	 * there, kept for a look when it fails. */
	snprintf(tmpdir, sizeof(tmpdir), "%s/unit-run-XXXXXX", base && *base ? base : "/tmp");
	have_tmp = mkdtemp(tmpdir) != NULL;
	flush_out();
	pid = fork();
	if (pid < 0) {
		printf("  fork: %s\n", strerror(errno));
		if (have_tmp)
			rmdir(tmpdir);
		return UNIT_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if (have_tmp)
			setenv("TMPDIR", tmpdir, 1);
		alarm(timeout_s);
		t->fn();
		flush_out();
		_exit(0);
	}
	setpgid(pid, pid); /* also here: no window where the child is in our group */
	cur_child = pid;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			printf("  waitpid: %s\n", strerror(errno));
			status = EXIT_FAIL << 8;
			break;
		}
	}
	cur_child = 0;
	reap_leftovers(pid);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		res = UNIT_PASS;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP)
		res = UNIT_SKIP;
	else {
		res = UNIT_FAIL;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			printf("  timed out after %u s\n", timeout_s);
		else if (WIFSIGNALED(status))
			printf("  killed by signal %d (%s)\n", WTERMSIG(status),
			       strsignal(WTERMSIG(status)));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != EXIT_FAIL)
			printf("  exited with code %d\n", WEXITSTATUS(status));
	}
	if (have_tmp && (res != UNIT_FAIL || !rmdir(tmpdir) || errno == ENOENT))
		unit_rmdir(tmpdir);
	else if (have_tmp)
		printf("  its files are kept in %s\n", tmpdir);
	return res;
}

static int selected(const struct unit_test *t, int argc, char **argv)
{
	int i, any = 0;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		any = 1;
		if (strstr(t->name, argv[i]))
			return 1;
	}
	return !any;
}

int unit_main(int argc, char **argv, const struct unit_test *tests, size_t nr)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *env = getenv("UNIT_TIMEOUT");
	unsigned int timeout_s = env && atoi(env) > 0 ? (unsigned int)atoi(env) : 60;
	unsigned int passed = 0, failed = 0, skipped = 0, ran = 0;
	size_t i;
	int a;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-l")) {
			for (i = 0; i < nr; i++)
				printf("%s\n", tests[i].name);
			return 0;
		}
		if (argv[a][0] == '-') {
			fprintf(stderr, "usage: %s [-l] [NAME-SUBSTRING...]\n", prog);
			return 2;
		}
	}
	env = getenv("UNIT_NOFORK");
	nofork = env && *env && strcmp(env, "0");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGTERM, on_stop_signal);
	signal(SIGINT, on_stop_signal);

	printf("# %s\n", prog);
	for (i = 0; i < nr; i++) {
		const struct unit_test *t = &tests[i];
		double t0;
		enum unit_result r;

		if (!selected(t, argc, argv))
			continue;
		ran++;
		t0 = unit_now();
		r = unit_run_one(t, timeout_s);
		switch (r) {
		case UNIT_PASS:
			printf("ok %s (%.3f s)\n", t->name, unit_now() - t0);
			passed++;
			break;
		case UNIT_SKIP:
			printf("SKIP %s\n", t->name);
			skipped++;
			break;
		default:
			printf("FAIL %s\n", t->name);
			failed++;
			break;
		}
	}
	if (!ran && argc > 1) {
		printf("FAIL %s: no test matches the names given\n", prog);
		failed++;
	}
	printf("unit-result: %u passed, %u failed, %u skipped\n", passed, failed, skipped);
	flush_out();
	return failed ? 1 : 0;
}
