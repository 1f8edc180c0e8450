/* The alternate signal stack (address, size, flags) survives, and an SA_ONSTACK handler runs on
 * it after restore. */
#include <stdio.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SS_LEN (64 * 1024)

static char altstack[SS_LEN] __attribute__((aligned(16)));
static volatile uintptr_t handler_sp;

static void handler(int sig)
{
	char here;

	(void)sig;
	handler_sp = (uintptr_t)&here;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_ONSTACK};
	stack_t ss = {.ss_sp = altstack, .ss_size = SS_LEN}, now;

	test_init(argc, argv);
	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL))
		pr_perror("sigaltstack");
	test_daemon();
	test_waitsig();

	if (sigaltstack(NULL, &now))
		fail("sigaltstack: %s", strerror(errno));
	else if (now.ss_sp != altstack || now.ss_size != SS_LEN || now.ss_flags != 0)
		fail("altstack is %p+%zu flags %d, was %p+%d", now.ss_sp, now.ss_size, now.ss_flags,
		     (void *)altstack, SS_LEN);
	raise(SIGUSR1);
	if (handler_sp < (uintptr_t)altstack || handler_sp >= (uintptr_t)altstack + SS_LEN)
		fail("the handler ran at sp %#lx, not on the alternate stack", (long)handler_sp);
	pass();
	return 0;
}
