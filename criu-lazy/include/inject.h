/* Syscalls run inside a ptrace-stopped thread: the engine of dump (reading what /proc does not
 * give) and of restore (building the address space and state of each task from outside).
 *
 * The thread must be traced by us and in a ptrace stop. inj_open() saves its registers and blocks
 * every signal with PTRACE_SETSIGMASK (pending signals stay pending, none interrupts an injected
 * syscall); inj_close() puts both back. Syscalls run either through a "syscall" instruction
 * borrowed from the thread's vDSO (two ptrace stops each) or, once a gadget is installed, through a
 * small code area of ours in the task (one stop each, and a batch mode that runs a table of
 * syscalls with a single stop).
 */
#ifndef CRL_INJECT_H
#define CRL_INJECT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define INJ_GADGET_SIZE (16 * 4096UL) /* code page + scratch pages */
#define INJ_CODE_SIZE 4096UL

struct inj_ctx;

struct inj_call {
	long nr;
	long arg[6];
	long ret; /* filled in; a call that fails stops the batch */
};

/* tid must be traced by the caller and stopped. 0 or -errno. */
int inj_open(struct inj_ctx **ctx, pid_t tid);

/* Another thread of the same process, sharing the gadget installed through leader. */
int inj_open_thread(struct inj_ctx **ctx, pid_t tid, struct inj_ctx *leader);

pid_t inj_tid(const struct inj_ctx *ctx);

/* The registers the thread had when inj_open() was called (dump reads them from here). */
const struct user_regs_struct *inj_saved_regs(const struct inj_ctx *ctx);
/* The signal mask it had (PTRACE_GETSIGMASK). */
uint64_t inj_saved_sigmask(const struct inj_ctx *ctx);

/* Maps a gadget area (INJ_GADGET_SIZE, RWX, private anonymous) in the task: at addr exactly when
 * addr != 0 (MAP_FIXED_NOREPLACE), anywhere otherwise, and copies the gadget code into it. */
int inj_install_gadget(struct inj_ctx *ctx, unsigned long addr);

/* The task itself already mapped a gadget area at addr and copied inj_gadget_code() into it
 * (restore: the task is a fork of ours and does this before it stops). */
int inj_use_gadget(struct inj_ctx *ctx, unsigned long addr);

/* Our copy of the gadget code and its length, for inj_use_gadget()'s callers. */
const void *inj_gadget_code(size_t *len);

/* Remote addresses of the gadget area and of its scratch part (INJ_GADGET_SIZE - INJ_CODE_SIZE
 * bytes that calls may use for arguments and results). 0 when no gadget is installed. */
unsigned long inj_gadget_addr(const struct inj_ctx *ctx);
unsigned long inj_scratch(const struct inj_ctx *ctx);
size_t inj_scratch_size(const struct inj_ctx *ctx);

/* Copies to/from the task's memory (process_vm_*, falling back to /proc/PID/mem so read-only
 * pages can be written too). 0 or -errno. */
int inj_write(struct inj_ctx *ctx, unsigned long raddr, const void *buf, size_t len);
int inj_read(struct inj_ctx *ctx, unsigned long raddr, void *buf, size_t len);

/* Runs one syscall. Returns 0 with the syscall's own result in *ret (a -errno there is the
 * remote syscall failing), or -errno when the thread could not be driven (-ESRCH: it is gone). */
int inj_syscall(struct inj_ctx *ctx, long *ret, long nr, long a1, long a2, long a3, long a4,
		long a5, long a6);

/* Runs n calls through the scratch area with one stop (needs a gadget). Returns 0 when all
 * succeeded, -errno for a ptrace failure, or a positive 1-based index of the first call that
 * failed (its ret holds the -errno); calls after it did not run and read -ENOEXEC. */
int inj_batch(struct inj_ctx *ctx, struct inj_call *calls, int n);

/* Restore's last act on a thread: unmap the gadget (when unmap_gadget) with a syscall whose
 * exit stop is used to load the final registers, so no code of ours is left in the task; the
 * thread stays stopped, ready for PTRACE_DETACH by the caller. The saved sigmask is not put back:
 * restore sets the task's own with PTRACE_SETSIGMASK before detaching. */
int inj_finish(struct inj_ctx *ctx, const struct user_regs_struct *final, int unmap_gadget);

/* Dump's way out: removes the gadget if installed, puts back the saved registers and signal mask.
 * The thread stays stopped. Accepts NULL. Frees ctx. */
int inj_close(struct inj_ctx *ctx);

/* Frees ctx without touching the thread (it is gone, or inj_finish was used). Accepts NULL. */
void inj_free(struct inj_ctx *ctx);

/* Waits for a ptrace stop of tid (bounded). Returns the wait status, or -errno (-ESRCH when the
 * thread exited: *status then says how). */
int ptrace_wait_stop(pid_t tid, int *status);

#endif
