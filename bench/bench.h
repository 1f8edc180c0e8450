/* Helpers shared by the floor benchmarks: clock, CPU pinning, percentiles, result lines.
 * Header-only because bench/Module.mk builds each bench/NAME.c into its own binary.
 *
 * Output contract (bench/report.py reads it): results go to stdout as `key value unit` lines,
 * comments start with '#'. Errors and skips go to stderr and to a `key skip -` line. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_PAGE 4096UL
#define KIB 1024UL
#define MIB (1024UL * 1024UL)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Pins the calling thread; the numbers mean nothing if the scheduler moves threads. */
static inline int pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static inline int unpin_cpu(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static inline int nr_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set);
}

/* Full mode (BENCH_FULL=1 in the environment) runs every measurement longer. */
static inline int bench_full(void)
{
	const char *s = getenv("BENCH_FULL");

	return s && *s && strcmp(s, "0");
}

/* "4k", "64k", "2m": short size names for result keys. */
static inline const char *size_name(size_t n)
{
	static __thread char buf[4][24];
	static __thread int slot;
	char *b = buf[slot++ & 3];

	if (n >= MIB && n % MIB == 0)
		snprintf(b, sizeof(buf[0]), "%zum", n / MIB);
	else if (n >= KIB && n % KIB == 0)
		snprintf(b, sizeof(buf[0]), "%zuk", n / KIB);
	else
		snprintf(b, sizeof(buf[0]), "%zu", n);
	return b;
}

static inline void result(const char *unit, double v, const char *fmt, ...)
{
	char key[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	printf("%s %.4g %s\n", key, v, unit);
	fflush(stdout);
}

static inline void skip(const char *why, const char *fmt, ...)
{
	char key[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	printf("%s skip -\n", key);
	fprintf(stderr, "bench: %s skipped: %s\n", key, why);
	fflush(stdout);
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v in place; q in [0, 1]. */
static inline uint64_t percentile(uint64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	i = (size_t)(q * (n - 1) + 0.5);
	return v[i];
}

/* Sorts v in place and returns the index of its median. */
static inline int median_pass(double *v, int n)
{
	int i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n / 2;
}

/* Prints the best of n throughput samples under the key (the machine's floor: a neighbour's
 * burst only ever slows a pass down) and their median under KEY.median. Sorts v. */
static inline void result_rates(const char *unit, double *v, int n, const char *fmt, ...)
{
	char key[160];
	va_list ap;
	int m;

	if (n <= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	m = median_pass(v, n);
	result(unit, v[n - 1], "%s", key);
	result(unit, v[m], "%s.median", key);
}

/* Prints p50/p99 (and the mean) of n samples in ns as microseconds under prefix. */
static inline void result_lat(uint64_t *v, size_t n, const char *prefix)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += v[i];
	result("us", percentile(v, n, 0.50) / 1e3, "%s.p50", prefix);
	result("us", percentile(v, n, 0.99) / 1e3, "%s.p99", prefix);
	result("us", n ? sum / n / 1e3 : 0, "%s.mean", prefix);
}

static inline double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / ns : 0; /* bytes per ns == GB/s */
}

#endif
