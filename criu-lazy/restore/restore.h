/* Restore's shared state: the tree read from the images, and the phases that rebuild it.
 *
 * The restorer drives every task from outside through injected syscalls (inject.h). Phases, in the
 * order restore.c runs them: images.c (read and check everything), tree.c (create the tasks with
 * their PIDs, stopped), mem.c (address spaces), files.c (fd tables), state.c (signals, limits,
 * timers, fs, creds, seccomp), finish.c (registers, signal masks, detach).
 */
#ifndef CRL_RESTORE_H
#define CRL_RESTORE_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "inject.h"
#include "opts.h"

#include "inventory.pb-c.h"
#include "pstree.pb-c.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "files.pb-c.h"

struct pgs_ctx;
struct lazy_conn;
struct rst_sysv;

struct rst_thread {
	pid_t tid;
	ThreadCoreEntry *tc;
	struct inj_ctx *inj;
	bool seen;	 /* exists and is traced by us */
	long restarting; /* the syscall it re-enters when resumed, or -1 */
	uint64_t ran;	 /* its CPU time when detached: settled once it has run since */
	bool settled;
};

struct rst_task {
	pid_t pid;
	PstreeEntry *pe;
	struct rst_task *parent;
	CoreEntry *core;
	MmEntry *mm; /* NULL for a zombie */
	FsEntry *fs; /* NULL when the dump wrote none */
	FdinfoEntry **fds;
	size_t nr_fds;
	struct pgs_ctx *pages;
	struct rst_thread *threads; /* threads[0] is the leader */
	size_t nr_threads;
	bool zombie;
	bool created;
	bool detached;
};

/* A shared memory object and the first task that maps it (the one that creates it). */
struct rst_shm {
	uint64_t shmid;
	pid_t owner;
	uint64_t start, end; /* the owner's mapping */
	uint64_t pgoff;	     /* object offset at start */
};

/* A memfd object of the tree, made by us. */
struct rst_memfd {
	uint64_t shmid;
	int fd;
};

#define RST_NICE -10
#define RST_NO_NICE 100

struct rst_tree {
	const struct crl_opts *o;
	int dirfd;
	InventoryEntry *inv;
	struct rst_task *tasks; /* pstree order: parents before children */
	size_t nr_tasks;
	FileEntry **files;
	size_t nr_files;
	int *file_fds;	      /* restorer-side fd per files[] entry, -1 until opened */
	bool *file_done;      /* per files[] entry: epoll targets added */
	unsigned long gadget; /* the same address in every task */
	int sk;		      /* our end of the fd-passing socket pair */
	int task_sk;	      /* the number of the other end in every task */
	int task_sk_local;    /* our copy of that end until the root has it, else -1 */
	int max_fd;	      /* largest fd number any task had */
	cpu_set_t orig_cpus;  /* our affinity before pinning: the tasks get it back */
	int cpu;	      /* where we and the task being built run */
	int nice;	      /* ours before restoring, or RST_NO_NICE */
	struct lazy_conn *lc;
	struct rst_shm *shms;
	size_t nr_shms;
	struct rst_memfd *memfds;
	size_t nr_memfds;
	struct rst_sysv *sysv;
	size_t nr_sysv;
};

static inline struct inj_ctx *task_inj(const struct rst_task *tk)
{
	return tk->threads[0].inj;
}

/* ---- images.c ---- */
int rst_load_images(struct rst_tree *t);
void rst_free_images(struct rst_tree *t);
FileEntry *rst_file_by_id(const struct rst_tree *t, uint32_t id, size_t *idx);

/* ---- batch.c: a table of injected syscalls with their argument data in the scratch area ---- */
#define RST_BATCH_MAX 512

struct rst_batch {
	struct inj_ctx *inj;
	unsigned long scratch; /* remote address of the scratch area */
	size_t scratch_size, used;
	char *data; /* local copy of the scratch area, written before running */
	struct inj_call calls[RST_BATCH_MAX];
	const char *what[RST_BATCH_MAX];
	int n;
	int err; /* sticky: a batch that overflowed refuses to run */
};

int batch_init(struct rst_batch *b, struct inj_ctx *inj);
void batch_fini(struct rst_batch *b);
/* Copies len bytes into the scratch area; returns their remote address (0 when full: err set). */
unsigned long batch_data(struct rst_batch *b, const void *p, size_t len);
/* Reserves len bytes of scratch for a result; *local points at our copy after batch_run. */
unsigned long batch_out(struct rst_batch *b, size_t len, void **local);
void batch_add(struct rst_batch *b, const char *what, long nr, long a1, long a2, long a3, long a4,
	       long a5, long a6);
/* Runs every call (one stop per chunk) and reads the scratch area back. 0 or -errno; a call that
 * failed is logged with its name and the task's pid. Resets the batch for reuse. */
int batch_run(struct rst_batch *b);
/* One syscall, its result in *res (-errno from the task is a value, not a failure). */
int rst_syscall(struct inj_ctx *inj, long *res, long nr, long a1, long a2, long a3, long a4,
		long a5, long a6);

/* ---- tree.c ---- */
int rst_create_tree(struct rst_tree *t);
int rst_create_threads(struct rst_tree *t, struct rst_task *tk);
int rst_make_zombie(struct rst_tree *t, struct rst_task *tk);
int rst_set_groups(struct rst_tree *t);
/* Kills and reaps every task created so far. */
void rst_kill_tree(struct rst_tree *t);

/* ---- mem.c ---- */
int rst_pick_gadget(struct rst_tree *t);
int rst_restore_mm(struct rst_tree *t, struct rst_task *tk);

/* ---- pages.c ---- */
int rst_write_pages(struct rst_tree *t, struct rst_task *tk);
/* The contents of the shared memory objects tk created. */
int rst_write_shmem(struct rst_tree *t, struct rst_task *tk);

/* ---- files.c ---- */
int rst_restore_files(struct rst_tree *t, struct rst_task *tk);
void rst_close_files(struct rst_tree *t);

/* ---- memfd.c ---- */
int rst_memfd_get(struct rst_tree *t, uint64_t shmid, const RegFileEntry *r);
int rst_open_memfd(struct rst_tree *t, const FileEntry *fe);
/* Seals every object and drops our fds of them. */
void rst_memfd_close(struct rst_tree *t);

/* ---- sk-unix.c, sk-inet.c, sk-tcp.c: every socket of its kind is made on the first call, as
 * sockets name each other; the fd of files[idx] is returned, the others wait in t->file_fds ---- */
int rst_open_unix_sk(struct rst_tree *t, size_t idx);
int rst_open_inet_sk(struct rst_tree *t, size_t idx);
/* socket(), the options a bind depends on, and the bind when bind_it: fd or -errno */
int rst_inet_socket(const SkEntry *sk, bool bind_it);
void rst_inet_str(const ProtobufCBinaryData *a, char *buf, size_t size);
/* SO_SNDBUF/SO_RCVBUF as the image has them (any family) */
int rst_sk_bufs(int fd, const SkEntry *sk);
/* An established connection rebuilt, still in TCP_REPAIR mode: fd or -errno. Repair ends in
 * rst_tcp_finish once every connection of the tree exists, so that the first packets of one end
 * find the other (a packet to a port with no connection yet is answered with a reset). */
int rst_open_tcp(const SkEntry *sk);
int rst_tcp_finish(int fd, const SkEntry *sk);

/* ---- sysv-shm.c ---- */
int rst_sysv_prepare(struct rst_tree *t, struct rst_task *tk, const VmaEntry *v);
void rst_sysv_finish(struct rst_tree *t, bool abort);

/* ---- files-anon.c ---- */
int rst_open_anon(struct rst_tree *t, const FileEntry *fe);
int rst_desc_locks(const FileEntry *fe, int fd);
int rst_task_fd_extras(struct rst_tree *t, struct rst_task *tk);

/* ---- state.c ---- */
int rst_restore_task_state(struct rst_tree *t, struct rst_task *tk);
int rst_restore_thread_state(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th);
int rst_restore_posix_timers(struct rst_tree *t, struct rst_task *tk);
int rst_restore_thread_mem_state(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th);
int rst_restore_creds(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th);
int rst_restore_seccomp(struct rst_tree *t, struct rst_task *tk, struct rst_thread *th);

/* ---- finish.c ---- */
int rst_finish_task(struct rst_tree *t, struct rst_task *tk);
int rst_detach_task(struct rst_tree *t, struct rst_task *tk);
void rst_settle(struct rst_tree *t);

#endif
