/* dump --page-server --address A --port P: the page images (pagemap-ID.img, pages-ID.img) go to a
 * remote `page-server` (without --lazy-pages), which writes them into its directory; the other
 * images stay in -D DIR, as CRIU does. They are pushed once the image set is complete and before
 * the tree is let go, so a push that fails is a dump that fails (the tree runs on); each page
 * image leaves DIR only once the server has it whole. The page images pass through DIR first:
 * streaming frames straight from the page store writer is not done yet. pre-dump pushes the same
 * way, each round to a page-server of its own, and keeps its copy. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "log.h"
#include "dump.h"
#include "page-xfer.h"

#define PUSH_TIMEOUT_MS 30000

static bool is_page_image(const char *name)
{
	return !strncmp(name, "pagemap-", 8) || !strncmp(name, "pages-", 6);
}

int dump_push_pages(struct dump_ctx *d)
{
	const struct crl_opts *o = d->o;
	const char *addr = o->address ? o->address : "127.0.0.1";
	struct pxf_conn *c = NULL;
	unsigned long long bytes = 0;
	int fd = -1, i, ret, nr = 0;

	ret = pxf_tcp_connect(addr, o->port, PUSH_TIMEOUT_MS, &fd);
	if (ret) {
		pr_errno(ret, "cannot connect to the page server at %s port %d", addr, o->port);
		return ret;
	}
	ret = pxf_conn_create(&c, fd, PUSH_TIMEOUT_MS);
	if (!ret)
		ret = pxf_hello(c, d->uuid);
	if (ret) {
		pr_errno(ret, "the page server at %s port %d refused us (%s)", addr, o->port,
			 c ? pxf_last_error(c) : "no memory");
		goto out;
	}
	for (i = 0; i < d->nr_written; i++) {
		const char *name = d->written[i];
		struct stat st;
		int ifd;

		if (!is_page_image(name))
			continue;
		ifd = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (ifd < 0 || fstat(ifd, &st)) {
			ret = -errno;
			pr_perror("cannot read %s to push it", name);
			if (ifd >= 0)
				close(ifd);
			goto out;
		}
		ret = pxf_put_file(c, name, ifd, st.st_size);
		close(ifd);
		if (ret) {
			pr_errno(ret, "cannot push %s to %s port %d (%s)", name, addr, o->port,
				 pxf_last_error(c));
			goto out;
		}
		bytes += st.st_size;
		nr++;
	}
	/* all of them are there: only now do they leave here. A pre-dump keeps them: the next
	 * round reads which pages this one stored from them (--prev-images-dir). */
	for (i = 0; !d->pre && i < d->nr_written; i++)
		if (is_page_image(d->written[i]) && unlinkat(d->dirfd, d->written[i], 0))
			pr_warn("cannot remove %s after pushing it: %s\n", d->written[i],
				strerror(errno));
	pr_info("%d page images (%.1f MiB) pushed to %s port %d\n", nr, bytes / 1048576.0, addr,
		o->port);
out:
	pxf_conn_free(c);
	close(fd);
	return ret;
}
