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
#include "edge/tmgr.h"

#if defined(__has_include)
#if __has_include("edge/edge_conf.h")
#include "common/diag.h"
#include "edge/edge_conf.h"
#define SDWAN_HAVE_EDGE_CONF 1
#endif
#endif

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

/* ---- local mode ---- */

#ifdef SDWAN_HAVE_EDGE_CONF
struct local_run {
	uv_loop_t loop;
	const struct options *o;
	struct tmgr *tm;
	uv_signal_t sig_int, sig_term, sig_hup;
	int status;
};

/* Load the file; on failure print its diagnostics and return -errno. */
static int load(const char *path, struct Sdwan__EdgeConfig **cfg, struct edge_local_settings *ls)
{
	struct diag_list diags = {0};
	int rc = edge_conf_load_file(path, cfg, ls, &diags);

	diag_sort(&diags);
	diag_print(&diags, path, stderr);
	diag_list_free(&diags);
	return rc;
}

static void options_from_local(const struct edge_local_settings *ls, struct tmgr_options *to)
{
	memset(to, 0, sizeof(*to));
	snprintf(to->tun_name, sizeof(to->tun_name), "%s", ls->tun_name);
	to->listen_addr = ls->listen_addr;
	to->ike_port = ls->ike_port;
	to->natt_port = ls->natt_port;
	to->workers = ls->workers;
}

static int apply(struct tmgr *tm, const struct Sdwan__EdgeConfig *cfg, const char *path)
{
	struct tmgr_apply_error err;
	int rc = tmgr_apply(tm, cfg, &err);

	if (rc)
		fprintf(stderr, "sdwan-edge: %s: configuration refused%s%s: %s\n", path,
			err.tunnel[0] ? ": tunnel " : "", err.tunnel, err.reason);
	return rc;
}

static void on_stopped(void *arg)
{
	struct local_run *r = arg;

	uv_close((uv_handle_t *)&r->sig_int, NULL);
	uv_close((uv_handle_t *)&r->sig_term, NULL);
	uv_close((uv_handle_t *)&r->sig_hup, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct local_run *r = s->data;

	if (!r->tm)
		return;
	if (signum == SIGHUP) {
		struct Sdwan__EdgeConfig *cfg = NULL;
		struct edge_local_settings ls;
		/* Local settings (TUN, ports) need a restart; the EdgeConfig is diffed. */
		if (load(r->o->config, &cfg, &ls) == 0) {
			if (apply(r->tm, cfg, r->o->config) == 0)
				LOG_NOTICE(CFG, "configuration reloaded", "file=%s", r->o->config);
		}
		edge_conf_free(cfg);
		return;
	}
	LOG_NOTICE(MAIN, "stopping", "signal=%d", signum);
	tmgr_close(r->tm, on_stopped, r);
	r->tm = NULL;
}

static int run_local(const struct options *o)
{
	static struct local_run r; /* lives as long as the loop; only main's frame uses it */
	struct Sdwan__EdgeConfig *cfg = NULL;
	struct edge_local_settings ls;
	struct tmgr_options to;
	int rc;

	if (load(o->config, &cfg, &ls) != 0)
		return 1;
	if (o->keylog || ls.keylog_path[0])
		LOG_WARN(MAIN, "key logging is not wired into this build's tunnel manager yet",
			 "file=%s", o->keylog ? o->keylog : ls.keylog_path);
	options_from_local(&ls, &to);
	r.o = o;
	uv_loop_init(&r.loop);
	rc = tmgr_new(&r.loop, &to, &r.tm);
	if (rc) {
		fprintf(stderr, "sdwan-edge: cannot start: %s\n", sdw_strerror(rc));
		edge_conf_free(cfg);
		uv_loop_close(&r.loop);
		return 1;
	}
	rc = apply(r.tm, cfg, o->config);
	edge_conf_free(cfg);
	if (rc) {
		tmgr_close(r.tm, NULL, NULL);
		r.tm = NULL;
		uv_run(&r.loop, UV_RUN_DEFAULT);
		uv_loop_close(&r.loop);
		return 1;
	}
	uv_signal_t *sigs[] = {&r.sig_int, &r.sig_term, &r.sig_hup};
	int nums[] = {SIGINT, SIGTERM, SIGHUP};
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&r.loop, sigs[i]);
		sigs[i]->data = &r;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	uv_run(&r.loop, UV_RUN_DEFAULT);
	uv_loop_close(&r.loop);
	return r.status;
}
#else
static int run_local(const struct options *o)
{
	(void)o;
	fprintf(stderr, "sdwan-edge: this build has no configuration file loader yet (branch "
			"edge-cfg); refusing to start\n");
	return EXIT_UNAVAILABLE;
}
#endif

/* ---- managed mode ---- */

/*
 * The controller-managed edge: the agent (branch agent) enrolls, keeps the control session and
 * hands every accepted EdgeConfig to the tunnel manager through tmgr_apply / tmgr_health /
 * tmgr_command_rekey / tmgr_close. Until it lands, refuse rather than run without a controller.
 */
static int run_managed(const struct options *o)
{
	(void)o;
	fprintf(stderr, "sdwan-edge: this build has no controller client yet (branch agent); "
			"refusing to start. Use --config FILE for a standalone edge.\n");
	return EXIT_UNAVAILABLE;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);

	if (rc >= 0)
		return rc;
	log_configure(o.level, LOG_FORMAT_TEXT, NULL);
	return o.config ? run_local(&o) : run_managed(&o);
}
