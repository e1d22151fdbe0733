/*
 * bench-tmgr: run the tunnel manager (edge/tmgr.h) from command-line options, for the
 * integration tests, until `sdwan-edge --config FILE` can read the YAML of branch edge-cfg. A
 * test harness, not a product: the PSK comes from the command line.
 *
 *   bench-tmgr --site S --subnet P [--subnet P ...] [--generation N] [--hold-down MS]
 *              [--wan SITE=P;P ...] --tunnel SPEC [--tunnel SPEC ...]
 *              [--tun NAME] [--ike-port N] [--natt-port N] [--listen ADDR] [--workers N]
 *              [--no-offload] [--log-level L]
 *
 *   SPEC: comma-separated key=value: name=, peer=, addr=IP, port=N, init=0|1, psk=HEX,
 *         local=P;P, remote=P;P, prio=N, dpd=INTERVAL/TIMEOUT (ms), mode=idle|demand|off,
 *         ike=PROPOSAL, esp=PROPOSAL, mtu=N, ltransit=1, rtransit=1
 *
 *   bench-tmgr FIRST-CONFIG-OPTIONS --next SECOND-CONFIG-OPTIONS
 *     SIGHUP applies the second configuration (only --site, --subnet, --generation,
 *     --hold-down, --wan and --tunnel count there) and prints "reload ok" or "reload refused".
 *
 * SIGUSR1 prints the health report ("health ..." lines) on stdout; SIGINT/SIGTERM stop the
 * manager (TUN and routes removed) and exit 0. Prints "ready" once the configuration runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/ctl_msg.h"
#include "common/log.h"
#include "edge/tmgr.h"

enum {
	MAX_ITEMS = 32
};

struct harness {
	uv_loop_t loop;
	struct tmgr *tm;
	uv_signal_t sig_int, sig_term, sig_usr1, sig_hup;
	Sdwan__EdgeConfig next;
	bool has_next;
	int status;
};

static Sdwan__Prefix *prefix_new(const char *s)
{
	struct prefix p;
	bool host;
	Sdwan__Prefix *out = calloc(1, sizeof(*out));
	uint8_t *bytes = calloc(1, 16);

	if (!out || !bytes || prefix_parse(s, &p, &host) != 0) {
		fprintf(stderr, "bench-tmgr: bad prefix %s\n", s);
		exit(2);
	}
	sdwan__prefix__init(out);
	memcpy(bytes, p.addr.bytes, 16);
	out->addr.data = bytes;
	out->addr.len = p.addr.family == IP_V4 ? 4 : 16;
	out->len = p.len;
	return out;
}

/* "P;P;P" -> a new array of prefixes. */
static Sdwan__Prefix **prefixes_new(const char *list, size_t *n)
{
	Sdwan__Prefix **arr = calloc(MAX_ITEMS, sizeof(*arr));
	char *copy = strdup(list), *save = NULL;

	*n = 0;
	for (char *tok = strtok_r(copy, ";", &save); tok && *n < MAX_ITEMS;
	     tok = strtok_r(NULL, ";", &save))
		arr[(*n)++] = prefix_new(tok);
	free(copy);
	return arr;
}

static void hex_bytes(const char *hex, ProtobufCBinaryData *out)
{
	size_t n = strlen(hex) / 2;
	out->data = calloc(1, n ? n : 1);
	out->len = n;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			exit(2);
		out->data[i] = (uint8_t)v;
	}
}

static void tunnel_key(Sdwan__Tunnel *t, const char *k, const char *v)
{
	if (!strcmp(k, "name")) {
		t->name = strdup(v);
	} else if (!strcmp(k, "peer")) {
		t->peer_site = strdup(v);
	} else if (!strcmp(k, "addr") || !strcmp(k, "port")) {
		if (!t->n_peer_addresses) {
			t->peer_addresses = calloc(1, sizeof(*t->peer_addresses));
			t->peer_addresses[0] = calloc(1, sizeof(**t->peer_addresses));
			sdwan__endpoint__init(t->peer_addresses[0]);
			t->n_peer_addresses = 1;
		}
		Sdwan__Endpoint *ep = t->peer_addresses[0];
		struct ip_addr a;
		if (!strcmp(k, "port")) {
			ep->port = (uint32_t)atoi(v);
		} else if (ip_addr_parse(v, &a) == 0) {
			ep->addr.data = calloc(1, 16);
			memcpy(ep->addr.data, a.bytes, 16);
			ep->addr.len = a.family == IP_V4 ? 4 : 16;
		}
	} else if (!strcmp(k, "init")) {
		t->initiator = atoi(v) != 0;
	} else if (!strcmp(k, "psk")) {
		t->auth = SDWAN__AUTH_METHOD__AUTH_METHOD_PSK;
		hex_bytes(v, &t->psk);
	} else if (!strcmp(k, "local")) {
		t->local_prefixes = prefixes_new(v, &t->n_local_prefixes);
	} else if (!strcmp(k, "remote")) {
		t->remote_prefixes = prefixes_new(v, &t->n_remote_prefixes);
	} else if (!strcmp(k, "prio")) {
		t->hub_priority = (uint32_t)atoi(v);
		t->kind = SDWAN__TUNNEL_KIND__TUNNEL_KIND_SPOKE_HUB;
	} else if (!strcmp(k, "dpd")) {
		unsigned a = 0, b = 0;
		if (sscanf(v, "%u/%u", &a, &b) == 2) {
			t->dpd_interval_ms = a;
			t->dpd_timeout_ms = b;
		}
	} else if (!strcmp(k, "mode")) {
		t->dpd_mode = !strcmp(v, "off")      ? SDWAN__DPD_MODE__DPD_MODE_OFF
			      : !strcmp(v, "demand") ? SDWAN__DPD_MODE__DPD_MODE_ON_DEMAND
						     : SDWAN__DPD_MODE__DPD_MODE_ON_IDLE;
	} else if (!strcmp(k, "ike")) {
		t->ike_proposal = strdup(v);
	} else if (!strcmp(k, "esp")) {
		t->esp_proposal = strdup(v);
	} else if (!strcmp(k, "mtu")) {
		t->mtu = (uint32_t)atoi(v);
	} else if (!strcmp(k, "ltransit")) {
		t->local_transit = atoi(v) != 0;
	} else if (!strcmp(k, "rtransit")) {
		t->remote_transit = atoi(v) != 0;
	} else {
		fprintf(stderr, "bench-tmgr: unknown tunnel key %s\n", k);
		exit(2);
	}
}

static Sdwan__Tunnel *tunnel_new(const char *spec)
{
	Sdwan__Tunnel *t = calloc(1, sizeof(*t));
	char *copy = strdup(spec), *save = NULL;

	sdwan__tunnel__init(t);
	t->ike_proposal = strdup("aes256gcm16-prfsha384-x25519");
	t->esp_proposal = strdup("aes256gcm16");
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			fprintf(stderr, "bench-tmgr: %s is not key=value\n", kv);
			exit(2);
		}
		*eq = '\0';
		tunnel_key(t, kv, eq + 1);
	}
	free(copy);
	return t;
}

static Sdwan__SitePrefixes *wan_new(const char *spec)
{
	Sdwan__SitePrefixes *w = calloc(1, sizeof(*w));
	const char *eq = strchr(spec, '=');

	sdwan__site_prefixes__init(w);
	if (!eq)
		exit(2);
	w->site = strndup(spec, (size_t)(eq - spec));
	w->prefixes = prefixes_new(eq + 1, &w->n_prefixes);
	return w;
}

static void on_closed(void *arg)
{
	struct harness *h = arg;

	uv_close((uv_handle_t *)&h->sig_int, NULL);
	uv_close((uv_handle_t *)&h->sig_term, NULL);
	uv_close((uv_handle_t *)&h->sig_usr1, NULL);
	uv_close((uv_handle_t *)&h->sig_hup, NULL);
}

static void print_health(struct harness *h)
{
	Sdwan__HealthReport *hr;

	if (tmgr_health(h->tm, &hr) != 0)
		return;
	printf("health edge active_hub=%s generation=%" PRIu64 " no_route=%" PRIu64
	       " no_sa=%" PRIu64 "\n",
	       hr->active_hub[0] ? hr->active_hub : "-", hr->generation_applied,
	       hr->drops->no_route, hr->drops->no_sa);
	for (size_t i = 0; i < hr->n_tunnels; i++) {
		const Sdwan__TunnelHealth *t = hr->tunnels[i];
		printf("health tunnel=%s state=%d active=%d pkts_in=%" PRIu64 " pkts_out=%" PRIu64
		       " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 " rtt_us=%u policy=%" PRIu64
		       " children=%zu spi_in=%08x spi_out=%08x uptime_ms=%" PRIu64 "\n",
		       t->name, (int)t->ike_state, (int)t->active, t->packets_in, t->packets_out,
		       t->bytes_in, t->bytes_out, t->rtt_us, t->drops->policy, t->n_child_sas,
		       t->n_child_sas ? t->child_sas[0]->spi_in : 0,
		       t->n_child_sas ? t->child_sas[0]->spi_out : 0, t->uptime_ms);
	}
	fflush(stdout);
	tmgr_health_free(hr);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct harness *h = s->data;

	if (signum == SIGUSR1) {
		print_health(h);
		return;
	}
	if (signum == SIGHUP) {
		struct tmgr_apply_error err;
		if (!h->has_next || !h->tm)
			return;
		if (tmgr_apply(h->tm, &h->next, &err) == 0)
			printf("reload ok\n");
		else
			printf("reload refused code=%d tunnel=%s reason=%s\n", (int)err.code,
			       err.tunnel, err.reason);
		fflush(stdout);
		return;
	}
	if (h->tm) {
		tmgr_close(h->tm, on_closed, h);
		h->tm = NULL;
	}
}

static int parse(int argc, char **argv, Sdwan__EdgeConfig *cfg, struct tmgr_options *o,
		 enum log_level *level)
{
	static const struct option opts[] = {
		{"site", 1, NULL, 's'},       {"subnet", 1, NULL, 'S'},
		{"generation", 1, NULL, 'g'}, {"hold-down", 1, NULL, 'H'},
		{"wan", 1, NULL, 'W'},        {"tunnel", 1, NULL, 'T'},
		{"tun", 1, NULL, 't'},        {"ike-port", 1, NULL, 'i'},
		{"natt-port", 1, NULL, 'n'},  {"listen", 1, NULL, 'L'},
		{"workers", 1, NULL, 'w'},    {"no-offload", 0, NULL, 'N'},
		{"log-level", 1, NULL, 'l'},  {NULL, 0, NULL, 0},
	};
	int c;

	cfg->local_subnets = calloc(MAX_ITEMS, sizeof(*cfg->local_subnets));
	cfg->tunnels = calloc(MAX_ITEMS, sizeof(*cfg->tunnels));
	cfg->wan_prefixes = calloc(MAX_ITEMS, sizeof(*cfg->wan_prefixes));
	// NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded start-up
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cfg->site = optarg;
			break;
		case 'S':
			if (cfg->n_local_subnets < MAX_ITEMS)
				cfg->local_subnets[cfg->n_local_subnets++] = prefix_new(optarg);
			break;
		case 'g':
			cfg->generation = strtoull(optarg, NULL, 10);
			break;
		case 'H':
			cfg->failback_hold_down_ms = strtoull(optarg, NULL, 10);
			break;
		case 'W':
			if (cfg->n_wan_prefixes < MAX_ITEMS)
				cfg->wan_prefixes[cfg->n_wan_prefixes++] = wan_new(optarg);
			break;
		case 'T':
			if (cfg->n_tunnels < MAX_ITEMS)
				cfg->tunnels[cfg->n_tunnels++] = tunnel_new(optarg);
			break;
		case 't':
			snprintf(o->tun_name, sizeof(o->tun_name), "%s", optarg);
			break;
		case 'i':
			o->ike_port = (uint16_t)atoi(optarg);
			break;
		case 'n':
			o->natt_port = (uint16_t)atoi(optarg);
			break;
		case 'L':
			if (ip_addr_parse(optarg, &o->listen_addr) != 0)
				return -EINVAL;
			break;
		case 'w':
			o->workers = (unsigned)atoi(optarg);
			break;
		case 'N':
			o->no_offload = true;
			break;
		case 'l':
			if (log_level_parse(optarg, level) != 0)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return cfg->site ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	static struct harness h;
	Sdwan__EdgeConfig cfg;
	struct tmgr_options o = {0};
	struct tmgr_apply_error err;
	enum log_level level = LOG_LEVEL_NOTICE;

	int split = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--next") == 0)
			split = i;
	sdwan__edge_config__init(&cfg);
	if (parse(split, argv, &cfg, &o, &level) != 0) {
		fprintf(stderr, "usage: see tests/bench/tmgr/tmgr_harness.c\n");
		return 2;
	}
	if (split < argc) {
		struct tmgr_options ignored = {0};
		sdwan__edge_config__init(&h.next);
		optind = 0; /* GNU getopt: start over on the second argument vector */
		if (parse(argc - split, argv + split, &h.next, &ignored, &level) != 0) {
			fprintf(stderr, "bench-tmgr: bad options after --next\n");
			return 2;
		}
		h.has_next = true;
	}
	log_configure(level, LOG_FORMAT_TEXT, NULL);
	uv_loop_init(&h.loop);
	int rc = tmgr_new(&h.loop, &o, &h.tm);
	if (rc) {
		fprintf(stderr, "bench-tmgr: tmgr_new: %s\n", strerror(-rc));
		return 1;
	}
	rc = tmgr_apply(h.tm, &cfg, &err);
	if (rc) {
		fprintf(stderr, "bench-tmgr: config refused: code=%d tunnel=%s reason=%s\n",
			(int)err.code, err.tunnel, err.reason);
		h.status = 1;
		tmgr_close(h.tm, NULL, NULL);
		h.tm = NULL;
		uv_run(&h.loop, UV_RUN_DEFAULT);
		return 1;
	}
	uv_signal_t *sigs[] = {&h.sig_int, &h.sig_term, &h.sig_usr1, &h.sig_hup};
	int nums[] = {SIGINT, SIGTERM, SIGUSR1, SIGHUP};
	for (int i = 0; i < 4; i++) {
		uv_signal_init(&h.loop, sigs[i]);
		sigs[i]->data = &h;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	printf("ready\n");
	fflush(stdout);
	uv_run(&h.loop, UV_RUN_DEFAULT);
	uv_loop_close(&h.loop);
	return h.status;
}
