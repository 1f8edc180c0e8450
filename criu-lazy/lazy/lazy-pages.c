/* criu-lazy lazy-pages: the daemon that restore --lazy-pages hands its tasks to. It listens in the
 * work dir, says it is ready through --status-fd (scripts wait on that byte), serves every task's
 * faults and prefetches the rest from the image directory (or, with --page-server, from a page
 * server: post-copy), and exits 0 once every page is in. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy: "
#include "cmds.h"
#include "lazy-pages.h"
#include "log.h"

/* -d: the caller gets its shell back once the daemon listens. Returns the fd to write the ready
 * byte to in the daemon, -1 without -d; the parent exits here. */
static int daemonize(void)
{
	int p[2], fd;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC)) {
		pr_perror("pipe");
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return -errno;
	}
	if (pid > 0) {
		close(p[1]);
		exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	/* errors still reach stderr and the log; the statistics stay in the log */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	return p[1];
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		pr_perror("cannot write the pid file %s", path);
		return -errno;
	}
	fprintf(f, "%d", getpid());
	if (fclose(f)) {
		pr_perror("cannot write the pid file %s", path);
		return -errno;
	}
	return 0;
}

static void say_ready(int fd)
{
	char zero = 0;

	if (fd < 0)
		return;
	if (write(fd, &zero, 1) != 1)
		pr_perror("cannot write to the status fd %d", fd);
	close(fd);
}

static struct lp_daemon *running;
static volatile sig_atomic_t stop_signal;

/* Dying on a signal would close the uffds and leave the tasks zeros where pages are missing:
 * stop the loop instead, and lp_free kills the tasks that still lack pages. */
static void on_stop_signal(int sig)
{
	stop_signal = sig;
	if (running)
		lp_stop(running);
}

static void catch_stop_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};
	int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	size_t i;

	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int cmd_lazy_pages(const struct crl_opts *o)
{
	struct lp_config cfg = {.nr_workers = 0,
				.timeout_s = o->lazy_timeout,
				.guard = true,
				.keeper_dir = o->work_dir};
	lp_open_src_fn open_src;
	void *src_arg;
	struct lp_daemon *d = NULL;
	struct lp_local *local = NULL;
	struct lp_remote *remote = NULL;
	int dirfd, ready_fd = -1, ret;

	if (o->page_server && !o->port) {
		pr_err("--page-server needs --port\n");
		return -EINVAL;
	}
	dirfd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		pr_perror("cannot open the images dir %s", o->images_dir);
		return -errno;
	}
	ret = lp_local_open(&local, dirfd, o->images_dir);
	if (ret)
		goto out_close;

	if (o->restore_detached) {
		ready_fd = daemonize();
		if (ready_fd < 0) {
			ret = ready_fd;
			goto out_close;
		}
	}
	ret = lp_create(&d, &cfg);
	if (ret) {
		pr_errno(ret, "cannot start the daemon");
		goto out_close;
	}
	ret = lp_order_load(d, dirfd);
	if (ret)
		goto out_free;
	if (o->page_server) {
		/* connected before we say we are ready: a server that is not there fails here */
		ret = lp_remote_create(&remote, o->address, o->port, local->uuid, o->lazy_timeout);
		if (ret)
			goto out_free;
		open_src = lp_open_remote;
		src_arg = remote;
	} else {
		open_src = lp_open_local;
		src_arg = local;
	}
	/* a daemon before us died and its keeper holds the tasks: go on where it stopped */
	ret = lp_takeover(d, o->work_dir, open_src, src_arg);
	if (ret > 0) {
		pr_msg("lazy-pages: took over %d task(s) from a daemon that died\n", ret);
		lp_tasks_done(d);
		ret = 0;
	} else if (!ret) {
		ret = lp_listen(d, o->work_dir, open_src, src_arg);
	}
	if (ret)
		goto out_free;
	if (o->pidfile) {
		ret = write_pidfile(o->pidfile);
		if (ret)
			goto out_free;
	}
	if (o->page_server)
		pr_info("listening in %s, pages from %s:%d\n", o->work_dir,
			o->address ? o->address : "localhost", o->port);
	else
		pr_info("listening in %s, pages from %s\n", o->work_dir, o->images_dir);
	running = d;
	catch_stop_signals();
	say_ready(o->status_fd);
	say_ready(ready_fd);

	ret = lp_run(d);
	running = NULL;
	/* every page is in and every task let go (lp_run ends well only then, or on a signal):
	 * the page server need not wait for the rest */
	if (!ret && !stop_signal && remote) {
		lp_remote_free(remote);
		remote = NULL;
	}
	if (!ret && stop_signal) {
		pr_err("stopped by signal %d before every page was in\n", (int)stop_signal);
		ret = -EINTR;
	}
	if (!ret)
		lp_order_save(d);
	lp_print_stats(d);
	if (ret)
		pr_errno(ret, "lazy pages failed");
out_free:
	lp_free(d);
	lp_remote_free(remote);
out_close:
	lp_local_free(local);
	close(dirfd);
	return ret;
}
