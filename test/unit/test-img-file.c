/* Image file framing: records round trip; wrong magic, wrong version, cut and lying records are
 * refused with the offset and a reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>

#include "img-file.h"
#include "lib/pgs-util.h"
#include "lib/unit.h"
#include "pagemap.pb-c.h"

#define MAGIC 0x12345678u

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* Writes a file of nr pagemap_entry records (vaddr = i) and returns its bytes. */
static uint8_t *write_sample(int dfd, const char *name, int nr, size_t *size)
{
	struct img_file f;
	int i;

	UT_OK(imgf_open_write(&f, dfd, name, MAGIC));
	for (i = 0; i < nr; i++) {
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;

		pe.vaddr = 0x1000 * (uint64_t)(i + 1);
		pe.nr_pages = i + 1;
		pe.flags = 1;
		UT_OK(imgf_write_msg(&f, &pe.base));
	}
	UT_OK(imgf_commit(&f));
	imgf_close(&f);
	return file_read(dfd, name, size);
}

static void test_round_trip(void)
{
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir)), i, ret;
	ProtobufCMessage *msg;
	struct img_file f;
	uint32_t magic, version;
	uint8_t *buf;
	size_t size;

	buf = write_sample(dfd, "a.img", 100, &size);
	UT_EQ(size > 8, 1);
	UT_OK(imgf_peek_magic(dfd, "a.img", &magic, &version));
	UT_EQ(magic, MAGIC);
	UT_EQ(version, IMG_FORMAT_VERSION);
	UT_OK(imgf_open_read(&f, dfd, "a.img", MAGIC));
	for (i = 0; (ret = imgf_read_msg(&f, &pagemap_entry__descriptor, &msg)) == 1; i++) {
		PagemapEntry *pe = (PagemapEntry *)msg;

		UT_EQ(pe->vaddr, 0x1000 * (uint64_t)(i + 1));
		UT_EQ(pe->nr_pages, i + 1);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	UT_EQ(ret, 0);
	UT_EQ(i, 100);
	UT_EQ(f.off, size);
	imgf_close(&f);
	/* the same bytes from memory */
	UT_OK(imgf_open_mem(&f, buf, size, "a.img", MAGIC));
	for (i = 0; imgf_read_msg(&f, &pagemap_entry__descriptor, &msg) == 1; i++)
		protobuf_c_message_free_unpacked(msg, NULL);
	UT_EQ(i, 100);
	imgf_close(&f);
	free(buf);
	close(dfd);
	unit_rmdir(dir);
}

static void test_wrong_magic_version(void)
{
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	struct img_file f;
	uint8_t *buf;
	size_t size;

	buf = write_sample(dfd, "a.img", 3, &size);
	UT_ERR(imgf_open_read(&f, dfd, "a.img", MAGIC + 1), -EBADMSG);
	UT_EQ(f.off, 0);
	UT_NONNULL(strstr(f.why, "magic"));
	imgf_close(&f);
	put32(buf + 4, IMG_FORMAT_VERSION + 1);
	file_write(dfd, "b.img", buf, size);
	UT_ERR(imgf_open_read(&f, dfd, "b.img", MAGIC), -EPROTO);
	UT_EQ(f.off, 4);
	UT_NONNULL(strstr(f.why, "version"));
	imgf_close(&f);
	UT_ERR(imgf_open_mem(&f, buf, size, "b.img", MAGIC), -EPROTO);
	imgf_close(&f);
	/* shorter than a header */
	file_write(dfd, "c.img", buf, 7);
	UT_ERR(imgf_open_read(&f, dfd, "c.img", MAGIC), -EBADMSG);
	imgf_close(&f);
	UT_ERR(imgf_open_read(&f, dfd, "none.img", MAGIC), -ENOENT);
	imgf_close(&f);
	free(buf);
	close(dfd);
	unit_rmdir(dir);
}

/* Every cut of a file: a clean end exactly at record boundaries, an error everywhere else. */
static void test_truncated_record(void)
{
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir)), ret;
	size_t size, cut, bounds = 0, errors = 0;
	ProtobufCMessage *msg;
	struct img_file f;
	uint8_t *buf;

	buf = write_sample(dfd, "a.img", 5, &size);
	for (cut = 8; cut < size; cut++) {
		UT_OK(imgf_open_mem(&f, buf, cut, "a.img", MAGIC));
		while ((ret = imgf_read_msg(&f, &pagemap_entry__descriptor, &msg)) == 1)
			protobuf_c_message_free_unpacked(msg, NULL);
		if (ret == 0) {
			UT_EQ(f.off, cut);
			bounds++;
		} else {
			UT_EQ(ret, -EBADMSG);
			UT_NONNULL(strstr(f.why, "truncated"));
			UT_LE(f.off, cut);
			errors++;
		}
		imgf_close(&f);
	}
	UT_EQ(bounds, 5); /* right after the header and after records 1..4 */
	UT_EQ(errors, size - 8 - 5);
	/* imgf_read_one: nothing there is an error too */
	UT_OK(imgf_open_mem(&f, buf, 8, "a.img", MAGIC));
	UT_ERR(imgf_read_one(&f, &pagemap_entry__descriptor, &msg), -EBADMSG);
	imgf_close(&f);
	free(buf);
	close(dfd);
	unit_rmdir(dir);
}

static void test_lying_length(void)
{
	uint8_t buf[64];
	ProtobufCMessage *msg;
	const uint8_t *data;
	struct img_file f;
	uint32_t len;

	put32(buf, MAGIC);
	put32(buf + 4, IMG_FORMAT_VERSION);
	/* a record that says it is longer than the file */
	put32(buf + 8, 100);
	memset(buf + 12, 0, 52);
	UT_OK(imgf_open_mem(&f, buf, sizeof(buf), "x", MAGIC));
	UT_ERR(imgf_next_raw(&f, &data, &len), -EBADMSG);
	UT_NONNULL(strstr(f.why, "past the end"));
	imgf_close(&f);
	/* beyond any record size, and near 4 GiB (no wrap-around) */
	put32(buf + 8, IMG_MAX_RECORD + 1);
	UT_OK(imgf_open_mem(&f, buf, sizeof(buf), "x", MAGIC));
	UT_ERR(imgf_next_raw(&f, &data, &len), -EBADMSG);
	imgf_close(&f);
	put32(buf + 8, 0xfffffffcu);
	UT_OK(imgf_open_mem(&f, buf, sizeof(buf), "x", MAGIC));
	UT_ERR(imgf_read_msg(&f, &pagemap_entry__descriptor, &msg), -EBADMSG);
	imgf_close(&f);
	/* a length that fits but bytes that are not the message */
	put32(buf + 8, 4);
	memcpy(buf + 12, "\xff\xff\xff\xff", 4);
	UT_OK(imgf_open_mem(&f, buf, 16, "x", MAGIC));
	UT_ERR(imgf_read_msg(&f, &pagemap_entry__descriptor, &msg), -EBADMSG);
	UT_EQ(f.off, 8);
	imgf_close(&f);
	/* a valid record missing required fields */
	put32(buf + 8, 0);
	UT_OK(imgf_open_mem(&f, buf, 12, "x", MAGIC));
	UT_ERR(imgf_read_msg(&f, &pagemap_entry__descriptor, &msg), -EBADMSG);
	imgf_close(&f);
	/* a length field cut short */
	UT_OK(imgf_open_mem(&f, buf, 10, "x", MAGIC));
	UT_ERR(imgf_next_raw(&f, &data, &len), -EBADMSG);
	imgf_close(&f);
}

static void test_write_raw_and_abort(void)
{
	char dir[256];
	int dfd = unit_mkdtemp(dir, sizeof(dir));
	uint8_t *big = unit_xmalloc(200000), *back;
	struct img_file f;
	size_t size;

	unit_fill_random(big, 200000, 1);
	UT_OK(imgf_open_write(&f, dfd, "r.img", MAGIC));
	UT_OK(imgf_write_raw(&f, big, 10));
	UT_OK(imgf_write_raw(&f, big + 10, 199990)); /* bigger than the buffer */
	UT_OK(imgf_write_raw(&f, big, 5));
	UT_EQ(faccessat(dfd, "r.img", F_OK, 0), -1); /* not in place before commit */
	UT_OK(imgf_commit(&f));
	UT_ERR(imgf_write_raw(&f, big, 5), -EINVAL); /* after commit: refused, not a crash */
	UT_ERR(imgf_commit(&f), -EINVAL);
	imgf_close(&f);
	back = file_read(dfd, "r.img", &size);
	UT_EQ(size, 8 + 200005);
	UT_MEMEQ(back + 8, big, 200000);
	UT_MEMEQ(back + 8 + 200000, big, 5);
	free(back);
	/* closed without commit: nothing is left */
	UT_OK(imgf_open_write(&f, dfd, "s.img", MAGIC));
	UT_OK(imgf_write_raw(&f, big, 100));
	imgf_close(&f);
	UT_EQ(faccessat(dfd, "s.img", F_OK, 0), -1);
	UT_EQ(faccessat(dfd, ".s.img.tmp", F_OK, 0), -1);
	free(big);
	close(dfd);
	unit_rmdir(dir);
}

static const struct unit_test tests[] = {
    {"records round trip, from a file and from memory", test_round_trip, 0},
    {"wrong magic, wrong version, short header", test_wrong_magic_version, 0},
    {"truncated records, at every length", test_truncated_record, 0},
    {"record lengths that lie", test_lying_length, 0},
    {"raw writes, and an aborted write leaves nothing", test_write_raw_and_abort, 0},
};

UNIT_MAIN(tests)
