/* Keeps counting while it is checkpointed: a counter in memory, a running checksum of every
 * value it took, and the monotonic clock. After restore the counter must go on from where it was
 * (the checksum proves no step was lost or repeated) and time must not go backwards. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct timespec prev, now;
	uint64_t counter = 0, sum = 0, check = 0, i;
	long backwards = 0;

	test_init(argc, argv);
	clock_gettime(CLOCK_MONOTONIC, &prev);
	test_daemon();
	while (test_go()) {
		counter++;
		sum += datagen_word(1, counter * 8);
		if ((counter & 0xfff) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec < prev.tv_sec ||
			    (now.tv_sec == prev.tv_sec && now.tv_nsec < prev.tv_nsec))
				backwards++;
			prev = now;
		}
	}
	for (i = 1; i <= counter; i++)
		check += datagen_word(1, i * 8);
	if (check != sum)
		fail("the running sum over %lu steps is wrong: a step was lost or repeated",
		     (unsigned long)counter);
	if (backwards)
		fail("CLOCK_MONOTONIC went back %ld times", backwards);
	if (counter < 1000)
		fail("only %lu steps: the loop did not run", (unsigned long)counter);
	test_msg("%lu steps", (unsigned long)counter);
	pass();
	return 0;
}
