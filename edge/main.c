/*
 * sdwan-edge: the per-site daemon. main() parses options and runs one of two modes:
 *
 *   local    `sdwan-edge --config FILE [--keylog FILE] [--log-level L]`: the EdgeConfig and the
 *            local settings come from a YAML file (edge/edge_conf.h); the tunnel manager
 *            (edge/tmgr.h) runs it on one libuv loop. SIGHUP re-reads the file and applies only
 *            what changed; SIGINT/SIGTERM stop cleanly (TUN device and routes removed).
 *   managed  `sdwan-edge --state DIR [--controller EP --token T ...]`: the controller client
 *            drives the same tunnel manager (run_managed, filled by the agent's branch).
 *
 * The YAML loader lands with branch edge-cfg; until its header is present this build has no
 * local mode and says so rather than pretend to run.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "edge/local_mode.h"
#include "edge/tmgr_managed.h"

enum {
	EXIT_USAGE = 2,
	EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE */
};

struct options {
	const char *state, *config, *keylog, *controller, *controller_key, *token, *tun;
	enum log_level level;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: sdwan-edge --config FILE [--keylog FILE] [--log-level L]\n"
		     "       sdwan-edge --state DIR [--controller ENDPOINT --token TOKEN "
		     "[--controller-key KEY]] [--tun NAME] [--log-level L]\n"
		     "       sdwan-edge --version\n");
}

/* Returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},
		{"controller", required_argument, NULL, 'c'},
		{"controller-key", required_argument, NULL, 'k'},
		{"token", required_argument, NULL, 't'},
		{"tun", required_argument, NULL, 'T'},
		{"config", required_argument, NULL, 'f'},
		{"keylog", required_argument, NULL, 'K'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->level = LOG_LEVEL_NOTICE;
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
		case 'c':
			o->controller = optarg;
			break;
		case 'k':
			o->controller_key = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'T':
			o->tun = optarg;
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

/* ---- managed mode ---- */

#ifdef TMGR_MANAGED_AVAILABLE
/*
 * The controller-managed edge: the agent (edge/managed.h) enrolls, keeps the control session
 * and hands every accepted EdgeConfig to the tunnel manager through tmgr_managed_engine.
 */
static int run_managed(const struct options *o)
{
	struct managed_args m = {.state_dir = o->state,
				 .controller = o->controller,
				 .token = o->token,
				 .controller_key = o->controller_key};
	struct tmgr_managed tm = {0};
	struct managed_engine engine;

	if (o->tun)
		snprintf(tm.opts.tun_name, sizeof(tm.opts.tun_name), "%s", o->tun);
	tmgr_managed_engine(&tm, &engine);
	return managed_run(&m, &engine);
}
#else
/* Until the controller client is in the tree, refuse rather than run without a controller. */
static int run_managed(const struct options *o)
{
	(void)o;
	fprintf(stderr, "sdwan-edge: this build has no controller client yet (branch agent); "
			"refusing to start. Use --config FILE for a standalone edge.\n");
	return EXIT_UNAVAILABLE;
}
#endif

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
