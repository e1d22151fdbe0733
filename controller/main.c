/*
 * sdwan-controller: compiles the topology and, once the control plane lands (issue #3), serves
 * it to the edges. Until then it does the part that exists for real -- loading, validating and
 * planning the topology, reporting errors exactly as `sdwanctl validate` does -- and refuses to
 * pretend it is serving anything.
 */
#include <getopt.h>
#include <stdio.h>

#include "common/log.h"
#include "controller/intent.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: sdwan-controller --topology FILE --state DIR [--log-level LEVEL]\n"
		     "       sdwan-controller --version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"topology", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *topology = NULL, *state = NULL;
	enum log_level level = LOG_LEVEL_NOTICE;
	int c;
	/* Options are parsed before any thread exists. */
	// NOLINTNEXTLINE(concurrency-mt-unsafe)
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			topology = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "sdwan-controller: --log-level takes err, warn, "
						"notice, info or debug\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sdwan-controller %s\n", SDWAN_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!topology || !state) {
		usage(stderr);
		return 2;
	}
	log_configure(level, LOG_FORMAT_TEXT, NULL);
	struct intent in;
	struct diag_list diags = {0};
	int rc = intent_compile_file(topology, &in, &diags);
	diag_print(&diags, topology, stderr);
	diag_list_free(&diags);
	if (rc != 0) {
		intent_free(&in);
		LOG_ERR(CFG, "topology invalid", "file=%s", topology);
		return 2;
	}
	LOG_NOTICE(CFG, "topology compiled", "file=%s wan=%s sites=%zu tunnels=%zu", topology,
		   in.topo->wan, in.topo->n_sites, in.plan->n_tunnels);
	intent_free(&in);
	fprintf(stderr, "sdwan-controller: this build has no control channel yet (ZeroMQ "
			"enrollment and config push land with issue #3); exiting\n");
	return 69; /* EX_UNAVAILABLE */
}
