/* Image file framing: header + length-prefixed protobuf records (see img-file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <endian.h>

#include "img-file.h"

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static int check_header(struct img_file *f, uint32_t magic)
{
	if (f->size < IMG_HDR_SIZE) {
		f->off = 0;
		f->why = "file shorter than the image header";
		return -EBADMSG;
	}
	if (get_le32(f->buf) != magic) {
		f->off = 0;
		f->why = "wrong magic (not an image of this type)";
		return -EBADMSG;
	}
	if (get_le32(f->buf + 4) != IMG_FORMAT_VERSION) {
		f->off = 4;
		f->why = "unsupported image format version";
		return -EPROTO;
	}
	f->off = IMG_HDR_SIZE;
	return 0;
}

static int read_all(int fd, uint8_t **bufp, size_t *sizep)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			free(buf);
			return err;
		}
		if (n == 0)
			break;
		done += n;
	}
	*bufp = buf;
	*sizep = done;
	return 0;
}

int imgf_open_read(struct img_file *f, int dirfd, const char *name, uint32_t magic)
{
	int fd, ret;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->dirfd = dirfd;
	f->magic = magic;
	snprintf(f->name, sizeof(f->name), "%s", name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		f->why = "cannot open";
		return -errno;
	}
	ret = read_all(fd, &f->buf, &f->size);
	close(fd);
	if (ret) {
		f->why = "cannot read";
		return ret;
	}
	return check_header(f, magic);
}

int imgf_open_mem(struct img_file *f, const void *buf, size_t size, const char *name,
		  uint32_t magic)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->dirfd = -1;
	f->magic = magic;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->buf = malloc(size ? size : 1);
	if (!f->buf)
		return -ENOMEM;
	memcpy(f->buf, buf, size);
	f->size = size;
	return check_header(f, magic);
}

int imgf_next_raw(struct img_file *f, const uint8_t **data, uint32_t *len)
{
	uint32_t n;

	if (!f->buf)
		return -EBADF;
	if (f->off == f->size)
		return 0;
	if (f->size - f->off < 4) {
		f->why = "truncated record length";
		return -EBADMSG;
	}
	n = get_le32(f->buf + f->off);
	if (n > IMG_MAX_RECORD) {
		f->why = "record length too large";
		return -EBADMSG;
	}
	if (f->size - f->off - 4 < n) {
		f->why = "record runs past the end of the file (truncated)";
		return -EBADMSG;
	}
	*data = f->buf + f->off + 4;
	*len = n;
	f->off += 4 + (size_t)n;
	return 1;
}

int imgf_read_msg(struct img_file *f, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **msg)
{
	const uint8_t *data;
	size_t start = f->off;
	uint32_t len;
	int ret;

	ret = imgf_next_raw(f, &data, &len);
	if (ret <= 0)
		return ret;
	*msg = protobuf_c_message_unpack(desc, NULL, len, data);
	if (!*msg) {
		f->off = start;
		f->why = "record does not decode (corrupt, or a required field is missing)";
		return -EBADMSG;
	}
	return 1;
}

int imgf_read_one(struct img_file *f, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **msg)
{
	int ret = imgf_read_msg(f, desc, msg);

	if (ret == 0) {
		f->why = "expected record is missing (truncated)";
		return -EBADMSG;
	}
	return ret < 0 ? ret : 0;
}

int imgf_open_write(struct img_file *f, int dirfd, const char *name, uint32_t magic)
{
	char tmp[300];
	uint8_t hdr[IMG_HDR_SIZE];

	memset(f, 0, sizeof(*f));
	f->dirfd = dirfd;
	f->magic = magic;
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	f->fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f->fd < 0)
		return -errno;
	f->wcap = 64 << 10;
	f->wbuf = malloc(f->wcap);
	if (!f->wbuf) {
		imgf_close(f);
		return -ENOMEM;
	}
	put_le32(hdr, magic);
	put_le32(hdr + 4, IMG_FORMAT_VERSION);
	memcpy(f->wbuf, hdr, sizeof(hdr));
	f->wlen = sizeof(hdr);
	return 0;
}

static int flush_wbuf(struct img_file *f)
{
	size_t done = 0;

	while (done < f->wlen) {
		ssize_t n = write(f->fd, f->wbuf + done, f->wlen - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return f->werr = -errno;
		done += n;
	}
	f->wlen = 0;
	return 0;
}

int imgf_write_msg(struct img_file *f, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);

	if (f->werr)
		return f->werr;
	if (len > IMG_MAX_RECORD)
		return f->werr = -EFBIG;
	if (f->wlen + 4 + len > f->wcap) {
		if (flush_wbuf(f))
			return f->werr;
		if (4 + len > f->wcap) {
			uint8_t *nb = realloc(f->wbuf, 4 + len);

			if (!nb)
				return f->werr = -ENOMEM;
			f->wbuf = nb;
			f->wcap = 4 + len;
		}
	}
	put_le32(f->wbuf + f->wlen, len);
	protobuf_c_message_pack(msg, f->wbuf + f->wlen + 4);
	f->wlen += 4 + len;
	return 0;
}

int imgf_write_raw(struct img_file *f, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (f->werr)
		return f->werr;
	if (f->wlen + len <= f->wcap) {
		memcpy(f->wbuf + f->wlen, data, len);
		f->wlen += len;
		return 0;
	}
	if (flush_wbuf(f))
		return f->werr;
	if (len <= f->wcap) {
		memcpy(f->wbuf, data, len);
		f->wlen = len;
		return 0;
	}
	/* larger than the buffer: straight to the file */
	while (len) {
		ssize_t n = write(f->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return f->werr = -errno;
		p += n;
		len -= n;
	}
	return 0;
}

int imgf_commit(struct img_file *f)
{
	char tmp[300];

	if (f->werr)
		return f->werr;
	if (flush_wbuf(f))
		return f->werr;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", f->name);
	if (renameat(f->dirfd, tmp, f->dirfd, f->name))
		return f->werr = -errno;
	close(f->fd);
	f->fd = -1;
	free(f->wbuf);
	f->wbuf = NULL;
	f->wlen = f->wcap = 0;
	f->werr = -EINVAL; /* committed: a later write or commit is a caller's bug, not a crash */
	return 0;
}

void imgf_close(struct img_file *f)
{
	if (f->wbuf || (f->fd >= 0 && !f->buf && f->wcap)) {
		char tmp[300];

		snprintf(tmp, sizeof(tmp), ".%s.tmp", f->name);
		unlinkat(f->dirfd, tmp, 0);
	}
	if (f->fd >= 0 && f->wcap)
		close(f->fd);
	free(f->wbuf);
	free(f->buf);
	f->wbuf = NULL;
	f->buf = NULL;
	f->fd = -1;
}

int imgf_peek_magic(int dirfd, const char *name, uint32_t *magic, uint32_t *version)
{
	uint8_t hdr[IMG_HDR_SIZE];
	ssize_t n;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n < 0)
		return -errno;
	if (n < (ssize_t)sizeof(hdr))
		return -EBADMSG;
	*magic = get_le32(hdr);
	*version = get_le32(hdr + 4);
	return 0;
}
