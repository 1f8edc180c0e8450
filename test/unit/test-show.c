/* show: images written with the real writers come back with the values that went in, as text and
 * as valid JSON; every kind of damage gives an error with the right offset, never a crash. */
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

static const uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static void write_img(int dirfd, enum img_type type, const char *id, const ProtobufCMessage **m,
		      int n)
{
	struct img_file f;
	int i;

	UT_OK(open_image_write(&f, dirfd, type, id));
	for (i = 0; i < n; i++)
		UT_OK(pb_write_one(&f, m[i]));
	UT_OK(image_commit(&f));
	imgf_close(&f);
}

static void write_inventory(int dirfd)
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

static void write_pstree(int dirfd)
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

static void write_core(int dirfd)
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

static void write_mm(int dirfd)
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

static void write_files(int dirfd)
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

/* A pagemap written the way the page store writes one: a head, then sorted entries; and a pages
 * file whose size covers the frames. */
static void write_pagemap(int dirfd, const char *id, uint64_t frames_end)
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

#define FRAMES_END (8 + 2 * 10000 + 65536)

static int make_images(char *dir, size_t len)
{
	int dirfd = unit_mkdtemp(dir, len);

	write_inventory(dirfd);
	write_pstree(dirfd);
	write_core(dirfd);
	write_mm(dirfd);
	write_files(dirfd);
	write_pagemap(dirfd, "100", FRAMES_END);
	return dirfd;
}

static void *read_file(int dirfd, const char *name, size_t *size)
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
static char *render(int dirfd, const char *name, bool json)
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

static void expect(const char *text, const char *want)
{
	if (!strstr(text, want))
		UT_FAIL("missing \"%s\" in:\n%s", want, text);
}

static void test_text_values(void)
{
	char dir[256], *t;
	int dirfd = make_images(dir, sizeof(dir));

	t = render(dirfd, "inventory.img", false);
	expect(t, "inventory image (inventory), magic 0x49564e31, version 1");
	expect(t, "root_pid: 4242");
	expect(t, "dump_uuid: 00112233445566778899aabbccddeeff\n");
	expect(t, "lazy_pages: true");
	free(t);

	t = render(dirfd, "pstree.img", false);
	expect(t, "[0] pstree_entry\n  pid: 100\n  ppid: 0");
	expect(t, "threads: [100, 101, 102]");
	expect(t, "[1] pstree_entry\n  pid: 200\n  ppid: 100");
	free(t);

	t = render(dirfd, "core-100.img", false);
	expect(t, "state: TASK_ALIVE");
	expect(t, "comm: \"sleep\"");
	expect(t, "oom_score_adj: -17");
	expect(t, "sigactions[1]:\n      sig: 15");
	expect(t, "handler: 0x401000");
	expect(t, "ip: 0x7f0000001234");
	expect(t, "blk_sigset: 0x200");
	/* bytes are cut after 32, with the full length */
	expect(t, "xsave: abababababababababababababababababababababababababababababababab... "
		  "(600 bytes)");
	free(t);

	t = render(dirfd, "mm-100.img", false);
	expect(t, "vmas[1]:\n    start: 0x7f0000000000");
	expect(t, "prot: 0x3 (READ|WRITE)");
	expect(t, "flags: 0x22 (PRIVATE|ANONYMOUS)");
	expect(t, "status: 0x421 (VMA_AREA_REGULAR|VMA_AREA_HEAP|VMA_ANON_PRIVATE)");
	expect(t, "summary: 3 vmas; lazy: 1 (2.0 MiB), eager: 2 (136.0 KiB)");
	expect(t, "  lazy  7f0000000000-7f0000200000    2.0 MiB [heap]");
	expect(t, "  eager 7ffc00000000-7ffc00021000  132.0 KiB [stack]");
	free(t);

	t = render(dirfd, "files.img", false);
	expect(t, "type: FD_REG");
	expect(
	    t,
	    "reg:\n    path: \"/tmp/log.txt\"\n    flags: 0x401\n    pos: 77\n    mode: 0100644");
	expect(t, "type: FD_PIPE");
	free(t);

	t = render(dirfd, "pagemap-100.img", false);
	expect(t, "[0] pagemap_head\n  page_size: 4096");
	expect(t, "flags: 0x3 (PE_PRESENT|PE_LAZY)");
	expect(t, "flags: 0xb (PE_PRESENT|PE_LAZY|PE_RAW)");
	expect(t, "summary: 4 entries; pages: 48 present, 48 lazy, 16 in parent");
	/* 85536 stored bytes for 48 pages (196608 bytes): ratio 0.435 */
	expect(t, "frames: 3 (1 stored raw), 83.5 KiB stored for 192.0 KiB of pages, ratio 0.435");
	expect(t, "pages-100.img: 85544 bytes");
	free(t);

	t = render(dirfd, "pages-100.img", false);
	expect(t, "85536 bytes of page frames after the header");
	free(t);
	unit_rmdir(dir);
}

/* Feeds text to python's json parser; 0 if it is valid JSON. */
static int json_valid(const char *text, size_t len)
{
	FILE *p = popen("/usr/bin/python3 -m json.tool > /dev/null 2>&1", "w");

	if (!p)
		return -1;
	fwrite(text, 1, len, p);
	return pclose(p);
}

static void test_json_valid(void)
{
	static const char *const names[] = {"inventory.img", "pstree.img", "core-100.img",
					    "mm-100.img",    "files.img",  "pagemap-100.img",
					    "pages-100.img"};
	char dir[256], *t;
	int dirfd, i;

	if (access("/usr/bin/python3", X_OK))
		unit_skip("no /usr/bin/python3");
	dirfd = make_images(dir, sizeof(dir));
	for (i = 0; i < (int)UNIT_ARRAY_SIZE(names); i++) {
		t = render(dirfd, names[i], true);
		if (json_valid(t, strlen(t)))
			UT_FAIL("%s: not valid JSON:\n%s", names[i], t);
		free(t);
	}
	t = render(dirfd, "inventory.img", true);
	expect(t, "\"root_pid\": 4242");
	expect(t, "\"dump_uuid\": \"00112233445566778899aabbccddeeff\"");
	expect(t, "\"kernel\": \"6.18 \\\"q\\\" \\\\ \\t\\u0001 \xc3\xa9 \\ufffd end\"");
	free(t);
	t = render(dirfd, "pagemap-100.img", true);
	expect(t, "\"pages_present\": 48, \"pages_lazy\": 48, \"pages_parent\": 16, \"frames\": 3");
	expect(t, "\"flags\": \"0x3\"");
	free(t);
	t = render(dirfd, "mm-100.img", true);
	expect(t, "{\"start\": \"0x7f0000000000\", \"end\": \"0x7f0000200000\", \"lazy\": true, "
		  "\"name\": \"[heap]\"}");
	free(t);
	unit_rmdir(dir);
}

/* Runs cmd_show with stdout and stderr in files; returns its result. */
static int run_show(struct crl_opts *o, const char *outp, const char *errp)
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

static char *slurp(const char *path)
{
	size_t size;
	char *t = read_file(AT_FDCWD, path, &size);

	t[size] = '\0';
	return t;
}

static void test_dir_json(void)
{
	char dir[256], outp[300], errp[300], cmd[700], *t;
	struct crl_opts o;
	int dirfd;

	if (access("/usr/bin/python3", X_OK))
		unit_skip("no /usr/bin/python3");
	dirfd = make_images(dir, sizeof(dir));
	close(dirfd);
	snprintf(outp, sizeof(outp), "%s/show.out", dir);
	snprintf(errp, sizeof(errp), "%s/show.err", dir);
	memset(&o, 0, sizeof(o));
	o.images_dir = dir;
	o.json = true;
	UT_OK(run_show(&o, outp, errp));
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
		 "assert len(d[\"images\"]) == 7, d; "
		 "assert {i[\"type\"] for i in d[\"images\"]} == {\"inventory\", \"pstree\", "
		 "\"core\", \"mm\", \"files\", \"pagemap\", \"pages\"}' %s",
		 outp);
	UT_EQ(system(cmd), 0);
	t = slurp(errp);
	UT_EQ(strlen(t), 0);
	free(t);

	/* the same directory as text, with one image damaged: the others still show, one error
	 * line names the damaged one, and the result is a failure */
	snprintf(cmd, sizeof(cmd), "%s/core-100.img", dir);
	UT_OK(truncate(cmd, 30));
	o.json = false;
	UT_ASSERT(run_show(&o, outp, errp) < 0);
	t = slurp(errp);
	expect(t, "core-100.img: record runs past the end of the file (truncated) at offset 8\n");
	UT_EQ(strncmp(t, "Error", 5), 0);
	UT_EQ(strchr(t, '\n') - t + 1, (long)strlen(t));
	free(t);
	t = slurp(outp);
	expect(t, "pstree.img: pstree image");
	expect(t, "mm-100.img: mm image");
	UT_ASSERT(!strstr(t, "core-100.img:"));
	free(t);

	o.json = true;
	UT_ASSERT(run_show(&o, outp, errp) < 0);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
		 "e=[i for i in d[\"images\"] if \"error\" in i]; "
		 "assert len(d[\"images\"]) == 7 and len(e) == 1, d; "
		 "assert e[0][\"file\"] == \"core-100.img\" and e[0][\"offset\"] == 8, e' %s",
		 outp);
	UT_EQ(system(cmd), 0);
	unlink(outp);
	unlink(errp);
	unit_rmdir(dir);
}

/* ---- damage ---- */

static int try_show(const char *name, const uint8_t *data, size_t size, int dirfd, bool json,
		    struct show_err *err)
{
	struct sbuf out = {0};
	int ret = show_image_mem(name, data, size, dirfd, json, &out, err);

	sbuf_free(&out);
	return ret;
}

/* An image of magic/version holding one raw record. */
static uint8_t *raw_image(uint32_t magic, uint32_t version, const void *rec, uint32_t len,
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

static void expect_damage(const uint8_t *data, size_t size, int want_ret, size_t want_off,
			  const char *want_why)
{
	struct show_err err;
	int ret, json;

	for (json = 0; json < 2; json++) {
		ret = try_show("x.img", data, size, -1, json, &err);
		if (ret != want_ret || err.off != want_off || !strstr(err.why, want_why))
			UT_FAIL("expected %s \"%s\" at %zu, got %s \"%s\" at %zu",
				unit_errno_name(want_ret), want_why, want_off, unit_errno_name(ret),
				err.why, err.off);
	}
}

static void test_damaged_header(void)
{
	char dir[256];
	int dirfd = make_images(dir, sizeof(dir));
	size_t size;
	uint8_t *d = read_file(dirfd, "core-100.img", &size);

	expect_damage(d, 0, -EBADMSG, 0, "shorter than the image header");
	expect_damage(d, 7, -EBADMSG, 0, "shorter than the image header");
	d[0] ^= 0xff;
	expect_damage(d, size, -EBADMSG, 0, "unknown magic");
	d[0] ^= 0xff;
	d[4] = 2;
	expect_damage(d, size, -EPROTO, 4, "unsupported image format version 2");
	d[4] = 1;
	/* header only: the one record a core image holds is missing */
	expect_damage(d, 8, -EBADMSG, 8, "expected record is missing");
	free(d);
	unit_rmdir(dir);
}

static void test_damaged_framing(void)
{
	char dir[256];
	int dirfd = make_images(dir, sizeof(dir));
	uint32_t len;
	size_t size;
	uint8_t *d = read_file(dirfd, "pstree.img", &size), *two;

	expect_damage(d, 10, -EBADMSG, 8, "truncated record length");
	memcpy(&len, d + 8, 4);
	expect_damage(d, 12 + len - 1, -EBADMSG, 8, "past the end of the file");
	/* the second record's length lies */
	len = 1000;
	memcpy(d + 12 + d[8], &len, 4);
	expect_damage(d, size, -EBADMSG, 12 + d[8], "past the end of the file");
	len = 0xffffffffu;
	memcpy(d + 8, &len, 4);
	expect_damage(d, size, -EBADMSG, 8, "record length too large");
	free(d);

	/* a single-record image with a second record */
	d = read_file(dirfd, "mm-100.img", &size);
	two = unit_xmalloc(2 * size - 8);
	memcpy(two, d, size);
	memcpy(two + size, d + 8, size - 8);
	expect_damage(two, 2 * size - 8, -EBADMSG, size, "a second record");
	free(two);
	free(d);
	unit_rmdir(dir);
}

static void test_damaged_protobuf(void)
{
	static const uint8_t trunc_varint[] = {0x08, 0xff, 0xff};
	static const uint8_t wrong_wire[] = {0x0d, 1, 2, 3, 4};
	static const uint8_t bad_wire[] = {0x08, 0x01, 0xf7, 0x01};
	static const uint8_t no_pid[] = {0x10, 0x01, 0x18, 0x01, 0x20, 0x01};
	/* core_entry.tc holds only state: task_core_entry.comm is missing */
	static const uint8_t no_comm[] = {0x0a, 0x02, 0x08, 0x01};
	static const uint8_t sub_past_end[] = {0x0a, 0x09, 0x08, 0x01};
	const uint32_t pstree = 0x45525431, core = 0x45524331;
	uint8_t *d;
	size_t size;

	d = raw_image(pstree, 1, trunc_varint, sizeof(trunc_varint), &size);
	expect_damage(d, size, -EBADMSG, 12, "pstree_entry: truncated varint");
	free(d);
	d = raw_image(pstree, 1, wrong_wire, sizeof(wrong_wire), &size);
	expect_damage(d, size, -EBADMSG, 12, "pstree_entry.pid: wire type 5, expected 0");
	free(d);
	d = raw_image(pstree, 1, bad_wire, sizeof(bad_wire), &size);
	expect_damage(d, size, -EBADMSG, 14, "unsupported wire type 7");
	free(d);
	d = raw_image(pstree, 1, no_pid, sizeof(no_pid), &size);
	expect_damage(d, size, -EBADMSG, 8, "required field pstree_entry.pid is missing");
	free(d);
	d = raw_image(core, 1, no_comm, sizeof(no_comm), &size);
	expect_damage(d, size, -EBADMSG, 14, "required field task_core_entry.comm is missing");
	free(d);
	d = raw_image(core, 1, sub_past_end, sizeof(sub_past_end), &size);
	expect_damage(d, size, -EBADMSG, 12, "core_entry.tc: length runs past the end");
	free(d);
}

static void test_damaged_pagemap(void)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	PagemapEntry e = PAGEMAP_ENTRY__INIT;
	const ProtobufCMessage *m[] = {&h.base, &e.base};
	struct show_err err;
	char dir[256];
	size_t size;
	uint8_t *d;
	int dirfd = make_images(dir, sizeof(dir));

	/* the pages file is shorter than the frames the index points at */
	write_pagemap(dirfd, "7", FRAMES_END - 1);
	d = read_file(dirfd, "pagemap-7.img", &size);
	UT_ERR(try_show("pagemap-7.img", d, size, dirfd, false, &err), -EBADMSG);
	expect(err.why, "past the end of pages-7.img");
	/* without the directory there is nothing to check it against */
	UT_OK(try_show("pagemap-7.img", d, size, -1, false, &err));
	free(d);

	/* PRESENT without a frame */
	h.page_size = 4096;
	h.dump_uuid.data = (uint8_t *)uuid;
	h.dump_uuid.len = 16;
	e.vaddr = 0x1000;
	e.nr_pages = 1;
	e.flags = PGS_PE_PRESENT;
	write_img(dirfd, IMG_PAGEMAP, "8", m, 2);
	d = read_file(dirfd, "pagemap-8.img", &size);
	UT_ERR(try_show("pagemap-8.img", d, size, dirfd, true, &err), -EBADMSG);
	expect(err.why, "PRESENT without a frame");
	free(d);

	/* a page size that is not a power of two */
	h.page_size = 4095;
	write_img(dirfd, IMG_PAGEMAP, "9", m, 1);
	d = read_file(dirfd, "pagemap-9.img", &size);
	UT_ERR(try_show("pagemap-9.img", d, size, dirfd, false, &err), -EBADMSG);
	expect(err.why, "bad page size 4095");
	UT_EQ(err.off, 8);
	free(d);
	unit_rmdir(dir);
}

/* Record boundaries of a well-formed image: offsets where a cut leaves whole records. */
static int boundaries(const uint8_t *d, size_t size, size_t *b, int max)
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

static void test_truncated_everywhere(void)
{
	static const char *const names[] = {"inventory.img", "pstree.img", "core-100.img",
					    "mm-100.img",    "files.img",  "pagemap-100.img"};
	char dir[256];
	int dirfd = make_images(dir, sizeof(dir));
	size_t b[16], cut, size, checked = 0;
	int i, k, nb, ret;

	for (i = 0; i < (int)UNIT_ARRAY_SIZE(names); i++) {
		uint8_t *d = read_file(dirfd, names[i], &size);
		bool single = strncmp(names[i], "pstree", 6) && strncmp(names[i], "files", 5) &&
			      strncmp(names[i], "pagemap", 7);

		nb = boundaries(d, size, b, 16);
		UT_OK(try_show(names[i], d, size, dirfd, false, &(struct show_err){0}));
		for (cut = 0; cut < size; cut++) {
			struct show_err err;
			bool whole = false;

			/* a multi-record image cut between records is a valid shorter image */
			for (k = 0; k < nb; k++)
				whole |= b[k] == cut;
			whole |= cut == 8 && !single && strncmp(names[i], "pagemap", 7);
			whole &= !single;
			ret = try_show(names[i], d, cut, -1, cut & 1, &err);
			if (whole && ret)
				UT_FAIL("%s cut at %zu: %s", names[i], cut, err.why);
			if (!whole && !ret)
				UT_FAIL("%s cut at %zu: no error", names[i], cut);
			if (!whole && (err.off > cut || !err.why[0]))
				UT_FAIL("%s cut at %zu: error \"%s\" at %zu", names[i], cut,
					err.why, err.off);
			checked++;
		}
		free(d);
	}
	unit_log("%zu truncations checked", checked);
	unit_rmdir(dir);
}

/* Random byte damage anywhere: an error or a rendering are both fine, a crash or a hang is not
 * (the test runs in a child with an alarm), and every JSON rendering must still be valid JSON. */
static void test_random_damage(void)
{
	static const char *const names[] = {"inventory.img", "pstree.img", "core-100.img",
					    "mm-100.img",    "files.img",  "pagemap-100.img"};
	char dir[256];
	int dirfd = make_images(dir, sizeof(dir));
	size_t size, errors = 0, runs = 0, shown = 0;
	struct sbuf all = {0};
	uint64_t rnd[9];
	int i, j, k;

	sbuf_printf(&all, "[");
	for (i = 0; i < (int)UNIT_ARRAY_SIZE(names); i++) {
		uint8_t *d = read_file(dirfd, names[i], &size), *c = unit_xmalloc(size);

		for (j = 0; j < 2000; j++) {
			struct sbuf out = {0};
			struct show_err err;
			int ret;

			memcpy(c, d, size);
			unit_fill_random(rnd, sizeof(rnd), i * 100000 + j);
			for (k = 0; k < 1 + (int)(rnd[0] % 4); k++)
				c[8 + rnd[1 + 2 * k] % (size - 8)] ^= 1 + rnd[2 + 2 * k] % 255;
			ret = show_image_mem(names[i], c, size, -1, j & 1, &out, &err);
			if (ret)
				errors++;
			else if (j & 1)
				sbuf_printf(&all, "%s%.*s", shown++ ? ",\n" : "", (int)out.len,
					    out.buf);
			sbuf_free(&out);
			runs++;
		}
		free(c);
		free(d);
	}
	sbuf_printf(&all, "]");
	unit_log("%zu damaged images, %zu refused, %zu JSON renderings checked", runs, errors,
		 shown);
	UT_GT(errors, 0);
	UT_ASSERT(!all.oom);
	if (!access("/usr/bin/python3", X_OK) && json_valid(all.buf, all.len))
		UT_FAIL("a rendering of a damaged image is not valid JSON");
	sbuf_free(&all);
	unit_rmdir(dir);
}

static void test_show_file_errors(void)
{
	char dir[256], outp[300], errp[300], path[300], *t;
	struct crl_opts o;
	int dirfd = make_images(dir, sizeof(dir));

	close(dirfd);
	snprintf(outp, sizeof(outp), "%s/show.out", dir);
	snprintf(errp, sizeof(errp), "%s/show.err", dir);
	memset(&o, 0, sizeof(o));
	o.show_file = path;

	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	UT_OK(run_show(&o, outp, errp));
	t = slurp(outp);
	expect(t, "threads: [100, 101, 102]");
	free(t);

	snprintf(path, sizeof(path), "%s/no-such.img", dir);
	UT_ASSERT(run_show(&o, outp, errp) < 0);
	t = slurp(errp);
	expect(t, "no-such.img: No such file or directory");
	free(t);

	snprintf(path, sizeof(path), "%s/mm-100.img", dir);
	UT_OK(truncate(path, 20));
	UT_ASSERT(run_show(&o, outp, errp) < 0);
	t = slurp(outp);
	UT_EQ(strlen(t), 0);
	free(t);
	t = slurp(errp);
	UT_EQ(strncmp(t, "Error", 5), 0);
	expect(t, "mm-100.img: record runs past the end of the file (truncated) at offset 8\n");
	UT_EQ(strchr(t, '\n') - t + 1, (long)strlen(t));
	free(t);
	unit_rmdir(dir);
}

/* ---- the page store's own writer ---- */

/* Cuts the last byte off name in dirfd. */
static int truncateat_pages(int dirfd, const char *name)
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

#define PG PGS_PAGE_SIZE

/* Writes pagemap-ID.img/pages-ID.img with pgs_writer: heap-like eager pages with a run of zero
 * pages inside, lazy heap-like pages, lazy random (incompressible) pages, and parent pages. */
static void write_pagestore(int dirfd, const char *id, struct pgs_stats *st, uint64_t *lazy)
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

static void test_pagestore_images(void)
{
	char dir[256], want[512], *t;
	int dirfd = unit_mkdtemp(dir, sizeof(dir));
	struct pgs_stats st;
	struct show_err err;
	uint64_t lazy;
	size_t size;
	uint8_t *d;

	write_pagestore(dirfd, "200", &st, &lazy);
	unit_log("writer: %llu pages stored, %llu zero, %llu frames, %llu bytes",
		 (unsigned long long)st.pages_stored, (unsigned long long)st.pages_zero,
		 (unsigned long long)st.frames, (unsigned long long)st.bytes_stored);
	UT_EQ(st.pages_zero, 8);

	t = render(dirfd, "pagemap-200.img", false);
	expect(t, "owner: \"pid 200\"");
	snprintf(want, sizeof(want), "pages: %llu present, %llu lazy, %llu in parent",
		 (unsigned long long)st.pages_stored, (unsigned long long)lazy,
		 (unsigned long long)st.pages_parent);
	expect(t, want);
	snprintf(want, sizeof(want), "frames: %llu (", (unsigned long long)st.frames);
	expect(t, want);
	free(t);

	t = render(dirfd, "pagemap-200.img", true);
	snprintf(want, sizeof(want),
		 "\"pages_present\": %llu, \"pages_lazy\": %llu, \"pages_parent\": %llu, "
		 "\"frames\": %llu, ",
		 (unsigned long long)st.pages_stored, (unsigned long long)lazy,
		 (unsigned long long)st.pages_parent, (unsigned long long)st.frames);
	expect(t, want);
	snprintf(want, sizeof(want), "\"stored_bytes\": %llu, \"raw_bytes\": %llu",
		 (unsigned long long)st.bytes_stored, (unsigned long long)st.bytes_raw);
	expect(t, want);
	/* the random pages cannot shrink: stored raw */
	UT_ASSERT(!strstr(t, "\"raw_frames\": 0,"));
	if (!access("/usr/bin/python3", X_OK) && json_valid(t, strlen(t)))
		UT_FAIL("not valid JSON:\n%s", t);
	free(t);

	t = render(dirfd, "pages-200.img", false);
	snprintf(want, sizeof(want), "%llu bytes of page frames after the header",
		 (unsigned long long)st.bytes_stored);
	expect(t, want);
	free(t);

	/* the index cut after a whole record: the head's count catches it */
	d = read_file(dirfd, "pagemap-200.img", &size);
	{
		size_t b[64];
		int nb = boundaries(d, size, b, 64);

		UT_GE(nb, 3);
		UT_ERR(try_show("pagemap-200.img", d, b[nb - 2], -1, false, &err), -EBADMSG);
		expect(err.why, "(cut)");
		UT_EQ(err.off, b[nb - 2]);
	}
	free(d);

	/* with the head's count, a cut anywhere is caught, between records too */
	d = read_file(dirfd, "pagemap-200.img", &size);
	for (size_t cut = 0; cut < size; cut++)
		if (!try_show("pagemap-200.img", d, cut, -1, cut & 1, &err))
			UT_FAIL("pagemap-200.img cut at %zu of %zu: no error", cut, size);
	free(d);

	/* the frames file cut by one byte */
	UT_OK(truncateat_pages(dirfd, "pages-200.img"));
	d = read_file(dirfd, "pagemap-200.img", &size);
	UT_ERR(try_show("pagemap-200.img", d, size, dirfd, false, &err), -EBADMSG);
	expect(err.why, "pages-200.img is");
	free(d);
	unit_rmdir(dir);
}

/* ---- images from a real dump ---- */

#define DUMP_BUF (1u << 20)

static void dump_child(int ans)
{
	char *buf =
	    mmap(NULL, DUMP_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	unit_fill_heaplike(buf, DUMP_BUF, 5);
	memset(buf + 4 * PG, 0, 5 * PG);
	if (write(ans, &buf, sizeof(buf)) != sizeof(buf))
		_exit(1);
	for (;;)
		pause();
}

static void test_real_dump(void)
{
	char dir[256], outp[300], errp[300], cmd[1200];
	struct crl_opts o;
	char *buf = NULL;
	int p[2], ret;
	pid_t pid;

	if (access("/usr/bin/python3", X_OK))
		unit_skip("no /usr/bin/python3");
	close(unit_mkdtemp(dir, sizeof(dir)));
	UT_OK(pipe2(p, O_CLOEXEC));
	pid = fork();
	UT_GE(pid, 0);
	if (!pid) {
		close(p[0]);
		dump_child(p[1]);
	}
	close(p[1]);
	alarm(20);
	UT_EQ(read(p[0], &buf, sizeof(buf)), sizeof(buf));
	close(p[0]);

	memset(&o, 0, sizeof(o));
	o.cmd = CMD_DUMP;
	o.cmd_name = "dump";
	o.tree_pid = pid;
	o.images_dir = o.work_dir = dir;
	o.compress_level = 1;
	o.status_fd = -1;
	log_init(NULL, 1);
	ret = cmd_dump(&o);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	UT_OK(ret);

	snprintf(outp, sizeof(outp), "%s/show.out", dir);
	snprintf(errp, sizeof(errp), "%s/show.err", dir);
	memset(&o, 0, sizeof(o));
	o.images_dir = dir;
	UT_OK(run_show(&o, outp, errp));
	o.json = true;
	UT_OK(run_show(&o, outp, errp));
	/* the root is our child, its buffer is a lazy range, and every non-zero page of it is in */
	snprintf(
	    cmd, sizeof(cmd),
	    "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
	    "im={i[\"type\"]: i for i in d[\"images\"]}; "
	    "assert im[\"pstree\"][\"entries\"][0][\"pid\"] == %d; "
	    "r=[x for x in im[\"mm\"][\"summary\"][\"ranges\"] if x[\"start\"] == \"%p\"]; "
	    "assert len(r) == 1 and r[0][\"lazy\"], r; "
	    "assert im[\"pagemap\"][\"summary\"][\"pages_present\"] >= %u, im[\"pagemap\"]' %s",
	    pid, (void *)buf, DUMP_BUF / (unsigned)PG - 5, outp);
	UT_EQ(system(cmd), 0);
	unit_rmdir(dir);
}

static const struct unit_test tests[] = {
    {"text shows the values written", test_text_values, 0},
    {"json is valid and carries the values", test_json_valid, 0},
    {"show -D --json lists every image", test_dir_json, 0},
    {"damaged header: short, magic, version, empty", test_damaged_header, 0},
    {"damaged framing: lengths, extra record", test_damaged_framing, 0},
    {"damaged protobuf: varint, wire type, required fields", test_damaged_protobuf, 0},
    {"damaged pagemap: frames past the pages file, no frame", test_damaged_pagemap, 0},
    {"truncation at every offset", test_truncated_everywhere, 0},
    {"random damage never crashes", test_random_damage, 0},
    {"page store writer's images: summary matches its stats", test_pagestore_images, 0},
    {"a real dump shows whole, root, lazy heap and pages", test_real_dump,
     UNIT_F_ROOT | UNIT_F_PTRACE},
    {"show FILE: errors name the file, print nothing else", test_show_file_errors, 0},
};

UNIT_MAIN(tests)
