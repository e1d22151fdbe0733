/*
 * sdwan-controller: loads the topology, serves every edge its configuration over ZeroMQ/CURVE,
 * enrolls new edges, and answers sdwanctl on the admin socket (controller/ctlr.h). This file only
 * parses options, builds the controller and runs the loop until SIGTERM/SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/error.h"
#include "common/log.h"
#include "controller/ctlr.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sdwan-controller --topology FILE --state DIR [--listen EP]\n"
		"                        [--enroll-listen EP] [--admin PATH] [--log-level LEVEL]\n"
		"                        [--ca-key ecdsa-p256|ecdsa-p384|ed25519]\n"
		"                        [--cert-lifetime SECONDS] [--health-interval MS]\n"
		"                        [--enroll-rate PER_SECOND] [--enroll-burst N]\n"
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

static int parse(int argc, char **argv, struct ctlr_options *o, enum log_level *level)
{
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
			o->cert_lifetime_s = strtoull(optarg, NULL, 10);
			break;
		case 'H':
			o->health_interval_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o->enroll_rate = strtod(optarg, NULL);
			break;
		case 'b':
			o->enroll_burst = (uint32_t)strtoul(optarg, NULL, 10);
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
