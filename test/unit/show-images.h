/* Images for the show tests, written with the real writers (img-file records, the page store),
 * and helpers to render them. Shared by test-show.c and test-show-damage.c. */
#ifndef TEST_SHOW_IMAGES_H
#define TEST_SHOW_IMAGES_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lib/unit.h"
#include "image.h"
#include "show.h"
#include "cmds.h"
#include "log.h"
#include "pagestore.h"
#include "inventory.pb-c.h"
#include "pstree.pb-c.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "files.pb-c.h"
#include "pagemap.pb-c.h"

#define FRAMES_END (8 + 2 * 10000 + 65536)
#define PG PGS_PAGE_SIZE

static const uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static inline void write_img(int dirfd, enum img_type type, const char *id,
			     const ProtobufCMessage **m, int n)
{
	struct img_file f;
	int i;

	UT_OK(open_image_write(&f, dirfd, type, id));
	for (i = 0; i < n; i++)
		UT_OK(pb_write_one(&f, m[i]));
	UT_OK(image_commit(&f));
	imgf_close(&f);
}

static inline void write_inventory(int dirfd)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	const ProtobufCMessage *m[] = {&inv.base};

	inv.img_version = 1;
	inv.dump_uuid.data = (uint8_t *)uuid;
	inv.dump_uuid.len = sizeof(uuid);
	inv.root_pid = 4242;
	inv.has_lazy_pages = 1;
	inv.lazy_pages = 1;
	/* a quote, a backslash, a tab, a control byte, UTF-8 and a stray byte: JSON must survive */
	inv.kernel = "6.18 \"q\" \\ \t\x01 \xc3\xa9 \xff end";
	write_img(dirfd, IMG_INVENTORY, NULL, m, 1);
}

static inline void write_pstree(int dirfd)
{
	PstreeEntry a = PSTREE_ENTRY__INIT, b = PSTREE_ENTRY__INIT;
	uint32_t ta[] = {100, 101, 102}, tb[] = {200};
	const ProtobufCMessage *m[] = {&a.base, &b.base};

	a.pid = a.pgid = a.sid = 100;
	a.n_threads = 3;
	a.threads = ta;
	b.pid = 200;
	b.ppid = 100;
	b.pgid = b.sid = 100;
	b.n_threads = 1;
	b.threads = tb;
	write_img(dirfd, IMG_PSTREE, NULL, m, 2);
}

static inline void write_core(int dirfd)
{
	CoreEntry core = CORE_ENTRY__INIT;
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	ThreadCoreEntry th = THREAD_CORE_ENTRY__INIT, *ths[] = {&th};
	UserX86RegsEntry regs = USER_X86_REGS_ENTRY__INIT;
	SaEntry sa1 = SA_ENTRY__INIT, sa2 = SA_ENTRY__INIT, *sas[] = {&sa1, &sa2};
	uint8_t xsave[600];
	const ProtobufCMessage *m[] = {&core.base};

	memset(xsave, 0xab, sizeof(xsave));
	tc.state = TASK_STATE__TASK_ALIVE;
	tc.comm = "sleep";
	tc.has_oom_score_adj = 1;
	tc.oom_score_adj = -17;
	tc.n_sigactions = 2;
	tc.sigactions = sas;
	sa1.sig = 2;
	sa1.handler = 0x401000;
	sa1.flags = 0x4000000;
	sa2.sig = 15;
	regs.ip = 0x7f0000001234;
	regs.sp = 0x7ffc00000000;
	th.tid = 100;
	th.regs = &regs;
	th.blk_sigset = 0x200;
	th.has_xsave = 1;
	th.xsave.data = xsave;
	th.xsave.len = sizeof(xsave);
	core.tc = &tc;
	core.n_threads = 1;
	core.threads = ths;
	write_img(dirfd, IMG_CORE, "100", m, 1);
}

static inline void write_mm(int dirfd)
{
	MmEntry mm = MM_ENTRY__INIT;
	VmaEntry v[3] = {VMA_ENTRY__INIT, VMA_ENTRY__INIT, VMA_ENTRY__INIT};
	VmaEntry *vp[] = {&v[0], &v[1], &v[2]};
	const ProtobufCMessage *m[] = {&mm.base};

	v[0].start = 0x400000;
	v[0].end = 0x401000;
	v[0].prot = 5;
	v[0].flags = 2;
	v[0].status = 0x81;
	v[0].name = "/usr/bin/sleep";
	v[1].start = 0x7f0000000000;
	v[1].end = 0x7f0000200000;
	v[1].prot = 3;
	v[1].flags = 0x22;
	v[1].status = 0x421;
	v[1].has_lazy = v[1].lazy = 1;
	v[1].name = "[heap]";
	v[2].start = 0x7ffc00000000;
	v[2].end = 0x7ffc00021000;
	v[2].prot = 3;
	v[2].flags = 0x122;
	v[2].status = 0x403;
	v[2].has_lazy = 1;
	v[2].lazy = 0;
	v[2].name = "[stack]";
	mm.mm_start_code = 0x400000;
	mm.n_vmas = 3;
	mm.vmas = vp;
	write_img(dirfd, IMG_MM, "100", m, 1);
}

static inline void write_files(int dirfd)
{
	FileEntry f1 = FILE_ENTRY__INIT, f2 = FILE_ENTRY__INIT;
	RegFileEntry reg = REG_FILE_ENTRY__INIT;
	PipeEntry pipe = PIPE_ENTRY__INIT;
	const ProtobufCMessage *m[] = {&f1.base, &f2.base};

	reg.path = "/tmp/log.txt";
	reg.flags = 02001;
	reg.pos = 77;
	reg.has_mode = 1;
	reg.mode = 0100644;
	f1.id = 1;
	f1.type = FD_TYPE__FD_REG;
	f1.reg = &reg;
	pipe.pipe_id = 9999;
	pipe.flags = 0;
	f2.id = 2;
	f2.type = FD_TYPE__FD_PIPE;
	f2.pipe = &pipe;
	write_img(dirfd, IMG_FILES, NULL, m, 2);
}

/* A pagemap made by hand, with every flag combination and frames that are not real; a pages file
 * of frames_end bytes only when frames_end is not 0 (for the size checks). */
static inline void write_pagemap(int dirfd, const char *id, uint64_t frames_end)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	PagemapEntry e[4] = {PAGEMAP_ENTRY__INIT, PAGEMAP_ENTRY__INIT, PAGEMAP_ENTRY__INIT,
			     PAGEMAP_ENTRY__INIT};
	const ProtobufCMessage *m[] = {&h.base, &e[0].base, &e[1].base, &e[2].base, &e[3].base};
	struct img_file f;
	char name[64];
	uint8_t *pad;
	int i;

	h.page_size = 4096;
	h.dump_uuid.data = (uint8_t *)uuid;
	h.dump_uuid.len = 16;
	h.owner = "pid 100";
	/* 16 eager pages in one frame, 32 lazy pages in two frames, 16 pages in the parent */
	e[0].vaddr = 0x400000;
	e[0].nr_pages = 16;
	e[0].flags = PGS_PE_PRESENT;
	e[1].vaddr = 0x7f0000000000;
	e[1].nr_pages = 16;
	e[1].flags = PGS_PE_PRESENT | PGS_PE_LAZY;
	e[2].vaddr = 0x7f0000010000;
	e[2].nr_pages = 16;
	e[2].flags = PGS_PE_PRESENT | PGS_PE_LAZY | PGS_PE_RAW;
	e[3].vaddr = 0x7f0000100000;
	e[3].nr_pages = 16;
	e[3].flags = PGS_PE_PARENT | PGS_PE_LAZY;
	for (i = 0; i < 3; i++) {
		e[i].has_off = e[i].has_len = e[i].has_csum = 1;
		e[i].off = 8 + i * 10000;
		e[i].len = i == 2 ? 65536 : 10000;
		e[i].csum = 0xdeadbeef;
	}
	write_img(dirfd, IMG_PAGEMAP, id, m, 5);
	if (!frames_end)
		return;

	snprintf(name, sizeof(name), "pages-%s.img", id);
	UT_OK(imgf_open_write(&f, dirfd, name, PGS_PAGES_MAGIC));
	imgf_close(&f);
	/* the frames are not decoded by show: only the file's length matters */
	i = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	UT_ASSERT(i >= 0);
	pad = calloc(1, frames_end);
	UT_NONNULL(pad);
	memcpy(pad, "\x31\x47\x50\x53\x01\x00\x00\x00", 8);
	UT_EQ(write(i, pad, frames_end), (ssize_t)frames_end);
	close(i);
	free(pad);
}

static inline void *read_file(int dirfd, const char *name, size_t *size)
{
	struct stat st;
	void *buf;
	int fd = openat(dirfd, name, O_RDONLY);

	UT_ASSERT(fd >= 0);
	UT_OK(fstat(fd, &st));
	buf = unit_xmalloc(st.st_size + 1);
	UT_EQ(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*size = st.st_size;
	return buf;
}

/* Renders name from dirfd; the text is returned NUL-terminated (free it). */
static inline char *render(int dirfd, const char *name, bool json)
{
	struct sbuf out = {0};
	struct show_err err;
	size_t size;
	uint8_t *data = read_file(dirfd, name, &size);
	int ret = show_image_mem(name, data, size, dirfd, json, &out, &err);

	free(data);
	if (ret)
		UT_FAIL("%s: %s at offset %zu (%s)", name, err.why, err.off, unit_errno_name(ret));
	sbuf_printf(&out, "%s", "");
	return out.buf;
}

static inline void expect(const char *text, const char *want)
{
	if (!strstr(text, want))
		UT_FAIL("missing \"%s\" in:\n%s", want, text);
}

/* Feeds text to python's json parser; 0 if it is valid JSON. */
static inline int json_valid(const char *text, size_t len)
{
	FILE *p = popen("/usr/bin/python3 -m json.tool > /dev/null 2>&1", "w");

	if (!p)
		return -1;
	fwrite(text, 1, len, p);
	return pclose(p);
}

/* Runs cmd_show with stdout and stderr in files; returns its result. */
static inline int run_show(struct crl_opts *o, const char *outp, const char *errp)
{
	int so = dup(1), se = dup(2), fo, fe, ret;

	fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	UT_ASSERT(fo >= 0 && fe >= 0);
	fflush(stdout);
	dup2(fo, 1);
	dup2(fe, 2);
	log_init(NULL, 2);
	o->cmd = CMD_SHOW;
	o->cmd_name = "show";
	ret = cmd_show(o);
	dup2(so, 1);
	dup2(se, 2);
	close(fo);
	close(fe);
	close(so);
	close(se);
	return ret;
}

static inline char *slurp(const char *path)
{
	size_t size;
	char *t = read_file(AT_FDCWD, path, &size);

	t[size] = '\0';
	return t;
}

static inline int try_show(const char *name, const uint8_t *data, size_t size, int dirfd, bool json,
			   struct show_err *err)
{
	struct sbuf out = {0};
	int ret = show_image_mem(name, data, size, dirfd, json, &out, err);

	sbuf_free(&out);
	return ret;
}

/* An image of magic/version holding one raw record. */
static inline uint8_t *raw_image(uint32_t magic, uint32_t version, const void *rec, uint32_t len,
				 size_t *size)
{
	uint8_t *p = unit_xmalloc(12 + len);

	memcpy(p, &magic, 4);
	memcpy(p + 4, &version, 4);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, rec, len);
	*size = 12 + len;
	return p;
}

/* Record boundaries of a well-formed image: offsets where a cut leaves whole records. */
static inline int boundaries(const uint8_t *d, size_t size, size_t *b, int max)
{
	size_t off = 8;
	uint32_t len;
	int n = 0;

	while (off < size && n < max) {
		memcpy(&len, d + off, 4);
		off += 4 + len;
		b[n++] = off;
	}
	return n;
}

/* Cuts the last byte off name in dirfd. */
static inline int truncateat_pages(int dirfd, const char *name)
{
	struct stat st;
	int fd = openat(dirfd, name, O_WRONLY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || ftruncate(fd, st.st_size - 1)) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

/* Writes pagemap-ID.img/pages-ID.img with pgs_writer: heap-like eager pages with a run of zero
 * pages inside, lazy heap-like pages, lazy random (incompressible) pages, and parent pages. */
static inline void write_pagestore(int dirfd, const char *id, struct pgs_stats *st, uint64_t *lazy)
{
	struct pgs_writer_opts wo = {
	    .level = 1, .frame_pages = 16, .uuid = uuid, .owner = "pid 200"};
	struct pgs_writer *w;
	uint8_t *buf = unit_xmalloc(64 * PG);

	UT_OK(pgs_writer_open(&w, dirfd, id, &wo));
	unit_fill_heaplike(buf, 64 * PG, 1);
	memset(buf + 20 * PG, 0, 8 * PG);
	UT_OK(pgs_writer_add(w, 0x10000000, 64, buf, 0));
	unit_fill_heaplike(buf, 48 * PG, 2);
	UT_OK(pgs_writer_add(w, 0x20000000, 48, buf, PGS_PE_LAZY));
	unit_fill_random(buf, 16 * PG, 3);
	UT_OK(pgs_writer_add(w, 0x20100000, 16, buf, PGS_PE_LAZY));
	UT_OK(pgs_writer_add_parent(w, 0x30000000, 32, PGS_PE_LAZY));
	UT_OK(pgs_writer_commit(w, st));
	pgs_writer_free(w);
	free(buf);
	*lazy = 48 + 16 + 32;
}

/* Every record image type, a hand-made pagemap (100) and a page store pair (200). */
static inline int make_images(char *dir, size_t len)
{
	int dirfd = unit_mkdtemp(dir, len);
	struct pgs_stats st;
	uint64_t lazy;

	write_inventory(dirfd);
	write_pstree(dirfd);
	write_core(dirfd);
	write_mm(dirfd);
	write_files(dirfd);
	write_pagemap(dirfd, "100", 0);
	write_pagestore(dirfd, "200", &st, &lazy);
	return dirfd;
}

#endif
