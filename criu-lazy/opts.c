/* Command line parsing: CRIU's option names and meanings, per subcommand. */
#include <getopt.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "version.h"

enum {
	OPT_PIDFILE = 1000,
	OPT_SHELL_JOB,
	OPT_LAZY_PAGES,
	OPT_ADDRESS,
	OPT_PORT,
	OPT_PAGE_SERVER,
	OPT_PREV_IMAGES_DIR,
	OPT_TRACK_MEM,
	OPT_DISPLAY_STATS,
	OPT_STATUS_FD,
	OPT_COMPRESS_LEVEL,
	OPT_LAZY_TIMEOUT,
	OPT_RESTORE_SIBLING,
	OPT_TCP_ESTABLISHED,
	OPT_FEATURE,
	OPT_JSON,
	OPT_TLS,
	OPT_TLS_CACERT,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
};

/* Which subcommands an option applies to. */
#define C(x) (1u << (x))
#define ALL_CMDS (~0u)
#define DUMPS (C(CMD_DUMP) | C(CMD_PRE_DUMP))
#define MAX_SEEN 64

struct opt_scope {
	int val;
	unsigned int cmds;
};

static const struct opt_scope scopes[] = {
    {'t', DUMPS},
    {'D', ALL_CMDS & ~C(CMD_CHECK)},
    {'W', ALL_CMDS},
    {'o', ALL_CMDS},
    {'v', ALL_CMDS},
    {OPT_PIDFILE, C(CMD_RESTORE) | C(CMD_PAGE_SERVER) | C(CMD_LAZY_PAGES)},
    {'d', C(CMD_RESTORE) | C(CMD_PAGE_SERVER) | C(CMD_LAZY_PAGES)},
    {'R', DUMPS},
    {'s', DUMPS},
    {OPT_SHELL_JOB, DUMPS | C(CMD_RESTORE)},
    {OPT_LAZY_PAGES, C(CMD_DUMP) | C(CMD_RESTORE) | C(CMD_PAGE_SERVER)},
    {OPT_ADDRESS, DUMPS | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_PORT, DUMPS | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_PAGE_SERVER, DUMPS | C(CMD_LAZY_PAGES)},
    {OPT_PREV_IMAGES_DIR, DUMPS},
    {OPT_TRACK_MEM, DUMPS},
    {OPT_DISPLAY_STATS, DUMPS | C(CMD_RESTORE) | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_STATUS_FD, C(CMD_DUMP) | C(CMD_RESTORE) | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_COMPRESS_LEVEL, DUMPS | C(CMD_PAGE_SERVER)},
    {OPT_LAZY_TIMEOUT, C(CMD_DUMP) | C(CMD_RESTORE) | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_RESTORE_SIBLING, C(CMD_RESTORE)},
    {OPT_TCP_ESTABLISHED, DUMPS | C(CMD_RESTORE) | C(CMD_LAZY_PAGES)},
    {OPT_FEATURE, C(CMD_CHECK)},
    {OPT_JSON, C(CMD_SHOW)},
    {OPT_TLS, DUMPS | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_TLS_CACERT, DUMPS | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_TLS_CERT, DUMPS | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
    {OPT_TLS_KEY, DUMPS | C(CMD_LAZY_PAGES) | C(CMD_PAGE_SERVER)},
};

static const struct option long_opts[] = {
    {"tree", required_argument, NULL, 't'},
    {"images-dir", required_argument, NULL, 'D'},
    {"work-dir", required_argument, NULL, 'W'},
    {"log-file", required_argument, NULL, 'o'},
    {"verbosity", optional_argument, NULL, 'v'},
    {"pidfile", required_argument, NULL, OPT_PIDFILE},
    {"restore-detached", no_argument, NULL, 'd'},
    {"daemon", no_argument, NULL, 'd'},
    {"leave-running", no_argument, NULL, 'R'},
    {"leave-stopped", no_argument, NULL, 's'},
    {"shell-job", no_argument, NULL, OPT_SHELL_JOB},
    {"lazy-pages", no_argument, NULL, OPT_LAZY_PAGES},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"port", required_argument, NULL, OPT_PORT},
    {"page-server", no_argument, NULL, OPT_PAGE_SERVER},
    {"prev-images-dir", required_argument, NULL, OPT_PREV_IMAGES_DIR},
    {"track-mem", no_argument, NULL, OPT_TRACK_MEM},
    {"display-stats", no_argument, NULL, OPT_DISPLAY_STATS},
    {"status-fd", required_argument, NULL, OPT_STATUS_FD},
    {"compress-level", required_argument, NULL, OPT_COMPRESS_LEVEL},
    {"lazy-timeout", required_argument, NULL, OPT_LAZY_TIMEOUT},
    {"restore-sibling", no_argument, NULL, OPT_RESTORE_SIBLING},
    {"tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED},
    {"feature", required_argument, NULL, OPT_FEATURE},
    {"json", no_argument, NULL, OPT_JSON},
    {"tls", no_argument, NULL, OPT_TLS},
    {"tls-cacert", required_argument, NULL, OPT_TLS_CACERT},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct {
	const char *name;
	enum crl_cmd cmd;
} commands[] = {
    {"dump", CMD_DUMP},
    {"pre-dump", CMD_PRE_DUMP},
    {"restore", CMD_RESTORE},
    {"lazy-pages", CMD_LAZY_PAGES},
    {"page-server", CMD_PAGE_SERVER},
    {"check", CMD_CHECK},
    {"show", CMD_SHOW},
    {"swrk", CMD_SWRK},
};

void opts_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage:\n"
	    "  criu-lazy dump -t PID -D DIR [-R|-s] [--lazy-pages --address A --port P]\n"
	    "  criu-lazy pre-dump -t PID -D DIR [--prev-images-dir DIR] [--track-mem]\n"
	    "  criu-lazy restore -D DIR [-d] [--pidfile F] [--lazy-pages]\n"
	    "  criu-lazy lazy-pages -D DIR [--page-server --address A --port P]\n"
	    "  criu-lazy page-server -D DIR --port P [--address A] [--lazy-pages]\n"
	    "  criu-lazy check [--feature NAME]\n"
	    "  criu-lazy show FILE | -D DIR [--json]\n"
	    "  criu-lazy swrk FD          serve CRIU's RPC on the SOCK_SEQPACKET socket FD\n"
	    "\n"
	    "Options:\n"
	    "  -t, --tree PID             root of the process tree to checkpoint\n"
	    "  -D, --images-dir DIR       directory of the image files (default: .)\n"
	    "  -W, --work-dir DIR         directory for logs and pid files (default: images dir)\n"
	    "  -o, --log-file FILE        log file, relative to the work dir ('-' for stderr)\n"
	    "  -v[N]                      verbosity 0..4 (default 2; each extra v adds one)\n"
	    "      --pidfile FILE         write the pid of the restored root (or of the daemon)\n"
	    "  -d, --restore-detached     do not wait for the restored tree; it reparents to init\n"
	    "  -R, --leave-running        leave the tree running after dump\n"
	    "  -s, --leave-stopped        leave the tree stopped after dump\n"
	    "      --shell-job            the tree is a shell job attached to this terminal\n"
	    "      --lazy-pages           restore: leave anonymous memory to the lazy-pages "
	    "daemon;\n"
	    "                             dump: serve memory to a remote lazy restore\n"
	    "      --address ADDR         page server address\n"
	    "      --port PORT            page server port\n"
	    "      --page-server          send to / fetch from a page server\n"
	    "      --prev-images-dir DIR  images of the previous pre-dump, relative to -D\n"
	    "      --track-mem            track memory changes for the next pre-dump/dump\n"
	    "      --display-stats        print statistics at the end\n"
	    "      --status-fd FD         write one zero byte to FD when ready, then close it\n"
	    "      --compress-level N     zstd level for page frames (default 1)\n"
	    "      --lazy-timeout SEC     kill lazily restored tasks left without a page source\n"
	    "                             that long (default 60); page-server, dump --lazy-pages:\n"
	    "                             how long a client whose link broke may take to come "
	    "back\n"
	    "      --restore-sibling      restore the root as a sibling, not a child\n"
	    "      --tcp-established      checkpoint established TCP connections\n"
	    "      --feature NAME         check: test one feature, exit 0 if present\n"
	    "      --json                 show: print JSON\n"
	    "      --tls, --tls-cacert F, --tls-cert F, --tls-key F\n"
	    "                             TLS for the page server: not supported yet (refused)\n"
	    "  -V, --version              print the version\n"
	    "  -h, --help                 this text\n");
}

static int parse_int(const char *s, const char *what, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "Error: bad %s: '%s'\n", what, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return i;
	return -1;
}

static bool opt_applies(int val, enum crl_cmd cmd)
{
	size_t i;

	for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
		if (scopes[i].val == val)
			return scopes[i].cmds & C(cmd);
	return true;
}

static const char *opt_name(int val)
{
	static char buf[4];
	const struct option *lo;

	for (lo = long_opts; lo->name; lo++)
		if (lo->val == val && val >= OPT_PIDFILE)
			return lo->name;
	for (lo = long_opts; lo->name; lo++)
		if (lo->val == val)
			return lo->name;
	snprintf(buf, sizeof(buf), "%c", val);
	return buf;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "Error: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n");
	opts_usage(stderr);
	return -1;
}

int opts_parse(struct crl_opts *o, int argc, char **argv)
{
	int c, idx = -1, ci, i, nseen = 0, tls_opt = 0;
	int seen[MAX_SEEN];

	memset(o, 0, sizeof(*o));
	o->images_dir = ".";
	o->log_level = 2;
	o->status_fd = -1;
	o->compress_level = 1;
	o->lazy_timeout = 60;
	o->swrk_fd = -1;

	/* The subcommand may stand anywhere among the options, as CRIU allows. */
	optind = 1;
	opterr = 0;
	while (1) {
		c = getopt_long(argc, argv, "-t:D:W:o:v::dRsVh", long_opts, &idx);
		if (c == -1)
			break;
		if (c != 1 && c != '?' && c != ':' && nseen < MAX_SEEN)
			seen[nseen++] = c;
		switch (c) {
		case 1:
			if (o->cmd == CMD_NONE) {
				ci = find_command(optarg);
				if (ci < 0)
					return usage_error("unknown command '%s'", optarg);
				o->cmd = commands[ci].cmd;
				o->cmd_name = commands[ci].name;
			} else if (o->cmd == CMD_SHOW && !o->show_file) {
				o->show_file = optarg;
			} else if (o->cmd == CMD_SWRK && o->swrk_fd < 0) {
				if (parse_int(optarg, "swrk fd", 0, INT_MAX, &o->swrk_fd))
					return -1;
			} else {
				return usage_error("unexpected argument '%s'", optarg);
			}
			break;
		case 't':
			if (parse_int(optarg, "pid", 1, INT_MAX, &o->tree_pid))
				return -1;
			break;
		case 'D':
			o->images_dir = optarg;
			break;
		case 'W':
			o->work_dir = optarg;
			break;
		case 'o':
			o->log_file = optarg;
			break;
		case 'v':
			if (!optarg)
				o->log_level++;
			else if (optarg[strspn(optarg, "v")] == '\0')
				o->log_level += 1 + strlen(optarg);
			else if (parse_int(optarg, "verbosity", 0, 4, &o->log_level))
				return -1;
			if (o->log_level > 4)
				o->log_level = 4;
			break;
		case OPT_PIDFILE:
			o->pidfile = optarg;
			break;
		case 'd':
			o->restore_detached = true;
			break;
		case 'R':
			o->leave_running = true;
			break;
		case 's':
			o->leave_stopped = true;
			break;
		case OPT_SHELL_JOB:
			o->shell_job = true;
			break;
		case OPT_LAZY_PAGES:
			o->lazy_pages = true;
			break;
		case OPT_ADDRESS:
			o->address = optarg;
			break;
		case OPT_PORT:
			if (parse_int(optarg, "port", 1, 65535, &o->port))
				return -1;
			break;
		case OPT_PAGE_SERVER:
			o->page_server = true;
			break;
		case OPT_PREV_IMAGES_DIR:
			o->prev_images_dir = optarg;
			break;
		case OPT_TRACK_MEM:
			o->track_mem = true;
			break;
		case OPT_DISPLAY_STATS:
			o->display_stats = true;
			break;
		case OPT_STATUS_FD:
			if (parse_int(optarg, "status fd", 0, INT_MAX, &o->status_fd))
				return -1;
			break;
		case OPT_COMPRESS_LEVEL:
			if (parse_int(optarg, "compress level", 0, 19, &o->compress_level))
				return -1;
			break;
		case OPT_LAZY_TIMEOUT:
			if (parse_int(optarg, "lazy timeout", 1, 86400, &o->lazy_timeout))
				return -1;
			break;
		case OPT_RESTORE_SIBLING:
			o->restore_sibling = true;
			break;
		case OPT_TCP_ESTABLISHED:
			o->tcp_established = true;
			break;
		case OPT_FEATURE:
			o->feature = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TLS:
		case OPT_TLS_CACERT:
		case OPT_TLS_CERT:
		case OPT_TLS_KEY:
			tls_opt = c;
			break;
		case 'V':
			printf("Version: %s\n", CRL_VERSION);
			return 1;
		case 'h':
			opts_usage(stdout);
			return 1;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	if (o->cmd == CMD_NONE)
		return usage_error("%s", "no command given");
	for (i = 0; i < nseen; i++) {
		if (!opt_applies(seen[i], o->cmd)) {
			fprintf(stderr, "Error: option --%s does not apply to '%s'\n\n",
				opt_name(seen[i]), o->cmd_name);
			opts_usage(stderr);
			return -1;
		}
	}
	/* accepted by name, as CRIU spells them, so that the refusal is clear rather than an
	 * unknown option; never ignored: traffic the user asked to protect must not go in clear */
	if (tls_opt) {
		fprintf(
		    stderr,
		    "Error: --%s: TLS for the page server is not supported yet in this version of "
		    "criu-lazy (its connections are not encrypted)\n",
		    opt_name(tls_opt));
		return -1;
	}
	if ((o->cmd == CMD_DUMP || o->cmd == CMD_PRE_DUMP) && !o->tree_pid)
		return usage_error("'%s' needs -t PID", o->cmd_name);
	if (o->leave_running && o->leave_stopped)
		return usage_error("%s", "-R and -s exclude each other");
	if (o->cmd == CMD_SWRK && o->swrk_fd < 0)
		return usage_error("%s", "'swrk' needs the socket's FD");
	if (o->cmd == CMD_PAGE_SERVER && !o->port)
		return usage_error("%s", "page-server needs --port");
	if (o->page_server && o->cmd != CMD_PAGE_SERVER && !o->port)
		return usage_error("%s", "--page-server needs --port");
	if (!o->work_dir)
		o->work_dir = o->images_dir;
	return 0;
}
