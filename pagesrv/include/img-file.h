/* The on-disk framing shared by every image file: a header, then length-prefixed protobuf records.
 *
 *   u32 magic   (little endian, one per image type)
 *   u32 version (IMG_FORMAT_VERSION)
 *   repeated: u32 length, length bytes of a packed protobuf message
 *
 * Files are written under a temporary name and renamed into place on commit, so a failed dump never
 * leaves a half-written image behind. Reading takes the whole file into memory (image files are
 * metadata; page contents live in frames outside this framing). No logging here: functions return
 * 0 or -errno, and an error while reading leaves the offending offset and a reason in the handle.
 */
#ifndef PAGESRV_IMG_FILE_H
#define PAGESRV_IMG_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define IMG_FORMAT_VERSION 1
#define IMG_HDR_SIZE 8
#define IMG_MAX_RECORD (64u << 20)

struct img_file {
	int fd; /* writing: the temporary file */
	int dirfd;
	uint32_t magic;
	char name[256];
	/* reading */
	uint8_t *buf;
	size_t size;
	size_t off;	 /* where the next record starts, or where an error was found */
	const char *why; /* short reason for the last error */
	/* writing */
	uint8_t *wbuf;
	size_t wlen, wcap;
	int werr;
};

/* 0, or -ENOENT (no such file), -EBADMSG (wrong magic or short header: f->why says), -EPROTO
 * (unknown format version), -errno from the file system. */
int imgf_open_read(struct img_file *f, int dirfd, const char *name, uint32_t magic);

/* Reads from a buffer the caller keeps alive (the page server hands images over the wire). */
int imgf_open_mem(struct img_file *f, const void *buf, size_t size, const char *name,
		  uint32_t magic);

/* 1: a record was decoded into *msg (free with protobuf_c_message_free_unpacked), 0: clean end of
 * file, -EBADMSG: truncated or corrupt record at f->off (f->why says which). */
int imgf_read_msg(struct img_file *f, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **msg);

/* Like imgf_read_msg, but a missing record is an error: exactly one is expected. */
int imgf_read_one(struct img_file *f, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **msg);

/* The raw bytes of the next record without decoding it (for show on unknown types). Same returns.
 */
int imgf_next_raw(struct img_file *f, const uint8_t **data, uint32_t *len);

int imgf_open_write(struct img_file *f, int dirfd, const char *name, uint32_t magic);
int imgf_write_msg(struct img_file *f, const ProtobufCMessage *msg);
/* Appends len bytes without a record length, for files whose body is not records (pages-ID.img). */
int imgf_write_raw(struct img_file *f, const void *data, size_t len);
/* Flushes, fsyncs nothing (images are rewritten on the next dump anyway), renames into place. */
int imgf_commit(struct img_file *f);

/* Releases everything; a file opened for writing and not committed is removed. Accepts a zeroed f.
 */
void imgf_close(struct img_file *f);

/* Reads a magic without checking it: show uses it to pick the decoder. 0 or -errno. */
int imgf_peek_magic(int dirfd, const char *name, uint32_t *magic, uint32_t *version);

#endif
