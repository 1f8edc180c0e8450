/* criu-lazy dump: freeze the tree, write its images, then kill it (or leave it running/stopped).
 * A failed dump lets the tree go exactly as it was and removes every image it wrote. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "log.h"
#include "cmds.h"
#include "image.h"
#include "version.h"
#include "dump.h"
#include "sk.h"

#include "inventory.pb-c.h"
#include "pstree.pb-c.h"

#define INVENTORY_VERSION IMG_FORMAT_VERSION

int dump_note_written(struct dump_ctx *d, const char *fmt, const char *id)
{
	char name[256], **n;

	snprintf(name, sizeof(name), fmt, id ? id : "");
	if (d->nr_written == d->cap_written) {
		int cap = d->cap_written ? d->cap_written * 2 : 32;

		n = realloc(d->written, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		d->written = n;
		d->cap_written = cap;
	}
	d->written[d->nr_written] = strdup(name);
	if (!d->written[d->nr_written])
		return -ENOMEM;
	d->nr_written++;
	return 0;
}

bool dump_shm_seen(struct dump_ctx *d, uint64_t shmid)
{
	uint64_t *n;
	int i;

	for (i = 0; i < d->nr_shm_done; i++)
		if (d->shm_done[i] == shmid)
			return true;
	if (d->nr_shm_done == d->cap_shm_done) {
		int cap = d->cap_shm_done ? d->cap_shm_done * 2 : 16;

		n = realloc(d->shm_done, cap * sizeof(*n));
		if (!n)
			return false; /* dumped twice at worst */
		d->shm_done = n;
		d->cap_shm_done = cap;
	}
	d->shm_done[d->nr_shm_done++] = shmid;
	return false;
}

static void remove_written(struct dump_ctx *d)
{
	int i;

	for (i = 0; i < d->nr_written; i++)
		if (unlinkat(d->dirfd, d->written[i], 0) && errno != ENOENT)
			pr_perror("cannot remove %s", d->written[i]);
}

static int write_pstree(struct dump_ctx *d)
{
	struct img_file f = {};
	int i, j, ret;

	ret = open_image_write(&f, d->dirfd, IMG_PSTREE, NULL);
	for (i = 0; i < d->nr_tasks && !ret; i++) {
		struct dump_task *t = &d->tasks[i];
		PstreeEntry e = PSTREE_ENTRY__INIT;
		uint32_t tids[t->nr_threads];

		e.pid = t->pid;
		e.ppid = t->parent < 0 ? 0 : t->ppid;
		e.pgid = t->pgid;
		e.sid = t->sid;
		for (j = 0; j < t->nr_threads; j++)
			tids[j] = t->threads[j].tid;
		e.n_threads = t->nr_threads;
		e.threads = tids;
		ret = pb_write_one(&f, &e);
	}
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	return ret ? ret : dump_note_written(d, "pstree.img", NULL);
}

static int write_inventory(struct dump_ctx *d)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	struct img_file f = {};
	struct utsname u;
	int ret;

	inv.img_version = INVENTORY_VERSION;
	inv.dump_uuid.data = d->uuid;
	inv.dump_uuid.len = sizeof(d->uuid);
	inv.root_pid = d->tasks[0].pid;
	inv.tool_version = (char *)CRL_VERSION;
	if (!uname(&u))
		inv.kernel = u.release;
	inv.has_dump_time_ns = inv.has_frozen_ns = true;
	inv.dump_time_ns = d->frozen_real_ns;
	inv.frozen_ns = d->frozen_ns;
	inv.has_page_size = true;
	inv.page_size = PGS_PAGE_SIZE;
	inv.has_shell_job = true;
	inv.shell_job = d->o->shell_job;
	inv.has_lazy_pages = true;
	inv.lazy_pages = d->lazy != NULL;
	inv.parent_dir = (char *)d->o->prev_images_dir;

	ret = open_image_write(&f, d->dirfd, IMG_INVENTORY, NULL);
	if (!ret)
		ret = pb_write_one(&f, &inv);
	if (!ret)
		ret = image_commit(&f);
	imgf_close(&f);
	return ret ? ret : dump_note_written(d, "inventory.img", NULL);
}

/* pre-dump runs nothing in the task: brk as far as the heap goes */
static unsigned long heap_end(const struct dump_task *t)
{
	int i;

	for (i = 0; i < t->nr_vmas; i++)
		if (!strcmp(t->vmas[i].name, "[heap]"))
			return t->vmas[i].end;
	return t->st.start_brk;
}

static uint64_t now_ns(void);

static int dump_one(struct dump_ctx *d, struct dump_task *t)
{
	unsigned long brk = 0;
	uint64_t t0, t1, t2;
	int ret;

	if (d->pre) {
		if (t->state == 'Z')
			return 0;
		ret = proc_parse_smaps(t->pid, &t->vmas, &t->nr_vmas);
		return ret ? ret : dump_task_mm(d, t, heap_end(t));
	}

	if (t->state != 'Z') {
		ret = proc_parse_smaps(t->pid, &t->vmas, &t->nr_vmas);
		if (ret) {
			pr_errno(ret, "process %d: cannot read its mappings", t->pid);
			return ret;
		}
	}
	t0 = now_ns();
	ret = dump_task_core(d, t, &brk);
	if (ret || t->state == 'Z')
		return ret;
	t1 = now_ns();
	ret = dump_task_mm(d, t, brk);
	if (ret)
		return ret;
	t2 = now_ns();
	ret = dump_task_files(d, t);
	pr_debug("process %d: core %.2f ms, memory %.2f ms, files %.2f ms\n", t->pid,
		 (t1 - t0) / 1e6, (t2 - t1) / 1e6, (now_ns() - t2) / 1e6);
	return ret;
}

/* A dump that failed because a task died says so. */
static void report_gone(struct dump_ctx *d)
{
	int i;

	for (i = 0; i < d->nr_tasks; i++)
		if (d->tasks[i].state != 'Z' && d->tasks[i].nr_threads &&
		    d->tasks[i].threads[0].seized && dump_task_gone(d->tasks[i].pid))
			pr_err("process %d (%s) exited during the dump\n", d->tasks[i].pid,
			       d->tasks[i].st.comm);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void free_ctx(struct dump_ctx *d)
{
	int i;

	for (i = 0; i < d->nr_tasks; i++) {
		dump_track_free(&d->tasks[i].track);
		free(d->tasks[i].threads);
		proc_vmas_free(d->tasks[i].vmas, d->tasks[i].nr_vmas);
	}
	free(d->tasks);
	dump_tcp_release(false); /* the tree is gone or runs on: see sk-tcp.c */
	dump_files_free(d);
	for (i = 0; i < d->nr_written; i++)
		free(d->written[i]);
	free(d->written);
	free(d->shm_done);
	dump_lazy_free(d);
	if (d->dirfd >= 0)
		close(d->dirfd);
	if (d->parent_dirfd >= 0)
		close(d->parent_dirfd);
}

static void print_stats(const struct dump_ctx *d, uint64_t t0, uint64_t t_frozen, uint64_t t1)
{
	const struct pgs_stats *s = &d->stats;
	double ratio = s->bytes_raw ? (double)s->bytes_stored / s->bytes_raw : 0;

	pr_msg("%s: %d process(es), %lu pages seen, %lu stored, %lu zero, %lu in the parent set, "
	       "%.1f MiB -> %.1f MiB (ratio %.3f), frozen %.1f ms after start, images in %.1f ms\n",
	       d->pre ? "pre-dump" : "dump", d->nr_tasks, (unsigned long)s->pages_seen,
	       (unsigned long)s->pages_stored, (unsigned long)s->pages_zero,
	       (unsigned long)s->pages_parent, s->bytes_raw / 1048576.0,
	       s->bytes_stored / 1048576.0, ratio, (t_frozen - t0) / 1e6, (t1 - t_frozen) / 1e6);
}

int cmd_dump(const struct crl_opts *o)
{
	return dump_run(o, false);
}

int dump_run(const struct crl_opts *o, bool pre)
{
	struct dump_ctx d = {.o = o, .dirfd = -1, .parent_dirfd = -1, .pre = pre};
	uint64_t t0 = now_ns(), t_frozen, t1;
	int lfd = -1, i, ret;

	if (o->page_server && o->lazy_pages) {
		pr_err(
		    "dump: --page-server with --lazy-pages is not implemented yet in this version "
		    "of criu-lazy\n");
		return -ENOSYS;
	}
	if (mkdir(o->images_dir, 0755) && errno != EEXIST) {
		pr_perror("cannot create %s", o->images_dir);
		return -errno;
	}
	d.dirfd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d.dirfd < 0) {
		ret = -errno;
		pr_perror("cannot open the images directory %s", o->images_dir);
		return ret;
	}
	if (getrandom(d.uuid, sizeof(d.uuid), 0) != sizeof(d.uuid)) {
		ret = -errno;
		pr_perror("getrandom");
		goto out;
	}

	d.survives = pre || o->leave_running || o->leave_stopped;
	if (pre && o->lazy_pages) {
		pr_err("pre-dump: --lazy-pages does not apply\n");
		ret = -EINVAL;
		goto out;
	}
	ret = dump_track_open_parent(&d);
	if (ret)
		goto out;
	if (o->lazy_pages) {
		lfd = dump_lazy_listen(o);
		if (lfd < 0) {
			ret = lfd;
			goto out;
		}
		ret = dump_lazy_init(&d);
		if (ret)
			goto out;
	}
	ret = crl_notify(o, "pre-dump", o->tree_pid);
	if (!ret)
		ret = dump_ns_check(o->tree_pid);
	if (!ret)
		ret = dump_seize_tree(&d);
	t_frozen = now_ns();
	if (!ret && !pre)
		ret = dump_sk_precheck(&d); /* refusals before minutes of memory */
	for (i = 0; !ret && i < d.nr_tasks; i++)
		ret = dump_one(&d, &d.tasks[i]);
	if (!ret && !pre)
		ret = dump_sk_check_peers(&d);
	if (!ret)
		ret = dump_write_files(&d);
	if (!ret && !pre)
		ret = write_pstree(&d);
	if (!ret)
		ret = write_inventory(&d); /* last: its presence says the set is complete */
	if (!ret && o->page_server)
		ret = dump_push_pages(&d);
	if (!ret)
		ret = crl_notify(o, "post-dump", o->tree_pid);
	if (ret) {
		report_gone(&d);
		for (i = 0; i < d.nr_tasks; i++)
			if (d.tasks[i].track.created) /* as it was: no uffd of ours left in it */
				dump_track_disarm(&d.tasks[i]);
		remove_written(&d);
		dump_release_tree(&d, false, false);
		if (d.nr_tasks)
			pr_err("dump of %d failed; the tree is left running\n", o->tree_pid);
		goto out;
	}
	t1 = now_ns();
	pr_info("dump of %d finished\n", o->tree_pid);
	if (o->display_stats)
		print_stats(&d, t0, t_frozen, t1);
	if (d.lazy && !d.survives)
		dump_tcp_release(true); /* a destination here rebuilds the same connections */
	if (d.lazy)
		ret = dump_lazy_serve(&d, lfd); /* says ready, lets the tree go */
	else
		ret = dump_release_tree(&d, !d.survives, o->leave_stopped && !pre);
out:
	if (lfd >= 0)
		close(lfd);
	free_ctx(&d);
	return ret < 0 ? ret : 0;
}
