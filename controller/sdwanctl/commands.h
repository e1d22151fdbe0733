/*
 * sdwanctl's commands. Each takes the arguments after its name and returns the process exit
 * status: 0 success, 1 usage or I/O error, 2 invalid input (diagnostics printed).
 */
#ifndef SDWAN_SDWANCTL_COMMANDS_H
#define SDWAN_SDWANCTL_COMMANDS_H

#include <stdbool.h>

struct ctl_opts {
	bool json;
};

/* sdwanctl validate FILE... */
int cmd_validate(const struct ctl_opts *o, int argc, char **argv);

/* sdwanctl plan FILE | sdwanctl plan OLD NEW */
int cmd_plan(const struct ctl_opts *o, int argc, char **argv);

/* sdwanctl export swanctl SITE ... | sdwanctl export containerlab FILE ... */
int cmd_export(const struct ctl_opts *o, int argc, char **argv);

#endif
