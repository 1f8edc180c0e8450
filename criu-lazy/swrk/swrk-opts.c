/* criu_opts -> struct crl_opts. A runtime sets many fields on every request, most of them to
 * their "off" value; a field is refused only when it asks for something we do not do, and the
 * error names it, so the runtime shows the user why instead of us quietly doing less. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "swrk: "
#include "log.h"
#include "swrk.h"
#include "../dump/dump.h"

#define CMD_BIT(c) (1u << (c))
#define DUMPS (CMD_BIT(CMD_DUMP) | CMD_BIT(CMD_PRE_DUMP))

static int refuse(const char *field, const char *why)
{
	pr_err("option %s is not supported: %s\n", field, why);
	return -EOPNOTSUPP;
}

/* Opens the runtime's fd N as ours; path gets /proc/self/fd/M for crl_opts. */
static int open_peer_dir(struct swrk *sw, int fd, int *our, char *path, size_t len)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/fd/%d", sw->peer, fd);
	*our = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*our < 0) {
		pr_perror("cannot open the runtime's directory fd %d (%s)", fd, p);
		return -errno;
	}
	snprintf(path, len, "/proc/self/fd/%d", *our);
	return 0;
}

static int open_log(struct swrk *sw, const CriuOpts *ro, const char *work, int level)
{
	const char *name = ro->log_file;

	if (ro->has_log_to_stderr && ro->log_to_stderr)
		name = "-";
	if (name && strchr(name, '/')) {
		pr_err("log_file %s: a name in the work dir, without a directory, is expected\n",
		       name);
		return -EINVAL;
	}
	log_fini();
	if (!name || !strcmp(name, "-"))
		return log_init(NULL, level);
	snprintf(sw->log_path, sizeof(sw->log_path), "%s/%s", work, name);
	return log_init(sw->log_path, level);
}

/* Fields whose "on" value asks for what is not built; each with the reason given back. */
static int check_unsupported(const CriuOpts *ro, enum crl_cmd cmd)
{
	if (ro->ext_unix_sk)
		return refuse("ext_unix_sk", "unix sockets connected outside the tree");
	if (ro->auto_dedup)
		return refuse("auto_dedup", "images are never punched after a restore");
	if (ro->link_remap || ro->force_irmap || ro->n_irmap_scan_paths)
		return refuse("link_remap/force_irmap", "unlinked and inotify files");
	if (ro->n_veths || ro->n_join_ns)
		return refuse("veths/join_ns", "namespaces are not restored yet");
	/* runc always asks for an empty network namespace (it leaves networking to others): a dump
	 * has nothing to leave out, as it takes no namespace; a restore would have to make one */
	if (ro->has_empty_ns && ro->empty_ns && cmd == CMD_RESTORE)
		return refuse("empty_ns", "namespaces are not restored yet");
	if (ro->n_exec_cmd)
		return refuse("exec_cmd", "running a command after restore");
	if (ro->n_ext_mnt || ro->auto_ext_mnt || ro->ext_sharing || ro->ext_masters ||
	    ro->n_skip_mnt || ro->n_enable_fs ||
	    (ro->has_mntns_compat_mode && ro->mntns_compat_mode))
		return refuse("ext_mnt/auto_ext_mnt/skip_mnt/enable_fs",
			      "mount namespaces are not dumped or restored yet");
	if (ro->n_unix_sk_ino || ro->n_external)
		return refuse("external/unix_sk_ino", "external resources are not mapped yet");
	if (ro->n_inherit_fd)
		return refuse("inherit_fd", "restored files are reopened, never inherited");
	if (ro->cgroup_props || ro->cgroup_props_file || ro->n_cgroup_dump_controller ||
	    ro->cgroup_yard)
		return refuse("cgroup_props/cgroup_dump_controller/cgroup_yard",
			      "cgroup properties are not dumped");
	if (ro->has_manage_cgroups_mode && (ro->manage_cgroups_mode == CRIU_CG_MODE__PROPS ||
					    ro->manage_cgroups_mode == CRIU_CG_MODE__FULL ||
					    ro->manage_cgroups_mode == CRIU_CG_MODE__STRICT))
		return refuse("manage_cgroups_mode props/full/strict",
			      "cgroups are not created nor their properties restored; "
			      "soft, none and ignore are");
	if (ro->has_tcp_close && ro->tcp_close)
		return refuse("tcp_close", "established connections are restored or refused");
	if (ro->config_file)
		return refuse("config_file", "options come from the request only");
	if (ro->lsm_profile || ro->lsm_mount_context)
		return refuse("lsm_profile/lsm_mount_context", "LSM labels are not set");
	if ((ro->has_tls && ro->tls) || ro->tls_cacert || ro->tls_cert || ro->tls_key)
		return refuse("tls", "the page server speaks plain TCP");
	if (ro->has_pidfd_store_sk)
		return refuse("pidfd_store_sk", "pid-reuse checks between pre-dumps");
	if (ro->has_unprivileged && ro->unprivileged)
		return refuse("unprivileged", "dump and restore need root here");
	if (ro->root && cmd == CMD_RESTORE && strcmp(ro->root, "/"))
		return refuse("root", "restoring into another root (a container's mount namespace) "
				      "is not built yet");
	if (ro->has_rst_sibling && ro->rst_sibling && cmd != CMD_RESTORE)
		return refuse("rst_sibling", "only restore has it");
	return 0;
}

/* A dump's root must be the tree's own root as we see it: paths are read through /proc. */
static int check_dump_root(const CriuOpts *ro, int pid)
{
	struct stat a, b;
	char p[64];

	if (!ro->root || !strcmp(ro->root, "/"))
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/root", pid);
	if (stat(ro->root, &a) || stat(p, &b)) {
		pr_perror("cannot compare root %s with the root of %d", ro->root, pid);
		return -ENOENT;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return refuse("root", "it is not the root directory of the tree's root task");
	return 0;
}

/* Our own cgroup in the hierarchy whose controllers are ctrl ("" for the unified one), from
 * /proc/self/cgroup. 0, or -ENOENT when no line has them. */
static int own_cgroup(const char *ctrl, char *path, size_t len)
{
	char line[4096], *c, *p;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		c = strchr(line, ':');
		p = c ? strchr(c + 1, ':') : NULL;
		if (!p)
			continue;
		*p++ = '\0';
		p[strcspn(p, "\n")] = '\0';
		if (!strcmp(c + 1, ctrl)) {
			snprintf(path, len, "%s", p);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

/* cg_root says where the restored tasks belong. The runtime has put this service there already
 * (runc: the cgroups it made for the container) and the tasks we make inherit ours, so the
 * request is honoured when we are where it says; moving ourselves is not built. */
static int check_cg_roots(const CriuOpts *ro)
{
	char own[4096];
	size_t i;

	for (i = 0; i < ro->n_cg_root; i++) {
		const char *ctrl = ro->cg_root[i]->ctrl ? ro->cg_root[i]->ctrl : "";

		if (own_cgroup(ctrl, own, sizeof(own))) {
			pr_err("cg_root %s:%s: no cgroup hierarchy with these controllers here\n",
			       ctrl, ro->cg_root[i]->path);
			return -ENOENT;
		}
		if (strcmp(own, ro->cg_root[i]->path))
			return refuse("cg_root",
				      "the tasks would land in the cgroups of this service, "
				      "not in the ones asked for");
	}
	return 0;
}

static int open_status_fd(struct swrk *sw, int fd, int *out)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/fd/%d", sw->peer, fd);
	*out = open(p, O_WRONLY | O_CLOEXEC);
	if (*out < 0) {
		pr_perror("cannot open the runtime's status fd %d", fd);
		return -errno;
	}
	return 0;
}

int swrk_map_opts(struct swrk *sw, const CriuOpts *ro, enum crl_cmd cmd, struct crl_opts *o)
{
	static const char *names[] = {
	    [CMD_DUMP] = "dump",
	    [CMD_PRE_DUMP] = "pre-dump",
	    [CMD_RESTORE] = "restore",
	    [CMD_PAGE_SERVER] = "page-server",
	};
	int level = ro->has_log_level ? ro->log_level : 2;
	int ret;

	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->cmd_name = names[cmd];
	o->status_fd = -1;
	o->swrk_fd = -1;
	o->compress_level = 1;
	o->lazy_timeout = 60;
	o->notify = swrk_notify;
	o->notify_arg = sw;
	if (level < 0)
		level = 0;
	if (level > 4)
		level = 4;
	o->log_level = level;

	ret = open_peer_dir(sw, ro->images_dir_fd, &sw->images_fd, sw->images_path,
			    sizeof(sw->images_path));
	if (ret)
		return ret;
	o->images_dir = sw->images_path;
	o->work_dir = sw->images_path;
	if (ro->has_work_dir_fd) {
		ret = open_peer_dir(sw, ro->work_dir_fd, &sw->work_fd, sw->work_path,
				    sizeof(sw->work_path));
		if (ret)
			return ret;
		o->work_dir = sw->work_path;
	}
	ret = open_log(sw, ro, o->work_dir, level);
	if (ret)
		return ret;
	pr_info("%s request from %d\n", o->cmd_name, sw->peer);

	/* the first thing a container's dump meets, and the reason behind any refusal below */
	if ((CMD_BIT(cmd) & DUMPS) && ro->has_pid && ro->pid > 0) {
		ret = dump_ns_check(ro->pid);
		if (ret)
			return ret;
	}
	ret = check_unsupported(ro, cmd);
	if (ret)
		return ret;
	sw->notify = ro->has_notify_scripts && ro->notify_scripts;
	if (CMD_BIT(cmd) & DUMPS) {
		if (!ro->has_pid || ro->pid <= 0) {
			pr_err("no pid to dump: dumping the runtime itself is not supported\n");
			return -EINVAL;
		}
		o->tree_pid = ro->pid;
		ret = check_dump_root(ro, ro->pid);
		if (ret)
			return ret;
	}
	o->leave_running = ro->has_leave_running && ro->leave_running;
	o->leave_stopped = ro->has_leave_stopped && ro->leave_stopped;
	o->shell_job = ro->has_shell_job && ro->shell_job;
	o->tcp_established = ro->has_tcp_established && ro->tcp_established;
	o->lazy_pages = ro->has_lazy_pages && ro->lazy_pages;
	o->track_mem = ro->has_track_mem && ro->track_mem;
	o->display_stats = ro->has_display_stats && ro->display_stats;
	o->prev_images_dir = ro->parent_img;
	o->restore_sibling = ro->has_rst_sibling && ro->rst_sibling;
	/* the tree must outlive this service, which exits after answering */
	o->restore_detached = true;
	if (ro->ps) {
		o->address = ro->ps->address;
		o->port = ro->ps->has_port ? ro->ps->port : 0;
		if (ro->ps->has_fd) /* CRIU's "connect through this fd" */
			return refuse("ps.fd", "the page server is reached by address and port");
		if (cmd == CMD_RESTORE)
			return refuse("ps",
				      "a lazy restore takes its pages from the lazy-pages daemon");
		/* with lazy_pages the dump is the page server (post-copy source); without, it
		 * would send the images to one */
		if (cmd != CMD_PAGE_SERVER && !o->lazy_pages)
			o->page_server = true;
	}
	if (ro->has_status_fd) {
		ret = open_status_fd(sw, ro->status_fd, &o->status_fd);
		if (ret)
			return ret;
	}
	ret = check_cg_roots(ro);
	if (ret)
		return ret;
	if (ro->has_manage_cgroups && ro->manage_cgroups)
		/* the runtime puts this service in the container's cgroups before restoring
		 * (runc's criuApplyCgroups), and the restored tasks are its children */
		pr_info("cgroups: restored tasks stay in the cgroups the runtime put us in\n");
	if (ro->has_evasive_devices && ro->evasive_devices)
		pr_info("evasive_devices: device files are reopened by path; a changed device "
			"number is only warned about\n");
	if (ro->freeze_cgroup)
		pr_info("freeze_cgroup %s: the tree is frozen with ptrace instead\n",
			ro->freeze_cgroup);
	if (o->leave_running && o->leave_stopped) {
		pr_err("leave_running and leave_stopped exclude each other\n");
		return -EINVAL;
	}
	if (o->page_server && !o->port) {
		pr_err("ps: a page server port is needed\n");
		return -EINVAL;
	}
	return 0;
}

void swrk_unmap_opts(struct swrk *sw, struct crl_opts *o)
{
	if (sw->images_fd >= 0)
		close(sw->images_fd);
	if (sw->work_fd >= 0)
		close(sw->work_fd);
	sw->images_fd = sw->work_fd = -1;
	/* the status fd is the subcommand's: it closes it once it has said ready, and a failed
	 * one leaves it to our exit, so the runtime's reader sees EOF either way */
	o->status_fd = -1;
}
