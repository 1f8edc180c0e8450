/* kerndat: each probe agrees with an independent look at the same thing, probing leaves nothing
 * behind, and check answers --feature the way scripts expect. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/unit.h"
#include "compat.h"
#include "kerndat.h"
#include "cmds.h"
#include "log.h"

static void probe(struct kerndat *kd)
{
	UT_OK(kerndat_probe(kd));
}

static void test_uffd_api_agrees(void)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	struct kerndat kd;
	int fd;

	probe(&kd);
	fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	UT_ASSERT(fd >= 0);
	UT_OK(ioctl(fd, UFFDIO_API, &api));
	close(fd);
	UT_ASSERT(kerndat_has(&kd, KD_UFFD));
	UT_EQ(kd.uffd_api_features, api.features);
	UT_EQ(kerndat_has(&kd, KD_UFFD_MOVE), !!(api.features & UFFD_FEATURE_MOVE));
	UT_EQ(kerndat_has(&kd, KD_UFFD_POISON), !!(api.features & UFFD_FEATURE_POISON));
	UT_EQ(kerndat_has(&kd, KD_UFFD_WP), !!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP));
	UT_EQ(kerndat_has(&kd, KD_UFFD_THREAD_ID), !!(api.features & UFFD_FEATURE_THREAD_ID));
	UT_EQ(kerndat_has(&kd, KD_UFFD_NONCOOP),
	      (api.features & (UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
			       UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)) ==
		  (UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |
		   UFFD_FEATURE_EVENT_UNMAP));
	UT_EQ(kerndat_has(&kd, KD_UFFD_WP_ASYNC),
	      !!(api.features & UFFD_FEATURE_WP_ASYNC) && kerndat_has(&kd, KD_PAGEMAP_SCAN));
}

/* The unit framework probes a few of the same features its own way. */
static void test_agrees_with_framework(void)
{
	unsigned int f = unit_features();
	struct kerndat kd;

	probe(&kd);
	UT_EQ(kerndat_has(&kd, KD_PAGEMAP_SCAN), !!(f & UNIT_F_PAGEMAP_SCAN));
	UT_EQ(kerndat_has(&kd, KD_PIDFD_GETFD), !!(f & UNIT_F_PIDFD_GETFD));
	UT_EQ(kerndat_has(&kd, KD_CLONE3_SET_TID), !!(f & UNIT_F_CLONE3));
	UT_EQ(kerndat_has(&kd, KD_PTRACE_SEIZE), !!(f & UNIT_F_PTRACE));
}

static int config_has(const char *opt)
{
	char line[256], want_y[128], want_n[128];
	FILE *p;
	int ret = -ENOENT;

	if (access("/proc/config.gz", R_OK))
		return -ENOENT;
	p = popen("zcat /proc/config.gz", "r");
	if (!p)
		return -ENOENT;
	snprintf(want_y, sizeof(want_y), "%s=y", opt);
	snprintf(want_n, sizeof(want_n), "# %s is not set", opt);
	while (fgets(line, sizeof(line), p)) {
		if (!strncmp(line, want_y, strlen(want_y)))
			ret = 1;
		else if (!strncmp(line, want_n, strlen(want_n)))
			ret = 0;
	}
	pclose(p);
	return ret;
}

static void test_soft_dirty_agrees_with_config(void)
{
	int c = config_has("CONFIG_MEM_SOFT_DIRTY");
	struct kerndat kd;

	if (c < 0)
		unit_skip("no /proc/config.gz entry for CONFIG_MEM_SOFT_DIRTY");
	probe(&kd);
	unit_log("CONFIG_MEM_SOFT_DIRTY=%s, probe: %s", c ? "y" : "n",
		 kd.feat[KD_SOFT_DIRTY].detail);
	UT_EQ(kerndat_has(&kd, KD_SOFT_DIRTY), c);
}

static void test_config_implies_features(void)
{
	struct kerndat kd;

	probe(&kd);
	if (config_has("CONFIG_USERFAULTFD") == 0)
		UT_ASSERT(!kerndat_has(&kd, KD_UFFD));
	if (config_has("CONFIG_CHECKPOINT_RESTORE") == 0)
		UT_ASSERT(!kerndat_has(&kd, KD_PRCTL_MM_MAP));
	if (config_has("CONFIG_SECCOMP_FILTER") == 0)
		UT_ASSERT(!kerndat_has(&kd, KD_SECCOMP_GET_FILTER));
	if (config_has("CONFIG_TRANSPARENT_HUGEPAGE") == 0)
		UT_ASSERT(!kerndat_has(&kd, KD_THP));
	if (config_has("CONFIG_RSEQ") == 0)
		UT_ASSERT(!kerndat_has(&kd, KD_RSEQ));
}

static void test_vdso_agrees_with_auxv(void)
{
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	struct kerndat kd;
	int i, found = -1;

	if (!ehdr)
		unit_skip("no AT_SYSINFO_EHDR");
	probe(&kd);
	UT_ASSERT(kerndat_has(&kd, KD_VDSO));
	for (i = 0; i < kd.nr_vdso_vmas; i++)
		if (!strcmp(kd.vdso_vmas[i].name, "[vdso]"))
			found = i;
	UT_GE(found, 0);
	UT_EQ(kd.vdso_vmas[found].start, ehdr);
	/* [vvar] comes right before [vdso] on x86-64 */
	UT_GT(found, 0);
	UT_EQ(kd.vdso_vmas[found - 1].end, kd.vdso_vmas[found].start);
}

static void test_thp_agrees_with_sysfs(void)
{
	char buf[128] = "";
	struct kerndat kd;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		unit_skip("no THP sysfs");
	UT_NONNULL(fgets(buf, sizeof(buf), f));
	fclose(f);
	probe(&kd);
	UT_EQ(kerndat_has(&kd, KD_THP), strstr(buf, "[never]") == NULL);
}

static void test_caps_agree_with_status(void)
{
	unsigned long long eff = 0;
	char line[256];
	struct kerndat kd;
	FILE *f = fopen("/proc/self/status", "r");

	UT_NONNULL(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	probe(&kd);
	UT_EQ(kerndat_has(&kd, KD_CHECKPOINT_RESTORE), !!(eff & (1ull << 40 | 1ull << 21)));
}

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void test_probe_leaves_nothing(void)
{
	int fds, maps;
	struct kerndat kd;

	probe(&kd); /* first run: lazy allocations inside libc settle */
	fds = count_entries("/proc/self/fd");
	maps = count_lines("/proc/self/maps");
	probe(&kd);
	UT_EQ(count_entries("/proc/self/fd"), fds);
	UT_EQ(count_lines("/proc/self/maps"), maps);
	/* no child left, running or zombie */
	UT_EQ(waitpid(-1, NULL, WNOHANG), -1);
	UT_EQ(errno, ECHILD);
}

static void test_find(void)
{
	int i;

	for (i = 0; i < KD_NR; i++)
		UT_EQ(kerndat_find(kerndat_name(i)), i);
	UT_EQ(kerndat_find("no-such-feature"), -ENOENT);
	UT_EQ(kerndat_find(""), -ENOENT);
}

static void test_require(void)
{
	struct kerndat kd;

	log_init(NULL, 0);
	probe(&kd);
	kd.feat[KD_UFFD_MOVE].have = false;
	UT_ERR(kerndat_require(&kd, KD_UFFD_MOVE, "a test"), -ENOTSUP);
	kd.feat[KD_UFFD_MOVE].have = true;
	UT_OK(kerndat_require(&kd, KD_UFFD_MOVE, "a test"));
}

static void test_check_feature_exit(void)
{
	struct crl_opts o;
	struct kerndat kd;

	log_init(NULL, 0);
	probe(&kd);
	memset(&o, 0, sizeof(o));
	o.cmd = CMD_CHECK;
	o.cmd_name = "check";
	o.feature = "no-such-feature";
	UT_ERR(cmd_check(&o), -EINVAL);
	o.feature = "vdso";
	UT_OK(cmd_check(&o));
	/* CRIU's names: mem_dirty_track is pre-dump's write tracking here */
	o.feature = "mem_dirty_track";
	if (kerndat_has(&kd, KD_UFFD_WP_ASYNC) && kerndat_has(&kd, KD_PAGEMAP_SCAN))
		UT_OK(cmd_check(&o));
	else
		UT_ERR(cmd_check(&o), -ENOENT);
	o.feature = "mnt_id"; /* a CRIU feature this tool does not cover */
	UT_ERR(cmd_check(&o), -EINVAL);
	o.feature = "soft-dirty";
	if (kerndat_has(&kd, KD_SOFT_DIRTY))
		UT_OK(cmd_check(&o));
	else
		UT_ERR(cmd_check(&o), -ENOENT);
}

static const struct unit_test tests[] = {
    {"uffd probes agree with UFFDIO_API", test_uffd_api_agrees, UNIT_F_ROOT | UNIT_F_UFFD},
    {"probes agree with the framework's", test_agrees_with_framework, UNIT_F_ROOT},
    {"soft-dirty agrees with the kernel config", test_soft_dirty_agrees_with_config, 0},
    {"features absent from the config are absent", test_config_implies_features, 0},
    {"vdso layout agrees with the auxv", test_vdso_agrees_with_auxv, 0},
    {"thp agrees with sysfs", test_thp_agrees_with_sysfs, 0},
    {"checkpoint-restore agrees with CapEff", test_caps_agree_with_status, 0},
    {"probing leaves no fd, mapping or child", test_probe_leaves_nothing, 0},
    {"features found by name", test_find, 0},
    {"kerndat_require", test_require, 0},
    {"check --feature answers 0, -ENOENT, -EINVAL", test_check_feature_exit, 0},
};

UNIT_MAIN(tests)
