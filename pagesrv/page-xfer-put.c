/* page-xfer: pushing image files to a page server (see PXF_PUT_FILE in page-xfer.h). The server
 * trusts nothing: names are checked character by character (no path ever leaves its directory),
 * chunks must follow each other, and a file appears under its name only once it is whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "page-xfer-int.h"

static bool name_ok(const char *n, size_t len)
{
	size_t i;

	if (!len || len > PXF_MAX_NAME || n[0] == '.' || len < 5 || memcmp(n + len - 4, ".img", 4))
		return false;
	for (i = 0; i < len; i++) {
		char ch = n[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int pxf_put_file(struct pxf_conn *c, const char *name, int fd, uint64_t size)
{
	size_t nlen = strlen(name);
	uint64_t off = 0;
	struct pxf_msg m;
	int ret;

	if (!name_ok(name, nlen))
		return pxf_fail(c, -EINVAL, "%s: not a name a page server takes", name);
	do {
		size_t chunk = size - off > PXF_MAX_PUT_DATA ? PXF_MAX_PUT_DATA : size - off;
		uint64_t tag = c->next_tag++;
		uint8_t *p;
		ssize_t n;

		pxf_begin(c, PXF_PUT_FILE, 0, tag);
		pxf_put32(c, nlen);
		pxf_put32(c, off + chunk == size ? PXF_PUT_LAST : 0);
		pxf_put64(c, off);
		p = pxf_reserve(c, nlen + chunk);
		if (p) {
			memcpy(p, name, nlen);
			n = pread(fd, p + nlen, chunk, off);
			if (n != (ssize_t)chunk)
				return pxf_fail(c, n < 0 ? -errno : -EIO,
						"%s: cannot read %zu bytes at %llu", name, chunk,
						(unsigned long long)off);
		}
		ret = pxf_end(c);
		if (ret)
			return ret;
		ret = pxf_recv(c, &m, false);
		if (ret < 0)
			return ret;
		if (m.tag != tag)
			return pxf_fail(c, -EBADMSG, "answer for tag %llu, expected %llu",
					(unsigned long long)m.tag, (unsigned long long)tag);
		if (m.type == PXF_ERROR)
			return pxf_take_error(c, &m);
		if (m.type != PXF_PUT_OK || m.len != 8 || pxf_get64(m.p) != off + chunk)
			return pxf_fail(c, -EBADMSG, "%s: unexpected answer to a chunk", name);
		off += chunk;
	} while (off < size);
	return 0;
}

struct put_state {
	int dirfd;
	int fd; /* the file being received, under tmp */
	char name[PXF_MAX_NAME + 1];
	char tmp[PXF_MAX_NAME + 16];
	uint64_t next; /* offset the next chunk must have */
};

static void put_abort(struct put_state *st)
{
	if (st->fd < 0)
		return;
	close(st->fd);
	unlinkat(st->dirfd, st->tmp, 0);
	st->fd = -1;
}

/* One chunk. 0 (answered PUT_OK), a positive errno to send back, or -errno (the stream). */
static int put_chunk(struct pxf_conn *c, struct put_state *st, const struct pxf_msg *m,
		     unsigned int *files)
{
	uint32_t nlen, flags;
	uint64_t off;
	const char *name;
	size_t dlen;
	ssize_t n;

	if (m->len < 16)
		return EINVAL;
	nlen = pxf_get32(m->p);
	flags = pxf_get32(m->p + 4);
	off = pxf_get64(m->p + 8);
	if (nlen > m->len - 16 || (flags & ~PXF_PUT_LAST))
		return EINVAL;
	name = (const char *)m->p + 16;
	dlen = m->len - 16 - nlen;
	if (!name_ok(name, nlen) || dlen > PXF_MAX_PUT_DATA)
		return EINVAL;
	if (off == 0) { /* a new file: whatever came before it and was not finished is dropped */
		put_abort(st);
		memcpy(st->name, name, nlen);
		st->name[nlen] = 0;
		snprintf(st->tmp, sizeof(st->tmp), ".%s.part", st->name);
		st->fd = openat(st->dirfd, st->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (st->fd < 0)
			return errno;
		st->next = 0;
	} else if (st->fd < 0 || off != st->next || strlen(st->name) != nlen ||
		   memcmp(st->name, name, nlen)) {
		return EINVAL;
	}
	n = pwrite(st->fd, name + nlen, dlen, off);
	if (n != (ssize_t)dlen) {
		int err = n < 0 ? errno : ENOSPC;

		put_abort(st);
		return err;
	}
	st->next = off + dlen;
	if (flags & PXF_PUT_LAST) {
		if (fsync(st->fd) || renameat(st->dirfd, st->tmp, st->dirfd, st->name)) {
			int err = errno;

			put_abort(st);
			return err;
		}
		close(st->fd);
		st->fd = -1;
		(*files)++;
	}
	pxf_begin(c, PXF_PUT_OK, 0, m->tag);
	pxf_put64(c, st->next);
	return pxf_end(c);
}

int pxf_serve_put(struct pxf_conn *c, int dirfd, unsigned int *files)
{
	struct put_state st = {.dirfd = dirfd, .fd = -1};
	struct pxf_msg m;
	int ret;

	*files = 0;
	for (;;) {
		ret = pxf_recv(c, &m, true);
		if (ret <= 0)
			break;
		if (m.type != PXF_PUT_FILE) {
			pxf_send_error(c, m.tag, EINVAL, "this server only receives images");
			ret =
			    pxf_fail(c, -EBADMSG, "message type %u while receiving images", m.type);
			break;
		}
		ret = put_chunk(c, &st, &m, files);
		if (ret > 0) {
			char text[96];

			snprintf(text, sizeof(text), "cannot take this chunk: %s", strerror(ret));
			pxf_send_error(c, m.tag, ret, text);
			ret = pxf_fail(c, ret == EINVAL ? -EBADMSG : -ret, "%s", text);
			break;
		}
		if (ret < 0)
			break;
	}
	put_abort(&st); /* a file left unfinished never appears */
	return ret;
}
