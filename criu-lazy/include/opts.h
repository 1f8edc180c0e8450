/* The command line, parsed once into a read-only struct crl_opts that is passed down explicitly. */
#ifndef CRL_OPTS_H
#define CRL_OPTS_H

#include <stdbool.h>
#include <stdio.h>

enum crl_cmd {
	CMD_NONE,
	CMD_DUMP,
	CMD_PRE_DUMP,
	CMD_RESTORE,
	CMD_LAZY_PAGES,
	CMD_PAGE_SERVER,
	CMD_CHECK,
	CMD_SHOW,
	CMD_SWRK,
};

struct crl_opts {
	enum crl_cmd cmd;
	const char *cmd_name;
	int tree_pid;		/* -t */
	const char *images_dir; /* -D, default "." */
	const char *work_dir;	/* -W, default images_dir */
	const char *log_file;	/* -o, relative to work_dir; "-" for stderr */
	int log_level;		/* -v[N]: 0..4, default 2 (warnings) */
	const char *pidfile;
	bool restore_detached; /* -d */
	bool restore_sibling;
	bool leave_running; /* -R */
	bool leave_stopped; /* -s */
	bool shell_job;
	bool lazy_pages;
	const char *address;
	int port;
	bool page_server;
	const char *prev_images_dir;
	bool track_mem;
	bool display_stats;
	int status_fd;	    /* -1 when not given */
	int compress_level; /* --compress-level, zstd level, default 1 */
	int lazy_timeout;   /* --lazy-timeout seconds */
	bool tcp_established;
	const char *feature;   /* check --feature */
	bool json;	       /* show --json */
	const char *show_file; /* show FILE */
	int swrk_fd;	       /* swrk FD: the runtime's SOCK_SEQPACKET end */
	/* Set by swrk only: runs the runtime's hook named script (CRIU's notify scripts: pre-dump,
	 * post-dump, setup-namespaces, post-restore, status-ready, ...) for pid and waits for its
	 * answer. 0, or -errno when the runtime failed it or went away. */
	int (*notify)(void *arg, const char *script, int pid);
	void *notify_arg;
};

/* The runtime's hook, when a runtime drives us; nothing to do otherwise. */
static inline int crl_notify(const struct crl_opts *o, const char *script, int pid)
{
	return o->notify ? o->notify(o->notify_arg, script, pid) : 0;
}

/* Parses argv. 0 when the command should run, 1 when it already did (help/version), -1 on a usage
 * error (already reported, with usage). */
int opts_parse(struct crl_opts *o, int argc, char **argv);
void opts_usage(FILE *f);

#endif
