/* FPU/vector state of a thread running in a tight loop while it is checkpointed: ymm0-13 hold
 * patterns checked on every iteration (AVX2), zmm16-29 too where AVX-512 exists, and MXCSR and
 * the x87 control word hold non-default modes. A register that changes fails the test. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static uint8_t pat[32][64] __attribute__((aligned(64)));
static volatile int stop;
static volatile int started[2];

struct result {
	long bad;	/* index of the first register that changed, -1 if none */
	uint64_t iters; /* loop iterations */
	uint32_t mxcsr; /* at the end of the loop */
	uint16_t x87cw;
};

static struct result res[2];
static const uint32_t mxcsr_set = 0x7f80 | 0x6000; /* all exceptions masked, round to zero */
static const uint16_t x87cw_set = 0x0c7f;	   /* round to zero, double-extended */

#define REGS_0_13 "0,1,2,3,4,5,6,7,8,9,10,11,12,13"

static void *avx2_loop(void *arg)
{
	struct result *r = &res[0];
	long bad;

	(void)arg;
	asm volatile("ldmxcsr %[mx]\n\t"
		     "fldcw %[cw]\n\t"
		     ".irp n," REGS_0_13 "\n\t"
		     "vmovdqa \\n*64(%[p]), %%ymm\\n\n\t"
		     ".endr\n\t"
		     "movl $1, %[started]\n"
		     "1:\n\t"
		     ".irp n," REGS_0_13 "\n\t"
		     "movq $\\n, %[bad]\n\t"
		     "vpcmpeqb \\n*64(%[p]), %%ymm\\n, %%ymm15\n\t"
		     "vpmovmskb %%ymm15, %%eax\n\t"
		     "cmpl $-1, %%eax\n\t"
		     "jne 2f\n\t"
		     ".endr\n\t"
		     "incq %[iters]\n\t"
		     "pause\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     "movq $-1, %[bad]\n"
		     "2:\n\t"
		     "stmxcsr %[mxo]\n\t"
		     "fnstcw %[cwo]\n\t"
		     "vzeroupper\n\t"
		     : [bad] "=&r"(bad), [iters] "+m"(r->iters), [mxo] "=m"(r->mxcsr),
		       [cwo] "=m"(r->x87cw), [started] "=m"(started[0])
		     : [p] "r"(pat), [mx] "m"(mxcsr_set), [cw] "m"(x87cw_set), [stop] "m"(stop)
		     : "rax", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
		       "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		       "xmm15");
	r->bad = bad;
	return NULL;
}

#define REGS_16_29 "16,17,18,19,20,21,22,23,24,25,26,27,28,29"

/* The target attribute lets the asm clobber k1 and zmm16+; only called where avx512f exists. */
__attribute__((target("avx512f"))) static void *avx512_loop(void *arg)
{
	struct result *r = &res[1];
	long bad;

	(void)arg;
	asm volatile(".irp n," REGS_16_29 "\n\t"
		     "vmovdqa64 (\\n-16)*64(%[p]), %%zmm\\n\n\t"
		     ".endr\n\t"
		     "movl $1, %[started]\n"
		     "1:\n\t"
		     ".irp n," REGS_16_29 "\n\t"
		     "movq $\\n, %[bad]\n\t"
		     "vpcmpeqd (\\n-16)*64(%[p]), %%zmm\\n, %%k1\n\t"
		     "kortestw %%k1, %%k1\n\t"
		     "jnc 2f\n\t"
		     ".endr\n\t"
		     "incq %[iters]\n\t"
		     "pause\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     "movq $-1, %[bad]\n"
		     "2:\n\t"
		     "vzeroupper\n\t"
		     : [bad] "=&r"(bad), [iters] "+m"(r->iters), [started] "=m"(started[1])
		     : [p] "r"(pat), [stop] "m"(stop)
		     : "cc", "memory", "k1", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
		       "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29");
	r->bad = bad;
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 5 * 1000 * 1000};
	int avx512 = __builtin_cpu_supports("avx512f");
	pthread_t t[2];
	int i;

	test_init(argc, argv);
	if (!__builtin_cpu_supports("avx2"))
		pr_perror("this test needs AVX2");
	datagen(pat, sizeof(pat), 0x5a5a);
	if (pthread_create(&t[0], NULL, avx2_loop, NULL) ||
	    (avx512 && pthread_create(&t[1], NULL, avx512_loop, NULL)))
		pr_perror("pthread_create");
	for (i = 0; i < 1000 && !(started[0] && (started[1] || !avx512)); i++)
		nanosleep(&ts, NULL);
	test_msg("AVX-512 part: %s", avx512 ? "on" : "off (no avx512f)");
	test_daemon();
	test_waitsig();

	stop = 1;
	pthread_join(t[0], NULL);
	if (avx512)
		pthread_join(t[1], NULL);
	if (res[0].bad != -1)
		fail("ymm%ld changed (after %lu iterations)", res[0].bad,
		     (unsigned long)res[0].iters);
	if (res[0].mxcsr != mxcsr_set)
		fail("MXCSR is %#x, was %#x", res[0].mxcsr, mxcsr_set);
	if (res[0].x87cw != x87cw_set)
		fail("x87 control word is %#x, was %#x", res[0].x87cw, x87cw_set);
	if (avx512 && res[1].bad != -1)
		fail("zmm%ld changed (after %lu iterations)", res[1].bad,
		     (unsigned long)res[1].iters);
	if (!res[0].iters || (avx512 && !res[1].iters))
		fail("a loop never ran");
	pass();
	return 0;
}
