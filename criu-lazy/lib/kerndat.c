/* Kernel feature probes: the table, the probes that need a traced child, and the simple ones.
 * The userfaultfd and pagemap probes are in kerndat-uffd.c. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LOG_PREFIX "kerndat: "
#include "log.h"
#include "compat.h"
#include "kerndat.h"
#include "kerndat-int.h"

#define DR KD_USE_DUMP_RESTORE
#define LZ KD_USE_LAZY
#define PD KD_USE_PRE_DUMP
#define OP KD_USE_OPTIONAL

static const struct {
	const char *name;
	const char *desc;
	unsigned int uses;
} kd_table[KD_NR] = {
    [KD_UFFD] = {"uffd", "userfaultfd: MISSING faults served from outside", LZ},
    [KD_UFFD_NONCOOP] = {"uffd-noncoop", "uffd fork/remap/remove/unmap events", LZ},
    [KD_UFFD_THREAD_ID] = {"uffd-thread-id", "uffd reports the faulting thread", OP},
    [KD_UFFD_MISSING_SHMEM] = {"uffd-missing-shmem", "uffd MISSING on shmem/memfd", OP},
    [KD_UFFD_MISSING_HUGETLBFS] = {"uffd-missing-hugetlbfs", "uffd MISSING on hugetlbfs", OP},
    [KD_UFFD_WP] = {"uffd-wp", "uffd write-protect mode", PD},
    [KD_UFFD_WP_ASYNC] = {"uffd-wp-async", "uffd-wp resolved by the kernel (dirty tracking)", PD},
    [KD_UFFD_MOVE] = {"uffd-move", "UFFDIO_MOVE: pages moved in, not copied", OP},
    [KD_UFFD_POISON] = {"uffd-poison", "UFFDIO_POISON: hardware-poisoned pages restored", OP},
    [KD_UFFD_EXACT_ADDRESS] = {"uffd-exact-address", "uffd fault address not page-masked", OP},
    [KD_PAGEMAP_SCAN] = {"pagemap-scan", "PAGEMAP_SCAN ioctl on /proc/PID/pagemap", PD | OP},
    [KD_SOFT_DIRTY] = {"soft-dirty", "soft-dirty bits in pagemap (CONFIG_MEM_SOFT_DIRTY)", OP},
    [KD_CLONE3_SET_TID] = {"clone3-set-tid", "clone3() creates a task with a chosen PID", DR},
    [KD_PIDFD_OPEN] = {"pidfd-open", "pidfd_open()", OP},
    [KD_PIDFD_GETFD] = {"pidfd-getfd", "pidfd_getfd(): take an fd out of another task", LZ},
    [KD_PTRACE_SEIZE] = {"ptrace-seize", "PTRACE_SEIZE + PTRACE_INTERRUPT", DR},
    [KD_PTRACE_SIGINFO] = {"ptrace-siginfo", "PTRACE_GETSIGINFO + PTRACE_PEEKSIGINFO", DR},
    [KD_PTRACE_SIGMASK] = {"ptrace-sigmask", "PTRACE_GETSIGMASK / SETSIGMASK", DR},
    [KD_PTRACE_RSEQ] = {"ptrace-rseq", "PTRACE_GET_RSEQ_CONFIGURATION", DR},
    [KD_SECCOMP_GET_FILTER] = {"seccomp-get-filter", "PTRACE_SECCOMP_GET_FILTER", OP},
    [KD_PROCESS_VM_READV] = {"process-vm-readv", "process_vm_readv/writev", DR},
    [KD_PRCTL_MM_MAP] = {"prctl-mm-map", "prctl(PR_SET_MM, PR_SET_MM_MAP)", DR},
    [KD_MEMFD_CREATE] = {"memfd-create", "memfd_create()", OP},
    [KD_CHECKPOINT_RESTORE] = {"checkpoint-restore", "CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN held",
			       DR},
    [KD_RSEQ] = {"rseq", "restartable sequences (rseq syscall)", OP},
    [KD_VDSO] = {"vdso", "vDSO group layout ([vvar] [vvar_vclock] [vdso])", DR},
    [KD_THP] = {"thp", "transparent huge pages", OP},
};

int kerndat_find(const char *name)
{
	int i;

	for (i = 0; i < KD_NR; i++)
		if (!strcmp(kd_table[i].name, name))
			return i;
	return -ENOENT;
}

const char *kerndat_name(enum kd_feat f)
{
	return f < KD_NR ? kd_table[f].name : "?";
}

int kerndat_require(const struct kerndat *kd, enum kd_feat f, const char *needed_for)
{
	if (kd->feat[f].have)
		return 0;
	pr_err("kernel feature %s is missing (%s), needed for %s\n", kd->feat[f].name,
	       kd->feat[f].detail, needed_for);
	return -ENOTSUP;
}

void kd_set(struct kerndat *kd, enum kd_feat f, bool have, const char *fmt, ...)
{
	va_list ap;

	kd->feat[f].have = have;
	va_start(ap, fmt);
	vsnprintf(kd->feat[f].detail, sizeof(kd->feat[f].detail), fmt, ap);
	va_end(ap);
}

int kd_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

static long read_long(const char *path, long dflt)
{
	char buf[64];

	if (kd_read_file(path, buf, sizeof(buf)))
		return dflt;
	return strtol(buf, NULL, 10);
}

/* ---- probes that need a traced child ---- */

/* Set in the child before fork and changed in the parent after: process_vm_readv must see the
 * child's value. */
static volatile uint64_t pvm_marker;
#define PVM_CHILD_VALUE 0x6b65726e64617431ull

struct probe_child {
	pid_t pid;
	int ready_rfd;	/* the child writes one byte when it is set up */
	int child_wfd;	/* the child's copy of the write end, as a number in its table */
	int seccomp_ok; /* the child installed its filter */
};

static void child_main(int wfd, pid_t parent)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {.len = 1, .filter = &allow};
	sigset_t set;
	char ok = 'n';

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	/* One allow-all filter, so that PTRACE_SECCOMP_GET_FILTER has something to return. */
	if (!prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) &&
	    !syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		ok = 'y';
	/* A blocked mask to read back, and a queued thread-directed signal to peek at. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	if (write(wfd, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static int start_child(struct probe_child *c)
{
	pid_t parent = getpid();
	struct pollfd pfd;
	int p[2];
	char ok;

	memset(c, 0, sizeof(*c));
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pvm_marker = PVM_CHILD_VALUE;
	c->pid = fork();
	if (c->pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (c->pid == 0) {
		close(p[0]);
		child_main(p[1], parent);
	}
	pvm_marker = 0;
	c->child_wfd = p[1];
	close(p[1]);
	c->ready_rfd = p[0];
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1 || read(p[0], &ok, 1) != 1)
		return -ETIMEDOUT;
	c->seccomp_ok = ok == 'y';
	return 0;
}

static void stop_child(struct probe_child *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, __WALL);
	}
	if (c->ready_rfd > 0)
		close(c->ready_rfd);
	c->pid = 0;
}

/* Waits for the child's next stop, at most timeout_ms. Returns the status or -errno. */
static int wait_stop(pid_t pid, int timeout_ms)
{
	struct timespec ts = {0, 1000000};
	int status, i;

	for (i = 0; i < timeout_ms; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG | __WALL);

		if (r == pid)
			return status;
		if (r < 0)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static void probe_pidfd(struct kerndat *kd, struct probe_child *c)
{
	struct stat mine, got;
	int pidfd, fd;

	pidfd = syscall(SYS_pidfd_open, c->pid, 0);
	if (pidfd < 0) {
		kd_set(kd, KD_PIDFD_OPEN, false, "pidfd_open: %s", strerror(errno));
		kd_set(kd, KD_PIDFD_GETFD, false, "needs pidfd_open");
		return;
	}
	kd_set(kd, KD_PIDFD_OPEN, true, "pidfd_open on a child works");
	fd = syscall(SYS_pidfd_getfd, pidfd, c->child_wfd, 0);
	if (fd < 0) {
		kd_set(kd, KD_PIDFD_GETFD, false, "pidfd_getfd: %s", strerror(errno));
	} else {
		/* The fd taken must be the child's end of our pipe. */
		bool same = !fstat(fd, &got) && !fstat(c->ready_rfd, &mine) &&
			    got.st_ino == mine.st_ino && got.st_dev == mine.st_dev;

		kd_set(kd, KD_PIDFD_GETFD, same, "%s",
		       same ? "took a child's pipe end, same inode"
			    : "pidfd_getfd returned a different file");
		close(fd);
	}
	close(pidfd);
}

static void probe_pvm(struct kerndat *kd, struct probe_child *c)
{
	uint64_t val = 0;
	struct iovec local = {&val, sizeof(val)};
	struct iovec remote = {(void *)&pvm_marker, sizeof(val)};
	ssize_t n;

	n = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
	if (n != sizeof(val))
		kd_set(kd, KD_PROCESS_VM_READV, false, "process_vm_readv: %s",
		       n < 0 ? strerror(errno) : "short read");
	else
		kd_set(kd, KD_PROCESS_VM_READV, val == PVM_CHILD_VALUE, "%s",
		       val == PVM_CHILD_VALUE ? "read a child's memory"
					      : "read the wrong value from a child");
}

static void probe_traced(struct kerndat *kd, struct probe_child *c)
{
	struct ptrace_rseq_configuration rc;
	struct __ptrace_peeksiginfo_args pa = {.off = 0, .flags = 0, .nr = 4};
	siginfo_t si[4];
	uint64_t mask = 0;
	long r;

	r = ptrace(PTRACE_GETSIGINFO, c->pid, NULL, &si[0]);
	if (r) {
		kd_set(kd, KD_PTRACE_SIGINFO, false, "PTRACE_GETSIGINFO: %s", strerror(errno));
	} else {
		r = ptrace(PTRACE_PEEKSIGINFO, c->pid, &pa, si);
		if (r < 0)
			kd_set(kd, KD_PTRACE_SIGINFO, false, "PTRACE_PEEKSIGINFO: %s",
			       strerror(errno));
		else
			kd_set(kd, KD_PTRACE_SIGINFO, r == 1 && si[0].si_signo == SIGUSR1,
			       "peeked %ld queued signal(s), first %d (queued: SIGUSR1)", r,
			       r > 0 ? si[0].si_signo : 0);
	}

	r = ptrace(PTRACE_GETSIGMASK, c->pid, (void *)sizeof(mask), &mask);
	if (r)
		kd_set(kd, KD_PTRACE_SIGMASK, false, "PTRACE_GETSIGMASK: %s", strerror(errno));
	else
		kd_set(kd, KD_PTRACE_SIGMASK,
		       (mask & (1ull << (SIGUSR1 - 1))) && (mask & (1ull << (SIGUSR2 - 1))),
		       "read a blocked mask 0x%llx", (unsigned long long)mask);

	memset(&rc, 0, sizeof(rc));
	r = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, c->pid, (void *)sizeof(rc), &rc);
	if (r <= 0)
		kd_set(kd, KD_PTRACE_RSEQ, false, "PTRACE_GET_RSEQ_CONFIGURATION: %s",
		       r < 0 ? strerror(errno) : "empty answer");
	else
		kd_set(kd, KD_PTRACE_RSEQ, true, "child's rseq area %s: size %u, signature 0x%x",
		       rc.rseq_abi_pointer ? "registered" : "not registered", rc.rseq_abi_size,
		       rc.signature);

	if (!c->seccomp_ok) {
		kd_set(kd, KD_SECCOMP_GET_FILTER, false, "the child could not install a filter");
	} else {
		r = ptrace(PTRACE_SECCOMP_GET_FILTER, c->pid, 0, NULL);
		if (r < 0)
			kd_set(kd, KD_SECCOMP_GET_FILTER, false, "PTRACE_SECCOMP_GET_FILTER: %s%s",
			       strerror(errno), errno == EACCES ? " (needs CAP_SYS_ADMIN)" : "");
		else
			kd_set(kd, KD_SECCOMP_GET_FILTER, r == 1,
			       "read back a %ld-instruction filter (installed: 1)", r);
	}
}

static void probe_with_child(struct kerndat *kd)
{
	static const enum kd_feat traced[] = {KD_PTRACE_SEIZE, KD_PTRACE_SIGINFO, KD_PTRACE_SIGMASK,
					      KD_PTRACE_RSEQ, KD_SECCOMP_GET_FILTER};
	struct probe_child c;
	size_t i;
	int ret, status;

	ret = start_child(&c);
	if (ret) {
		for (i = 0; i < sizeof(traced) / sizeof(traced[0]); i++)
			kd_set(kd, traced[i], false, "cannot start a probe child: %s",
			       strerror(-ret));
		kd_set(kd, KD_PROCESS_VM_READV, false, "cannot start a probe child");
		kd_set(kd, KD_PIDFD_OPEN, false, "cannot start a probe child");
		kd_set(kd, KD_PIDFD_GETFD, false, "cannot start a probe child");
		stop_child(&c);
		return;
	}
	probe_pidfd(kd, &c);
	probe_pvm(kd, &c);

	if (ptrace(PTRACE_SEIZE, c.pid, NULL, NULL) || ptrace(PTRACE_INTERRUPT, c.pid, 0, 0)) {
		ret = -errno;
		status = 0;
	} else {
		status = wait_stop(c.pid, 2000);
		ret = status < 0 ? status : 0;
	}
	if (!ret && !(WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP))
		ret = -EPROTO;
	if (ret) {
		for (i = 0; i < sizeof(traced) / sizeof(traced[0]); i++)
			kd_set(kd, traced[i], false, "seize and interrupt a child: %s",
			       strerror(-ret));
	} else {
		kd_set(kd, KD_PTRACE_SEIZE, true, "seized and interrupted a child");
		probe_traced(kd, &c);
	}
	stop_child(&c);
}

/* ---- simple probes ---- */

static void probe_clone3(struct kerndat *kd)
{
	long last = read_long("/proc/sys/kernel/ns_last_pid", -1);
	long max = read_long("/proc/sys/kernel/pid_max", 32768);
	struct clone_args args;
	pid_t want, got;
	int i;

	if (last < 0) {
		kd_set(kd, KD_CLONE3_SET_TID, false, "cannot read /proc/sys/kernel/ns_last_pid");
		return;
	}
	/* A free pid a little ahead of the allocator; another task may take it first (EEXIST). */
	for (i = 0; i < 16; i++) {
		want = 300 + (last + 97 + i * 31) % (max - 300);
		if (!kill(want, 0) || errno != ESRCH)
			continue;
		memset(&args, 0, sizeof(args));
		args.exit_signal = SIGCHLD;
		args.set_tid = (uint64_t)(uintptr_t)&want;
		args.set_tid_size = 1;
		got = syscall(SYS_clone3, &args, sizeof(args));
		if (got == 0)
			syscall(SYS_exit_group, 0);
		if (got > 0) {
			waitpid(got, NULL, 0);
			kd_set(kd, KD_CLONE3_SET_TID, got == want, "asked for pid %d, got %d", want,
			       got);
			return;
		}
		if (errno != EEXIST)
			break;
	}
	kd_set(kd, KD_CLONE3_SET_TID, false, "clone3(set_tid): %s%s", strerror(errno),
	       errno == EPERM ? " (needs CAP_CHECKPOINT_RESTORE in the pid namespace)" : "");
}

static void probe_caps(struct kerndat *kd)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	long last = read_long("/proc/sys/kernel/cap_last_cap", -1);
	bool cr, admin, ptr, res;

	if (syscall(SYS_capget, &hdr, data)) {
		kd_set(kd, KD_CHECKPOINT_RESTORE, false, "capget: %s", strerror(errno));
		return;
	}
#define HAS(cap) (!!(data[(cap) / 32].effective & (1u << ((cap) % 32))))
	cr = last >= CAP_CHECKPOINT_RESTORE && HAS(CAP_CHECKPOINT_RESTORE);
	admin = HAS(CAP_SYS_ADMIN);
	ptr = HAS(CAP_SYS_PTRACE);
	res = HAS(CAP_SYS_RESOURCE);
#undef HAS
	kd_set(kd, KD_CHECKPOINT_RESTORE, cr || admin,
	       "CAP_CHECKPOINT_RESTORE %s, CAP_SYS_ADMIN %s, CAP_SYS_PTRACE %s, "
	       "CAP_SYS_RESOURCE %s%s",
	       cr ? "yes" : "no", admin ? "yes" : "no", ptr ? "yes" : "no", res ? "yes" : "no",
	       res ? "" : " (rlimits are set from inside each task)");
}

static void probe_mm_map(struct kerndat *kd)
{
	unsigned int size = 0;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0))
		kd_set(kd, KD_PRCTL_MM_MAP, false, "PR_SET_MM_MAP_SIZE: %s", strerror(errno));
	else
		kd_set(kd, KD_PRCTL_MM_MAP, size == sizeof(struct prctl_mm_map),
		       "struct prctl_mm_map is %u bytes (ours %zu)", size,
		       sizeof(struct prctl_mm_map));
}

static void probe_memfd(struct kerndat *kd)
{
	int fd = memfd_create("crl-probe", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0) {
		kd_set(kd, KD_MEMFD_CREATE, false, "memfd_create: %s", strerror(errno));
		return;
	}
	kd_set(kd, KD_MEMFD_CREATE, true, "memfd_create with sealing works");
	close(fd);
}

/* glibc 2.35+ registers rseq for every thread and says how big its area is. */
extern const unsigned int __rseq_size __attribute__((weak));

static void probe_rseq(struct kerndat *kd)
{
	long r = syscall(SYS_rseq, NULL, 0, 0, 0);
	unsigned int glibc = &__rseq_size ? __rseq_size : 0;

	kd->rseq_size = glibc;
	if (r == -1 && errno == ENOSYS) {
		kd_set(kd, KD_RSEQ, false, "rseq: ENOSYS");
		return;
	}
	kd_set(kd, KD_RSEQ, true, "rseq syscall present; %s (feature size %u)",
	       glibc ? "glibc registered this thread" : "not registered by glibc", glibc);
}

static void probe_vdso(struct kerndat *kd)
{
	char line[512], list[KD_DETAIL_LEN] = "";
	bool vdso = false, adjacent = true;
	size_t used = 0;
	FILE *f;
	int i;

	kd->nr_vdso_vmas = 0;
	f = fopen("/proc/self/maps", "re");
	if (!f) {
		kd_set(kd, KD_VDSO, false, "/proc/self/maps: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) && kd->nr_vdso_vmas < KD_MAX_VDSO_VMAS) {
		unsigned long long s, e;
		char name[64];
		struct kd_vma *v;

		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %63s", &s, &e, name) != 3)
			continue;
		if (strcmp(name, "[vvar]") && strcmp(name, "[vvar_vclock]") &&
		    strcmp(name, "[vdso]") && strcmp(name, "[vsyscall]"))
			continue;
		v = &kd->vdso_vmas[kd->nr_vdso_vmas++];
		snprintf(v->name, sizeof(v->name), "%.15s", name);
		v->start = s;
		v->end = e;
		if (!strcmp(name, "[vdso]"))
			vdso = true;
	}
	fclose(f);
	for (i = 0; i < kd->nr_vdso_vmas; i++) {
		struct kd_vma *v = &kd->vdso_vmas[i];

		if (i && strcmp(v->name, "[vsyscall]") && v->start != v[-1].end)
			adjacent = false;
		used += snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0,
				 "%s%s %llu pages", i ? ", " : "", v->name,
				 (unsigned long long)(v->end - v->start) / 4096);
		if (used >= sizeof(list))
			break;
	}
	kd_set(kd, KD_VDSO, vdso, "%s%s", kd->nr_vdso_vmas ? list : "none found",
	       adjacent ? "" : " (not adjacent)");
}

static void probe_thp(struct kerndat *kd)
{
	char en[128], df[128];
	const char *sel_en, *sel_df;

	kd->thp_pmd_size = 0;
	if (kd_read_file("/sys/kernel/mm/transparent_hugepage/enabled", en, sizeof(en))) {
		kd_set(kd, KD_THP, false, "no /sys/kernel/mm/transparent_hugepage");
		return;
	}
	if (kd_read_file("/sys/kernel/mm/transparent_hugepage/defrag", df, sizeof(df)))
		strcpy(df, "?");
	/* The mode in use is the bracketed word. */
	sel_en = strchr(en, '[') ? strchr(en, '[') + 1 : en;
	sel_df = strchr(df, '[') ? strchr(df, '[') + 1 : df;
	*strchrnul(sel_en, ']') = '\0';
	*strchrnul(sel_df, ']') = '\0';
	if (strcmp(sel_en, "never"))
		kd->thp_pmd_size =
		    read_long("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", 0);
	kd_set(kd, KD_THP, kd->thp_pmd_size > 0, "enabled=%s defrag=%s, PMD %llu KiB", sel_en,
	       sel_df, (unsigned long long)kd->thp_pmd_size >> 10);
}

int kerndat_probe(struct kerndat *kd)
{
	int i;

	memset(kd, 0, sizeof(*kd));
	for (i = 0; i < KD_NR; i++) {
		kd->feat[i].name = kd_table[i].name;
		kd->feat[i].desc = kd_table[i].desc;
		kd->feat[i].uses = kd_table[i].uses;
		snprintf(kd->feat[i].detail, KD_DETAIL_LEN, "not probed");
	}
	kd_probe_uffd(kd);
	kd_probe_pagemap(kd);
	probe_with_child(kd);
	probe_clone3(kd);
	probe_caps(kd);
	probe_mm_map(kd);
	probe_memfd(kd);
	probe_rseq(kd);
	probe_vdso(kd);
	probe_thp(kd);
	for (i = 0; i < KD_NR; i++)
		pr_debug("%s: %s (%s)\n", kd->feat[i].name, kd->feat[i].have ? "yes" : "no",
			 kd->feat[i].detail);
	return 0;
}
