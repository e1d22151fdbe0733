/*
 * sdwanctl: the operator's tool. Offline commands work on topology files; online commands talk
 * to a running controller over its admin socket (controller/admin.h).
 */
#include <stdio.h>
#include <string.h>

#include "controller/sdwanctl/commands.h"

typedef int command_fn(const struct ctl_opts *o, int argc, char **argv);

struct command {
	const char *name;
	command_fn *run;
};

/* One row per command; keep rows sorted by name within each group. */
static const struct command commands[] = {
	/* offline */
	{"export", cmd_export},
	{"plan", cmd_plan},
	{"validate", cmd_validate},
	/* online */
	{"apply", cmd_apply},
	{"backup", cmd_backup},
	{"edge", cmd_edge},
	{"events", cmd_events},
	{"re-enroll", cmd_reenroll},
	{"rekey", cmd_rekey},
	{"revoke", cmd_revoke},
	{"rotate-keys", cmd_rotate},
	{"status", cmd_status},
	{"token", cmd_token},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sdwanctl [--json] [--admin PATH] COMMAND [ARGS]\n"
		"\n"
		"offline commands (topology files):\n"
		"  validate FILE...        check topology files; errors as FILE:LINE:COL: error: ...\n"
		"  plan FILE               show every edge's tunnels (--json: docs/plan-json.md)\n"
		"  plan OLD NEW            show what changes between two topology files\n"
		"  export swanctl SITE [--topology FILE] [--state DIR] [--out DIR]\n"
		"                          strongSwan configuration of an external site\n"
		"  export containerlab FILE [--out FILE] [--image IMAGE]\n"
		"                          containerlab topology of the WAN (docs/export.md)\n"
		"\n"
		"online commands (running controller; --admin PATH, $SDWAN_ADMIN or\n"
		"/run/sdwan/admin.sock):\n"
		"  token create SITE [--ttl 24h]   one-time enrollment token and the edge command\n"
		"  status                  sites: connected, last seen, generation, tunnels up/total\n"
		"  edge show SITE          one edge: tunnels, SAs, SPIs, counters, RTT, events\n"
		"  events [--follow] [--site SITE]\n"
		"  apply FILE [--dry-run]  validate, show the plan diff, make the controller load it\n"
		"  revoke SITE             revoke an edge and close its session\n"
		"  rekey SITE [TUNNEL]     ask the edge to rekey now\n"
		"  re-enroll SITE          ask the edge to enroll again with a new token\n"
		"  rotate-keys SITE        ask the edge to make new keys and renew its certificate\n"
		"  backup DIR              copy the controller's state, key and topology into DIR\n"
		"\n"
		"exit status: 0 ok, 1 usage or I/O error, 2 invalid topology, 3 refused by the\n"
		"             controller (plan OLD NEW: 0 identical, 3 different)\n");
}

int main(int argc, char **argv)
{
	struct ctl_opts o = {.json = false, .admin = NULL};
	int i = 1;
	/* Global options before the command; --json and --admin are also accepted after it. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o.json = true;
		} else if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
			o.admin = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("sdwanctl %s\n", SDWAN_VERSION);
			return 0;
		} else {
			fprintf(stderr, "sdwanctl: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[i++];
	char **args = argv + i;
	int n = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o.json = true;
		else if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc)
			o.admin = argv[++i];
		else
			args[n++] = argv[i];
	}
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(cmd, commands[k].name) == 0)
			return commands[k].run(&o, n, args);
	fprintf(stderr, "sdwanctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
