/* Supplementary groups. */
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

/* The kernel keeps them sorted. */
static const gid_t want[] = {5, 7, 100, 1000, 12345, 65534};
#define NR (int)(sizeof(want) / sizeof(want[0]))

int main(int argc, char **argv)
{
	gid_t now[64];
	int n, i;

	test_init(argc, argv);
	if (setgroups(NR, want))
		pr_perror("setgroups");
	test_daemon();
	test_waitsig();

	n = getgroups(64, now);
	if (n != NR)
		fail("%d groups, were %d", n, NR);
	for (i = 0; i < n && i < NR; i++)
		if (now[i] != want[i])
			fail("group %d is %d, was %d", i, now[i], want[i]);
	pass();
	return 0;
}
