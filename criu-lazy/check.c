/* check: which kernel features this machine has, each by name, and whether dump/restore, lazy
 * restore and pre-dump can work here. */
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX "check: "
#include "log.h"
#include "cmds.h"
#include "kerndat.h"

static const struct {
	unsigned int use;
	const char *what;
} groups[] = {
    {KD_USE_DUMP_RESTORE, "dump/restore"},
    {KD_USE_LAZY, "lazy restore"},
    {KD_USE_PRE_DUMP, "pre-dump dirty tracking"},
};

/* CRIU's names for what we probe, so scripts written for CRIU ask the same question here.
 * mem_dirty_track is soft-dirty there; pre-dump here tracks writes with uffd-wp-async and
 * PAGEMAP_SCAN instead. */
static const struct {
	const char *name;
	enum kd_feat feats[3];
	int n;
} criu_names[] = {
    {"mem_dirty_track", {KD_UFFD_WP_ASYNC, KD_PAGEMAP_SCAN}, 2},
    {"seccomp_filters", {KD_SECCOMP_GET_FILTER}, 1},
    {"can_map_vdso", {KD_VDSO}, 1},
    {"clone3_set_tid", {KD_CLONE3_SET_TID, KD_CHECKPOINT_RESTORE}, 2},
    {"pidfd_store", {KD_PIDFD_OPEN, KD_PIDFD_GETFD}, 2},
    {"get_rseq_conf", {KD_PTRACE_RSEQ}, 1},
};

static void print_feature(const struct kd_feature *f)
{
	pr_msg("%-24s %-3s  %s\n", f->name, f->have ? "yes" : "no", f->detail);
}

/* Names of the missing features with any of the use bits, comma-separated. Returns how many. */
static int missing(const struct kerndat *kd, unsigned int uses, char *buf, size_t len)
{
	size_t used = 0;
	int i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < KD_NR; i++) {
		if (kd->feat[i].have || !(kd->feat[i].uses & uses))
			continue;
		if (used < len)
			used += snprintf(buf + used, len - used, "%s%s", n ? ", " : "",
					 kd->feat[i].name);
		n++;
	}
	return n;
}

static int check_one(const struct kerndat *kd, const char *name)
{
	char list[1024];
	size_t used = 0, a;
	bool have = true;
	int i, f;

	f = kerndat_find(name);
	if (f >= 0) {
		print_feature(&kd->feat[f]);
		return kd->feat[f].have ? 0 : -ENOENT;
	}
	for (a = 0; a < sizeof(criu_names) / sizeof(criu_names[0]); a++) {
		if (strcmp(criu_names[a].name, name))
			continue;
		for (i = 0; i < criu_names[a].n; i++) {
			print_feature(&kd->feat[criu_names[a].feats[i]]);
			have &= kd->feat[criu_names[a].feats[i]].have;
		}
		return have ? 0 : -ENOENT;
	}
	for (i = 0; i < KD_NR && used < sizeof(list); i++)
		used += snprintf(list + used, sizeof(list) - used, "%s%s", i ? " " : "",
				 kerndat_name(i));
	for (a = 0; a < sizeof(criu_names) / sizeof(criu_names[0]) && used < sizeof(list); a++)
		used += snprintf(list + used, sizeof(list) - used, " %s", criu_names[a].name);
	pr_err("unknown feature '%s'; valid features: %s\n", name, list);
	return -EINVAL;
}

int cmd_check(const struct crl_opts *o)
{
	struct kerndat kd;
	char list[1024];
	size_t g;
	int i, n, have = 0, ret;

	ret = kerndat_probe(&kd);
	if (ret) {
		pr_errno(ret, "cannot probe the kernel");
		return ret;
	}
	if (o->feature)
		return check_one(&kd, o->feature);

	for (i = 0; i < KD_NR; i++) {
		print_feature(&kd.feat[i]);
		have += kd.feat[i].have;
	}
	n = missing(&kd, ~0u, list, sizeof(list));
	pr_msg("\n%d of %d features present%s%s\n", have, KD_NR, n ? "; missing: " : "", list);
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		n = missing(&kd, groups[g].use, list, sizeof(list));
		pr_msg("  %-24s %s%s\n", groups[g].what, n ? "NOT possible, missing: " : "ok",
		       list);
	}
	if (missing(&kd, KD_USE_DUMP_RESTORE, list, sizeof(list))) {
		pr_err("missing feature(s) required to dump and restore: %s\n", list);
		return -ENOTSUP;
	}
	pr_msg("Looks good.\n");
	return 0;
}
