/* placeholder until verify is written */
#include "buildconf.h"
#include "ctl/commands.h"
int cmd_verify(const struct ctl *ctl, int argc, char **argv)
{
	(void)ctl; (void)argc; (void)argv;
	return CTL_EXIT_FAILURE;
}
