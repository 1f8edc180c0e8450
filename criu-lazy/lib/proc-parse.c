/* Parsers of /proc/PID files (see proc-parse.h). */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "log.h"
#include "proc-parse.h"

static void task_path(char *buf, size_t len, pid_t pid, pid_t tid, const char *file)
{
	if (tid)
		snprintf(buf, len, "/proc/%d/task/%d/%s", pid, tid, file);
	else
		snprintf(buf, len, "/proc/%d/%s", pid, file);
}

/* A vanished task is the caller's business; anything else is worth a line in the log. */
static int open_err(const char *path)
{
	int err = -errno;

	if (err != -ENOENT && err != -ESRCH)
		pr_perror("cannot open %s", path);
	return err;
}

int proc_read_file(const char *path, char **pbuf, size_t *plen)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nbuf;
	ssize_t n;
	int fd, err;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return open_err(path);
	}
	while (1) {
		if (cap - len < 4096) {
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				err = -ENOMEM;
				goto err;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			if (err != -ESRCH)
				pr_perror("cannot read %s", path);
			goto err;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	*pbuf = buf;
	if (plen)
		*plen = len;
	return 0;
err:
	close(fd);
	free(buf);
	return err;
}

static const struct {
	char name[3];
	unsigned int bit;
} vmflag_names[] = {
    {"gd", PVF_GROWSDOWN},  {"lo", PVF_LOCKED},	      {"dc", PVF_DONTCOPY},   {"dd", PVF_DONTDUMP},
    {"wf", PVF_WIPEONFORK}, {"hg", PVF_HUGEPAGE},     {"nh", PVF_NOHUGEPAGE}, {"mg", PVF_MERGEABLE},
    {"nr", PVF_NORESERVE},  {"ht", PVF_HUGETLB},      {"io", PVF_IO},	      {"pf", PVF_PFNMAP},
    {"sl", PVF_SEALED},	    {"um", PVF_UFFD_MISSING}, {"uw", PVF_UFFD_WP},    {"sh", PVF_SHARED},
    {"rr", PVF_RANDREAD},   {"sr", PVF_SEQREAD},
};

static void parse_vmflags(struct proc_vma *v, const char *s)
{
	size_t i;

	while (*s == ' ')
		s++;
	snprintf(v->vmflags_str, sizeof(v->vmflags_str), "%s", s);
	v->vmflags_str[strcspn(v->vmflags_str, "\n")] = '\0';
	for (i = strlen(v->vmflags_str); i > 0 && v->vmflags_str[i - 1] == ' '; i--)
		v->vmflags_str[i - 1] = '\0';
	while (*s && *s != '\n') {
		for (i = 0; i < sizeof(vmflag_names) / sizeof(vmflag_names[0]); i++)
			if (!strncmp(s, vmflag_names[i].name, 2))
				v->vmflags |= vmflag_names[i].bit;
		s += strcspn(s, " \n");
		while (*s == ' ')
			s++;
	}
}

/* "start-end perms pgoff maj:min ino   name" */
static int parse_maps_line(const char *line, struct proc_vma *v)
{
	char perms[5];
	int n = 0;

	memset(v, 0, sizeof(*v));
	if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu %n", &v->start, &v->end, perms, &v->pgoff,
		   &v->dev_major, &v->dev_minor, &v->ino, &n) < 7 ||
	    !n)
		return -EINVAL;
	v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	v->shared = perms[3] == 's';
	v->name = strndup(line + n, strcspn(line + n, "\n"));
	return v->name ? 0 : -ENOMEM;
}

static bool is_maps_line(const char *line)
{
	/* smaps field lines start with "Name:"; VMA lines with a hex address */
	const char *p = line;

	while (isxdigit((unsigned char)*p))
		p++;
	return p != line && *p == '-';
}

int proc_parse_smaps(pid_t pid, struct proc_vma **pvmas, int *pnr)
{
	struct proc_vma *vmas = NULL, *v = NULL, *nv;
	int nr = 0, cap = 0, ret;
	char path[64], *buf, *line, *next;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	for (line = buf; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (is_maps_line(line)) {
			if (nr == cap) {
				cap = cap ? cap * 2 : 64;
				nv = realloc(vmas, cap * sizeof(*vmas));
				if (!nv) {
					ret = -ENOMEM;
					goto err;
				}
				vmas = nv;
			}
			v = &vmas[nr];
			ret = parse_maps_line(line, v);
			if (ret) {
				pr_err("%s: cannot parse '%s'\n", path, line);
				goto err;
			}
			nr++;
		} else if (v && !strncmp(line, "VmFlags:", 8)) {
			parse_vmflags(v, line + 8);
		} else if (v && !strncmp(line, "Rss:", 4)) {
			v->rss = strtoul(line + 4, NULL, 10);
		}
	}
	free(buf);
	*pvmas = vmas;
	*pnr = nr;
	return 0;
err:
	free(buf);
	proc_vmas_free(vmas, nr);
	return ret;
}

void proc_vmas_free(struct proc_vma *vmas, int nr)
{
	int i;

	for (i = 0; i < nr; i++)
		free(vmas[i].name);
	free(vmas);
}

int proc_parse_stat(pid_t pid, pid_t tid, struct proc_stat *st)
{
	char path[64], *buf, *p, *end;
	unsigned long long f[64];
	int n = 0, ret;
	size_t clen;

	task_path(path, sizeof(path), pid, tid, "stat");
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	/* comm may hold spaces and parentheses: it ends at the last ')' */
	p = strchr(buf, '(');
	end = strrchr(buf, ')');
	if (!p || !end || end < p) {
		pr_err("%s: malformed\n", path);
		free(buf);
		return -EINVAL;
	}
	st->pid = atoi(buf);
	clen = end - p - 1;
	if (clen >= sizeof(st->comm))
		clen = sizeof(st->comm) - 1;
	memcpy(st->comm, p + 1, clen);
	p = end + 2;
	st->state = *p;
	p += 1;
	/* fields 4.. (1-based): f[4] is ppid */
	while (n < 60 && *p) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		f[4 + n] = strtoll(p, &end, 10);
		if (end == p)
			break;
		p = end;
		n++;
	}
	free(buf);
	if (n < 41) {
		pr_err("%s: only %d fields\n", path, n + 3);
		return -EINVAL;
	}
	st->ppid = f[4];
	st->pgid = f[5];
	st->sid = f[6];
	st->tty_nr = f[7];
	st->flags = f[9];
	st->priority = (long)f[18];
	st->nice = (long)f[19];
	st->num_threads = f[20];
	st->start_time = f[22];
	st->start_code = f[26];
	st->end_code = f[27];
	st->start_stack = f[28];
	st->rt_priority = f[40];
	st->policy = f[41];
	if (n >= 49) {
		st->start_data = f[45];
		st->end_data = f[46];
		st->start_brk = f[47];
		st->arg_start = f[48];
		st->arg_end = f[49];
		st->env_start = f[50];
		st->env_end = f[51];
		st->exit_code = f[52];
	}
	return 0;
}

static int parse_u32_list(const char *s, unsigned int *out, int max)
{
	char *end;
	int n = 0;

	while (n < max) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s)
			break;
		out[n++] = v;
		s = end;
	}
	return n;
}

int proc_parse_status(pid_t pid, pid_t tid, struct proc_status *st)
{
	char path[64], *buf, *line, *next;
	int ret;

	task_path(path, sizeof(path), pid, tid, "status");
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	st->umask = -1;
	for (line = buf; *line; line = next) {
		char *v = strchr(line, ':');

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (!v)
			continue;
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (!strcmp(line, "State"))
			st->state = *v;
		else if (!strcmp(line, "Tgid"))
			st->tgid = atoi(v);
		else if (!strcmp(line, "PPid"))
			st->ppid = atoi(v);
		else if (!strcmp(line, "Umask"))
			st->umask = strtoul(v, NULL, 8);
		else if (!strcmp(line, "Uid"))
			parse_u32_list(v, st->uid, 4);
		else if (!strcmp(line, "Gid"))
			parse_u32_list(v, st->gid, 4);
		else if (!strcmp(line, "Groups")) {
			unsigned int tmp[PROC_MAX_GROUPS / 64];
			int n = parse_u32_list(v, tmp, sizeof(tmp) / sizeof(tmp[0]));

			st->groups = malloc((n ? n : 1) * sizeof(unsigned int));
			if (!st->groups) {
				ret = -ENOMEM;
				break;
			}
			memcpy(st->groups, tmp, n * sizeof(unsigned int));
			st->nr_groups = n;
		} else if (!strcmp(line, "NoNewPrivs"))
			st->no_new_privs = atoi(v);
		else if (!strcmp(line, "Seccomp"))
			st->seccomp = atoi(v);
		else if (!strcmp(line, "Seccomp_filters"))
			st->seccomp_filters = atoi(v);
		else if (!strcmp(line, "CapInh"))
			st->cap_inh = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapPrm"))
			st->cap_prm = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapEff"))
			st->cap_eff = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapBnd"))
			st->cap_bnd = strtoull(v, NULL, 16);
		else if (!strcmp(line, "CapAmb"))
			st->cap_amb = strtoull(v, NULL, 16);
		else if (!strcmp(line, "SigPnd"))
			st->sig_pnd = strtoull(v, NULL, 16);
		else if (!strcmp(line, "ShdPnd"))
			st->shd_pnd = strtoull(v, NULL, 16);
		else if (!strcmp(line, "SigBlk"))
			st->sig_blk = strtoull(v, NULL, 16);
		else if (!strcmp(line, "SigIgn"))
			st->sig_ign = strtoull(v, NULL, 16);
		else if (!strcmp(line, "SigCgt"))
			st->sig_cgt = strtoull(v, NULL, 16);
		else if (!strcmp(line, "NSpid")) {
			unsigned int tmp[32];

			st->nspid_depth = parse_u32_list(v, tmp, 32);
		}
	}
	free(buf);
	if (ret)
		proc_status_fini(st);
	return ret;
}

void proc_status_fini(struct proc_status *st)
{
	free(st->groups);
	st->groups = NULL;
	st->nr_groups = 0;
}

static const char *const limit_names[RLIM_NLIMITS] = {
    [RLIMIT_CPU] = "Max cpu time",
    [RLIMIT_FSIZE] = "Max file size",
    [RLIMIT_DATA] = "Max data size",
    [RLIMIT_STACK] = "Max stack size",
    [RLIMIT_CORE] = "Max core file size",
    [RLIMIT_RSS] = "Max resident set",
    [RLIMIT_NPROC] = "Max processes",
    [RLIMIT_NOFILE] = "Max open files",
    [RLIMIT_MEMLOCK] = "Max locked memory",
    [RLIMIT_AS] = "Max address space",
    [RLIMIT_LOCKS] = "Max file locks",
    [RLIMIT_SIGPENDING] = "Max pending signals",
    [RLIMIT_MSGQUEUE] = "Max msgqueue size",
    [RLIMIT_NICE] = "Max nice priority",
    [RLIMIT_RTPRIO] = "Max realtime priority",
    [RLIMIT_RTTIME] = "Max realtime timeout",
};

static int parse_limit_value(const char *s, const char **end, rlim_t *v)
{
	char *e;

	while (*s == ' ')
		s++;
	if (!strncmp(s, "unlimited", 9)) {
		*v = RLIM_INFINITY;
		*end = s + 9;
		return 0;
	}
	*v = strtoull(s, &e, 10);
	if (e == s)
		return -EINVAL;
	*end = e;
	return 0;
}

int proc_parse_limits(pid_t pid, struct rlimit *rl)
{
	char path[64], *buf, *line, *next;
	int i, found = 0, ret;

	snprintf(path, sizeof(path), "/proc/%d/limits", pid);
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	for (line = buf; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		for (i = 0; i < RLIM_NLIMITS; i++) {
			size_t l = strlen(limit_names[i]);
			const char *p;

			if (strncmp(line, limit_names[i], l) || line[l] != ' ')
				continue;
			p = line + l;
			if (parse_limit_value(p, &p, &rl[i].rlim_cur) ||
			    parse_limit_value(p, &p, &rl[i].rlim_max)) {
				pr_err("%s: cannot parse '%s'\n", path, line);
				free(buf);
				return -EINVAL;
			}
			found |= 1 << i;
		}
	}
	free(buf);
	if (found != (1 << RLIM_NLIMITS) - 1) {
		pr_err("%s: some limits are missing (found %#x)\n", path, found);
		return -EINVAL;
	}
	return 0;
}

int proc_parse_fdinfo(pid_t pid, int fd, struct proc_fdinfo *fi)
{
	char path[64], *buf, *p;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	memset(fi, 0, sizeof(*fi));
	p = strstr(buf, "pos:");
	if (p)
		fi->pos = strtoull(p + 4, NULL, 10);
	p = strstr(buf, "flags:");
	if (p)
		fi->flags = strtoul(p + 6, NULL, 8);
	p = strstr(buf, "mnt_id:");
	if (p)
		fi->mnt_id = strtoul(p + 7, NULL, 10);
	p = strstr(buf, "ino:");
	if (p)
		fi->ino = strtoul(p + 4, NULL, 10);
	free(buf);
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

static int push_pid(pid_t **arr, int *nr, int *cap, pid_t pid)
{
	if (*nr == *cap) {
		pid_t *n = realloc(*arr, (*cap ? *cap * 2 : 16) * sizeof(pid_t));

		if (!n)
			return -ENOMEM;
		*arr = n;
		*cap = *cap ? *cap * 2 : 16;
	}
	(*arr)[(*nr)++] = pid;
	return 0;
}

int proc_list_tasks(pid_t pid, pid_t **ptids, int *pnr)
{
	pid_t *tids = NULL;
	int nr = 0, cap = 0, ret = 0, i;
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return open_err(path);
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		ret = push_pid(&tids, &nr, &cap, atoi(de->d_name));
		if (ret)
			break;
	}
	closedir(d);
	if (ret || !nr) {
		free(tids);
		return ret ? ret : -ESRCH;
	}
	qsort(tids, nr, sizeof(pid_t), cmp_pid);
	for (i = 0; i < nr; i++) {
		if (tids[i] == pid) {
			memmove(tids + 1, tids, i * sizeof(pid_t));
			tids[0] = pid;
			break;
		}
	}
	*ptids = tids;
	*pnr = nr;
	return 0;
}

int proc_list_children(pid_t ppid, pid_t **ppids, int *pnr)
{
	pid_t *pids = NULL;
	int nr = 0, cap = 0, ret = 0;
	struct proc_stat st;
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return open_err("/proc");
	while ((de = readdir(d))) {
		pid_t pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		if (pid == ppid || proc_parse_stat(pid, 0, &st))
			continue; /* gone meanwhile: not a child any more */
		if (st.ppid != ppid)
			continue;
		ret = push_pid(&pids, &nr, &cap, pid);
		if (ret)
			break;
	}
	closedir(d);
	if (ret) {
		free(pids);
		return ret;
	}
	if (nr)
		qsort(pids, nr, sizeof(pid_t), cmp_pid);
	*ppids = pids;
	*pnr = nr;
	return 0;
}

const char *proc_field(const char *buf, const char *key)
{
	size_t kl = strlen(key);
	const char *p = buf;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int proc_parse_timers(pid_t pid, struct proc_timer **ptimers, int *pnr)
{
	struct proc_timer *timers = NULL, *t = NULL, *n;
	char path[64], *buf, *line, *next, how[16], what[16];
	int nr = 0, ret;

	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	ret = proc_read_file(path, &buf, NULL);
	if (ret)
		return ret;
	for (line = buf; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (!strncmp(line, "ID:", 3)) {
			n = realloc(timers, (nr + 1) * sizeof(*n));
			if (!n) {
				ret = -ENOMEM;
				break;
			}
			timers = n;
			t = &timers[nr++];
			memset(t, 0, sizeof(*t));
			t->id = atoi(line + 3);
		} else if (!t) {
			continue;
		} else if (!strncmp(line, "signal:", 7)) {
			unsigned long long v = 0;

			if (sscanf(line + 7, " %d/%llx", &t->signo, &v) < 1)
				ret = -EINVAL;
			t->sival = v;
		} else if (!strncmp(line, "notify:", 7)) {
			/* "signal/pid.N", "thread/tid.N", "none/pid.N" */
			if (sscanf(line + 7, " %15[a-z]/%15[a-z].%d", how, what, &t->notify_tid) !=
			    3)
				ret = -EINVAL;
			else if (!strcmp(how, "none"))
				t->notify = SIGEV_NONE;
			else if (!strcmp(how, "thread"))
				t->notify = SIGEV_THREAD_ID;
			else
				t->notify = SIGEV_SIGNAL;
		} else if (!strncmp(line, "ClockID:", 8)) {
			t->clockid = atoi(line + 8);
		}
		if (ret) {
			pr_err("%s: cannot parse '%s'\n", path, line);
			break;
		}
	}
	free(buf);
	if (ret) {
		free(timers);
		return ret;
	}
	*ptimers = timers;
	*pnr = nr;
	return 0;
}

int proc_sysv_shm(unsigned int shmid, struct proc_shm *shm)
{
	char *buf, *line, *next;
	int ret;

	ret = proc_read_file("/proc/sysvipc/shm", &buf, NULL);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (line = buf; *line; line = next) {
		struct proc_shm s = {};

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		/* key shmid perms size cpid lpid nattch uid gid cuid cgid ... */
		if (sscanf(line, "%d %u %o %llu %*d %*d %*u %u %u %u %u", &s.key, &s.shmid, &s.mode,
			   &s.size, &s.uid, &s.gid, &s.cuid, &s.cgid) != 8 ||
		    s.shmid != shmid)
			continue;
		*shm = s;
		ret = 0;
		break;
	}
	free(buf);
	return ret;
}
