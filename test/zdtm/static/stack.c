/* Data on a deep stack (recursion with a frame of pattern each) and the stack pointer itself:
 * the test waits at the bottom and checks every frame while unwinding. */
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DEPTH 200
#define FRAME 2048

static int recurse(int depth, void *above)
{
	char frame[FRAME];
	int ret;

	datagen(frame, FRAME, depth);
	if (depth == DEPTH) {
		test_daemon();
		test_waitsig();
		ret = 0;
	} else {
		ret = recurse(depth + 1, frame);
	}
	/* The callee's frame is below ours: the stack grew down. */
	if (above && (char *)above <= frame)
		fail("frame %d at %p is not below its caller's %p", depth, frame, above);
	if (datachk(frame, FRAME, depth) >= 0) {
		fail("stack frame %d is corrupted", depth);
		return -1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (recurse(1, NULL) == 0 && !test_failed())
		pass();
	return 0;
}
