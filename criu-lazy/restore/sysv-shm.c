/* System V shared memory segments the tree had attached.
 *
 * The image knows a segment by its id (vma_entry.shmid), and vma_entry.sysv gives its key, size,
 * mode, owner and whether it was already removed (images without it: the key from the
 * "/SYSVkkkkkkkk" name, "(deleted)" for removed, the mapping's size). A segment
 * that still exists with that id and key is attached as it is. Otherwise it is made again with
 * the same id (kernel.shm_next_id), filled from pagemap-shmem-ID.img, and removed again once
 * every task has attached it, if it had been. Tasks attach it with an injected shmat() at their
 * old address.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "pagestore.h"
#include "restore.h"

struct rst_sysv {
	int id;
	bool remove;  /* it had been removed (IPC_RMID): again once all are attached */
	bool created; /* by us: a failed restore removes it */
};

static int set_next_id(int id)
{
	char buf[16];
	int fd, len, ret = 0;

	fd = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d", id);
	if (write(fd, buf, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

static int fill_segment(struct rst_tree *t, int id, size_t size)
{
	struct pgs_ctx *ctx;
	char name[64];
	char *mem;
	size_t i;
	int ret;

	snprintf(name, sizeof(name), "shmem-%d", id);
	ret = pgs_open_local(&ctx, t->dirfd, name, t->inv->dump_uuid.data);
	if (ret == -ENOENT)
		return 0; /* all zero */
	if (ret) {
		uint64_t off = 0;

		pr_err("pagemap-%s.img: %s\n", name, pgs_last_error(&off));
		return ret;
	}
	mem = shmat(id, NULL, 0);
	if (mem == (void *)-1) {
		ret = -errno;
		pr_perror("cannot attach SysV segment %d to fill it", id);
		pgs_close(ctx);
		return ret;
	}
	for (i = 0; i < pgs_nr_entries(ctx); i++) {
		const struct pgs_entry *e = pgs_entry(ctx, i);

		if (!(e->flags & PGS_PE_PRESENT))
			continue;
		if (e->vaddr + (uint64_t)e->nr_pages * PGS_PAGE_SIZE > size) {
			pr_err("pagemap-%s.img: pages past the segment's %zu bytes\n", name, size);
			ret = -EBADMSG;
			break;
		}
		ret = pgs_read_frame(ctx, i, mem + e->vaddr);
		if (ret) {
			pr_err("pages-%s.img: frame at %#" PRIx64 ": %s\n", name, e->vaddr,
			       ret == -EBADMSG ? "corrupt" : strerror(-ret));
			break;
		}
	}
	shmdt(mem);
	pgs_close(ctx);
	return ret;
}

/* Makes sure the segment of v exists. 0 or -errno. */
int rst_sysv_prepare(struct rst_tree *t, struct rst_task *tk, const VmaEntry *v)
{
	const SysvShmEntry *e = v->sysv;
	const char *name = v->name ? v->name : "";
	size_t size = v->end - v->start, i;
	unsigned int key = 0, mode = 0600;
	struct shmid_ds ds;
	struct rst_sysv *s;
	int id = (int)v->shmid, got, ret;
	bool removed = strstr(name, "(deleted)") != NULL;

	for (i = 0; i < t->nr_sysv; i++)
		if (t->sysv[i].id == id)
			return 0;
	if (e) {
		/* /proc/sysvipc/shm's word, when dump had it */
		key = (unsigned int)e->key;
		size = e->size;
		mode = e->mode & 0777;
		removed = e->mode & SHM_DEST;
	} else if (!v->has_shmid || sscanf(name, "/SYSV%8x", &key) != 1) {
		pr_err("%d: SysV mapping %#" PRIx64 " without its segment's id or key\n", tk->pid,
		       v->start);
		return -EBADMSG;
	}
	s = realloc(t->sysv, (t->nr_sysv + 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	t->sysv = s;
	if (!shmctl(id, IPC_STAT, &ds) && (unsigned int)ds.shm_perm.__key == key) {
		t->sysv[t->nr_sysv++] = (struct rst_sysv){.id = id};
		return 0;
	}
	ret = set_next_id(id);
	if (ret) {
		pr_errno(ret, "cannot ask for SysV id %d (kernel.shm_next_id)", id);
		return ret;
	}
	got = shmget(key ? (key_t)key : IPC_PRIVATE, size, IPC_CREAT | IPC_EXCL | mode);
	set_next_id(-1);
	if (got < 0) {
		ret = -errno;
		pr_perror("cannot make SysV segment %d (key %#x) again", id, key);
		return ret;
	}
	t->sysv[t->nr_sysv++] = (struct rst_sysv){.id = got, .remove = removed, .created = true};
	if (got != id) {
		pr_err("SysV segment %#x came back as %d, not %d\n", key, got, id);
		return -EEXIST;
	}
	if (e && !shmctl(id, IPC_STAT, &ds)) {
		ds.shm_perm.uid = e->uid;
		ds.shm_perm.gid = e->gid;
		if (shmctl(id, IPC_SET, &ds))
			pr_warn("SysV segment %d: cannot give it back to %u:%u: %s\n", id, e->uid,
				e->gid, strerror(errno));
	}
	return fill_segment(t, id, size);
}

/* Once every task attached them: segments that had been removed are removed again. On a failed
 * restore (abort), every segment we made goes. */
void rst_sysv_finish(struct rst_tree *t, bool abort)
{
	size_t i;

	for (i = 0; i < t->nr_sysv; i++)
		if (t->sysv[i].remove || (abort && t->sysv[i].created))
			shmctl(t->sysv[i].id, IPC_RMID, NULL);
	free(t->sysv);
	t->sysv = NULL;
	t->nr_sysv = 0;
}
