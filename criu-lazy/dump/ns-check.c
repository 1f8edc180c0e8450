/* Namespaces are not dumped yet: a tree that does not share ours (a container's pid, mount, uts,
 * ipc or network namespace) would be restored into the wrong ones, with pids that mean something
 * else. Say which ones instead of producing such images. A mount namespace of its own is fine when
 * the tree sees the same root as we do (`ip netns exec` gives every command one): paths are read
 * through /proc and mean the same there. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_PREFIX "dump: "
#include "log.h"
#include "dump.h"

static const char *const ns_names[] = {"pid", "mnt", "uts", "ipc", "net", "user", "cgroup", "time"};

static bool same_root(pid_t pid)
{
	struct stat ours, theirs;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/root/", pid);
	if (stat("/", &ours) || stat(path, &theirs))
		return false;
	return ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev;
}

int dump_ns_check(pid_t pid)
{
	char path[64], own[128] = "";
	struct stat ours, theirs;
	size_t i, used = 0;

	for (i = 0; i < sizeof(ns_names) / sizeof(ns_names[0]); i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_names[i]);
		if (stat(path, &ours))
			continue; /* a namespace type this kernel lacks */
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns_names[i]);
		if (stat(path, &theirs)) {
			if (errno == ENOENT || errno == ESRCH) {
				pr_err("process %d does not exist\n", pid);
				return -ESRCH;
			}
			pr_perror("cannot read %s", path);
			return -errno;
		}
		if (ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev)
			continue;
		if (!strcmp(ns_names[i], "mnt") && same_root(pid))
			continue;
		used +=
		    snprintf(own + used, sizeof(own) - used, "%s%s", used ? ", " : "", ns_names[i]);
	}
	if (!used)
		return 0;
	pr_err("process %d is in namespaces of its own (%s): dumping namespaces is not supported "
	       "yet\n",
	       pid, own);
	return -EOPNOTSUPP;
}
