/* The restartable-sequences area glibc registered for the main thread is still registered
 * (registering it again says EBUSY) and the kernel keeps its cpu_id current. */
#include <sched.h>
#include <stdio.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define RSEQ_SIG_X86 0x53053053

static struct rseq own_area __attribute__((aligned(32)));

static struct rseq *area(void)
{
	if (__rseq_size)
		return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	return &own_area;
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void check_cpu(int cpu)
{
	volatile struct rseq *rs = area();
	unsigned int now;

	if (pin(cpu))
		return;
	/* The kernel updates cpu_id on the way back to user space after a migration. */
	sched_yield();
	syscall(SYS_getcpu, &now, NULL, NULL);
	if ((int)rs->cpu_id != (int)now || (int)rs->cpu_id_start != (int)now)
		fail("rseq cpu_id %d cpu_id_start %u, running on %u", (int)rs->cpu_id,
		     rs->cpu_id_start, now);
}

/* The length the area was registered with: the one for which a second registration says EBUSY
 * (glibc's __rseq_size is not always the registered length). */
static unsigned int registered_len(void)
{
	unsigned int lens[] = {__rseq_size, 32, sizeof(struct rseq)};
	unsigned int i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		if (lens[i] && syscall(SYS_rseq, area(), lens[i], 0, RSEQ_SIG_X86) == -1 &&
		    errno == EBUSY)
			return lens[i];
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int len;
	long ret;
	int cpus = sysconf(_SC_NPROCESSORS_ONLN);

	test_init(argc, argv);
	if (!__rseq_size && syscall(SYS_rseq, &own_area, sizeof(own_area), 0, RSEQ_SIG_X86))
		pr_perror("rseq registration");
	len = registered_len();
	if (!len)
		pr_perror("cannot tell the registered rseq length");
	test_daemon();
	test_waitsig();

	ret = syscall(SYS_rseq, area(), len, 0, RSEQ_SIG_X86);
	if (ret != -1 || errno != EBUSY)
		fail("registering the same area again gave %ld (%s): it is not registered", ret,
		     strerror(errno));
	check_cpu(0);
	if (cpus > 1)
		check_cpu(1);
	pass();
	return 0;
}
