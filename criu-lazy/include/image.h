/* Image files of an image directory: the table of types (name pattern + magic) and logging
 * wrappers around the framing in pagesrv/include/img-file.h. */
#ifndef CRL_IMAGE_H
#define CRL_IMAGE_H

#include "img-file.h"

enum img_type {
	IMG_INVENTORY,
	IMG_PSTREE,
	IMG_CORE,
	IMG_MM,
	IMG_FILES,
	IMG_FDINFO,
	IMG_FS,
	IMG_PAGEMAP, /* owned by pagesrv: listed so show and open_image know it */
	IMG_PAGES,
	IMG_LAZY_ORDER,
	IMG_NR,
};

struct img_type_desc {
	const char *fmt; /* file name, with %s for the id where there is one */
	uint32_t magic;
	const ProtobufCMessageDescriptor *desc; /* NULL: not a protobuf record file */
	const char *what;			/* for messages and show */
};

extern const struct img_type_desc img_types[IMG_NR];

/* The type of an image file by its magic, or -1. */
int img_type_by_magic(uint32_t magic);

/* Opens IMG type (id may be NULL for types without one) in dirfd for reading; logs a one-line
 * error naming the file on failure. Returns 0 or -errno. */
int open_image_read(struct img_file *f, int dirfd, enum img_type type, const char *id);
int open_image_write(struct img_file *f, int dirfd, enum img_type type, const char *id);

/* Reads exactly one record (logged error otherwise), or the next of several (1/0/-errno). */
int pb_read_one(struct img_file *f, void **msg);
int pb_read_next(struct img_file *f, void **msg);
int pb_write_one(struct img_file *f, const void *msg);
/* Commits a written image (logged error on failure). */
int image_commit(struct img_file *f);

#endif
