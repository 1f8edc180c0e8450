/* What the running kernel offers, probed once: every feature by name, whether it works here, and
 * a detail line saying what was seen. check prints the table; dump, restore and lazy-pages consult
 * it before relying on a feature, so a missing one gives a clear error instead of a strange one.
 * Probes act on the caller and on one short-lived child; they leave nothing behind. */
#ifndef CRL_KERNDAT_H
#define CRL_KERNDAT_H

#include <stdbool.h>
#include <stdint.h>

enum kd_feat {
	KD_UFFD,
	KD_UFFD_NONCOOP,
	KD_UFFD_THREAD_ID,
	KD_UFFD_MISSING_SHMEM,
	KD_UFFD_MISSING_HUGETLBFS,
	KD_UFFD_WP,
	KD_UFFD_WP_ASYNC,
	KD_UFFD_MOVE,
	KD_UFFD_POISON,
	KD_UFFD_EXACT_ADDRESS,
	KD_PAGEMAP_SCAN,
	KD_SOFT_DIRTY,
	KD_CLONE3_SET_TID,
	KD_PIDFD_OPEN,
	KD_PIDFD_GETFD,
	KD_PTRACE_SEIZE,
	KD_PTRACE_SIGINFO,
	KD_PTRACE_SIGMASK,
	KD_PTRACE_RSEQ,
	KD_SECCOMP_GET_FILTER,
	KD_PROCESS_VM_READV,
	KD_PRCTL_MM_MAP,
	KD_MEMFD_CREATE,
	KD_CHECKPOINT_RESTORE,
	KD_RSEQ,
	KD_VDSO,
	KD_THP,
	KD_NR,
};

/* What a feature is needed for: check's summary and exit code are built from these. */
enum kd_use {
	KD_USE_DUMP_RESTORE = 1 << 0, /* basic dump and restore cannot work without it */
	KD_USE_LAZY = 1 << 1,	      /* lazy restore (post-copy) */
	KD_USE_PRE_DUMP = 1 << 2,     /* dirty tracking for pre-dump chains */
	KD_USE_OPTIONAL = 1 << 3,     /* used when present, worked around when absent */
};

#define KD_DETAIL_LEN 192

struct kd_feature {
	const char *name; /* as check --feature takes it */
	const char *desc;
	unsigned int uses; /* enum kd_use bits */
	bool have;
	char detail[KD_DETAIL_LEN];
};

/* A special mapping of the vDSO group, in address order as /proc/self/maps lists it. */
struct kd_vma {
	char name[16]; /* "[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]" */
	uint64_t start, end;
};

#define KD_MAX_VDSO_VMAS 6

struct kerndat {
	struct kd_feature feat[KD_NR];
	uint64_t uffd_api_features; /* UFFDIO_API with no features requested: what the kernel has */
	uint64_t uffd_api_ioctls;
	int unprivileged_uffd;	/* vm.unprivileged_userfaultfd, -1 when unreadable */
	unsigned int rseq_size; /* what glibc registered for this thread, 0 if none */
	int nr_vdso_vmas;
	struct kd_vma vdso_vmas[KD_MAX_VDSO_VMAS];
	uint64_t thp_pmd_size; /* 0 when THP is off */
};

/* Fills kd. Each probe records its own result and detail; a probe that cannot run counts as the
 * feature being absent and says why. Returns 0, or -errno only when probing itself was impossible
 * (out of memory). */
int kerndat_probe(struct kerndat *kd);

static inline bool kerndat_has(const struct kerndat *kd, enum kd_feat f)
{
	return kd->feat[f].have;
}

/* 0 if the feature is present; otherwise logs one error naming the feature, what needs it and
 * what the probe saw, and returns -ENOTSUP. */
int kerndat_require(const struct kerndat *kd, enum kd_feat f, const char *needed_for);

/* The feature index for a name, or -ENOENT. */
int kerndat_find(const char *name);

/* The name of feature i (the static table, usable before probing). */
const char *kerndat_name(enum kd_feat f);

#endif
