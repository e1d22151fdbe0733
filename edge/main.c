/*
 * sdwan-edge: the per-site daemon. Managed mode (enrolled with a controller, edge/managed.h) is
 * wired here; the local mode (--config FILE) waits for the tunnel manager and refuses to run
 * rather than pretend to carry traffic.
 */
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/log.h"
#include "edge/bootstrap.h"
#include "edge/managed.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: sdwan-edge --controller ENDPOINT --token TOKEN --state DIR "
		     "[--controller-key KEY] [--enroll-endpoint ENDPOINT] [--tun NAME]\n"
		     "       sdwan-edge --bootstrap FILE --state DIR\n"
		     "       sdwan-edge --state DIR\n"
		     "       sdwan-edge --config FILE\n"
		     "       sdwan-edge --version\n"
		     "options: [--log-level err|warn|notice|info|debug]\n");
}

/* What the command line says. */
struct edge_args {
	const char *state, *config, *bootstrap;
	const char *tun; /* TUN device name for the tunnel engine; NULL: its default */
	struct managed_args managed;
	enum log_level level;
};

/*
 * Managed mode: the controller drives the edge. A bootstrap file stands in for --controller,
 * --token and --controller-key.
 */
static int run_managed(const struct edge_args *args)
{
	struct managed_args m = args->managed;
	struct bootstrap b;
	struct diag_list diags = {0};
	m.state_dir = args->state;
	if (args->bootstrap) {
		if (m.controller || m.token) {
			fprintf(stderr, "sdwan-edge: give --bootstrap or --controller/--token, not "
					"both\n");
			return 2;
		}
		if (bootstrap_load(args->bootstrap, &b, &diags) != 0) {
			diag_print(&diags, args->bootstrap, stderr);
			diag_list_free(&diags);
			return 2;
		}
		m.controller = b.controller;
		m.token = b.token;
		m.controller_key = b.controller_key[0] ? b.controller_key : NULL;
		m.enroll_endpoint = b.enroll_endpoint[0] ? b.enroll_endpoint : NULL;
	}
	if ((m.controller == NULL) != (m.token == NULL)) {
		fprintf(stderr, "sdwan-edge: a first start needs both --controller and --token\n");
		return 2;
	}
	/* The tunnel manager is not in this build yet: managed mode runs the control session
	 * and refuses configs it cannot run (CONFIG_ERROR_UNSUPPORTED). */
	int rc = managed_run(&m, NULL);
	if (args->bootstrap)
		bootstrap_clear(&b);
	diag_list_free(&diags);
	return rc;
}

static int parse_args(int argc, char **argv, struct edge_args *a)
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
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	/* Options are parsed before any thread exists. */
	// NOLINTNEXTLINE(concurrency-mt-unsafe)
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			a->state = optarg;
			break;
		case 'f':
			a->config = optarg;
			break;
		case 'b':
			a->bootstrap = optarg;
			break;
		case 'T':
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ) {
				fprintf(stderr, "sdwan-edge: --tun takes 1 to %d characters\n",
					IFNAMSIZ - 1);
				return 2;
			}
			a->tun = optarg;
			break;
		case 'c':
			a->managed.controller = optarg;
			break;
		case 'k':
			a->managed.controller_key = optarg;
			break;
		case 'e':
			a->managed.enroll_endpoint = optarg;
			break;
		case 't':
			a->managed.token = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, &a->level) != 0) {
				fprintf(stderr, "sdwan-edge: --log-level takes err, warn, notice, "
						"info or debug\n");
				return 2;
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
			return 2;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct edge_args args = {.level = LOG_LEVEL_NOTICE};
	int rc = parse_args(argc, argv, &args);
	if (rc >= 0)
		return rc;
	log_configure(args.level, LOG_FORMAT_TEXT, NULL);
	if (args.state && !args.config)
		return run_managed(&args);
	if (!args.state && !args.config) {
		fprintf(stderr, "sdwan-edge: give --state DIR (enrolled edge) or --config FILE "
				"(standalone)\n");
		usage(stderr);
		return 2;
	}
	fprintf(stderr, "sdwan-edge: this build has no tunnel engine yet (IKEv2, ESP and the "
			"tunnel manager land with issues #4-#5); refusing to start\n");
	return 69; /* EX_UNAVAILABLE */
}
