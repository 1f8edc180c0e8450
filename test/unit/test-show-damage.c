/* show on damaged images: every kind of damage gives -EBADMSG/-EPROTO with a reason and the
 * offset of the damage; a cut at any offset and random byte damage never crash. */
#include "show-images.h"

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

static const struct unit_test tests[] = {
    {"damaged header: short, magic, version, empty", test_damaged_header, 0},
    {"damaged framing: lengths, extra record", test_damaged_framing, 0},
    {"damaged protobuf: varint, wire type, required fields", test_damaged_protobuf, 0},
    {"damaged pagemap: frames past the pages file, no frame", test_damaged_pagemap, 0},
    {"truncation at every offset", test_truncated_everywhere, 0},
    {"random damage never crashes", test_random_damage, 0},
};

UNIT_MAIN(tests)
