/*
 * sdwan-edge: the per-site daemon. main() parses options and runs one of two modes:
 *
 *   local    `sdwan-edge --config FILE [--keylog FILE] [--log-level L]`: the EdgeConfig and the
 *            local settings come from a YAML file (edge/edge_conf.h); the tunnel manager
 *            (edge/tmgr.h) runs it on one libuv loop. SIGHUP re-reads the file and applies only
 *            what changed; SIGINT/SIGTERM stop cleanly (TUN device and routes removed).
 *   managed  `sdwan-edge --state DIR [--controller EP --token T | --bootstrap FILE]`: the
 *            controller client (edge/managed.h) enrolls on first start, keeps the control
 *            session and drives the same tunnel manager (edge/tmgr_managed.h).
 */
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/log.h"
#include "edge/bootstrap.h"
#include "edge/local_mode.h"
#include "edge/managed.h"
#include "edge/tmgr_managed.h"

enum {
	EXIT_USAGE = 2,
};

/* What the command line says. */
struct options {
	const char *state, *config, *keylog, *bootstrap;
	const char *tun; /* TUN device name in managed mode; NULL: the tunnel manager's default */
	struct managed_args managed;
	enum log_level level;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: sdwan-edge --config FILE [--keylog FILE]\n"
		     "       sdwan-edge --controller ENDPOINT --token TOKEN --state DIR "
		     "[--controller-key KEY] [--enroll-endpoint ENDPOINT] [--tun NAME]\n"
		     "       sdwan-edge --bootstrap FILE --state DIR [--tun NAME]\n"
		     "       sdwan-edge --state DIR [--tun NAME]\n"
		     "       sdwan-edge --version\n"
		     "options: [--log-level err|warn|notice|info|debug]\n");
}

/* Returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},
		{"controller", required_argument, NULL, 'c'},
		{"controller-key", required_argument, NULL, 'k'},
		{"enroll-endpoint", required_argument, NULL, 'e'},
		{"token", required_argument, NULL, 't'},
		{"bootstrap", required_argument, NULL, 'b'},
		{"tun", required_argument, NULL, 'T'},
		{"config", required_argument, NULL, 'f'},
		{"keylog", required_argument, NULL, 'K'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct options){.level = LOG_LEVEL_NOTICE};
	/* Options are parsed before any thread exists. */
	// NOLINTNEXTLINE(concurrency-mt-unsafe)
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->state = optarg;
			break;
		case 'f':
			o->config = optarg;
			break;
		case 'K':
			o->keylog = optarg;
			break;
		case 'b':
			o->bootstrap = optarg;
			break;
		case 'T':
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ) {
				fprintf(stderr, "sdwan-edge: --tun takes 1 to %d characters\n",
					IFNAMSIZ - 1);
				return EXIT_USAGE;
			}
			o->tun = optarg;
			break;
		case 'c':
			o->managed.controller = optarg;
			break;
		case 'k':
			o->managed.controller_key = optarg;
			break;
		case 'e':
			o->managed.enroll_endpoint = optarg;
			break;
		case 't':
			o->managed.token = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level) != 0) {
				fprintf(stderr, "sdwan-edge: --log-level takes err, warn, notice, "
						"info or debug\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sdwan-edge %s\n", SDWAN_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!!o->state == !!o->config) {
		fprintf(stderr, "sdwan-edge: give either --state DIR (controller-managed edge) or "
				"--config FILE (standalone)\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/*
 * Managed mode: the agent enrolls, keeps the control session and hands every accepted
 * EdgeConfig to the tunnel manager. A bootstrap file stands in for --controller, --token and
 * --controller-key.
 */
static int run_managed(const struct options *o)
{
	struct managed_args m = o->managed;
	struct bootstrap b;
	struct diag_list diags = {0};
	struct tmgr_managed tm = {0};
	struct managed_engine engine;
	int rc;

	m.state_dir = o->state;
	if (o->bootstrap) {
		if (m.controller || m.token) {
			fprintf(stderr, "sdwan-edge: give --bootstrap or --controller/--token, not "
					"both\n");
			return EXIT_USAGE;
		}
		if (bootstrap_load(o->bootstrap, &b, &diags) != 0) {
			diag_print(&diags, o->bootstrap, stderr);
			diag_list_free(&diags);
			return EXIT_USAGE;
		}
		m.controller = b.controller;
		m.token = b.token;
		m.controller_key = b.controller_key[0] ? b.controller_key : NULL;
		m.enroll_endpoint = b.enroll_endpoint[0] ? b.enroll_endpoint : NULL;
	}
	if ((m.controller == NULL) != (m.token == NULL)) {
		fprintf(stderr, "sdwan-edge: a first start needs both --controller and --token\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (o->tun)
		snprintf(tm.opts.tun_name, sizeof(tm.opts.tun_name), "%s", o->tun);
	tmgr_managed_engine(&tm, &engine);
	rc = managed_run(&m, &engine);
out:
	if (o->bootstrap)
		bootstrap_clear(&b);
	diag_list_free(&diags);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);

	if (rc >= 0)
		return rc;
	log_configure(o.level, LOG_FORMAT_TEXT, NULL);
	if (o.config) {
		struct local_mode_args la = {.config_path = o.config, .keylog_path = o.keylog};
		return local_mode_run(&la);
	}
	return run_managed(&o);
}
