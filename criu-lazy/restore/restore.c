/* restore -D DIR: rebuild the tree the images describe, with its PIDs, and resume it.
 *
 * Order: read and check every image; create every task, stopped; for each process build its
 * address space, fd table and task state, then its threads; make the zombies exit; credentials,
 * then seccomp; finally registers and signal masks, and let everything go at once. Any failure
 * kills every task created, so a failed restore leaves nothing running.
 *
 * While injecting we and the task run on one CPU: a ptrace round trip costs ~10 us there against
 * 20-50 us across CPUs (DESIGN.md); page writing uses every CPU we had.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "cmds.h"
#include "lazy-register.h"
#include "pagestore.h"
#include "restore.h"

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The fd-passing socket: its task end sits above every fd number of the tree, so it never
 * collides with one; every task inherits it from the root and closes it when its files are in. */
static int setup_socket(struct rst_tree *t)
{
	struct rlimit rl;
	int sv[2], fd;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv)) {
		int err = -errno;

		pr_perror("socketpair");
		return err;
	}
	t->sk = sv[0];
	fd = t->max_fd + 1;
	if (fd < 64)
		fd = 64;
	while (fcntl(fd, F_GETFD) >= 0)
		fd++;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur <= (rlim_t)fd) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (dup2(sv[1], fd) < 0) {
		int err = -errno;

		pr_perror("cannot place the fd-passing socket at %d", fd);
		close(sv[1]);
		return err;
	}
	close(sv[1]);
	t->task_sk = fd;
	t->task_sk_local = fd;
	return 0;
}

static void pin_cpu(struct rst_tree *t)
{
	cpu_set_t one;

	if (sched_getaffinity(0, sizeof(t->orig_cpus), &t->orig_cpus)) {
		CPU_ZERO(&t->orig_cpus);
		return;
	}
	t->cpu = sched_getcpu();
	if (t->cpu < 0 || !CPU_ISSET(t->cpu, &t->orig_cpus))
		return;
	CPU_ZERO(&one);
	CPU_SET(t->cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		pr_warn("cannot pin to CPU %d: %s\n", t->cpu, strerror(errno));
	/* Ahead of busy threads (a lazy-pages daemon prefetching on every CPU, say), a ptrace
	 * round trip is one wakeup, not a wait for the next time slice. The tasks inherit it and
	 * get their own nice back when they are let go (finish.c). */
	errno = 0;
	t->nice = getpriority(PRIO_PROCESS, 0);
	if (errno || setpriority(PRIO_PROCESS, 0, RST_NICE))
		t->nice = RST_NO_NICE;
}

static int lazy_setup(struct rst_tree *t)
{
	if (!t->o->lazy_pages)
		return 0;
	return lazy_connect(&t->lc, t->o);
}

static int build_task(struct rst_tree *t, struct rst_task *tk)
{
	struct timespec t0;
	size_t i;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = rst_restore_mm(t, tk);
	if (!ret)
		ret = rst_restore_files(t, tk);
	pr_debug("%d: files at %.2f ms\n", tk->pid, ms_since(&t0));
	if (!ret)
		ret = rst_restore_task_state(t, tk);
	pr_debug("%d: task state at %.2f ms\n", tk->pid, ms_since(&t0));
	if (!ret)
		ret = rst_create_threads(t, tk);
	for (i = 0; !ret && i < tk->nr_threads; i++)
		ret = rst_restore_thread_state(t, tk, &tk->threads[i]);
	pr_debug("%d: threads at %.2f ms\n", tk->pid, ms_since(&t0));
	if (!ret)
		ret = rst_restore_posix_timers(t, tk);
	if (!ret)
		pr_info("%d: built in %.2f ms\n", tk->pid, ms_since(&t0));
	return ret;
}

static int seal_task(struct rst_tree *t, struct rst_task *tk)
{
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < tk->nr_threads; i++)
		ret = rst_restore_thread_mem_state(t, tk, &tk->threads[i]);
	for (i = 0; !ret && i < tk->nr_threads; i++)
		ret = rst_restore_creds(t, tk, &tk->threads[i]);
	for (i = 0; !ret && i < tk->nr_threads; i++)
		ret = rst_restore_seccomp(t, tk, &tk->threads[i]);
	if (!ret)
		ret = rst_finish_task(t, tk);
	return ret;
}

static int write_pidfile(const char *path, pid_t pid)
{
	char buf[32];
	int fd, len, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		pr_perror("cannot write pidfile %s", path);
		return ret;
	}
	len = snprintf(buf, sizeof(buf), "%d", pid);
	if (write(fd, buf, len) != len) {
		ret = -errno;
		pr_perror("cannot write pidfile %s", path);
	}
	close(fd);
	return ret;
}

static int restore_tree(struct rst_tree *t)
{
	struct rst_task *tk;
	int ret;

	ret = rst_pick_gadget(t);
	if (!ret)
		ret = setup_socket(t);
	if (ret)
		return ret;
	pin_cpu(t);
	ret = rst_create_tree(t);
	if (!ret)
		ret = rst_set_groups(t);
	if (ret)
		return ret;
	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		if (tk->zombie)
			continue;
		ret = build_task(t, tk);
		if (ret)
			return ret;
	}
	rst_close_files(t);
	rst_memfd_close(t);
	rst_sysv_finish(t, false);
	/* zombies exit while their parents are still stopped */
	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		if (!tk->zombie)
			continue;
		ret = rst_make_zombie(t, tk);
		if (ret)
			return ret;
	}
	/* Lazy memory goes to the daemon as late as can be: once a task is registered, the daemon's
	 * prefetch competes for the CPUs with every injection still to come. Before the
	 * credentials, which could forbid the task a userfaultfd. */
	for (tk = t->tasks; t->lc && tk < t->tasks + t->nr_tasks; tk++) {
		if (tk->zombie)
			continue;
		ret = lazy_register_task(t->lc, task_inj(tk), tk->pid, tk->mm);
		if (ret)
			return ret;
	}
	for (tk = t->tasks; tk < t->tasks + t->nr_tasks; tk++) {
		if (tk->zombie)
			continue;
		ret = seal_task(t, tk);
		if (ret)
			return ret;
	}
	/* only now may the daemon start prefetching (it serves faults before) */
	if (t->lc)
		ret = lazy_conn_done(t->lc);
	return ret;
}

static int wait_root(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			pr_perror("cannot wait for the restored root %d", pid);
			return -errno;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int cmd_restore(const struct crl_opts *o)
{
	struct rst_tree t = {.o = o, .sk = -1, .task_sk = -1, .task_sk_local = -1};
	struct rst_task *tk;
	struct timespec t0;
	pid_t root = 0;
	int subreaper = 0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	t.dirfd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.dirfd < 0) {
		pr_perror("cannot open images dir %s", o->images_dir);
		return -ENOENT;
	}
	ret = rst_load_images(&t);
	if (!ret)
		ret = lazy_setup(&t);
	if (!ret) {
		prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
		ret = restore_tree(&t);
	}
	if (ret) {
		rst_kill_tree(&t);
		goto out;
	}
	/* the runtime's hooks see the root before it runs, as they would with CRIU */
	ret = crl_notify(o, "setup-namespaces", t.tasks[0].pid);
	if (!ret)
		ret = crl_notify(o, "post-restore", t.tasks[0].pid);
	if (ret) {
		rst_kill_tree(&t);
		goto out;
	}
	/* orphans of the restored tree go where they would have gone */
	prctl(PR_SET_CHILD_SUBREAPER, subreaper, 0, 0, 0);
	for (tk = t.tasks; tk < t.tasks + t.nr_tasks; tk++) {
		if (!tk->detached)
			rst_detach_task(&t, tk);
	}
	rst_settle(&t);
	if (o->pidfile) {
		ret = write_pidfile(o->pidfile, t.tasks[0].pid);
		if (ret) {
			rst_kill_tree(&t);
			goto out;
		}
	}
	pr_info("restored %zu processes in %.2f ms\n", t.nr_tasks, ms_since(&t0));
	if (o->status_fd >= 0) {
		char zero = 0;

		if (write(o->status_fd, &zero, 1) != 1)
			pr_warn("cannot write to status fd %d: %s\n", o->status_fd,
				strerror(errno));
		close(o->status_fd);
	}
	root = t.tasks[0].pid;
out:
	if (t.lc)
		lazy_disconnect(t.lc);
	rst_close_files(&t);
	rst_memfd_close(&t);
	rst_sysv_finish(&t, ret != 0);
	if (t.sk >= 0)
		close(t.sk);
	if (t.task_sk_local >= 0)
		close(t.task_sk_local);
	for (tk = t.tasks; tk < t.tasks + t.nr_tasks; tk++) {
		if (tk->pages)
			pgs_close(tk->pages);
	}
	rst_free_images(&t);
	close(t.dirfd);
	if (ret)
		return ret < 0 ? ret : -EINVAL;
	/* a sibling is our parent's to wait for, not ours */
	if (o->restore_detached || o->restore_sibling)
		return 0;
	sched_setaffinity(0, sizeof(t.orig_cpus), &t.orig_cpus);
	if (t.nice != RST_NO_NICE)
		setpriority(PRIO_PROCESS, 0, t.nice);
	return wait_root(root);
}
