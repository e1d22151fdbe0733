/*
 * sdwanctl: the operator's tool. Offline commands work on topology files; commands that talk to
 * a running controller join them as the control plane lands.
 */
#include <stdio.h>
#include <string.h>

#include "controller/sdwanctl/commands.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sdwanctl [--json] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  validate FILE...     check topology files; errors as FILE:LINE:COL: error: ...\n"
		"  plan FILE            show every edge's tunnels (--json: docs/plan-json.md)\n"
		"  plan OLD NEW         show what changes between two topology files\n"
		"  export swanctl SITE [--topology FILE] [--state DIR] [--out DIR]\n"
		"                       strongSwan configuration of an external site\n"
		"  export containerlab FILE [--out FILE] [--image IMAGE]\n"
		"                       containerlab topology of the WAN (docs/export.md)\n"
		"\n"
		"exit status: 0 ok, 1 usage or I/O error, 2 invalid topology\n"
		"             (plan OLD NEW: 0 identical, 3 different)\n");
}

int main(int argc, char **argv)
{
	struct ctl_opts o = {.json = false};
	int i = 1;
	/* Global options before the command; --json is also accepted after it. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o.json = true;
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
	/* Strip --json wherever it appears among the command's arguments. */
	char **args = argv + i;
	int n = 0;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o.json = true;
		else
			args[n++] = argv[i];
	}
	if (strcmp(cmd, "validate") == 0)
		return cmd_validate(&o, n, args);
	if (strcmp(cmd, "plan") == 0)
		return cmd_plan(&o, n, args);
	if (strcmp(cmd, "export") == 0)
		return cmd_export(&o, n, args);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "sdwanctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
