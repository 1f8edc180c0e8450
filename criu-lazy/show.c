/* show FILE | show -D DIR [--json]: decode image files for people and scripts (what CRIU's crit
 * does). Every image is rendered whole before it is printed: a damaged one prints a single error
 * line naming the file, the reason and the offset, and show exits non-zero. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "show: "
#include "log.h"
#include "cmds.h"
#include "show.h"

static int read_whole(int dirfd, const char *name, uint8_t **bufp, size_t *sizep)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	err = -EISDIR;
	if (S_ISDIR(st.st_mode))
		goto out_close;
	err = -ENOMEM;
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		goto out_close;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			free(buf);
			goto out_close;
		}
		if (n == 0)
			break;
		done += n;
	}
	*bufp = buf;
	*sizep = done;
	err = 0;
out_close:
	close(fd);
	return err;
}

static void write_out(const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= n;
	}
}

/* Renders one image into out. On failure logs the one error line and, for JSON, leaves an
 * object naming the error in out so that a directory listing stays valid JSON. */
static int show_one(int dirfd, const char *name, const char *shown, bool json, struct sbuf *out)
{
	struct show_err err;
	uint8_t *buf = NULL;
	size_t size = 0;
	int ret;

	ret = read_whole(dirfd, name, &buf, &size);
	if (ret) {
		pr_err("%s: %s\n", shown, strerror(-ret));
		snprintf(err.why, sizeof(err.why), "%s", strerror(-ret));
		err.off = 0;
	} else {
		ret = show_image_mem(shown, buf, size, dirfd, json, out, &err);
		free(buf);
		if (ret == -ENOMEM)
			snprintf(err.why, sizeof(err.why), "out of memory");
		if (ret)
			pr_err("%s: %s at offset %zu\n", shown, err.why, err.off);
	}
	if (ret) {
		out->len = 0;
		out->oom = false;
	}
	if (ret && json) {
		sbuf_printf(out, "{\"file\": ");
		show_json_str(out, shown, strlen(shown));
		sbuf_printf(out, ", \"error\": ");
		show_json_str(out, err.why, strlen(err.why));
		sbuf_printf(out, ", \"offset\": %zu}", err.off);
	}
	return ret;
}

static int img_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	/* ".name.tmp" files are images still being written */
	return de->d_name[0] != '.' && n > 4 && !strcmp(de->d_name + n - 4, ".img");
}

static int show_dir(const char *dir, bool json)
{
	struct dirent **list;
	struct sbuf out = {0};
	int dirfd, n, i, ret = 0;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		pr_perror("%s: cannot open the images directory", dir);
		return -errno;
	}
	n = scandir(dir, &list, img_filter, alphasort);
	if (n < 0) {
		pr_perror("%s: cannot list", dir);
		close(dirfd);
		return -EIO;
	}
	if (n == 0) {
		pr_err("%s: no image files (*.img) here\n", dir);
		ret = -ENOENT;
	}
	if (json && n) {
		sbuf_printf(&out, "{\"dir\": ");
		show_json_str(&out, dir, strlen(dir));
		sbuf_printf(&out, ", \"images\": [\n");
		write_out(out.buf, out.len);
	}
	for (i = 0; i < n; i++) {
		out.len = 0;
		if (show_one(dirfd, list[i]->d_name, list[i]->d_name, json, &out))
			ret = -EBADMSG;
		if (json)
			sbuf_printf(&out, "%s\n", i + 1 < n ? "," : "");
		else if (out.len && i + 1 < n)
			sbuf_printf(&out, "\n");
		write_out(out.buf, out.len);
		free(list[i]);
	}
	if (json && n)
		write_out("]}\n", 3);
	free(list);
	sbuf_free(&out);
	close(dirfd);
	return ret;
}

static int show_path(const char *path, bool json)
{
	char *d = strdup(path), *b = strdup(path);
	struct sbuf out = {0};
	struct stat st;
	int dirfd, ret;

	if (!d || !b) {
		free(d);
		free(b);
		return -ENOMEM;
	}
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		ret = show_dir(path, json);
		goto out_free;
	}
	dirfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		pr_err("%s: %s\n", path, strerror(-ret));
		goto out_free;
	}
	ret = show_one(dirfd, basename(b), path, json, &out);
	if (!ret) {
		sbuf_printf(&out, "%s", json ? "\n" : "");
		write_out(out.buf, out.len);
	}
	sbuf_free(&out);
	close(dirfd);
out_free:
	free(d);
	free(b);
	return ret;
}

int cmd_show(const struct crl_opts *o)
{
	if (o->show_file)
		return show_path(o->show_file, o->json);
	return show_dir(o->images_dir, o->json);
}
