/* Parsers of /proc/PID files, shared by dump and restore. Every parser returns 0 or -errno and
 * logs nothing for -ENOENT/-ESRCH (the task is gone: the caller decides whether that is an error);
 * malformed content is logged and returns -EINVAL. */
#ifndef CRL_PROC_PARSE_H
#define CRL_PROC_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* smaps VmFlags, as bits of our own (the kernel's VM_* values are not uapi) */
enum {
	PVF_GROWSDOWN = 1 << 0,	 /* gd */
	PVF_LOCKED = 1 << 1,	 /* lo */
	PVF_DONTCOPY = 1 << 2,	 /* dc: MADV_DONTFORK */
	PVF_DONTDUMP = 1 << 3,	 /* dd: MADV_DONTDUMP */
	PVF_WIPEONFORK = 1 << 4, /* wf */
	PVF_HUGEPAGE = 1 << 5,	 /* hg */
	PVF_NOHUGEPAGE = 1 << 6, /* nh */
	PVF_MERGEABLE = 1 << 7,	 /* mg */
	PVF_NORESERVE = 1 << 8,	 /* nr */
	PVF_HUGETLB = 1 << 9,	 /* ht */
	PVF_IO = 1 << 10,	 /* io: device memory, cannot be read */
	PVF_PFNMAP = 1 << 11,	 /* pf */
	PVF_SEALED = 1 << 12,	 /* sl: mseal */
	PVF_UFFD_MISSING = 1 << 13,
	PVF_UFFD_WP = 1 << 14,
	PVF_SHARED = 1 << 15, /* sh */
	PVF_RANDREAD = 1 << 16,
	PVF_SEQREAD = 1 << 17,
};

struct proc_vma {
	unsigned long start, end;
	unsigned long pgoff; /* bytes */
	unsigned int prot;   /* PROT_* */
	bool shared;	     /* 's' in maps */
	unsigned int dev_major, dev_minor;
	unsigned long ino;
	unsigned int vmflags; /* PVF_* */
	char vmflags_str[96]; /* as printed, for the image */
	unsigned long rss;    /* kB, smaps Rss */
	char *name;	      /* path or [heap]/[stack]/[vdso]...; "" for anonymous; malloc'ed */
};

/* Reads /proc/PID/smaps (maps plus VmFlags). *vmas is malloc'ed; free with proc_vmas_free. */
int proc_parse_smaps(pid_t pid, struct proc_vma **vmas, int *nr);
void proc_vmas_free(struct proc_vma *vmas, int nr);

struct proc_stat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid, pgid, sid;
	int tty_nr;
	unsigned int flags;
	long priority, nice;
	long num_threads;
	unsigned long long start_time;
	unsigned int rt_priority, policy;
	unsigned long start_code, end_code, start_stack;
	unsigned long start_data, end_data, start_brk;
	unsigned long arg_start, arg_end, env_start, env_end;
	int exit_code;
};

/* /proc/PID/stat, or /proc/PID/task/TID/stat when tid != 0. */
int proc_parse_stat(pid_t pid, pid_t tid, struct proc_stat *st);

#define PROC_MAX_GROUPS 65536

struct proc_status {
	char state;
	pid_t tgid, ppid;
	unsigned int uid[4], gid[4]; /* real, effective, saved, fs */
	unsigned int *groups;	     /* malloc'ed */
	int nr_groups;
	unsigned int umask; /* -1 when absent */
	bool no_new_privs;
	int seccomp; /* 0 off, 1 strict, 2 filter */
	int seccomp_filters;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint64_t sig_pnd, shd_pnd, sig_blk, sig_ign, sig_cgt;
	int nspid_depth; /* entries in NSpid: > 1 means a nested pid namespace */
};

/* /proc/PID/status, or /proc/PID/task/TID/status when tid != 0. Free with proc_status_fini. */
int proc_parse_status(pid_t pid, pid_t tid, struct proc_status *st);
void proc_status_fini(struct proc_status *st);

/* /proc/PID/limits into rl[RLIM_NLIMITS] (RLIM_INFINITY for "unlimited"). */
int proc_parse_limits(pid_t pid, struct rlimit *rl);

struct proc_fdinfo {
	unsigned long long pos;
	unsigned int flags; /* O_*, octal in the file */
	unsigned int mnt_id;
	unsigned long ino;
};

int proc_parse_fdinfo(pid_t pid, int fd, struct proc_fdinfo *fi);

struct proc_timer {
	int id;
	int signo;
	uint64_t sival;
	int notify; /* SIGEV_* */
	pid_t notify_tid;
	int clockid;
};

/* /proc/PID/timers: the POSIX timers of the process. *timers is malloc'ed (NULL when none). */
int proc_parse_timers(pid_t pid, struct proc_timer **timers, int *nr);

struct proc_shm {
	int key;
	unsigned int shmid, mode, uid, gid, cuid, cgid;
	unsigned long long size;
};

/* The row of /proc/sysvipc/shm for segment shmid: 0, -ENOENT, or a read error. */
int proc_sysv_shm(unsigned int shmid, struct proc_shm *shm);

/* The value of "key:" in a /proc file read into buf (fdinfo, status), leading blanks skipped;
 * NULL when absent. */
const char *proc_field(const char *buf, const char *key);

/* Reads a whole /proc file into a malloc'ed, NUL-terminated buffer; *len without the NUL. */
int proc_read_file(const char *path, char **buf, size_t *len);

/* Thread ids of pid from /proc/PID/task, sorted, the leader first. *tids is malloc'ed. */
int proc_list_tasks(pid_t pid, pid_t **tids, int *nr);

/* Every pid whose /proc/PID/stat names ppid as its parent (children are absent from /proc here).
 * Sorted. *pids is malloc'ed. */
int proc_list_children(pid_t ppid, pid_t **pids, int *nr);

#endif
