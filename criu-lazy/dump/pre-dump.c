/* criu-lazy pre-dump: copy the memory of a running tree (pagemap/pages, mm and files images and an
 * inventory that names the previous set), with --track-mem arm dirty tracking so that the next
 * pre-dump or dump (--prev-images-dir) reads only what was written since. See dump.c, track.c. */
#include "cmds.h"
#include "dump.h"

int cmd_pre_dump(const struct crl_opts *o)
{
	return dump_run(o, true);
}
