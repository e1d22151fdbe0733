/*
 * Online commands: requests to a running controller over its admin socket (controller/admin.h,
 * proto/admin.proto), printed for people or, with --json, in the shapes scripts rely on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ctl_msg.h"
#include "common/duration.h"
#include "common/error.h"
#include "common/jsonw.h"
#include "controller/admin.h"
#include "controller/intent.h"
#include "controller/reroute.h"
#include "controller/sdwanctl/commands.h"
#include "controller/store.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_INVALID = 2,
	EXIT_REFUSED = 3,
};

/* Requests answer within this long (apply of a large WAN included). */
#define CALL_TIMEOUT_MS 30000

static const char *admin_path(const struct ctl_opts *o)
{
	if (o->admin)
		return o->admin;
	// NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded tool
	const char *env = getenv("SDWAN_ADMIN");
	return env && env[0] ? env : ADMIN_DEFAULT_PATH;
}

/* One request/response. Returns 0 with *out (caller frees), or an exit status (printed). */
static int call(const struct ctl_opts *o, const Sdwan__Admin__AdminRequest *rq,
		Sdwan__Admin__AdminResponse **out)
{
	const char *path = admin_path(o);
	int fd = admin_client_connect(path);
	if (fd < 0) {
		fprintf(stderr, "sdwanctl: cannot reach the controller at %s: %s\n", path,
			sdw_strerror(fd));
		return EXIT_USAGE;
	}
	int rc = admin_client_call(fd, rq, CALL_TIMEOUT_MS, out);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "sdwanctl: controller at %s did not answer: %s\n", path,
			sdw_strerror(rc));
		return EXIT_USAGE;
	}
	if (!(*out)->ok) {
		fprintf(stderr, "sdwanctl: %s\n", (*out)->error);
		return EXIT_REFUSED;
	}
	return 0;
}

static void rsp_free(Sdwan__Admin__AdminResponse *r)
{
	sdwan__admin__admin_response__free_unpacked(r, NULL);
}

static char *ago(uint64_t at_ms, char *buf, size_t len)
{
	if (!at_ms) {
		(void)snprintf(buf, len, "never");
		return buf;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	int64_t d = (now - (int64_t)at_ms) / 1000;
	if (d < 0)
		d = 0;
	if (d < 120)
		(void)snprintf(buf, len, "%" PRId64 "s ago", d);
	else if (d < 7200)
		(void)snprintf(buf, len, "%" PRId64 "m ago", d / 60);
	else
		(void)snprintf(buf, len, "%" PRId64 "h ago", d / 3600);
	return buf;
}

static char *clock_text(uint64_t at_ms, char *buf, size_t len)
{
	time_t t = (time_t)(at_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		(void)snprintf(buf, len, "?");
	return buf;
}

/* ---- token ------------------------------------------------------------------------------- */

int cmd_token(const struct ctl_opts *o, int argc, char **argv)
{
	uint64_t ttl = 0;
	const char *site = NULL;
	if (argc < 2 || strcmp(argv[0], "create") != 0) {
		fprintf(stderr, "usage: sdwanctl token create SITE [--ttl 24h] [--json]\n");
		return EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
			if (duration_parse(argv[++i], &ttl) != 0 || !ttl) {
				fprintf(stderr,
					"sdwanctl: --ttl takes a duration like 24h or 30m\n");
				return EXIT_USAGE;
			}
		} else if (!site) {
			site = argv[i];
		} else {
			fprintf(stderr, "sdwanctl: unexpected argument '%s'\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!site) {
		fprintf(stderr, "usage: sdwanctl token create SITE [--ttl 24h] [--json]\n");
		return EXIT_USAGE;
	}
	Sdwan__Admin__TokenCreateRequest tc = SDWAN__ADMIN__TOKEN_CREATE_REQUEST__INIT;
	tc.site = (char *)site;
	tc.ttl_ms = ttl;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_TOKEN_CREATE;
	rq.token_create = &tc;
	Sdwan__Admin__AdminResponse *r = NULL;
	int rc = call(o, &rq, &r);
	if (rc == 0 && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_TOKEN) {
		const Sdwan__Admin__TokenCreated *t = r->token;
		if (o->json) {
			struct jsonw w;
			jsonw_init(&w, stdout, true);
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "site", t->site);
			jsonw_kstr(&w, "token", t->token);
			jsonw_ku64(&w, "expires_at_ms", t->expires_at_ms);
			jsonw_kstr(&w, "command", t->command);
			jsonw_obj_end(&w);
			jsonw_finish(&w);
		} else {
			char when[40];
			printf("token for site %s (one use, expires %s):\n  %s\n\n"
			       "on the edge, run:\n  %s\n",
			       t->site, clock_text(t->expires_at_ms, when, sizeof(when)), t->token,
			       t->command);
		}
	}
	if (r)
		rsp_free(r);
	return rc;
}

/* ---- status ------------------------------------------------------------------------------ */

static const char *state_of(const Sdwan__Admin__SiteStatus *s)
{
	if (s->revoked)
		return "revoked";
	if (!s->in_topology)
		return "removed";
	if (!s->enrolled)
		return "not-enrolled";
	if (!s->connected)
		return "down";
	if (s->nack_reason[0])
		return "refused";
	if (s->generation_applied < s->generation)
		return "syncing";
	return "up";
}

static void site_json(struct jsonw *w, const Sdwan__Admin__SiteStatus *s)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "site", s->site);
	jsonw_kstr(w, "role", s->role);
	jsonw_kbool(w, "enrolled", s->enrolled);
	jsonw_kbool(w, "revoked", s->revoked);
	jsonw_kbool(w, "in_topology", s->in_topology);
	jsonw_kbool(w, "connected", s->connected);
	jsonw_ku64(w, "last_seen_ms", s->last_seen_ms);
	jsonw_ku64(w, "generation", s->generation);
	jsonw_ku64(w, "generation_applied", s->generation_applied);
	jsonw_ku64(w, "tunnels_total", s->tunnels_total);
	jsonw_ku64(w, "tunnels_up", s->tunnels_up);
	jsonw_kstr(w, "active_hub", s->active_hub);
	jsonw_kstr(w, "nack_reason", s->nack_reason);
	jsonw_obj_end(w);
}

static void status_json(const Sdwan__Admin__Status *st)
{
	struct jsonw w;
	jsonw_init(&w, stdout, true);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "wan", st->wan);
	jsonw_ku64(&w, "generation", st->generation);
	jsonw_key(&w, "sites");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < st->n_sites; i++)
		site_json(&w, st->sites[i]);
	jsonw_arr_end(&w);
	jsonw_key(&w, "counters");
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < st->n_counters; i++)
		jsonw_ku64(&w, st->counters[i]->key, st->counters[i]->value);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_finish(&w);
}

static void status_text(const Sdwan__Admin__Status *st)
{
	size_t up = 0, conn = 0;
	for (size_t i = 0; i < st->n_sites; i++) {
		conn += st->sites[i]->connected;
		up += strcmp(state_of(st->sites[i]), "up") == 0;
	}
	printf("WAN %s, plan %" PRIu64 ": %zu sites, %zu connected, %zu up to date\n\n", st->wan,
	       st->generation, st->n_sites, conn, up);
	printf("%-20s %-6s %-13s %-10s %9s %9s %9s  %s\n", "SITE", "ROLE", "STATE", "LAST SEEN",
	       "CONFIG", "APPLIED", "TUNNELS", "ACTIVE HUB");
	for (size_t i = 0; i < st->n_sites; i++) {
		const Sdwan__Admin__SiteStatus *s = st->sites[i];
		char seen[32], tun[32];
		/* up/total, the firewall summary: 1/2 means one of two tunnels is up. Without a
		 * session the last report is stale (a killed hub would show all its tunnels up):
		 * "?/total", and no active hub. */
		if (s->connected)
			(void)snprintf(tun, sizeof(tun), "%" PRIu32 "/%" PRIu32, s->tunnels_up,
				       s->tunnels_total);
		else
			(void)snprintf(tun, sizeof(tun), "?/%" PRIu32, s->tunnels_total);
		printf("%-20s %-6s %-13s %-10s %9" PRIu64 " %9" PRIu64 " %9s  %s\n", s->site,
		       s->role[0] ? s->role : "-", state_of(s),
		       ago(s->last_seen_ms, seen, sizeof(seen)), s->generation,
		       s->generation_applied, tun,
		       s->connected && s->active_hub[0] ? s->active_hub : "-");
		if (s->nack_reason[0])
			printf("%-20s   refused generation %" PRIu64 ": %s\n", "", s->generation,
			       s->nack_reason);
	}
}

int cmd_status(const struct ctl_opts *o, int argc, char **argv)
{
	(void)argv;
	if (argc) {
		fprintf(stderr, "usage: sdwanctl status [--json]\n");
		return EXIT_USAGE;
	}
	Sdwan__Admin__StatusRequest sr = SDWAN__ADMIN__STATUS_REQUEST__INIT;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_STATUS;
	rq.status = &sr;
	Sdwan__Admin__AdminResponse *r = NULL;
	int rc = call(o, &rq, &r);
	if (rc == 0 && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_STATUS) {
		if (o->json)
			status_json(r->status);
		else
			status_text(r->status);
	}
	if (r)
		rsp_free(r);
	return rc;
}

/* ---- edge show --------------------------------------------------------------------------- */

static const char *ike_state_name(Sdwan__IkeState s)
{
	switch (s) {
	case SDWAN__IKE_STATE__IKE_STATE_DOWN:
		return "down";
	case SDWAN__IKE_STATE__IKE_STATE_CONNECTING:
		return "connecting";
	case SDWAN__IKE_STATE__IKE_STATE_ESTABLISHED:
		return "established";
	case SDWAN__IKE_STATE__IKE_STATE_REKEYING:
		return "rekeying";
	case SDWAN__IKE_STATE__IKE_STATE_DELETING:
		return "deleting";
	default:
		return "unknown";
	}
}

static uint64_t drops_total(const Sdwan__DropCounters *d)
{
	if (!d)
		return 0;
	return d->malformed + d->no_sa + d->replay + d->icv + d->policy + d->seq_overflow +
	       d->dummy + d->mtu + d->no_route + d->unreachable + d->loop;
}

enum {
	DROP_REASONS = 11
};

/* Every drop reason of the data plane (issue names), in one place for JSON and text. */
static size_t drop_reasons(const Sdwan__DropCounters *d, const char *name[DROP_REASONS],
			   uint64_t value[DROP_REASONS])
{
	static const char *const names[DROP_REASONS] = {
		"malformed", "no_sa", "replay",   "icv",         "policy", "seq_overflow",
		"dummy",     "mtu",   "no_route", "unreachable", "loop"};
	if (!d)
		return 0;
	const uint64_t v[DROP_REASONS] = {d->malformed, d->no_sa,        d->replay, d->icv,
					  d->policy,    d->seq_overflow, d->dummy,  d->mtu,
					  d->no_route,  d->unreachable,  d->loop};
	for (size_t i = 0; i < DROP_REASONS; i++) {
		name[i] = names[i];
		value[i] = v[i];
	}
	return DROP_REASONS;
}

static void drops_json(struct jsonw *w, const char *key, const Sdwan__DropCounters *d)
{
	const char *name[DROP_REASONS];
	uint64_t value[DROP_REASONS];
	size_t n = drop_reasons(d, name, value);

	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_ku64(w, name[i], value[i]);
	jsonw_obj_end(w);
}

/* "replay 3, icv 1": the non-zero reasons, or "-" for none. */
static const char *drops_text(const Sdwan__DropCounters *d, char *buf, size_t cap)
{
	const char *name[DROP_REASONS];
	uint64_t value[DROP_REASONS];
	size_t n = drop_reasons(d, name, value), len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++) {
		if (!value[i])
			continue;
		int k = snprintf(buf + len, cap - len, "%s%s %" PRIu64, len ? ", " : "", name[i],
				 value[i]);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (!buf[0])
		snprintf(buf, cap, "-");
	return buf;
}

static void event_json(struct jsonw *w, const Sdwan__Admin__Event *e)
{
	jsonw_obj_begin(w);
	jsonw_ku64(w, "id", (uint64_t)e->id);
	jsonw_ku64(w, "at_ms", e->at_ms);
	jsonw_kstr(w, "site", e->site);
	jsonw_kstr(w, "tunnel", e->tunnel);
	jsonw_kstr(w, "kind", e->kind);
	jsonw_kstr(w, "detail", e->detail);
	jsonw_obj_end(w);
}

static void event_text(const Sdwan__Admin__Event *e)
{
	char when[40];
	printf("%s  %-12s %-16s %-24s %s\n", clock_text(e->at_ms, when, sizeof(when)),
	       e->site[0] ? e->site : "-", e->kind, e->tunnel[0] ? e->tunnel : "-", e->detail);
}

/* "192.0.2.1:4500", or "" when the report names no peer. */
static const char *endpoint_text(const Sdwan__Endpoint *ep, char *buf, size_t cap)
{
	struct ip_addr a;
	char b[IP_ADDR_STRLEN];

	buf[0] = '\0';
	if (ep && ctl_msg_addr_get(&ep->addr, &a) == 0)
		snprintf(buf, cap, a.family == IP_V6 ? "[%s]:%u" : "%s:%u", ip_addr_format(&a, b),
			 (unsigned)ep->port);
	return buf;
}

static void tunnel_json(struct jsonw *w, const Sdwan__TunnelHealth *t)
{
	char peer[IP_ADDR_STRLEN + 16];
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", t->name);
	jsonw_kstr(w, "ike_state", ike_state_name(t->ike_state));
	jsonw_kbool(w, "active", t->active);
	jsonw_key(w, "child_sas");
	jsonw_arr_begin(w);
	for (size_t k = 0; k < t->n_child_sas; k++) {
		jsonw_obj_begin(w);
		jsonw_ku64(w, "spi_in", t->child_sas[k]->spi_in);
		jsonw_ku64(w, "spi_out", t->child_sas[k]->spi_out);
		jsonw_kstr(w, "esp_proposal", t->child_sas[k]->esp_proposal);
		jsonw_ku64(w, "established_at_ms", t->child_sas[k]->established_at_ms);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_ku64(w, "packets_in", t->packets_in);
	jsonw_ku64(w, "packets_out", t->packets_out);
	jsonw_ku64(w, "bytes_in", t->bytes_in);
	jsonw_ku64(w, "bytes_out", t->bytes_out);
	jsonw_ku64(w, "drops", drops_total(t->drops));
	drops_json(w, "drops_by_reason", t->drops);
	jsonw_ku64(w, "rtt_us", t->rtt_us);
	jsonw_ku64(w, "last_alive_ms", t->last_alive_ms);
	jsonw_ku64(w, "uptime_ms", t->uptime_ms);
	jsonw_kstr(w, "peer", endpoint_text(t->peer, peer, sizeof(peer)));
	jsonw_obj_end(w);
}

/* The controller's routes a hub holds (proto Reachability). */
static void routes_json(struct jsonw *w, const Sdwan__HealthReport *h)
{
	jsonw_key(w, "controller_routes");
	jsonw_obj_begin(w);
	jsonw_ku64(w, "epoch", h ? h->reachability_epoch : 0);
	jsonw_ku64(w, "seq", h ? h->reachability_seq : 0);
	jsonw_key(w, "routes");
	jsonw_arr_begin(w);
	for (size_t i = 0; h && i < h->n_controller_routes; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "site", h->controller_routes[i]->site);
		jsonw_kstr(w, "via_hub", h->controller_routes[i]->via_hub);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void edge_json(const Sdwan__Admin__EdgeDetail *d)
{
	struct jsonw w;
	jsonw_init(&w, stdout, true);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "status");
	site_json(&w, d->status);
	jsonw_ku64(&w, "health_received_ms", d->health_received_ms);
	const Sdwan__HealthReport *h = d->health;
	jsonw_kstr(&w, "software_version", h ? h->software_version : "");
	jsonw_ku64(&w, "uptime_ms", h ? h->uptime_ms : 0);
	drops_json(&w, "edge_drops_by_reason", h ? h->drops : NULL);
	routes_json(&w, h);
	jsonw_key(&w, "tunnels");
	jsonw_arr_begin(&w);
	for (size_t i = 0; h && i < h->n_tunnels; i++)
		tunnel_json(&w, h->tunnels[i]);
	jsonw_arr_end(&w);
	jsonw_key(&w, "events");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < d->n_events; i++)
		event_json(&w, d->events[i]);
	jsonw_arr_end(&w);
	jsonw_key(&w, "pending_commands");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < d->n_pending_commands; i++) {
		const Sdwan__Admin__PendingCommand *p = d->pending_commands[i];
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "command", p->command);
		jsonw_kstr(&w, "tunnel", p->tunnel);
		jsonw_ku64(&w, "id", p->id);
		jsonw_ku64(&w, "given_at_ms", p->given_at_ms);
		jsonw_ku64(&w, "sends", p->sends);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_finish(&w);
}

static void edge_text(const Sdwan__Admin__EdgeDetail *d)
{
	const Sdwan__Admin__SiteStatus *s = d->status;
	const Sdwan__HealthReport *h = d->health;
	char seen[32];
	printf("site %s (%s): %s, last seen %s\n", s->site, s->role[0] ? s->role : "-", state_of(s),
	       ago(s->last_seen_ms, seen, sizeof(seen)));
	printf("  config generation %" PRIu64 ", applied %" PRIu64 "%s%s\n", s->generation,
	       s->generation_applied, s->nack_reason[0] ? ", refused: " : "", s->nack_reason);
	printf("  tunnels %" PRIu32 "/%" PRIu32 " up (up/total)%s%s\n", s->tunnels_up,
	       s->tunnels_total, s->active_hub[0] ? ", active hub " : "", s->active_hub);
	if (h) {
		if (!s->connected)
			printf("  no session: below is its last health report, received %s\n",
			       ago(d->health_received_ms, seen, sizeof(seen)));
		printf("  software %s, uptime %" PRIu64 " s\n\n", h->software_version,
		       h->uptime_ms / 1000);
		printf("  %-24s %-12s %-6s %10s %10s %12s %12s %8s %9s\n", "TUNNEL", "IKE",
		       "ACTIVE", "PKTS IN", "PKTS OUT", "BYTES IN", "BYTES OUT", "DROPS",
		       "RTT(us)");
		for (size_t i = 0; i < h->n_tunnels; i++) {
			const Sdwan__TunnelHealth *t = h->tunnels[i];
			printf("  %-24s %-12s %-6s %10" PRIu64 " %10" PRIu64 " %12" PRIu64
			       " %12" PRIu64 " %8" PRIu64 " %9" PRIu32 "\n",
			       t->name, ike_state_name(t->ike_state), t->active ? "yes" : "no",
			       t->packets_in, t->packets_out, t->bytes_in, t->bytes_out,
			       drops_total(t->drops), t->rtt_us);
			char peer[IP_ADDR_STRLEN + 16];
			for (size_t k = 0; k < t->n_child_sas; k++)
				printf("  %-24s   SA spi in %08" PRIx32 " out %08" PRIx32
				       " %s%s%s\n",
				       "", t->child_sas[k]->spi_in, t->child_sas[k]->spi_out,
				       t->child_sas[k]->esp_proposal, t->peer ? ", peer " : "",
				       endpoint_text(t->peer, peer, sizeof(peer)));
			if (drops_total(t->drops)) {
				char why[256];
				printf("  %-24s   drops: %s\n", "",
				       drops_text(t->drops, why, sizeof(why)));
			}
		}
		if (drops_total(h->drops)) {
			char why[256];
			printf("  edge-wide drops (no tunnel): %s\n",
			       drops_text(h->drops, why, sizeof(why)));
		}
		if (h->n_controller_routes) {
			char routes[1024];
			printf("  controller routes (seq %" PRIu64 "): %s\n", h->reachability_seq,
			       reroute_routes_text(h->controller_routes, h->n_controller_routes,
						   routes, sizeof(routes)));
		}
	} else {
		printf("  no health report yet\n");
	}
	if (d->n_pending_commands) {
		printf("\n  commands waiting for the edge's answer:\n");
		for (size_t i = 0; i < d->n_pending_commands; i++) {
			const Sdwan__Admin__PendingCommand *p = d->pending_commands[i];
			printf("    %s%s%s, given %s, sent %" PRIu32 " time%s\n", p->command,
			       p->tunnel[0] ? " " : "", p->tunnel,
			       ago(p->given_at_ms, seen, sizeof(seen)), p->sends,
			       p->sends == 1 ? "" : "s");
		}
	}
	printf("\n  recent events:\n");
	for (size_t i = 0; i < d->n_events; i++) {
		printf("  ");
		event_text(d->events[i]);
	}
}

int cmd_edge(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "show") != 0) {
		fprintf(stderr, "usage: sdwanctl edge show SITE [--json]\n");
		return EXIT_USAGE;
	}
	Sdwan__Admin__EdgeShowRequest es = SDWAN__ADMIN__EDGE_SHOW_REQUEST__INIT;
	es.site = argv[1];
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_EDGE_SHOW;
	rq.edge_show = &es;
	Sdwan__Admin__AdminResponse *r = NULL;
	int rc = call(o, &rq, &r);
	if (rc == 0 && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_EDGE) {
		if (o->json)
			edge_json(r->edge);
		else
			edge_text(r->edge);
	}
	if (r)
		rsp_free(r);
	return rc;
}

/* ---- events ------------------------------------------------------------------------------ */

int cmd_events(const struct ctl_opts *o, int argc, char **argv)
{
	bool follow = false;
	const char *site = "";
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0) {
			follow = true;
		} else if (strcmp(argv[i], "--site") == 0 && i + 1 < argc) {
			site = argv[++i];
		} else {
			fprintf(stderr,
				"usage: sdwanctl events [--follow] [--site SITE] [--json]\n");
			return EXIT_USAGE;
		}
	}
	int64_t after = 0;
	bool first = true;
	for (;;) {
		Sdwan__Admin__EventsRequest er = SDWAN__ADMIN__EVENTS_REQUEST__INIT;
		er.site = (char *)site;
		er.after_id = after;
		er.max = first ? 100 : 1000;
		Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
		rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_EVENTS;
		rq.events = &er;
		Sdwan__Admin__AdminResponse *r = NULL;
		int rc = call(o, &rq, &r);
		if (rc != 0) {
			if (r)
				rsp_free(r);
			return rc;
		}
		const Sdwan__Admin__EventList *l = r->events;
		size_t n = l ? l->n_events : 0;
		/* Without --follow, --json prints one array; with it, one object per line. */
		struct jsonw w;
		if (o->json && !follow) {
			jsonw_init(&w, stdout, true);
			jsonw_arr_begin(&w);
		}
		for (size_t i = 0; i < n; i++) {
			if (o->json && follow) {
				jsonw_init(&w, stdout, false);
				event_json(&w, l->events[i]);
				jsonw_finish(&w);
			} else if (o->json) {
				event_json(&w, l->events[i]);
			} else {
				event_text(l->events[i]);
			}
			if (l->events[i]->id > after)
				after = l->events[i]->id;
		}
		if (o->json && !follow) {
			jsonw_arr_end(&w);
			jsonw_finish(&w);
		}
		rsp_free(r);
		(void)fflush(stdout);
		if (!follow)
			return EXIT_OK;
		first = false;
		usleep(500 * 1000);
	}
}

/* ---- apply ------------------------------------------------------------------------------- */

static int read_all(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			rc = ferror(f) ? -EIO : 0;
			break;
		}
	}
	(void)fclose(f);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

int cmd_apply(const struct ctl_opts *o, int argc, char **argv)
{
	bool dry = false;
	const char *path = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = true;
		else if (!path)
			path = argv[i];
		else
			return fprintf(stderr, "usage: sdwanctl apply FILE [--dry-run]\n"),
			       EXIT_USAGE;
	}
	if (!path) {
		fprintf(stderr, "usage: sdwanctl apply FILE [--dry-run]\n");
		return EXIT_USAGE;
	}
	/* Validate here first: the operator sees FILE:LINE:COL errors against their own file. */
	struct intent in = {0};
	struct diag_list diags = {0};
	int rc = intent_compile_file(path, &in, &diags);
	diag_print(&diags, path, stderr);
	diag_list_free(&diags);
	intent_free(&in);
	if (rc != 0) {
		fprintf(stderr, "sdwanctl: %s is invalid; nothing applied\n", path);
		return EXIT_INVALID;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	rc = read_all(path, &buf, &len);
	if (rc != 0) {
		fprintf(stderr, "sdwanctl: %s: %s\n", path, sdw_strerror(rc));
		return EXIT_USAGE;
	}
	Sdwan__Admin__ApplyRequest ar = SDWAN__ADMIN__APPLY_REQUEST__INIT;
	ar.topology.data = buf;
	ar.topology.len = len;
	ar.dry_run = dry;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_APPLY;
	rq.apply = &ar;
	Sdwan__Admin__AdminResponse *r = NULL;
	rc = call(o, &rq, &r);
	free(buf);
	if (r && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_APPLY) {
		const Sdwan__Admin__ApplyResult *res = r->apply;
		for (size_t i = 0; i < res->n_diagnostics; i++)
			fputs(res->diagnostics[i], stderr);
		if (o->json) {
			struct jsonw w;
			jsonw_init(&w, stdout, true);
			jsonw_obj_begin(&w);
			jsonw_kbool(&w, "applied", rc == 0 && !dry);
			jsonw_ku64(&w, "sites_updated", res->sites_updated);
			jsonw_kstr(&w, "diff", res->diff_text);
			jsonw_obj_end(&w);
			jsonw_finish(&w);
		} else {
			fputs(res->diff_text, stdout);
			if (rc == 0 && dry)
				printf("dry run: nothing loaded, no edge gets a new configuration\n");
			else if (rc == 0)
				printf("applied: %" PRIu32 " %s a new configuration\n",
				       res->sites_updated,
				       res->sites_updated == 1 ? "site gets" : "sites get");
		}
	}
	if (r)
		rsp_free(r);
	return rc;
}

/* ---- revoke, rekey, re-enroll, rotate-keys ------------------------------------------------ */

static int command(const struct ctl_opts *o, Sdwan__Admin__CommandKind kind, const char *site,
		   const char *tunnel)
{
	Sdwan__Admin__CommandRequest cr = SDWAN__ADMIN__COMMAND_REQUEST__INIT;
	cr.kind = kind;
	cr.site = (char *)site;
	cr.tunnel = (char *)(tunnel ? tunnel : "");
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_COMMAND;
	rq.command = &cr;
	Sdwan__Admin__AdminResponse *r = NULL;
	int rc = call(o, &rq, &r);
	if (rc == 0 && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_COMMAND) {
		if (o->json) {
			struct jsonw w;
			jsonw_init(&w, stdout, true);
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "site", site);
			jsonw_kbool(&w, "delivered", r->command->delivered);
			jsonw_kstr(&w, "detail", r->command->detail);
			jsonw_obj_end(&w);
			jsonw_finish(&w);
		} else {
			printf("%s: %s\n", site, r->command->detail);
		}
	}
	if (r)
		rsp_free(r);
	return rc;
}

int cmd_revoke(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: sdwanctl revoke SITE\n");
		return EXIT_USAGE;
	}
	return command(o, SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_REVOKE, argv[0], NULL);
}

int cmd_rekey(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: sdwanctl rekey SITE [TUNNEL]\n");
		return EXIT_USAGE;
	}
	return command(o, SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_REKEY, argv[0],
		       argc == 2 ? argv[1] : NULL);
}

int cmd_reenroll(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: sdwanctl re-enroll SITE\n");
		return EXIT_USAGE;
	}
	return command(o, SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_RE_ENROLL, argv[0], NULL);
}

int cmd_rotate(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: sdwanctl rotate-keys SITE\n");
		return EXIT_USAGE;
	}
	return command(o, SDWAN__ADMIN__COMMAND_KIND__COMMAND_KIND_ROTATE_KEYS, argv[0], NULL);
}

/* ---- backup ------------------------------------------------------------------------------ */

int cmd_backup(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc != 1 || !argv[0][0]) {
		fprintf(stderr, "usage: sdwanctl backup DIR   (a new or empty directory)\n");
		return EXIT_USAGE;
	}
	/* The controller runs elsewhere in the file system's eyes (its own working directory):
	 * it gets an absolute path. */
	char dir[4096], cwd[4000];
	if (argv[0][0] == '/') {
		(void)snprintf(dir, sizeof(dir), "%s", argv[0]);
	} else if (!getcwd(cwd, sizeof(cwd)) ||
		   snprintf(dir, sizeof(dir), "%s/%s", cwd, argv[0]) >= (int)sizeof(dir)) {
		fprintf(stderr, "sdwanctl: cannot make %s an absolute path\n", argv[0]);
		return EXIT_USAGE;
	}
	Sdwan__Admin__BackupRequest br = SDWAN__ADMIN__BACKUP_REQUEST__INIT;
	br.dir = dir;
	Sdwan__Admin__AdminRequest rq = SDWAN__ADMIN__ADMIN_REQUEST__INIT;
	rq.body_case = SDWAN__ADMIN__ADMIN_REQUEST__BODY_BACKUP;
	rq.backup = &br;
	Sdwan__Admin__AdminResponse *r = NULL;
	int rc = call(o, &rq, &r);
	if (rc == 0 && r->body_case == SDWAN__ADMIN__ADMIN_RESPONSE__BODY_BACKUP) {
		const Sdwan__Admin__BackupDone *b = r->backup;
		if (o->json) {
			struct jsonw w;
			jsonw_init(&w, stdout, true);
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "dir", b->dir);
			jsonw_key(&w, "files");
			jsonw_arr_begin(&w);
			for (size_t i = 0; i < b->n_files; i++)
				jsonw_str(&w, b->files[i]);
			jsonw_arr_end(&w);
			jsonw_ku64(&w, "db_bytes", b->db_bytes);
			jsonw_obj_end(&w);
			jsonw_finish(&w);
		} else {
			printf("backup written to %s:", b->dir);
			for (size_t i = 0; i < b->n_files; i++)
				printf(" %s", b->files[i]);
			printf(" (database %" PRIu64 " bytes)\n", b->db_bytes);
			printf("restore: stop the controller, copy %s and controller.key into its "
			       "--state directory and topology.yaml to its --topology file, start it "
			       "(docs/operations.md)\n",
			       STORE_DB_NAME);
		}
	}
	if (r)
		rsp_free(r);
	return rc;
}
