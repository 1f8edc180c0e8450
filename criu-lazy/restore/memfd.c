/* memfd objects: made once per object (its shmid) here in the restorer, with their size and
 * contents (pagemap-shmem-SHMID.img, addressed by file offset), sealed once every task is built.
 * Fds get their own description of the object through /proc/self/fd; tasks map it by opening
 * /proc/OUR_PID/fd/N from inside, so the mapping and the fds are one object as before. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "pagestore.h"
#include "restore.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif

static struct rst_memfd *find_memfd(struct rst_tree *t, uint64_t shmid)
{
	size_t i;

	for (i = 0; i < t->nr_memfds; i++)
		if (t->memfds[i].shmid == shmid)
			return &t->memfds[i];
	return NULL;
}

/* "/memfd:NAME (deleted)" -> NAME */
static void memfd_name(const char *path, char *name, size_t len)
{
	const char *p = strncmp(path, "/memfd:", 7) ? path : path + 7;
	const char *end = strstr(p, " (deleted)");
	size_t n = end ? (size_t)(end - p) : strlen(p);

	if (n >= len)
		n = len - 1;
	memcpy(name, p, n);
	name[n] = 0;
}

static int fill_memfd(struct rst_tree *t, int fd, uint64_t shmid)
{
	struct pgs_ctx *ctx;
	char id[64];
	void *buf;
	size_t i;
	int ret;

	snprintf(id, sizeof(id), "shmem-%" PRIu64, shmid);
	ret = pgs_open_local(&ctx, t->dirfd, id, t->inv->dump_uuid.data);
	if (ret == -ENOENT)
		return 0; /* nothing but zeroes in it */
	if (ret) {
		uint64_t off = 0;

		pr_err("pagemap-%s.img: %s\n", id, pgs_last_error(&off));
		return ret;
	}
	buf = malloc(PGS_MAX_FRAME_PAGES * PGS_PAGE_SIZE);
	if (!buf) {
		pgs_close(ctx);
		return -ENOMEM;
	}
	for (i = 0; i < pgs_nr_entries(ctx); i++) {
		const struct pgs_entry *e = pgs_entry(ctx, i);
		size_t len = (size_t)e->nr_pages * PGS_PAGE_SIZE;

		if (!(e->flags & PGS_PE_PRESENT))
			continue;
		ret = pgs_read_frame(ctx, i, buf);
		if (ret) {
			pr_err("pages-%s.img: frame at %#" PRIx64 ": %s\n", id, e->vaddr,
			       ret == -EBADMSG ? "corrupt" : strerror(-ret));
			break;
		}
		if (pwrite(fd, buf, len, (off_t)e->vaddr) != (ssize_t)len) {
			ret = -errno;
			pr_perror("cannot fill memfd %s", id);
			break;
		}
	}
	free(buf);
	pgs_close(ctx);
	return ret;
}

/* The object of shmid, made on first use from what fe (an fd's or a mapping's file) says. */
int rst_memfd_get(struct rst_tree *t, uint64_t shmid, const RegFileEntry *r)
{
	struct rst_memfd *m = find_memfd(t, shmid), *n;
	char name[256];
	int fd, ret;

	if (m)
		return m->fd;
	memfd_name(r->path, name, sizeof(name));
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		pr_perror("memfd_create(%s)", name);
		return -errno;
	}
	if (r->has_size && ftruncate(fd, r->size)) {
		ret = -errno;
		pr_perror("memfd %s: cannot size it to %" PRIu64, name, r->size);
		goto err;
	}
	ret = fill_memfd(t, fd, shmid);
	if (ret)
		goto err;
	n = realloc(t->memfds, (t->nr_memfds + 1) * sizeof(*n));
	if (!n) {
		ret = -ENOMEM;
		goto err;
	}
	t->memfds = n;
	t->memfds[t->nr_memfds++] = (struct rst_memfd){.shmid = shmid, .fd = fd};
	return fd;
err:
	close(fd);
	return ret;
}

/* Seals are set last: F_SEAL_WRITE would refuse the writable mappings still to be made. */
void rst_memfd_set_seals(struct rst_tree *t, const FileEntry *fe)
{
	struct rst_memfd *m;

	if (fe->type != FD_TYPE__FD_MEMFD || !fe->reg->has_seals || !fe->reg->seals)
		return;
	m = find_memfd(t, fe->reg->shmid);
	if (m && fcntl(m->fd, F_ADD_SEALS, fe->reg->seals))
		pr_warn("memfd %s: cannot seal it (%#x): %s\n", fe->reg->path, fe->reg->seals,
			strerror(errno));
}

/* A description of its own for an fd of the object. */
int rst_open_memfd(struct rst_tree *t, const FileEntry *fe)
{
	const RegFileEntry *r = fe->reg;
	char path[64];
	int obj, fd;

	if (!r->has_shmid) {
		pr_err("file %u: memfd without its object id\n", fe->id);
		return -EBADMSG;
	}
	obj = rst_memfd_get(t, r->shmid, r);
	if (obj < 0)
		return obj;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", obj);
	fd = open(path, (r->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (fd < 0) {
		pr_perror("file %u: cannot reopen memfd %s", fe->id, r->path);
		return -errno;
	}
	if (r->pos && lseek(fd, r->pos, SEEK_SET) < 0)
		pr_warn("file %u: cannot seek memfd to %" PRIu64 "\n", fe->id, r->pos);
	return fd;
}

void rst_memfd_close(struct rst_tree *t)
{
	size_t i;

	for (i = 0; i < t->nr_files; i++)
		rst_memfd_set_seals(t, t->files[i]);
	for (i = 0; i < t->nr_memfds; i++)
		close(t->memfds[i].fd);
	free(t->memfds);
	t->memfds = NULL;
	t->nr_memfds = 0;
}
