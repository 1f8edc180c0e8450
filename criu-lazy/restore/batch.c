/* Batches of injected syscalls: the calls and the data they point at are staged here, written into
 * the task's scratch area in one go and run with one ptrace stop (a task needs hundreds of calls;
 * one stop each would cost milliseconds). */
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restore.h"

int batch_init(struct rst_batch *b, struct inj_ctx *inj)
{
	b->inj = inj;
	b->scratch = inj_scratch(inj);
	b->scratch_size = inj_scratch_size(inj);
	b->used = 0;
	b->n = 0;
	b->err = 0;
	if (!b->scratch) {
		pr_err("thread %d: no gadget to run a batch through\n", inj_tid(inj));
		return -EINVAL;
	}
	b->data = malloc(b->scratch_size);
	return b->data ? 0 : -ENOMEM;
}

void batch_fini(struct rst_batch *b)
{
	free(b->data);
	b->data = NULL;
}

static unsigned long reserve(struct rst_batch *b, size_t len)
{
	size_t off = (b->used + 15) & ~15UL;

	if (off + len > b->scratch_size) {
		if (!b->err)
			pr_err("thread %d: batch data does not fit the scratch area (%zu bytes)\n",
			       inj_tid(b->inj), off + len);
		b->err = -E2BIG;
		return 0;
	}
	b->used = off + len;
	return b->scratch + off;
}

unsigned long batch_data(struct rst_batch *b, const void *p, size_t len)
{
	unsigned long r = reserve(b, len);

	if (r)
		memcpy(b->data + (r - b->scratch), p, len);
	return r;
}

unsigned long batch_out(struct rst_batch *b, size_t len, void **local)
{
	unsigned long r = reserve(b, len);

	if (r) {
		*local = b->data + (r - b->scratch);
		memset(*local, 0, len);
	}
	return r;
}

void batch_add(struct rst_batch *b, const char *what, long nr, long a1, long a2, long a3, long a4,
	       long a5, long a6)
{
	struct inj_call *c;

	if (b->n == RST_BATCH_MAX) {
		if (!b->err)
			pr_err("thread %d: too many calls in one batch\n", inj_tid(b->inj));
		b->err = -E2BIG;
		return;
	}
	c = &b->calls[b->n];
	b->what[b->n] = what;
	b->n++;
	c->nr = nr;
	c->arg[0] = a1;
	c->arg[1] = a2;
	c->arg[2] = a3;
	c->arg[3] = a4;
	c->arg[4] = a5;
	c->arg[5] = a6;
	c->ret = 0;
}

int batch_run(struct rst_batch *b)
{
	int ret = b->err;

	if (ret)
		goto out;
	if (b->used) {
		ret = inj_write(b->inj, b->scratch, b->data, b->used);
		if (ret)
			goto out;
	}
	if (b->n) {
		ret = inj_batch(b->inj, b->calls, b->n);
		if (ret > 0) {
			long res = b->calls[ret - 1].ret;

			pr_err("%d: %s failed: %s\n", inj_tid(b->inj), b->what[ret - 1],
			       strerror(-res));
			ret = (int)res;
			goto out;
		}
		if (ret)
			goto out;
	}
	if (b->used)
		ret = inj_read(b->inj, b->scratch, b->data, b->used);
out:
	b->n = 0;
	b->used = 0;
	b->err = 0;
	return ret;
}

int rst_syscall(struct inj_ctx *inj, long *res, long nr, long a1, long a2, long a3, long a4,
		long a5, long a6)
{
	return inj_syscall(inj, res, nr, a1, a2, a3, a4, a5, a6);
}
