/* The page-store writer's compression stage on several threads: frames are copied in, encoded by
 * worker threads (and by the caller when it has to wait), and handed back through emit in the
 * order they came in, so the files written do not depend on the threads. */
#ifndef PAGESRV_FRAME_PIPE_H
#define PAGESRV_FRAME_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct frame_pipe;

struct fp_frame {
	uint64_t vaddr; /* what the caller said the frame is */
	uint32_t nr, flags;
	size_t len;
	const uint8_t *enc; /* the stored bytes */
	ssize_t n;	    /* their length */
	bool raw;
	uint32_t csum;
};

/* Called from the caller's thread, in order; a non-zero return stops the pipe with that error. */
typedef int (*fp_emit_fn)(void *arg, const struct fp_frame *f);

/* threads >= 2 workers; max_len: the largest frame. 0 or -errno. */
int fp_create(struct frame_pipe **p, int level, unsigned int threads, size_t max_len,
	      fp_emit_fn emit, void *arg);
void fp_free(struct frame_pipe *p); /* accepts NULL; frames not yet emitted are dropped */

/* Copies len bytes at src in; may emit earlier frames. src NULL and len 0: a record without pages,
 * emitted in its place with n 0 (the writer's parent entries). 0 or -errno (sticky). */
int fp_push(struct frame_pipe *p, const void *src, size_t len, uint64_t vaddr, uint32_t nr,
	    uint32_t flags);
/* Waits for every frame and emits it. 0 or -errno. */
int fp_flush(struct frame_pipe *p);

#endif
