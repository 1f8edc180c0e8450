/* The workload of `make demo` (and a test like any other): ZDTM_DEMO_MB MiB (default 64) of
 * anonymous memory filled with a checkable pattern, a counter page it keeps touching, and the
 * check of all of it after SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	const char *mb = getenv("ZDTM_DEMO_MB");
	size_t len = (mb ? strtoul(mb, NULL, 0) : 64) << 20;
	struct timespec ts = {0, 20 * 1000 * 1000};
	volatile unsigned long *counter;
	unsigned long seen;
	char *area;
	long bad;

	test_init(argc, argv);
	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || counter == MAP_FAILED)
		pr_perror("mmap %zu", len);
	datagen(area, len, 0xde30);
	test_msg("demo workload: %zu MiB filled, waiting for SIGTERM", len >> 20);
	test_daemon();
	while (test_go()) {
		(*counter)++;
		nanosleep(&ts, NULL);
	}
	seen = *counter;
	bad = datachk(area, len, 0xde30);
	if (bad >= 0)
		fail("bad data at offset %ld of %zu", bad, len);
	if (!seen)
		fail("the counter never moved");
	test_msg("demo workload: %zu MiB intact, counter at %lu", len >> 20, seen);
	pass();
	return 0;
}
