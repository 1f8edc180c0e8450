/* criu-lazy: argv -> struct crl_opts -> one subcommand. Only here do errors become exit codes. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "log.h"
#include "opts.h"

static const char *default_log(enum crl_cmd cmd)
{
	switch (cmd) {
	case CMD_DUMP:
		return "dump.log";
	case CMD_PRE_DUMP:
		return "pre-dump.log";
	case CMD_RESTORE:
		return "restore.log";
	case CMD_LAZY_PAGES:
		return "lazy-pages.log";
	case CMD_PAGE_SERVER:
		return "page-server.log";
	default:
		return NULL; /* check, show: the terminal only */
	}
}

/* Log files are relative to the work dir, as CRIU's are. */
static int open_log(const struct crl_opts *o)
{
	const char *name = o->log_file ? o->log_file : default_log(o->cmd);
	char path[4096];

	if (!name || !strcmp(name, "-"))
		return log_init(NULL, o->log_level);
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		/* dump makes the dir it writes into; the others read an existing one, and
		 * must not leave an empty dir with a log behind for a mistyped -D */
		bool writes = o->cmd == CMD_DUMP || o->cmd == CMD_PRE_DUMP;

		if (writes && mkdir(o->work_dir, 0755) && errno != EEXIST) {
			fprintf(stderr, "Error: cannot create work dir %s: %s\n", o->work_dir,
				strerror(errno));
			return -errno;
		}
		if (!writes && access(o->work_dir, W_OK)) {
			fprintf(stderr, "Error: %s dir %s: %s\n",
				o->work_dir == o->images_dir ? "images" : "work", o->work_dir,
				strerror(errno));
			return -errno;
		}
		snprintf(path, sizeof(path), "%s/%s", o->work_dir, name);
	}
	return log_init(path, o->log_level);
}

int cmd_not_built(const struct crl_opts *o, const char *what)
{
	pr_err("'%s'%s%s is not implemented yet in this version of criu-lazy\n", o->cmd_name,
	       what ? ": " : "", what ? what : "");
	return -ENOSYS;
}

int main(int argc, char **argv)
{
	struct crl_opts o;
	int ret;

	ret = opts_parse(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 1;
	if (open_log(&o))
		return 1;

	switch (o.cmd) {
	case CMD_DUMP:
		ret = cmd_dump(&o);
		break;
	case CMD_PRE_DUMP:
		ret = cmd_pre_dump(&o);
		break;
	case CMD_RESTORE:
		ret = cmd_restore(&o);
		break;
	case CMD_LAZY_PAGES:
		ret = cmd_lazy_pages(&o);
		break;
	case CMD_PAGE_SERVER:
		ret = cmd_page_server(&o);
		break;
	case CMD_CHECK:
		ret = cmd_check(&o);
		break;
	case CMD_SHOW:
		ret = cmd_show(&o);
		break;
	case CMD_SWRK:
		ret = cmd_swrk(&o);
		break;
	default:
		ret = -EINVAL;
	}
	log_fini();
	/* restore in the foreground hands back the root's exit code (>= 0) */
	if (ret >= 0)
		return ret;
	return 1;
}
