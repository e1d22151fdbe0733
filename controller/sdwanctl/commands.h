/*
 * sdwanctl's commands. Each takes the arguments after its name and returns the process exit
 * status: 0 success, 1 usage or I/O error, 2 invalid input (diagnostics printed), 3 refused by
 * the controller (online commands). A new command adds one declaration here and one row in
 * main.c's table.
 */
#ifndef SDWAN_SDWANCTL_COMMANDS_H
#define SDWAN_SDWANCTL_COMMANDS_H

#include <stdbool.h>

struct ctl_opts {
	bool json;
	const char *admin; /* --admin PATH; NULL: $SDWAN_ADMIN, then ADMIN_DEFAULT_PATH */
};

/* sdwanctl validate FILE... */
int cmd_validate(const struct ctl_opts *o, int argc, char **argv);

/* sdwanctl plan FILE | sdwanctl plan OLD NEW */
int cmd_plan(const struct ctl_opts *o, int argc, char **argv);

/* Online commands (cmd_online.c), against a running controller's admin socket. */
int cmd_token(const struct ctl_opts *o, int argc, char **argv);    /* token create SITE [--ttl D] */
int cmd_status(const struct ctl_opts *o, int argc, char **argv);   /* status */
int cmd_edge(const struct ctl_opts *o, int argc, char **argv);     /* edge show SITE */
int cmd_events(const struct ctl_opts *o, int argc, char **argv);   /* events [--follow] [--site] */
int cmd_apply(const struct ctl_opts *o, int argc, char **argv);    /* apply FILE [--dry-run] */
int cmd_revoke(const struct ctl_opts *o, int argc, char **argv);   /* revoke SITE */
int cmd_rekey(const struct ctl_opts *o, int argc, char **argv);    /* rekey SITE [TUNNEL] */
int cmd_reenroll(const struct ctl_opts *o, int argc, char **argv); /* re-enroll SITE */
int cmd_rotate(const struct ctl_opts *o, int argc, char **argv);   /* rotate-keys SITE */
int cmd_backup(const struct ctl_opts *o, int argc, char **argv);   /* backup DIR */

/* sdwanctl export swanctl SITE ... | sdwanctl export containerlab FILE ... */
int cmd_export(const struct ctl_opts *o, int argc, char **argv);

#endif
