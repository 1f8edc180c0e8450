/* page-xfer internals shared by the client and the server halves: the connection, bounded I/O,
 * message framing. */
#ifndef PAGESRV_PAGE_XFER_INT_H
#define PAGESRV_PAGE_XFER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "page-xfer.h"

struct pxf_conn {
	int fd;
	int timeout_ms;
	uint64_t next_tag;
	uint8_t *rbuf; /* payload of the last message received */
	size_t rcap, rlen;
	bool peer_error;  /* the last failure was an ERROR from the peer: the stream is in step */
	bool peer_closed; /* the last receive met the end of the stream (not a reset) */
	uint8_t *wbuf;	  /* the message being built */
	size_t wlen, wcap;
	struct pxf_item *items;
	size_t icap;
	struct frame_codec *codec; /* client: made on first decode */
	uint8_t *dbuf;		   /* client: one whole frame, for answers that cut one */
	char err[320];
};

struct pxf_msg {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint64_t tag;
	const uint8_t *p; /* len bytes, in c->rbuf */
};

int pxf_fail(struct pxf_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1: a message is in *m; 0: the peer closed between messages (only if allow_eof); <0: -errno. */
int pxf_recv(struct pxf_conn *c, struct pxf_msg *m, bool allow_eof);
/* pxf_recv for a server waiting on a request: a malformed one is answered with ERROR EINVAL
 * (its reason) before the caller closes. */
int pxf_recv_request(struct pxf_conn *c, struct pxf_msg *m);

/* Building a message in c->wbuf: begin, append, send. Appends fail only on -ENOMEM, which
 * pxf_end reports. */
void pxf_begin(struct pxf_conn *c, uint16_t type, uint16_t flags, uint64_t tag);
void *pxf_reserve(struct pxf_conn *c, size_t n); /* NULL on -ENOMEM */
void pxf_put32(struct pxf_conn *c, uint32_t v);
void pxf_put64(struct pxf_conn *c, uint64_t v);
size_t pxf_mark(const struct pxf_conn *c); /* offset for a later pxf_patch32 */
void pxf_patch32(struct pxf_conn *c, size_t at, uint32_t v);
void pxf_truncate(struct pxf_conn *c, size_t at); /* drops what was appended after mark at */
int pxf_end(struct pxf_conn *c);

uint32_t pxf_get32(const uint8_t *p);
uint64_t pxf_get64(const uint8_t *p);

/* The peer sent ERROR: its -errno, with its text in c->err. Malformed: -EBADMSG. */
int pxf_take_error(struct pxf_conn *c, const struct pxf_msg *m);

/* Checks and decodes items that answer (vaddr, nr_pages) into dst, as pxf_pages_decode; codec and
 * dbuf (PGS_MAX_FRAME_PAGES pages, for frames that stick out of the range) are the caller's. */
int pxf_decode_items(const struct pxf_item *items, size_t nr, uint64_t vaddr, uint32_t nr_pages,
		     void *dst, struct frame_codec *codec, uint8_t *dbuf, char *err, size_t errlen);

#endif
