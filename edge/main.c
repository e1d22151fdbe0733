/*
 * sdwan-edge: the per-site daemon. Until the control-plane, IKE and data-plane work lands it
 * parses its options, checks them, and refuses to run rather than pretend to carry traffic.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: sdwan-edge --state DIR [--controller ENDPOINT --controller-key KEY "
		     "--token TOKEN]\n"
		     "       sdwan-edge --config FILE\n"
		     "       sdwan-edge --version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},
		{"controller", required_argument, NULL, 'c'},
		{"controller-key", required_argument, NULL, 'k'},
		{"token", required_argument, NULL, 't'},
		{"config", required_argument, NULL, 'f'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *state = NULL, *config = NULL;
	enum log_level level = LOG_LEVEL_NOTICE;
	int c;
	/* Options are parsed before any thread exists. */
	// NOLINTNEXTLINE(concurrency-mt-unsafe)
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			state = optarg;
			break;
		case 'f':
			config = optarg;
			break;
		case 'c':
		case 'k':
		case 't':
			break;
		case 'l':
			if (log_level_parse(optarg, &level) != 0) {
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
	log_configure(level, LOG_FORMAT_TEXT, NULL);
	if (!state && !config) {
		fprintf(stderr, "sdwan-edge: give --state DIR (enrolled edge) or --config FILE "
				"(standalone)\n");
		usage(stderr);
		return 2;
	}
	fprintf(stderr, "sdwan-edge: this build has no tunnel engine yet (IKEv2, ESP and the "
			"controller client land with issues #3-#5); refusing to start\n");
	return 69; /* EX_UNAVAILABLE */
}
