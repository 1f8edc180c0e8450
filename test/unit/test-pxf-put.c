/* Pushing image files to a page server (PUT_FILE): files of several chunks arrive equal; names
 * that would leave the directory, chunks out of order and unknown flags are refused and close the
 * connection; a file whose last chunk never came never appears. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/unit.h"
#include "page-xfer.h"

static const uint8_t uuid[PGS_UUID_LEN] = "pushed-images-1";

struct server {
	int fd, dirfd;
	unsigned int files;
	uint8_t uuid[PGS_UUID_LEN];
	int ret;
	pthread_t th;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pxf_conn *c = NULL;

	s->ret = pxf_conn_create(&c, s->fd, 10000);
	if (!s->ret)
		s->ret = pxf_accept_hello_any(c, s->uuid);
	if (!s->ret)
		s->ret = pxf_serve_put(c, s->dirfd, &s->files);
	pxf_conn_free(c);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static struct pxf_conn *start(struct server *s, int dirfd, int *cfd)
{
	struct pxf_conn *c;
	int sv[2];

	memset(s, 0, sizeof(*s));
	UT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	s->fd = sv[0];
	s->dirfd = dirfd;
	UT_OK(pthread_create(&s->th, NULL, server_main, s));
	*cfd = sv[1];
	UT_OK(pxf_conn_create(&c, sv[1], 10000));
	UT_OK(pxf_hello(c, uuid));
	return c;
}

static void stop(struct server *s, struct pxf_conn *c, int cfd)
{
	pxf_conn_free(c);
	close(cfd);
	pthread_join(s->th, NULL);
	close(s->fd);
}

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	UT_NONNULL(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
	closedir(d);
	return n;
}

static void test_files_arrive(void)
{
	static const size_t sizes[] = {0, 1, 4096, PXF_MAX_PUT_DATA, 2 * PXF_MAX_PUT_DATA + 12345};
	char src[256], dst[256], name[64];
	int sdir = unit_mkdtemp(src, sizeof(src)), ddir = unit_mkdtemp(dst, sizeof(dst));
	struct server s;
	struct pxf_conn *c;
	size_t k;
	int cfd;

	c = start(&s, ddir, &cfd);
	UT_MEMEQ(s.uuid, uuid, PGS_UUID_LEN);
	for (k = 0; k < UNIT_ARRAY_SIZE(sizes); k++) {
		uint8_t *data = unit_xmalloc(sizes[k] + 1), *got = unit_xmalloc(sizes[k] + 1);
		int fd;

		unit_fill_random(data, sizes[k], k);
		snprintf(name, sizeof(name), "pages-%zu.img", k);
		fd = openat(sdir, name, O_RDWR | O_CREAT | O_TRUNC, 0600);
		UT_GE(fd, 0);
		UT_EQ(write(fd, data, sizes[k]), (ssize_t)sizes[k]);
		UT_OK(pxf_put_file(c, name, fd, sizes[k]));
		close(fd);
		fd = openat(ddir, name, O_RDONLY);
		UT_GE(fd, 0);
		UT_EQ(read(fd, got, sizes[k] + 1), (ssize_t)sizes[k]);
		UT_MEMEQ(got, data, sizes[k]);
		close(fd);
		free(data);
		free(got);
	}
	UT_ERR(pxf_put_file(c, "../escape.img", 0, 0), -EINVAL); /* refused before sending */
	stop(&s, c, cfd);
	UT_EQ(s.ret, 0);
	UT_EQ(s.files, UNIT_ARRAY_SIZE(sizes));
	UT_EQ(count_entries(dst), (int)UNIT_ARRAY_SIZE(sizes));
	close(sdir);
	close(ddir);
	unit_rmdir(src);
	unit_rmdir(dst);
}

/* A PUT_FILE built by hand: what a lying client can send. */
static void send_put(int fd, const char *name, uint32_t flags, uint64_t off, const void *data,
		     size_t len)
{
	uint8_t buf[PXF_HDR_SIZE + 16 + 300 + 64];
	size_t nlen = strlen(name), n = PXF_HDR_SIZE + 16 + nlen + len;
	uint32_t v;
	uint64_t q;

	UT_LE(n, sizeof(buf));
	v = PXF_MAGIC;
	memcpy(buf, &v, 4);
	v = PXF_PUT_FILE;
	memcpy(buf + 4, &v, 4);
	v = n - PXF_HDR_SIZE;
	memcpy(buf + 8, &v, 4);
	q = 5;
	memcpy(buf + 12, &q, 8);
	v = nlen;
	memcpy(buf + 20, &v, 4);
	memcpy(buf + 24, &flags, 4);
	memcpy(buf + 28, &off, 8);
	memcpy(buf + 36, name, nlen);
	memcpy(buf + 36 + nlen, data, len);
	UT_EQ(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* The next answer on fd: its type and, for ERROR, errno. */
static void recv_answer(int fd, uint32_t *type, uint32_t *err)
{
	uint8_t hdr[PXF_HDR_SIZE], body[512];
	uint32_t len;

	UT_EQ(recv(fd, hdr, sizeof(hdr), MSG_WAITALL), (ssize_t)sizeof(hdr));
	memcpy(type, hdr + 4, 4);
	*type &= 0xffff;
	memcpy(&len, hdr + 8, 4);
	UT_LE(len, sizeof(body));
	UT_EQ(recv(fd, body, len, MSG_WAITALL), (ssize_t)len);
	*err = 0;
	if (*type == PXF_ERROR)
		memcpy(err, body, 4);
}

static void test_hostile(void)
{
	static const struct {
		const char *what, *name;
		uint32_t flags;
		uint64_t off;
	} bad[] = {
	    {"parent dir", "../x.img", PXF_PUT_LAST, 0},
	    {"a path", "a/x.img", PXF_PUT_LAST, 0},
	    {"hidden", ".x.img", PXF_PUT_LAST, 0},
	    {"not an image", "x.txt", PXF_PUT_LAST, 0},
	    {"empty", "", PXF_PUT_LAST, 0},
	    {"unknown flags", "x.img", 6, 0},
	    {"a chunk of no file", "x.img", PXF_PUT_LAST, 4096},
	};
	char dst[256];
	int ddir = unit_mkdtemp(dst, sizeof(dst));
	size_t k;

	for (k = 0; k < UNIT_ARRAY_SIZE(bad); k++) {
		struct server s;
		struct pxf_conn *c;
		uint32_t type, err;
		int cfd;

		c = start(&s, ddir, &cfd);
		send_put(cfd, bad[k].name, bad[k].flags, bad[k].off, "data", 4);
		recv_answer(cfd, &type, &err);
		UT_EQ(type, PXF_ERROR);
		UT_EQ(err, EINVAL);
		stop(&s, c, cfd);
		UT_ERR(s.ret, -EBADMSG);
		unit_log("%s: refused", bad[k].what);
	}
	UT_EQ(count_entries(dst), 0);
	close(ddir);
	unit_rmdir(dst);
}

/* Chunks that skip, and a file whose last chunk never comes: neither leaves a file. */
static void test_unfinished(void)
{
	char dst[256];
	int ddir = unit_mkdtemp(dst, sizeof(dst));
	struct server s;
	struct pxf_conn *c;
	uint32_t type, err;
	int cfd;

	c = start(&s, ddir, &cfd);
	send_put(cfd, "pages-1.img", 0, 0, "abcd", 4);
	recv_answer(cfd, &type, &err);
	UT_EQ(type, PXF_PUT_OK);
	send_put(cfd, "pages-1.img", PXF_PUT_LAST, 8, "efgh", 4); /* skips 4 bytes */
	recv_answer(cfd, &type, &err);
	UT_EQ(type, PXF_ERROR);
	stop(&s, c, cfd);
	UT_EQ(count_entries(dst), 0);

	c = start(&s, ddir, &cfd);
	send_put(cfd, "pages-2.img", 0, 0, "abcd", 4);
	recv_answer(cfd, &type, &err);
	UT_EQ(type, PXF_PUT_OK);
	stop(&s, c, cfd); /* gone before the last chunk */
	UT_EQ(s.ret, 0);
	UT_EQ(s.files, 0);
	UT_EQ(count_entries(dst), 0);
	close(ddir);
	unit_rmdir(dst);
}

static const struct unit_test tests[] = {
    {"files of 0 to 3 chunks arrive equal", test_files_arrive, 0},
    {"names out of the dir, bad flags, stray chunks: refused", test_hostile, 0},
    {"a file never finished never appears", test_unfinished, 0},
};

UNIT_MAIN(tests)
