/* show: any image file to readable text or to JSON. The protobuf records are walked through
 * their protobuf-c descriptors, so a field added to a .proto shows up without code here. */
#ifndef CRL_SHOW_H
#define CRL_SHOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

/* A growing output buffer: an image is rendered whole before any of it is printed, so a damaged
 * image prints one error line and nothing else. */
struct sbuf {
	char *buf;
	size_t len, cap;
	bool oom;
};

void sbuf_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_free(struct sbuf *s);

/* Why an image could not be shown, and the file offset where the damage is. */
struct show_err {
	char why[256];
	size_t off;
};

/* Renders the image held in data (size bytes, named name) as text or JSON into out. dirfd, when
 * not -1, is the image's directory: a pagemap is then checked against its pages file.
 * Returns 0, -EBADMSG / -EPROTO (damaged image: err says why and where) or -ENOMEM. */
int show_image_mem(const char *name, const uint8_t *data, size_t size, int dirfd, bool json,
		   struct sbuf *out, struct show_err *err);

/* ---- the generic protobuf-c walker (show-pb.c) ---- */

void show_pb_text(struct sbuf *s, const ProtobufCMessage *m, int indent);
void show_pb_json(struct sbuf *s, const ProtobufCMessage *m, int indent);
/* A JSON string literal for len bytes of str; invalid UTF-8 becomes U+FFFD. */
void show_json_str(struct sbuf *s, const char *str, size_t len);

/* Why len bytes at p do not unpack as d: fills why and the offset of the problem inside p, or
 * SHOW_PB_WHOLE when the message as a whole is wrong (a required field is missing).
 * Returns 0 when it found a reason, -ENOENT when the bytes look valid to it. */
#define SHOW_PB_WHOLE ((size_t)-1)
int show_pb_diagnose(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, size_t *bad,
		     char *why, size_t wlen);

#endif
