/* show: images written with the real writers (records, the page store, a real dump) come back
 * with the values that went in, as text and as valid JSON; errors name the file. */

#include "show-images.h"

#define DUMP_BUF (1u << 20)

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
	free(t);
	unit_rmdir(dir);
}

static void test_json_valid(void)
{
	static const char *const names[] = {"inventory.img",   "pstree.img",   "core-100.img",
					    "mm-100.img",      "files.img",    "pagemap-100.img",
					    "pagemap-200.img", "pages-200.img"};
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
		 "assert len(d[\"images\"]) == 8, d; "
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
		 "assert len(d[\"images\"]) == 8 and len(e) == 1, d; "
		 "assert e[0][\"file\"] == \"core-100.img\" and e[0][\"offset\"] == 8, e' %s",
		 outp);
	UT_EQ(system(cmd), 0);
	unlink(outp);
	unlink(errp);
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
	snprintf(want, sizeof(want), "%llu frames decode and match their checksums",
		 (unsigned long long)st.frames);
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

	/* one byte of one frame changed: the checksum catches it */
	{
		uint64_t off = 0;
		int fd = openat(dirfd, "pages-200.img", O_RDWR);
		uint8_t c;

		d = read_file(dirfd, "pagemap-200.img", &size);
		UT_OK(try_show("pagemap-200.img", d, size, dirfd, false, &err));
		UT_ASSERT(fd >= 0);
		off = 8 + 100;
		UT_EQ(pread(fd, &c, 1, off), 1);
		c ^= 0x40;
		UT_EQ(pwrite(fd, &c, 1, off), 1);
		UT_ERR(try_show("pagemap-200.img", d, size, dirfd, false, &err), -EBADMSG);
		expect(err.why, "pages-200.img: the frame of the pages at 0x10000000 is corrupt");
		UT_EQ(err.off, 8);
		c ^= 0x40;
		UT_EQ(pwrite(fd, &c, 1, off), 1);
		UT_OK(try_show("pagemap-200.img", d, size, dirfd, true, &err));
		close(fd);
		free(d);
	}

	/* the frames file cut by one byte */
	UT_OK(truncateat_pages(dirfd, "pages-200.img"));
	d = read_file(dirfd, "pagemap-200.img", &size);
	UT_ERR(try_show("pagemap-200.img", d, size, dirfd, false, &err), -EBADMSG);
	expect(err.why, "pages-200.img is");
	free(d);
	unit_rmdir(dir);
}

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
    {"page store writer's images: summary matches its stats", test_pagestore_images, 0},
    {"a real dump shows whole, root, lazy heap and pages", test_real_dump,
     UNIT_F_ROOT | UNIT_F_PTRACE},
    {"show FILE: errors name the file, print nothing else", test_show_file_errors, 0},
};

UNIT_MAIN(tests)
