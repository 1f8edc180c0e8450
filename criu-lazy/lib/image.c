/* The image table and logging wrappers over the image framing. */
#include <stdio.h>

#define LOG_PREFIX "image: "
#include "log.h"
#include "image.h"
#include "pagestore.h"

#include "inventory.pb-c.h"
#include "pstree.pb-c.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "files.pb-c.h"
#include "pagemap.pb-c.h"

const struct img_type_desc img_types[IMG_NR] = {
    [IMG_INVENTORY] = {"inventory.img", 0x49564e31, &inventory_entry__descriptor, "inventory"},
    [IMG_PSTREE] = {"pstree.img", 0x45525431, &pstree_entry__descriptor, "process tree"},
    [IMG_CORE] = {"core-%s.img", 0x45524331, &core_entry__descriptor, "task core"},
    [IMG_MM] = {"mm-%s.img", 0x4d4d4d31, &mm_entry__descriptor, "address space"},
    [IMG_FILES] = {"files.img", 0x454c4631, &file_entry__descriptor, "open files"},
    [IMG_FDINFO] = {"fdinfo-%s.img", 0x44464431, &fdinfo_entry__descriptor, "fd table"},
    [IMG_FS] = {"fs-%s.img", 0x53465331, &fs_entry__descriptor, "cwd/root/umask"},
    [IMG_PAGEMAP] = {"pagemap-%s.img", PGS_PAGEMAP_MAGIC, NULL, "page index"},
    [IMG_PAGES] = {"pages-%s.img", PGS_PAGES_MAGIC, NULL, "page frames"},
    [IMG_LAZY_ORDER] = {"lazy-order.img", 0x524f4c31, NULL, "working-set order"},
};

int img_type_by_magic(uint32_t magic)
{
	int i;

	for (i = 0; i < IMG_NR; i++)
		if (img_types[i].magic == magic)
			return i;
	return -1;
}

static void image_name(char *buf, size_t len, enum img_type type, const char *id)
{
	snprintf(buf, len, img_types[type].fmt, id ? id : "");
}

int open_image_read(struct img_file *f, int dirfd, enum img_type type, const char *id)
{
	char name[256];
	int ret;

	image_name(name, sizeof(name), type, id);
	ret = imgf_open_read(f, dirfd, name, img_types[type].magic);
	if (ret == -ENOENT)
		pr_err("%s: no such image (%s)\n", name, img_types[type].what);
	else if (ret == -EBADMSG || ret == -EPROTO)
		pr_err("%s: %s at offset %zu\n", name, f->why, f->off);
	else if (ret)
		pr_errno(ret, "%s: cannot read", name);
	if (ret)
		imgf_close(f);
	return ret;
}

int open_image_write(struct img_file *f, int dirfd, enum img_type type, const char *id)
{
	char name[256];
	int ret;

	image_name(name, sizeof(name), type, id);
	ret = imgf_open_write(f, dirfd, name, img_types[type].magic);
	if (ret)
		pr_errno(ret, "%s: cannot create", name);
	return ret;
}

static const ProtobufCMessageDescriptor *desc_of(struct img_file *f)
{
	int type = img_type_by_magic(f->magic);

	return type < 0 ? NULL : img_types[type].desc;
}

int pb_read_next(struct img_file *f, void **msg)
{
	const ProtobufCMessageDescriptor *d = desc_of(f);
	int ret;

	if (!d) {
		pr_err("%s: not a record image\n", f->name);
		return -EINVAL;
	}
	ret = imgf_read_msg(f, d, (ProtobufCMessage **)msg);
	if (ret < 0)
		pr_err("%s: %s at offset %zu\n", f->name, f->why, f->off);
	return ret;
}

int pb_read_one(struct img_file *f, void **msg)
{
	int ret = pb_read_next(f, msg);

	if (ret == 0) {
		pr_err("%s: expected record is missing at offset %zu (truncated)\n", f->name,
		       f->off);
		return -EBADMSG;
	}
	return ret < 0 ? ret : 0;
}

int pb_write_one(struct img_file *f, const void *msg)
{
	int ret = imgf_write_msg(f, msg);

	if (ret)
		pr_errno(ret, "%s: cannot write", f->name);
	return ret;
}

int image_commit(struct img_file *f)
{
	int ret = imgf_commit(f);

	if (ret)
		pr_errno(ret, "%s: cannot write", f->name);
	return ret;
}
