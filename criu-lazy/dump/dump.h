/* The dump's shared state: the frozen tree and the image directory. One job per file:
 *   seize.c      find the tree, freeze every thread, let it go again
 *   mem-dump.c   mm-PID.img, and the pages through the page store
 *   core-dump.c  core-PID.img: registers, signals, timers, creds, limits
 *   files-dump.c files.img, fdinfo-PID.img, fs-PID.img
 *   anon-files.c eventfd, timerfd, signalfd, epoll, file locks
 *   sk-dump.c    unix and inet sockets
 *   track.c      pre-dump chains: what was written since the previous image set
 *   lazy-serve.c dump --lazy-pages: the page server of a post-copy migration
 *   ns-check.c   namespaces the tree does not share with us (none is dumped yet)
 *   dump.c       the command: order, images, the end (kill / leave running / leave stopped)
 */
#ifndef CRL_DUMP_H
#define CRL_DUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "opts.h"
#include "pagestore.h"
#include "proc-parse.h"

struct inj_ctx;
struct lazy_dump;

struct dump_thread {
	pid_t tid;
	bool seized;
	bool injected; /* inj_close() ran: needs a fresh stop before detaching */
	int stop_sig;  /* WSTOPSIG of the stop we hold it in */
	struct user_regs_struct regs;
};

struct track_region {
	uint64_t start, end;
};

/* Dirty tracking of a pre-dump chain (track.c). */
struct dump_track {
	int uffd;		      /* our copy of the task's tracking uffd, -1: none */
	int task_fd;		      /* its number in the task, -1: none */
	bool tracked;		      /* written pages since the parent are known */
	bool created;		      /* this round put the uffd in the task */
	struct track_region *regions; /* written since the parent, sorted */
	int nr, cap;
	struct track_region *parent_vmas;
	int nr_parent_vmas;
	struct pgs_ctx *parent; /* the parent set's pages of this process */
};

struct dump_task {
	pid_t pid, ppid, pgid, sid;
	char state;		     /* /proc state: 'Z' zombie, 'T' stopped, else alive */
	int parent;		     /* index in dump_ctx.tasks, -1 for the root */
	struct dump_thread *threads; /* leader first */
	int nr_threads;
	struct proc_stat st;
	struct proc_vma *vmas; /* parsed once, used by memory and files */
	int nr_vmas;
	uint32_t exe_file_id;
	struct dump_track track;
};

/* Every open file description (and every mapped file) once, for files.img. */
struct dump_file {
	uint32_t id;
	pid_t pid; /* where we saw it first, to compare descriptions with kcmp */
	int fd;	   /* -1: a mapped file or exe, no description */
	int type;  /* FD_* of files.proto */
	unsigned long dev, ino;
	uint32_t flags;
	void *entry; /* FileEntry, packed into files.img at the end */
};

struct dump_ctx {
	const struct crl_opts *o;
	int dirfd;
	uint8_t uuid[PGS_UUID_LEN];
	struct dump_task *tasks;
	int nr_tasks;
	struct dump_file *files;
	int nr_files, cap_files;
	uint64_t *shm_done; /* shmids whose pages are written */
	int nr_shm_done, cap_shm_done;
	char **written; /* committed image names, removed if the dump fails */
	int nr_written, cap_written;
	struct pgs_stats stats;
	uint64_t frozen_ns, frozen_real_ns;
	struct lazy_dump *lazy; /* dump --lazy-pages: lazy pages are served, not written */
	bool pre;		/* pre-dump: memory only, the tree keeps running */
	bool survives;		/* the tree runs on after this round (pre-dump, -R, -s) */
	int parent_dirfd;	/* --prev-images-dir, -1 when none */
	bool exit_forgotten;	/* dump_forget_exit_writes() ran */
	uint8_t parent_uuid[PGS_UUID_LEN];
};

/* seize.c */
int dump_seize_tree(struct dump_ctx *d);
/* Lets every seized thread go: leave_stopped sends SIGSTOP first, kill SIGKILLs the tree. */
int dump_release_tree(struct dump_ctx *d, bool kill_tree, bool leave_stopped);
/* Right before the tree is killed: its threads' clear_child_tid and robust lists are cleared,
 * so dying writes nothing into memory read or shared after the kill. 0 or -errno. */
int dump_forget_exit_writes(struct dump_ctx *d);
/* While the tree is held: the process exited or is being killed. */
bool dump_task_gone(pid_t pid);
/* After inj_close(): get the thread back into an ordinary stop (see seize.c). */
int dump_restop_thread(struct dump_thread *t);

/* mem-dump.c: mm-PID.img and the pages of pid; needs dump_core_task's brk. */
int dump_task_mm(struct dump_ctx *d, struct dump_task *t, unsigned long brk);
/* The pages of a shared memory object (opened through path), once per shmid. */
int dump_shmem(struct dump_ctx *d, const char *path, uint64_t shmid);

/* core-dump.c: core-PID.img; runs the injected syscalls and returns the task's brk. */
int dump_task_core(struct dump_ctx *d, struct dump_task *t, unsigned long *brk);

/* files-dump.c */
int dump_task_files(struct dump_ctx *d, struct dump_task *t);
/* Adds (or finds) the file of a mapping or of /proc/PID/exe: name as maps shows it, open_path a
 * /proc path that opens it (map_files, exe) even when it was unlinked. 0 or -errno. */
int dump_mapped_file(struct dump_ctx *d, struct dump_task *t, const char *name,
		     const char *open_path, bool writable, uint32_t *id);
int dump_write_files(struct dump_ctx *d);

/* anon-files.c: eventfd/timerfd/signalfd/epoll from fdinfo text; locks held through a file;
 * epoll targets named by fd get their file ids once the process's fds are known. */
struct FileEntry;
int dump_anon_file(struct FileEntry *fe, pid_t pid, int tfd, const char *link, const char *info,
		   uint32_t flags, const char *what);
int dump_file_locks(struct FileEntry *fe, const char *info, const char *what);
void dump_epoll_resolve(struct FileEntry *fe, const int *fds, const uint32_t *ids, int nr);
void dump_anon_free(struct FileEntry *fe);

/* sk-dump.c: the socket that is fd tfd of pid, with inode ino. */
int dump_socket(struct FileEntry *fe, pid_t pid, int tfd, uint64_t ino, uint32_t flags,
		bool tcp_established, const char *what);
void dump_socket_free(struct FileEntry *fe);
void dump_files_free(struct dump_ctx *d);

/* lazy-serve.c: dump --lazy-pages, the post-copy source. The listening socket (or -errno) is made
 * before the tree is frozen so that a busy port fails the dump at once. mem-dump.c notes each lazy
 * page (in increasing address order per process) instead of storing it; after the images are
 * written, dump_lazy_serve says ready on --status-fd, serves the pages until every client is done
 * and lets the tree go (killed unless -R/-s). */
int dump_lazy_listen(const struct crl_opts *o);
int dump_lazy_init(struct dump_ctx *d);
void dump_lazy_free(struct dump_ctx *d); /* accepts d->lazy NULL */
int dump_lazy_note(struct dump_ctx *d, pid_t pid, uint64_t addr);
int dump_lazy_serve(struct dump_ctx *d, int lfd);

/* page-push.c: dump --page-server, the page images go to a remote page server. 0 or -errno. */
int dump_push_pages(struct dump_ctx *d);

/* track.c: reading the parent set of a chain, the pages written since, arming the next round */
int dump_track_open_parent(struct dump_ctx *d);
int dump_track_prepare(struct dump_ctx *d, struct dump_task *t);
/* The page at addr of VMA v is unchanged since the parent set stored it. */
bool dump_track_clean(const struct dump_track *tr, const struct proc_vma *v, uint64_t addr);
int dump_track_arm(struct dump_ctx *d, struct dump_task *t);
int dump_track_disarm(struct dump_task *t);
void dump_track_free(struct dump_track *tr);

/* dump.c */
/* dump and pre-dump (pre: memory images only, the tree keeps running). */
int dump_run(const struct crl_opts *o, bool pre);
int dump_note_written(struct dump_ctx *d, const char *fmt, const char *id);
bool dump_shm_seen(struct dump_ctx *d, uint64_t shmid); /* and marks it */

/* ns-check.c */
/* 0 when pid lives in our namespaces; else -EOPNOTSUPP, after naming the ones it does not share. */
int dump_ns_check(pid_t pid);

#endif
