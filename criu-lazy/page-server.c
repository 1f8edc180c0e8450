/* criu-lazy page-server -D DIR --port P [--address A] [--lazy-pages]. Without --lazy-pages it
 * receives the page images a remote `dump --page-server` pushes. With it, it serves an image
 * directory's pages to remote lazy restores (lazy-pages --page-server on the destination). Several
 * destinations may pull the same images at once; each connection has its own thread. Frames go
 * out as they are stored, checksums included: the client checks them. The server says it is ready
 * on --status-fd once it listens, and exits 0 when its clients are done (page-server.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "page-server: "
#include "cmds.h"
#include "image.h"
#include "inventory.pb-c.h"
#include "log.h"
#include "page-server.h"

static int dir_serve(void *arg, struct pxf_conn *c)
{
	return pxf_serve(c, pxf_store_dir_lookup, arg);
}

static int read_uuid(int dirfd, const char *dir, uint8_t *uuid)
{
	InventoryEntry *inv = NULL;
	struct img_file f = {0};
	int ret;

	ret = open_image_read(&f, dirfd, IMG_INVENTORY, NULL);
	if (ret) {
		pr_err("%s: no usable inventory.img: not an image directory\n", dir);
		return ret;
	}
	ret = pb_read_one(&f, (void **)&inv);
	if (!ret && inv->dump_uuid.len != PGS_UUID_LEN) {
		pr_err("inventory.img: the dump uuid has %zu bytes, not %d\n", inv->dump_uuid.len,
		       PGS_UUID_LEN);
		ret = -EBADMSG;
	}
	if (!ret && inv->lazy_pages) {
		pr_err(
		    "%s: its memory is served by the dump itself (dump --lazy-pages), not stored "
		    "here\n",
		    dir);
		ret = -EINVAL;
	}
	if (!ret)
		memcpy(uuid, inv->dump_uuid.data, PGS_UUID_LEN);
	if (inv)
		inventory_entry__free_unpacked(inv, NULL);
	imgf_close(&f);
	return ret;
}

int ps_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		pr_perror("cannot write the pid file %s", path);
		return -errno;
	}
	fprintf(f, "%d", getpid());
	if (fclose(f)) {
		pr_perror("cannot write the pid file %s", path);
		return -errno;
	}
	return 0;
}

void ps_say_ready(int fd)
{
	char zero = 0;

	if (fd < 0)
		return;
	if (write(fd, &zero, 1) != 1)
		pr_perror("cannot write to the status fd %d", fd);
	close(fd);
}

struct recv_dir {
	int dirfd;
	_Atomic unsigned int files;
};

static int recv_serve(void *arg, struct pxf_conn *c)
{
	struct recv_dir *rd = arg;
	unsigned int files = 0;
	int ret = pxf_serve_put(c, rd->dirfd, &files);

	atomic_fetch_add(&rd->files, files);
	return ret;
}

/* Without --lazy-pages: the images a remote `dump --page-server` pushes (its page images) are
 * written into DIR, each under its name once whole. */
static int receive_images(const struct crl_opts *o)
{
	struct ps_server srv = {.lfd = -1, .serve = recv_serve};
	struct recv_dir rd = {.dirfd = -1};
	int ret;

	if (mkdir(o->images_dir, 0755) && errno != EEXIST) {
		ret = -errno;
		pr_perror("cannot create %s", o->images_dir);
		return ret;
	}
	rd.dirfd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rd.dirfd < 0) {
		ret = -errno;
		pr_perror("cannot open the images dir %s", o->images_dir);
		return ret;
	}
	srv.lfd = ps_listen(o->address, o->port);
	if (srv.lfd < 0) {
		ret = srv.lfd;
		goto out;
	}
	srv.arg = &rd;
	srv.reconnect_s = o->lazy_timeout;
	if (o->pidfile) {
		ret = ps_write_pidfile(o->pidfile);
		if (ret)
			goto out;
	}
	pr_info("receiving images into %s on %s port %d\n", o->images_dir,
		o->address ? o->address : "127.0.0.1", o->port);
	ps_say_ready(o->status_fd);
	ret = ps_run(&srv);
	pr_info("%u files received, %llu connections, %llu ended with an error\n",
		atomic_load(&rd.files), (unsigned long long)srv.conns,
		(unsigned long long)srv.conn_errors);
	if (!ret && srv.conn_errors) {
		pr_err("a dump did not push all its images\n");
		ret = -EIO;
	}
out:
	if (srv.lfd >= 0)
		close(srv.lfd);
	close(rd.dirfd);
	return ret;
}

int cmd_page_server(const struct crl_opts *o)
{
	struct ps_server srv = {.lfd = -1, .serve = dir_serve};
	struct pxf_store_dir *sd = NULL;
	uint8_t uuid[PGS_UUID_LEN];
	int dirfd, ret;

	if (!o->lazy_pages)
		return receive_images(o);
	dirfd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		pr_perror("cannot open the images dir %s", o->images_dir);
		return ret;
	}
	ret = read_uuid(dirfd, o->images_dir, uuid);
	if (ret)
		goto out_close;
	ret = pxf_store_dir_open(&sd, dirfd, uuid);
	if (ret) {
		pr_errno(ret, "cannot serve %s", o->images_dir);
		goto out_close;
	}
	srv.lfd = ps_listen(o->address, o->port);
	if (srv.lfd < 0) {
		ret = srv.lfd;
		goto out_close;
	}
	srv.uuid = uuid;
	srv.arg = sd;
	srv.reconnect_s = o->lazy_timeout;
	if (o->pidfile) {
		ret = ps_write_pidfile(o->pidfile);
		if (ret)
			goto out_close;
	}
	pr_info("serving %s on %s port %d\n", o->images_dir, o->address ? o->address : "127.0.0.1",
		o->port);
	ps_say_ready(o->status_fd);
	ret = ps_run(&srv);
	pr_info("%llu connections, %llu passed the hello, %llu ended with an error\n",
		(unsigned long long)srv.conns, (unsigned long long)srv.clients,
		(unsigned long long)srv.conn_errors);
out_close:
	if (srv.lfd >= 0)
		close(srv.lfd);
	pxf_store_dir_close(sd);
	close(dirfd);
	return ret;
}
