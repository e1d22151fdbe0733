/*
 * sdwan-controller: loads the topology, serves every edge its configuration over ZeroMQ/CURVE,
 * enrolls new edges, and answers sdwanctl on the admin socket (controller/ctlr.h). This file only
 * parses options, builds the controller and runs the loop until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/error.h"
#include "common/log.h"
#include "controller/ca.h"
#include "controller/ctlr.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sdwan-controller --topology FILE --state DIR [--listen EP]\n"
		"                        [--enroll-listen EP] [--admin PATH] [--log-level LEVEL]\n"
		"                        [--ca-key ecdsa-p256|ecdsa-p384|ed25519]\n"
		"                        [--cert-lifetime SECONDS] [--health-interval MS]\n"
		"                        [--enroll-rate PER_SECOND] [--enroll-burst N]\n"
		"                        [--command-timeout SECONDS]\n"
		"       sdwan-controller --version\n");
}

struct run {
	uv_loop_t loop;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	struct ctlr *ctlr;
};

static void on_closed(void *arg)
{
	struct run *r = arg;
	r->ctlr = NULL;
	uv_close((uv_handle_t *)&r->sigterm, NULL);
	uv_close((uv_handle_t *)&r->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct run *r = h->data;
	LOG_NOTICE(CTL, "stopping", "signal=%d", signum);
	uv_signal_stop(&r->sigterm);
	uv_signal_stop(&r->sigint);
	if (r->ctlr)
		ctlr_close(r->ctlr, on_closed, r);
}

/* Each edge holds a TCP connection: allow as many descriptors as the hard limit says. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A whole number from min to max into *out; otherwise say what the option takes. A number
 * with a unit ("2s") must not be read as its digits: a health interval of 2 ms would have every
 * edge dropped as silent. */
static bool parse_whole(const char *opt, const char *arg, uint64_t min, uint64_t max,
			const char *unit, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno == 0 && end != arg && *end == '\0' && arg[0] >= '0' && arg[0] <= '9' &&
	    v >= min && v <= max) {
		*out = v;
		return true;
	}
	fprintf(stderr, "sdwan-controller: --%s takes %s from %llu to %llu, not '%s'\n", opt, unit,
		(unsigned long long)min, (unsigned long long)max, arg);
	return false;
}

static bool parse_rate(const char *arg, double *out)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno == 0 && end != arg && *end == '\0' && v > 0 && v <= 1000000) {
		*out = v;
		return true;
	}
	fprintf(stderr,
		"sdwan-controller: --enroll-rate takes attempts per second per source, more than 0 "
		"and at most 1000000 (0.5 is one every two seconds), not '%s'\n",
		arg);
	return false;
}

static int parse(int argc, char **argv, struct ctlr_options *o, enum log_level *level)
{
	uint64_t v = 0;
	static const struct option opts[] = {
		{"topology", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'L'},
		{"enroll-listen", required_argument, NULL, 'E'},
		{"admin", required_argument, NULL, 'A'},
		{"log-level", required_argument, NULL, 'l'},
		{"ca-key", required_argument, NULL, 'k'},
		{"cert-lifetime", required_argument, NULL, 'c'},
		{"health-interval", required_argument, NULL, 'H'},
		{"enroll-rate", required_argument, NULL, 'r'},
		{"enroll-burst", required_argument, NULL, 'b'},
		{"command-timeout", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	/* Options are parsed before any thread exists. */
	// NOLINTNEXTLINE(concurrency-mt-unsafe)
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			o->topology_path = optarg;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		case 'L':
			o->listen = optarg;
			break;
		case 'E':
			o->enroll_listen = optarg;
			break;
		case 'A':
			o->admin_path = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, level) != 0) {
				fprintf(stderr, "sdwan-controller: --log-level takes err, warn, "
						"notice, info or debug\n");
				return 2;
			}
			break;
		case 'k':
			if (x509id_key_type_parse(optarg, &o->ca_key_type) != 0) {
				fprintf(stderr, "sdwan-controller: --ca-key takes ecdsa-p256, "
						"ecdsa-p384 or ed25519\n");
				return 2;
			}
			break;
		case 'c':
			if (!parse_whole("cert-lifetime", optarg, CA_MIN_LIFETIME_S,
					 CA_MAX_LIFETIME_S, "seconds", &o->cert_lifetime_s))
				return 2;
			break;
		case 'H':
			if (!parse_whole("health-interval", optarg, 100, 600000, "milliseconds",
					 &v))
				return 2;
			o->health_interval_ms = (uint32_t)v;
			break;
		case 'r':
			if (!parse_rate(optarg, &o->enroll_rate))
				return 2;
			break;
		case 'b':
			if (!parse_whole("enroll-burst", optarg, 1, 1000000, "attempts", &v))
				return 2;
			o->enroll_burst = (uint32_t)v;
			break;
		case 'C':
			if (!parse_whole("command-timeout", optarg, 1, 86400, "seconds", &v))
				return 2;
			o->command_timeout_ms = (uint32_t)(v * 1000);
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
	if (!o->topology_path || !o->state_dir) {
		usage(stderr);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct ctlr_options o;
	memset(&o, 0, sizeof(o));
	enum log_level level = LOG_LEVEL_NOTICE;
	int rc = parse(argc, argv, &o, &level);
	if (rc >= 0)
		return rc;
	log_configure(level, LOG_FORMAT_TEXT, NULL);
	raise_fd_limit();
	/* A peer that goes away mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	struct run r;
	memset(&r, 0, sizeof(r));
	uv_loop_init(&r.loop);
	rc = ctlr_new(&r.loop, &o, &r.ctlr);
	if (rc != 0) {
		fprintf(stderr, "sdwan-controller: not started: %s\n", sdw_strerror(rc));
		(void)uv_run(&r.loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&r.loop);
		return 1;
	}
	uv_signal_init(&r.loop, &r.sigterm);
	uv_signal_init(&r.loop, &r.sigint);
	r.sigterm.data = &r;
	r.sigint.data = &r;
	uv_signal_start(&r.sigterm, on_signal, SIGTERM);
	uv_signal_start(&r.sigint, on_signal, SIGINT);
	(void)uv_run(&r.loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&r.loop);
	return 0;
}
