/* Frames encoded on worker threads behind a ring of slots. The caller copies each frame into the
 * ring and goes on cutting pages; workers take slots in order and encode them; the caller hands
 * finished slots to emit from the ring's head, in order. When the ring is full the caller encodes
 * a waiting slot itself rather than sleep, so a worker that the scheduler holds back costs one
 * frame of waiting at most, not a batch. The copy (a few us per 64 KiB) buys the caller's buffer
 * back at once and lets the dump read on while frames compress. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "frame-pipe.h"
#include "pagestore.h"

#define RING_BYTES (8u << 20)
#define MAX_WORKERS 8

enum { SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

struct fp_slot {
	struct fp_frame f;
	uint8_t *src;
	uint8_t *enc;
	int state;
};

struct frame_pipe {
	int level;
	size_t max_len;
	fp_emit_fn emit;
	void *arg;
	struct fp_slot *ring;
	size_t cap;
	/* under lock: slots [head, next) are taken or done, [next, tail) queued; counters grow
	 * without bound and index the ring modulo cap */
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	uint64_t head, next, tail;
	bool quit;
	int err;		       /* sticky */
	struct frame_codec *own_codec; /* the caller's, for helping */
	unsigned int nworkers;
	pthread_t th[MAX_WORKERS];
	struct frame_codec *codec[MAX_WORKERS];
};

static void encode(struct frame_codec *codec, struct fp_slot *s)
{
	s->f.n = frame_encode(codec, s->src, s->f.len, s->enc, frame_bound(s->f.len), &s->f.raw);
	if (s->f.n > 0)
		s->f.csum = frame_csum(s->enc, s->f.n);
	s->f.enc = s->enc;
}

struct worker_arg {
	struct frame_pipe *p;
	unsigned int id;
};

static void *worker(void *arg)
{
	struct worker_arg *a = arg;
	struct frame_pipe *p = a->p;
	struct frame_codec *codec = p->codec[a->id];

	free(a);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct fp_slot *s;

		while (p->next == p->tail && !p->quit)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->quit)
			break;
		s = &p->ring[p->next++ % p->cap];
		if (s->state != SLOT_QUEUED) /* a record without pages: nothing to encode */
			continue;
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&p->lock);
		encode(codec, s);
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int fp_create(struct frame_pipe **pp, int level, unsigned int threads, size_t max_len,
	      fp_emit_fn emit, void *arg)
{
	struct frame_pipe *p;
	size_t i;
	int ret;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->level = level;
	p->max_len = max_len;
	p->emit = emit;
	p->arg = arg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	/* about 8 MiB of frames; with large frames, enough for every worker to have one and the
	 * next one waiting */
	p->cap = RING_BYTES / max_len;
	if (p->cap < 2 * threads + 1)
		p->cap = 2 * threads + 1;
	ret = -ENOMEM;
	p->ring = calloc(p->cap, sizeof(*p->ring));
	if (!p->ring)
		goto out_free;
	for (i = 0; i < p->cap; i++) {
		p->ring[i].src = malloc(max_len);
		p->ring[i].enc = malloc(frame_bound(max_len));
		if (!p->ring[i].src || !p->ring[i].enc)
			goto out_free;
	}
	ret = frame_codec_create(&p->own_codec, level);
	if (ret)
		goto out_free;
	if (threads > MAX_WORKERS)
		threads = MAX_WORKERS;
	for (i = 0; i < threads; i++) {
		struct worker_arg *a;

		ret = frame_codec_create(&p->codec[i], level);
		if (ret)
			goto out_free;
		ret = -ENOMEM;
		a = malloc(sizeof(*a));
		if (!a)
			goto out_free;
		a->p = p;
		a->id = i;
		ret = -pthread_create(&p->th[i], NULL, worker, a);
		if (ret) {
			free(a);
			goto out_free;
		}
		p->nworkers++;
	}
	*pp = p;
	return 0;
out_free:
	fp_free(p);
	return ret;
}

void fp_free(struct frame_pipe *p)
{
	unsigned int i;
	size_t k;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nworkers; i++)
		pthread_join(p->th[i], NULL);
	for (i = 0; i < MAX_WORKERS; i++)
		frame_codec_free(p->codec[i]);
	frame_codec_free(p->own_codec);
	for (k = 0; p->ring && k < p->cap; k++) {
		free(p->ring[k].src);
		free(p->ring[k].enc);
	}
	free(p->ring);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Under lock: makes progress on the ring's head. all: until the ring is empty, else until a slot
 * is free. Emits finished slots in order, encodes a queued one itself rather than wait. */
static int advance(struct frame_pipe *p, bool all)
{
	while (!p->err && (all ? p->head < p->tail : p->tail - p->head == p->cap)) {
		struct fp_slot *s = &p->ring[p->head % p->cap];

		if (s->state == SLOT_DONE) {
			int ret;

			pthread_mutex_unlock(&p->lock);
			ret = s->f.n < 0 ? (int)s->f.n : p->emit(p->arg, &s->f);
			pthread_mutex_lock(&p->lock);
			if (ret)
				p->err = ret;
			p->head++;
		} else if (p->next < p->tail) {
			struct fp_slot *q = &p->ring[p->next++ % p->cap];

			if (q->state != SLOT_QUEUED)
				continue;
			q->state = SLOT_BUSY;
			pthread_mutex_unlock(&p->lock);
			encode(p->own_codec, q);
			pthread_mutex_lock(&p->lock);
			q->state = SLOT_DONE;
		} else {
			pthread_cond_wait(&p->done, &p->lock);
		}
	}
	return p->err;
}

int fp_push(struct frame_pipe *p, const void *src, size_t len, uint64_t vaddr, uint32_t nr,
	    uint32_t flags)
{
	struct fp_slot *s;
	int ret;

	if ((!len && src) || len > p->max_len)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	ret = advance(p, false);
	if (ret)
		goto out_unlock;
	/* the tail slot is ours until tail moves: no worker looks at it */
	s = &p->ring[p->tail % p->cap];
	pthread_mutex_unlock(&p->lock);
	if (len)
		memcpy(s->src, src, len);
	s->f.vaddr = vaddr;
	s->f.nr = nr;
	s->f.flags = flags;
	s->f.len = len;
	s->f.n = 0;
	pthread_mutex_lock(&p->lock);
	s->state = len ? SLOT_QUEUED : SLOT_DONE;
	p->tail++;
	pthread_cond_signal(&p->work);
	/* hand on what is finished, so the files grow while the dump reads */
	while (!p->err && p->head < p->tail && p->ring[p->head % p->cap].state == SLOT_DONE) {
		struct fp_slot *h = &p->ring[p->head % p->cap];

		pthread_mutex_unlock(&p->lock);
		ret = h->f.n < 0 ? (int)h->f.n : p->emit(p->arg, &h->f);
		pthread_mutex_lock(&p->lock);
		if (ret)
			p->err = ret;
		p->head++;
	}
	ret = p->err;
out_unlock:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int fp_flush(struct frame_pipe *p)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = advance(p, true);
	pthread_mutex_unlock(&p->lock);
	return ret;
}
