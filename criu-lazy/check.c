/* Placeholder until this subcommand is built: it says so and fails. */
#include "cmds.h"

int cmd_check(const struct crl_opts *o)
{
	return cmd_not_built(o, NULL);
}
