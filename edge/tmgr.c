/*
 * The tunnel manager; see tmgr.h. Engine callbacks only record what happened (they may not call
 * back into the engine); the single timer acts on it. Every decision that needs time comes from
 * deadlines computed when the timer fires, never from timers re-armed per packet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/error.h"
#include "common/log.h"
#include "common/rd.h"
#include "edge/dp/dp.h"
#include "edge/dp/udp.h"
#include "edge/dpd.h"
#include "edge/failover.h"
#include "edge/ike/ike_sa.h"
#include "edge/ike/ike_wire.h"
#include "edge/net/netlink.h"
#include "edge/net/tun.h"
#include "edge/tmgr.h"
#include "edge/tplan.h"
#include "edge/udpio.h"

enum {
	TM_SPI_MAX = 4,               /* inbound SAs tracked per tunnel (two during a rekey) */
	TM_CONNECT_TIMEOUT_MS = 3000, /* an attempt that has not brought the Child SA up by then */
	TM_BACKOFF_MIN_MS = 500,
	TM_BACKOFF_MAX_MS = 8000,
	TM_RECLAIM_MS = 100,
	TM_IKE_BATCH = 64,       /* IKE messages taken from the data plane per wakeup */
	TM_HORIZON_BACKBONE = 1, /* split-horizon group of a hub's hub-to-hub tunnels */
	TM_DEFAULT_LINK_MTU = 1400,
	/* A rekey we answered: our outbound moves to the new pair once the peer deletes the old
	 * one (it has the new pair then), or after this long if its Delete never comes. */
	TM_OUT_SWITCH_MAX_MS = 1000,
};

/* Sequence space (RFC 4303 §3.3.3): rekey this many packets before a 32-bit counter would
 * wrap, so the new pair is up long before the old one must stop (16 M packets: seconds even
 * at line rate). With ESN the 64-bit space is never reached in practice, but the same rule
 * holds. */
#define TM_SEQ_REKEY_MARGIN (1ull << 24)

enum tm_state {
	TM_DOWN,
	TM_CONNECTING,
	TM_UP,
};

struct tm_tunnel {
	struct tplan_tunnel spec; /* owned copy (PSK: wiped on free) */
	uint32_t id;              /* data-plane tunnel id */
	enum tm_state state;
	uint64_t sa;                 /* current IKE SA handle, 0 = none */
	uint32_t spi_in[TM_SPI_MAX]; /* live inbound SAs, oldest first */
	size_t n_spi_in;
	uint32_t spi_out;
	/* The outbound SA of a rekey we answered, held back until the peer has the new pair
	 * (RFC 7296 §2.8: the initiator installs it only when our answer arrives). */
	bool out_pending;
	uint32_t out_pending_after; /* switch when this inbound SPI (the old pair) goes */
	uint64_t out_pending_deadline_ms;
	struct esp_sa_config out_next;
	uint8_t out_next_keymat[IKE_CHILD_KEYMAT_MAX]; /* secret: wiped once used */
	bool out_esn;              /* the current outbound SA has 64-bit sequence numbers */
	uint32_t seq_rekey_spi_in; /* the pair a sequence-space or volume rekey was asked for */
	uint64_t out_base_bytes,
		out_base_packets;   /* tunnel tx counters when the outbound SA began */
	uint64_t up_ms, up_unix_ms; /* when the Child SA came up */
	struct dpd dpd;
	uint64_t retry_at_ms, connect_deadline_ms;
	uint32_t backoff_ms;
	uint64_t probe_ns; /* liveness check outstanding since (uv_hrtime), 0 = none */
	uint32_t rtt_us;
	uint64_t last_alive_unix_ms;
	bool failed; /* the engine reported our SA failed: act in the timer */
	char fail_reason[160];
	struct ike_endpoint local; /* our IKE endpoint for this tunnel */
};

/* One route of the controller's reachability. */
struct tm_route {
	char site[TPLAN_SITE_NAME_MAX];
	char via[TPLAN_SITE_NAME_MAX]; /* the hub that reaches the site; "" = none does */
};

struct tmgr {
	uv_loop_t *loop;
	struct tmgr_options opts;
	struct net *net;
	struct tun tun;
	bool tun_open;
	int ifindex;
	unsigned link_mtu;
	struct udp_group udp;
	bool udp_open;
	struct dp *dp;
	struct ike_engine *eng;
	struct udpio ike;
	bool ike_open;
	uv_poll_t dp_poll;
	bool dp_poll_open;
	uv_timer_t timer, reclaim;
	struct tplan *plan;
	struct tm_tunnel **tunnels;
	size_t n_tunnels;
	struct tplan_kroute *kroutes;
	size_t n_kroutes;
	char active_hub[TPLAN_NAME_MAX]; /* tunnel name, "" = none */
	/* The controller's reachability (proto Reachability), sorted by site; none: own routing */
	struct tm_route *routes;
	size_t n_routes;
	uint64_t reach_epoch, reach_seq;
	uint64_t hub_recheck_ms;
	uint64_t start_ms;
	unsigned closing; /* handles still closing */
	void (*done)(void *arg);
	void *done_arg;
	uint8_t ike_buf[DP_IKE_MAX];
};

/* ---- clocks, events ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *event_name(Sdwan__EventType type)
{
	switch (type) {
	case SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_UP:
		return "tunnel_up";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN:
		return "tunnel_down";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_FAILOVER:
		return "failover";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_FAILBACK:
		return "failback";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_REKEY:
		return "rekey";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_AUTH_FAILURE:
		return "auth_failure";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_REROUTE:
		return "reroute";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_PEER_MOVED:
		return "peer_moved";
	default:
		return "other";
	}
}

__attribute__((format(printf, 4, 5))) static void emit(struct tmgr *tm, Sdwan__EventType type,
						       const char *tunnel, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	LOG_NOTICE(MAIN, "tunnel event", "event=%s tunnel=%s detail=\"%s\"", event_name(type),
		   tunnel ? tunnel : "-", detail);
	if (tm->opts.event)
		tm->opts.event(tm->opts.event_arg, type, tunnel, detail);
}

static struct tm_tunnel *tunnel_by_name(struct tmgr *tm, const char *name)
{
	for (size_t i = 0; i < tm->n_tunnels; i++)
		if (strcmp(tm->tunnels[i]->spec.name, name) == 0)
			return tm->tunnels[i];
	return NULL;
}

static struct tm_tunnel *tunnel_by_sa(struct tmgr *tm, uint64_t sa)
{
	struct ike_sa_info info;

	if (sa == 0 || ike_engine_sa_get(tm->eng, sa, &info) != 0)
		return NULL;
	return tunnel_by_name(tm, info.peer);
}

static void schedule(struct tmgr *tm);
static void on_timer(uv_timer_t *h);

/* ---- engine environment ---- */

static uint64_t env_now(void *ctx)
{
	(void)ctx;
	return mono_ms();
}

static int env_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

static int env_send(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		    const uint8_t *msg, size_t len)
{
	static const uint8_t non_esp_marker[4] = {0, 0, 0, 0};
	struct tmgr *tm = ctx;

	/* IKE on the ESP port travels behind the non-ESP marker (RFC 3948 §2.2). */
	if (local->port == tm->opts.natt_port && tm->udp_open)
		return udpio_sendto(tm->udp.fds[0], remote, non_esp_marker, sizeof(non_esp_marker),
				    msg, len);
	return udpio_send(&tm->ike, remote, NULL, 0, msg, len);
}

/* "192.0.2.1:4500" of a data-plane peer address. */
static const char *sockaddr_text(const struct sockaddr_in6 *sa, char *buf, size_t cap)
{
	struct ike_endpoint ep;
	char a[IP_ADDR_STRLEN];

	udpio_from_sockaddr(sa, &ep);
	snprintf(buf, cap, "%s:%u", ep.addr.family ? ip_addr_format(&ep.addr, a) : "-",
		 (unsigned)ep.port);
	return buf;
}

static void spis_clear(struct tmgr *tm, struct tm_tunnel *t)
{
	for (size_t i = 0; i < t->n_spi_in; i++)
		if (dp_sa_in_remove(tm->dp, t->spi_in[i]) != 0)
			LOG_DEBUG(DP, "inbound SA already gone", "tunnel=%s spi=%08" PRIx32,
				  t->spec.name, t->spi_in[i]);
	t->n_spi_in = 0;
	t->spi_out = 0;
	t->out_pending = false;
	OPENSSL_cleanse(t->out_next_keymat, sizeof(t->out_next_keymat));
}

/* Forget one inbound SA (deleted or replaced by the peer). */
static void spi_in_remove(struct tmgr *tm, struct tm_tunnel *t, uint32_t spi)
{
	for (size_t i = 0; i < t->n_spi_in; i++) {
		if (t->spi_in[i] != spi)
			continue;
		if (dp_sa_in_remove(tm->dp, spi) != 0)
			LOG_DEBUG(DP, "inbound SA already gone", "tunnel=%s spi=%08" PRIx32,
				  t->spec.name, spi);
		memmove(&t->spi_in[i], &t->spi_in[i + 1],
			(t->n_spi_in - i - 1) * sizeof(t->spi_in[0]));
		t->n_spi_in--;
		return;
	}
}

/* The tunnel's tx counters now: what the current outbound SA has carried is measured from here. */
static void out_baseline(struct tmgr *tm, struct tm_tunnel *t)
{
	struct dp_stats st;

	if (dp_tunnel_stats(tm->dp, t->id, &st) == 0) {
		t->out_base_bytes = st.tx_bytes;
		t->out_base_packets = st.tx_packets;
	}
}

/* Move the tunnel's outbound traffic to the held-back SA of a rekey we answered. */
static void out_pending_switch(struct tmgr *tm, struct tm_tunnel *t, const char *why)
{
	if (!t->out_pending)
		return;
	t->out_pending = false;
	t->out_next.keymat = t->out_next_keymat;
	int rc = dp_sa_out_install(tm->dp, t->id, &t->out_next);
	OPENSSL_cleanse(t->out_next_keymat, sizeof(t->out_next_keymat));
	if (rc) {
		LOG_ERR(DP, "could not switch to the rekeyed outbound SA", "tunnel=%s error=\"%s\"",
			t->spec.name, sdw_strerror(rc));
		return;
	}
	t->spi_out = t->out_next.spi;
	out_baseline(tm, t);
	LOG_INFO(DP, "outbound moved to the rekeyed SA", "tunnel=%s spi_out=%08" PRIx32 " why=%s",
		 t->spec.name, t->spi_out, why);
}

/* The ESP destination of a peer seen at an IKE endpoint: 4500 when it spoke IKE on 500. */
static void esp_peer(const struct ike_endpoint *ike, struct sockaddr_in6 *out)
{
	struct ike_endpoint esp = *ike;

	if (esp.port == TPLAN_IKE_PORT)
		esp.port = TPLAN_NATT_PORT;
	udpio_to_sockaddr(&esp, out);
}

static int install_child(struct tmgr *tm, struct tm_tunnel *t, const struct ike_child_keys *k)
{
	struct esp_sa_config c = {.cipher = k->cipher,
				  .dir = ESP_DIR_IN,
				  .spi = k->spi_in,
				  .esn = k->esn,
				  .keymat = k->keymat_in,
				  .keymat_len = k->keymat_len};
	struct ike_sa_info info;
	int rc;

	/* Follow the peer to where it spoke from (dynamic peers, address changes). */
	if (ike_engine_sa_get(tm->eng, k->sa, &info) == 0) {
		struct sockaddr_in6 peer;
		esp_peer(&info.remote, &peer);
		if (dp_tunnel_set_peer(tm->dp, t->id, &peer) != 0)
			LOG_WARN(DP, "could not set the tunnel's peer", "tunnel=%s", t->spec.name);
	}
	/* Make before break: the new inbound SA joins the old ones, which stay until the engine
	 * reports them gone (child_down); only a full list drops its oldest. */
	if (t->n_spi_in == TM_SPI_MAX)
		spi_in_remove(tm, t, t->spi_in[0]);
	rc = dp_sa_in_install(tm->dp, t->id, &c);
	if (rc)
		return rc;
	c.dir = ESP_DIR_OUT;
	c.spi = k->spi_out;
	c.keymat = k->keymat_out;
	/* The testing option applies to a tunnel's first pair only: rekeyed pairs start at 1. */
	c.first_seq = t->spi_out ? 0 : tm->opts.test_esp_first_seq;
	t->out_esn = k->esn;
	if (k->rekey && !k->initiated && t->spi_out) {
		/* We answered the rekey: the peer installs the new pair when our answer arrives,
		 * so keep sending on the old one until it deletes it. */
		t->out_next = c;
		memcpy(t->out_next_keymat, k->keymat_out, k->keymat_len);
		t->out_pending = true;
		t->out_pending_after = k->rekeyed_spi_in;
		t->out_pending_deadline_ms = mono_ms() + TM_OUT_SWITCH_MAX_MS;
	} else {
		rc = dp_sa_out_install(tm->dp, t->id, &c);
		if (rc) {
			if (dp_sa_in_remove(tm->dp, k->spi_in) != 0)
				LOG_DEBUG(DP, "inbound SA already gone", "tunnel=%s", t->spec.name);
			return rc;
		}
		t->out_pending = false;
		OPENSSL_cleanse(t->out_next_keymat, sizeof(t->out_next_keymat));
		t->spi_out = k->spi_out;
		out_baseline(tm, t);
	}
	t->spi_in[t->n_spi_in++] = k->spi_in;
	return 0;
}

/* The ESP SAs of a new pair, for the debugging key log: outer addresses as on the wire. */
static void keylog_child(struct tmgr *tm, const struct ike_child_keys *k)
{
	struct keylog_esp in = {.src = k->remote.addr,
				.dst = k->local.addr,
				.spi = k->spi_in,
				.cipher = k->cipher,
				.keymat = k->keymat_in};
	struct keylog_esp out = {.src = k->local.addr,
				 .dst = k->remote.addr,
				 .spi = k->spi_out,
				 .cipher = k->cipher,
				 .keymat = k->keymat_out};

	if (keylog_esp_sa(tm->opts.keylog, &in) != 0 || keylog_esp_sa(tm->opts.keylog, &out) != 0)
		LOG_WARN(MAIN, "could not write the key log", "tunnel=%s", k->peer);
}

static void env_ike_keys(void *ctx, const struct ike_sa_keylog *k)
{
	struct tmgr *tm = ctx;
	struct keylog_ike line = {.spi_i = k->spi_i,
				  .spi_r = k->spi_r,
				  .encr = k->encr,
				  .sk_ei = k->sk_ei,
				  .sk_er = k->sk_er,
				  .enc_len = k->enc_len};

	if (tm->opts.keylog && keylog_ike_sa(tm->opts.keylog, &line) != 0)
		LOG_WARN(MAIN, "could not write the key log", "tunnel=%s", k->peer);
}

static void env_child_down(void *ctx, const char *peer, uint64_t sa, uint32_t spi_in,
			   uint32_t spi_out, enum ike_child_down_reason reason)
{
	struct tmgr *tm = ctx;
	struct tm_tunnel *t = tunnel_by_name(tm, peer);

	(void)sa;
	(void)spi_out;
	(void)reason;
	if (!t)
		return;
	if (t->out_pending && t->out_pending_after == spi_in)
		out_pending_switch(tm, t, "old pair deleted");
	spi_in_remove(tm, t, spi_in);
}
static void routes_refresh(struct tmgr *tm);

static void env_child_up(void *ctx, const struct ike_child_keys *k)
{
	struct tmgr *tm = ctx;
	struct tm_tunnel *t = tunnel_by_name(tm, k->peer);

	if (!t) {
		LOG_INFO(MAIN, "Child SA for a tunnel no longer configured", "tunnel=%s", k->peer);
		return;
	}
	int rc = install_child(tm, t, k);
	if (tm->opts.keylog && rc == 0)
		keylog_child(tm, k);
	if (rc) {
		LOG_ERR(DP, "Child SA install failed", "tunnel=%s error=\"%s\"", t->spec.name,
			sdw_strerror(rc));
		return;
	}
	bool was_up = t->state == TM_UP;
	uint64_t now = mono_ms();
	t->sa = k->sa;
	t->state = TM_UP;
	t->up_ms = now;
	t->up_unix_ms = unix_ms();
	t->backoff_ms = 0;
	t->failed = false;
	t->probe_ns = 0;
	dpd_start(&t->dpd, t->spec.dpd_mode, t->spec.dpd_interval_ms, t->spec.dpd_timeout_ms, now);
	if (!was_up)
		routes_refresh(tm);
	emit(tm,
	     was_up ? SDWAN__EVENT_TYPE__EVENT_TYPE_REKEY : SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_UP,
	     t->spec.name,
	     "child SA up spi_in=%08" PRIx32 " spi_out=%08" PRIx32 " ike_sa=%016" PRIx64, k->spi_in,
	     k->spi_out, k->sa);
	schedule(tm);
}

static void env_event(void *ctx, const struct ike_event *ev)
{
	struct tmgr *tm = ctx;
	struct tm_tunnel *t = ev->peer[0] ? tunnel_by_name(tm, ev->peer) : NULL;

	if (ev->type == IKE_EVENT_REJECTED) {
		LOG_INFO(IKE, "IKE_SA_INIT refused", "reason=\"%s\"", ev->reason ? ev->reason : "");
		return;
	}
	if (!t)
		return;
	if ((ev->type == IKE_EVENT_FAILED || ev->type == IKE_EVENT_CHILD_FAILED) &&
	    ev->notify == IKE_N_AUTHENTICATION_FAILED)
		emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_AUTH_FAILURE, t->spec.name, "%s: %s",
		     ev->phase ? ev->phase : "", ev->reason ? ev->reason : "");
	if (ev->type == IKE_EVENT_ESTABLISHED && t->state == TM_CONNECTING)
		t->sa = ev->sa;
	/* §2.23: an authenticated IKE message from a new address or port (a NAT rebinding, a
	 * roaming peer): ESP follows it. */
	if (ev->type == IKE_EVENT_PEER_MOVED && ev->sa == t->sa) {
		struct sockaddr_in6 peer, old;
		char was[IP_ADDR_STRLEN + 8], now[IP_ADDR_STRLEN + 8];
		if (dp_tunnel_peer(tm->dp, t->id, &old) != 0)
			memset(&old, 0, sizeof(old));
		esp_peer(&ev->remote, &peer);
		if (dp_tunnel_set_peer(tm->dp, t->id, &peer) != 0) {
			LOG_WARN(DP, "could not move the tunnel's peer", "tunnel=%s", t->spec.name);
		} else {
			LOG_NOTICE(DP, "peer moved: ESP follows", "tunnel=%s", t->spec.name);
			emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_PEER_MOVED, t->spec.name,
			     "peer %s -> %s (seen in %s)", sockaddr_text(&old, was, sizeof(was)),
			     sockaddr_text(&peer, now, sizeof(now)), ev->phase ? ev->phase : "IKE");
		}
	}
	/* The children moved to the new IKE SA: liveness checks and failures follow them. */
	if (ev->type == IKE_EVENT_IKE_REKEYED && ev->sa == t->sa && ev->new_sa) {
		t->sa = ev->new_sa;
		emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_REKEY, t->spec.name,
		     "IKE SA rekeyed %016" PRIx64 " -> %016" PRIx64, ev->sa, ev->new_sa);
	}
	/* Only the SA the tunnel runs on (or is bringing up) decides its fate. */
	if ((ev->type == IKE_EVENT_FAILED || ev->type == IKE_EVENT_CHILD_FAILED) &&
	    ev->sa == t->sa) {
		t->failed = true;
		snprintf(t->fail_reason, sizeof(t->fail_reason), "%s %s: %s",
			 ike_event_name(ev->type), ev->phase ? ev->phase : "",
			 ev->reason ? ev->reason : "");
		uv_timer_start(&tm->timer, on_timer, 0, 0);
	}
}

/* ---- IKE input and proof of life ---- */

static uint64_t engine_rejections(const struct ike_stats *st)
{
	uint64_t n = st->cached_responses;

	for (int i = 0; i < IKE_DROP_COUNT; i++)
		n += st->drops[i];
	return n;
}

/* After the engine accepted msg: an authenticated message on an established SA is proof that
 * the peer lives; the answer to our liveness check gives the round-trip time. */
static void ike_alive(struct tmgr *tm, const uint8_t *msg, size_t len)
{
	struct rd r = rd_init(msg, len);
	uint64_t spi_i, spi_r;
	uint8_t next, version, exchange, flags;

	if (!rd_u64(&r, &spi_i) || !rd_u64(&r, &spi_r) || !rd_u8(&r, &next) ||
	    !rd_u8(&r, &version) || !rd_u8(&r, &exchange) || !rd_u8(&r, &flags) ||
	    exchange == IKE_EXCH_IKE_SA_INIT)
		return;
	struct tm_tunnel *t = tunnel_by_sa(tm, spi_i);
	uint64_t sa = spi_i;
	if (!t || t->sa != sa) {
		t = tunnel_by_sa(tm, spi_r);
		sa = spi_r;
	}
	if (!t || t->sa != sa || t->state != TM_UP)
		return;
	uint64_t now = mono_ms();
	dpd_on_alive(&t->dpd, now);
	t->last_alive_unix_ms = unix_ms();
	if ((flags & IKE_FLAG_RESPONSE) && exchange == IKE_EXCH_INFORMATIONAL && t->probe_ns) {
		t->rtt_us = (uint32_t)((uv_hrtime() - t->probe_ns) / 1000);
		t->probe_ns = 0;
	}
}

static void ike_rx(void *arg, const uint8_t *buf, size_t len, const struct ike_endpoint *from,
		   const struct ike_endpoint *to)
{
	struct tmgr *tm = arg;
	const struct ike_stats *st = ike_engine_stats(tm->eng);
	uint64_t before = engine_rejections(st);

	ike_input(tm->eng, buf, len, from, to);
	if (engine_rejections(st) == before)
		ike_alive(tm, buf, len);
	schedule(tm);
}

/* Our local endpoint for IKE that arrived through the data plane: the SA's, when the message
 * names one we know, else the configured listen address. */
static void natt_local(struct tmgr *tm, const uint8_t *msg, size_t len, struct ike_endpoint *to)
{
	struct rd r = rd_init(msg, len);
	uint64_t spi_i = 0, spi_r = 0;
	struct ike_sa_info info;

	*to = (struct ike_endpoint){.addr = tm->opts.listen_addr, .port = tm->opts.natt_port};
	if (!rd_u64(&r, &spi_i) || !rd_u64(&r, &spi_r))
		return;
	if ((spi_i && ike_engine_sa_get(tm->eng, spi_i, &info) == 0) ||
	    (spi_r && ike_engine_sa_get(tm->eng, spi_r, &info) == 0))
		to->addr = info.local.addr;
}

/* The data plane saw a tunnel's authenticated ESP come from a new source (a NAT gave the peer a
 * new port): the engine decides whether the peer may move, and if it does, reports
 * IKE_EVENT_PEER_MOVED, on which ESP follows (env_event). */
static void peer_seen(struct tmgr *tm, uint32_t id, const struct sockaddr_in6 *from)
{
	struct ike_endpoint ep;
	char b[IP_ADDR_STRLEN + 8];

	for (size_t i = 0; i < tm->n_tunnels; i++) {
		struct tm_tunnel *t = tm->tunnels[i];
		if (t->id != id)
			continue;
		udpio_from_sockaddr(from, &ep);
		int rc = t->state == TM_UP ? ike_sa_peer_seen(tm->eng, t->sa, &ep) : -ENOENT;
		if (rc)
			LOG_DEBUG(DP, "ESP from a new source not followed",
				  "tunnel=%s from=%s error=\"%s\"", t->spec.name,
				  sockaddr_text(from, b, sizeof(b)), sdw_strerror(rc));
		return;
	}
}

static void on_dp_event(uv_poll_t *h, int status, int events)
{
	struct tmgr *tm = h->data;
	uint64_t count;

	if (status < 0 || !(events & UV_READABLE))
		return;
	if (read(dp_event_fd(tm->dp), &count, sizeof(count)) < 0 && errno != EAGAIN)
		LOG_WARN(DP, "data-plane event read failed", "error=\"%s\"", sdw_strerror(-errno));
	for (int i = 0; i < TM_IKE_BATCH; i++) {
		struct sockaddr_in6 from_sa;
		int n = dp_ike_pop(tm->dp, tm->ike_buf, sizeof(tm->ike_buf), &from_sa);
		if (n == 0)
			break;
		if (n < 0)
			continue;
		struct ike_endpoint from, to;
		udpio_from_sockaddr(&from_sa, &from);
		natt_local(tm, tm->ike_buf, (size_t)n, &to);
		ike_rx(tm, tm->ike_buf, (size_t)n, &from, &to);
	}
	uint32_t id;
	struct sockaddr_in6 moved;
	for (int i = 0; i < TM_IKE_BATCH && dp_peer_moved_pop(tm->dp, &id, &moved) == 1; i++)
		peer_seen(tm, id, &moved);
	schedule(tm);
}

/* ---- tunnels ---- */

/* The source address the kernel would use towards addr (no packet is sent), for NAT detection
 * to describe us truthfully when we are bound to every address. */
static void source_for(const struct ip_addr *addr, uint16_t port, struct ip_addr *out)
{
	struct ike_endpoint ep = {.addr = *addr, .port = port ? port : TPLAN_IKE_PORT};
	struct sockaddr_in6 sa, me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return;
	udpio_to_sockaddr(&ep, &sa);
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &len) == 0) {
		struct ike_endpoint local;
		udpio_from_sockaddr(&me, &local);
		*out = local.addr;
	}
	close(fd);
}

static int peer_config(const struct tmgr *tm, const struct tm_tunnel *t, struct ike_peer_config *c)
{
	const struct tplan_tunnel *s = &t->spec;
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", s->name);
	snprintf(c->local_id, sizeof(c->local_id), "%s", s->local_id);
	snprintf(c->remote_id, sizeof(c->remote_id), "%s", s->peer_id);
	if (s->cert_auth) {
		/* The engine takes its own references (ike_engine_add_peer). */
		c->auth = IKE_PEER_AUTH_CERT;
		c->key = tm->opts.key;
		c->cert = tm->opts.cert;
		c->ca = tm->opts.ca;
	} else {
		memcpy(c->psk, s->psk, s->psk_len);
		c->psk_len = s->psk_len;
	}
	c->ike = s->ike;
	c->esp = s->esp;
	c->ike_lifetime_s = (uint32_t)(s->ike_lifetime_ms / 1000);
	c->child_lifetime_s = (uint32_t)(s->child_lifetime_ms / 1000);
	rc = tplan_traffic_selectors(tm->plan, s, false, c->local_ts, &c->n_local_ts);
	if (!rc)
		rc = tplan_traffic_selectors(tm->plan, s, true, c->remote_ts, &c->n_remote_ts);
	c->local = t->local;
	if (s->peer_known)
		c->remote = (struct ike_endpoint){.addr = s->peer_addr, .port = s->peer_ike_port};
	c->initiate = s->initiator;
	return rc;
}

static int engine_add(struct tmgr *tm, struct tm_tunnel *t)
{
	struct ike_peer_config c;

	int rc = peer_config(tm, t, &c);
	if (!rc)
		rc = ike_engine_add_peer(tm->eng, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	return rc;
}

/* Forget every IKE SA of the tunnel (dead peer, abandoned attempt) by configuring it afresh. */
static void engine_reset(struct tmgr *tm, struct tm_tunnel *t)
{
	if (ike_engine_remove_peer(tm->eng, t->spec.name) != 0)
		LOG_DEBUG(IKE, "tunnel was not in the engine", "tunnel=%s", t->spec.name);
	if (engine_add(tm, t) != 0)
		LOG_ERR(IKE, "could not configure the tunnel again", "tunnel=%s", t->spec.name);
	t->sa = 0;
}

static uint32_t free_id(const struct tmgr *tm, struct tm_tunnel *const *pending, size_t n_pending)
{
	for (uint32_t id = 0;; id++) {
		bool used = false;
		for (size_t i = 0; i < tm->n_tunnels && !used; i++)
			used = tm->tunnels[i] && tm->tunnels[i]->id == id;
		for (size_t i = 0; i < n_pending && !used; i++)
			used = pending[i] && pending[i]->id == id;
		if (!used)
			return id;
	}
}

static void tunnel_free(struct tm_tunnel *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static int tunnel_create(struct tmgr *tm, const struct tplan_tunnel *spec, uint32_t id,
			 struct tm_tunnel **out)
{
	struct tm_tunnel *t = calloc(1, sizeof(*t));
	struct lpm *allowed = NULL;
	struct sockaddr_in6 peer = {.sin6_family = AF_INET6};
	int rc;

	if (!t)
		return -ENOMEM;
	t->spec = *spec;
	t->id = id;
	t->state = TM_DOWN;
	t->retry_at_ms = mono_ms();
	bool natt = spec->peer_known && spec->peer_ike_port != TPLAN_IKE_PORT;
	t->local = (struct ike_endpoint){.addr = tm->opts.listen_addr,
					 .port = natt ? tm->opts.natt_port : tm->opts.ike_port};
	if (spec->peer_known && !tm->opts.listen_addr.family)
		source_for(&spec->peer_addr, spec->peer_ike_port, &t->local.addr);
	if (spec->peer_known) {
		struct ike_endpoint esp = {.addr = spec->peer_addr, .port = spec->peer_esp_port};
		udpio_to_sockaddr(&esp, &peer);
	}
	rc = tplan_allowed(tm->plan, spec, &allowed);
	if (!rc)
		rc = dp_tunnel_add(tm->dp, id, &peer, spec->mtu, &allowed);
	lpm_free(allowed);
	/* A hub relays between spokes but never from one hub to another (split horizon): its
	 * hub-to-hub tunnels form one group. */
	if (!rc && spec->kind == SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_HUB &&
	    dp_tunnel_set_horizon(tm->dp, id, TM_HORIZON_BACKBONE) != 0)
		LOG_WARN(DP, "could not set the tunnel's split horizon", "tunnel=%s", spec->name);
	if (rc) {
		tunnel_free(t);
		return rc;
	}
	rc = engine_add(tm, t);
	if (rc) {
		if (dp_tunnel_remove(tm->dp, id) != 0)
			LOG_WARN(DP, "could not remove tunnel", "id=%" PRIu32, id);
		tunnel_free(t);
		return rc;
	}
	LOG_NOTICE(MAIN, "tunnel configured",
		   "tunnel=%s id=%" PRIu32 " initiator=%d hub_priority=%" PRIu32, spec->name, id,
		   spec->initiator, spec->hub_priority);
	*out = t;
	return 0;
}

static void tunnel_destroy(struct tmgr *tm, struct tm_tunnel *t, const char *why)
{
	if (ike_engine_remove_peer(tm->eng, t->spec.name) != 0)
		LOG_DEBUG(IKE, "tunnel was not in the engine", "tunnel=%s", t->spec.name);
	if (dp_tunnel_remove(tm->dp, t->id) != 0)
		LOG_WARN(DP, "could not remove tunnel", "tunnel=%s", t->spec.name);
	if (t->state == TM_UP)
		emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN, t->spec.name, "%s", why);
	LOG_NOTICE(MAIN, "tunnel removed", "tunnel=%s reason=\"%s\"", t->spec.name, why);
	tunnel_free(t);
}

/* The tunnel is down (dead peer, failed or abandoned attempt): drop its IKE state and its
 * inbound SAs, and plan the next attempt if we initiate. */
static void tunnel_down(struct tmgr *tm, struct tm_tunnel *t, uint64_t now, const char *why)
{
	bool was_up = t->state == TM_UP;

	if (was_up)
		emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN, t->spec.name, "%s", why);
	else
		LOG_INFO(MAIN, "tunnel attempt failed", "tunnel=%s reason=\"%s\"", t->spec.name,
			 why);
	t->state = TM_DOWN;
	if (was_up)
		routes_refresh(tm);
	t->probe_ns = 0;
	t->failed = false;
	spis_clear(tm, t);
	engine_reset(tm, t);
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : TM_BACKOFF_MIN_MS;
	if (t->backoff_ms > TM_BACKOFF_MAX_MS)
		t->backoff_ms = TM_BACKOFF_MAX_MS;
	t->retry_at_ms = now + t->backoff_ms;
}

static void tunnel_initiate(struct tmgr *tm, struct tm_tunnel *t, uint64_t now)
{
	uint64_t sa = 0;
	int rc = ike_sa_initiate(tm->eng, t->spec.name, &sa);

	if (rc) {
		LOG_WARN(IKE, "could not initiate", "tunnel=%s error=\"%s\"", t->spec.name,
			 sdw_strerror(rc));
		t->backoff_ms = t->backoff_ms ? t->backoff_ms : TM_BACKOFF_MIN_MS;
		t->retry_at_ms = now + t->backoff_ms;
		return;
	}
	if (t->state != TM_UP) {
		t->state = TM_CONNECTING;
		t->sa = sa;
	}
	t->connect_deadline_ms = now + TM_CONNECT_TIMEOUT_MS;
}

/* Sample the data plane and let DPD decide. */
static void tunnel_liveness(struct tmgr *tm, struct tm_tunnel *t, uint64_t now)
{
	struct dp_stats st;

	if (dp_tunnel_stats(tm->dp, t->id, &st) == 0) {
		dpd_on_tx(&t->dpd, st.tx_packets);
		if (st.last_rx_ms > t->dpd.last_alive_ms) {
			dpd_on_alive(&t->dpd, st.last_rx_ms);
			t->last_alive_unix_ms =
				unix_ms() - (now > st.last_rx_ms ? now - st.last_rx_ms : 0);
		}
	}
	switch (dpd_poll(&t->dpd, now)) {
	case DPD_PROBE: {
		int rc = ike_sa_liveness_check(tm->eng, t->sa);
		if (rc == 0)
			t->probe_ns = uv_hrtime();
		if (rc == 0 || rc == -EAGAIN) {
			dpd_on_probe(&t->dpd, now);
		} else {
			char why[96];
			snprintf(why, sizeof(why), "liveness check impossible: %s",
				 sdw_strerror(rc));
			tunnel_down(tm, t, now, why);
		}
		break;
	}
	case DPD_DEAD: {
		char why[96];
		snprintf(why, sizeof(why), "peer dead: nothing authenticated for %" PRIu64 " ms",
			 now - t->dpd.last_alive_ms);
		tunnel_down(tm, t, now, why);
		break;
	}
	case DPD_NONE:
		break;
	}
}

/* ---- hubs ---- */

static void hub_update(struct tmgr *tm, uint64_t now)
{
	struct failover_hub hubs[TPLAN_PREFIX_MAX * 4];
	struct tm_tunnel *map[TPLAN_PREFIX_MAX * 4];
	size_t n = 0;
	int current = -1;

	tm->hub_recheck_ms = UINT64_MAX;
	for (size_t i = 0; i < tm->n_tunnels && n < sizeof(hubs) / sizeof(hubs[0]); i++) {
		struct tm_tunnel *t = tm->tunnels[i];
		if (t->spec.hub_priority == 0)
			continue;
		if (strcmp(t->spec.name, tm->active_hub) == 0)
			current = (int)n;
		hubs[n] = (struct failover_hub){.priority = t->spec.hub_priority,
						.live = t->state == TM_UP,
						.live_since_ms = t->up_ms};
		map[n++] = t;
	}
	enum failover_move move;
	uint64_t hold = tm->plan ? tm->plan->failback_hold_down_ms : 0;
	int choice = failover_choose(hubs, n, current, hold, now, &move, &tm->hub_recheck_ms);
	if (choice == current && (current >= 0 || !tm->active_hub[0]))
		return;
	const char *from = tm->active_hub[0] ? tm->active_hub : "none";
	char old[TPLAN_NAME_MAX];
	snprintf(old, sizeof(old), "%s", from);
	dp_group_set(tm->dp, TPLAN_HUB_GROUP, choice >= 0 ? map[choice]->id : UINT32_MAX);
	snprintf(tm->active_hub, sizeof(tm->active_hub), "%s",
		 choice >= 0 ? map[choice]->spec.name : "");
	const char *to = choice >= 0 ? map[choice]->spec.name : "none";
	if (move == FAILOVER_AWAY)
		emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_FAILOVER, choice >= 0 ? to : old,
		     "active hub %s -> %s", old, to);
	else if (move == FAILOVER_BACK)
		emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_FAILBACK, to,
		     "active hub %s -> %s after %" PRIu64 " ms hold-down", old, to, hold);
	else
		LOG_NOTICE(MAIN, "active hub", "hub=%s previous=%s", to, old);
}

/* ---- the timer ---- */

static void on_timer(uv_timer_t *h)
{
	struct tmgr *tm = h->data;
	uint64_t now = mono_ms();

	ike_tick(tm->eng);
	for (size_t i = 0; i < tm->n_tunnels; i++) {
		struct tm_tunnel *t = tm->tunnels[i];
		if (t->failed) {
			char why[sizeof(t->fail_reason)];
			snprintf(why, sizeof(why), "%s", t->fail_reason);
			tunnel_down(tm, t, now, why);
		}
		if (t->state == TM_UP)
			tunnel_liveness(tm, t, now);
		else if (t->state == TM_CONNECTING && now >= t->connect_deadline_ms)
			tunnel_down(tm, t, now, "no Child SA within the connect timeout");
		if (t->state == TM_DOWN && t->spec.initiator && t->spec.peer_known &&
		    now >= t->retry_at_ms)
			tunnel_initiate(tm, t, now);
	}
	hub_update(tm, now);
	schedule(tm);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Arm the timer for the earliest deadline of anything. */
static void schedule(struct tmgr *tm)
{
	uint64_t now = mono_ms();
	uint64_t next = min_u64(ike_next_timer_ms(tm->eng), tm->hub_recheck_ms);

	if (tm->closing)
		return;
	for (size_t i = 0; i < tm->n_tunnels; i++) {
		const struct tm_tunnel *t = tm->tunnels[i];
		if (t->failed)
			next = now;
		if (t->state == TM_UP) {
			next = min_u64(next, dpd_next_ms(&t->dpd));
			/* on-demand learns of our own traffic only by sampling */
			if (t->dpd.mode == DPD_ON_DEMAND)
				next = min_u64(next, now + t->dpd.interval_ms);
		} else if (t->state == TM_CONNECTING) {
			next = min_u64(next, t->connect_deadline_ms);
		} else if (t->spec.initiator && t->spec.peer_known) {
			next = min_u64(next, t->retry_at_ms);
		}
	}
	if (next == UINT64_MAX)
		return;
	uv_timer_start(&tm->timer, on_timer, next > now ? next - now : 0, 0);
}

/* Rekey a pair whose outbound sequence numbers near the end of their space, or whose outbound
 * SA carried the tunnel's esp_rekey_bytes / esp_rekey_packets (checked every reclaim tick, so
 * at most 100 ms late; the sequence margin covers far more than that). */
static void seq_space_check(struct tmgr *tm, struct tm_tunnel *t)
{
	if (t->state != TM_UP || t->out_pending || t->n_spi_in == 0 || !tm->dp)
		return;
	uint32_t spi_in = t->spi_in[t->n_spi_in - 1];
	if (t->seq_rekey_spi_in == spi_in)
		return; /* asked already; the new pair will reset the count */
	uint64_t space = t->out_esn ? UINT64_MAX : UINT32_MAX;
	uint64_t seq = dp_sa_out_packets(tm->dp, t->id);
	const struct tplan_tunnel *spec = &t->spec;
	const char *why = NULL;
	struct dp_stats st;
	if (seq >= space - TM_SEQ_REKEY_MARGIN) {
		why = "outbound sequence numbers near their end";
	} else if ((spec->child_lifetime_bytes || spec->child_lifetime_packets) &&
		   dp_tunnel_stats(tm->dp, t->id, &st) == 0) {
		if (spec->child_lifetime_bytes &&
		    st.tx_bytes - t->out_base_bytes >= spec->child_lifetime_bytes)
			why = "outbound SA carried esp_rekey_bytes";
		else if (spec->child_lifetime_packets &&
			 st.tx_packets - t->out_base_packets >= spec->child_lifetime_packets)
			why = "outbound SA carried esp_rekey_packets";
	}
	if (!why)
		return;
	t->seq_rekey_spi_in = spi_in;
	int rc = ike_child_rekey(tm->eng, t->sa, spi_in);
	LOG_NOTICE(MAIN, "rekeying the Child SA",
		   "tunnel=%s spi_in=%08" PRIx32 " seq=%" PRIu64 " why=\"%s\" result=\"%s\"",
		   spec->name, spi_in, seq, why, rc ? sdw_strerror(rc) : "requested");
}

static void on_reclaim(uv_timer_t *h)
{
	struct tmgr *tm = h->data;

	if (tm->dp)
		dp_reclaim(tm->dp);
	uint64_t now = mono_ms();
	for (size_t i = 0; i < tm->n_tunnels; i++) {
		struct tm_tunnel *t = tm->tunnels[i];
		if (t->out_pending && now >= t->out_pending_deadline_ms)
			out_pending_switch(tm, t, "the peer did not delete the old pair in time");
		seq_space_check(tm, t);
	}
}

/* ---- configuration ---- */

static bool kroute_in(const struct tplan_kroute *set, size_t n, const struct tplan_kroute *r,
		      bool same_mtu)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_cmp(&set[i].dst, &r->dst) == 0 && (!same_mtu || set[i].mtu == r->mtu))
			return true;
	return false;
}

/* Bring the kernel's routes into the TUN to what the plan needs, touching only differences. */
static int kernel_routes_sync(struct tmgr *tm, const struct tplan *p)
{
	struct tplan_kroute *want = NULL;
	size_t n = 0;
	int rc = tplan_kernel_routes(p, &want, &n);

	if (rc)
		return rc;
	for (size_t i = 0; i < tm->n_kroutes; i++) {
		if (kroute_in(want, n, &tm->kroutes[i], false))
			continue;
		int r = net_route_del(tm->net, tm->ifindex, &tm->kroutes[i].dst);
		if (r && r != -ENOENT)
			LOG_WARN(NET, "could not remove route", "error=\"%s\"", sdw_strerror(r));
	}
	for (size_t i = 0; i < n && !rc; i++) {
		if (kroute_in(tm->kroutes, tm->n_kroutes, &want[i], true))
			continue;
		rc = net_route_replace(tm->net, tm->ifindex, &want[i].dst, want[i].mtu);
		if (rc) {
			char b[PREFIX_STRLEN];
			LOG_ERR(NET, "could not install route", "dst=%s error=\"%s\"",
				prefix_format(&want[i].dst, b), sdw_strerror(rc));
		}
	}
	free(tm->kroutes);
	tm->kroutes = want;
	tm->n_kroutes = n;
	return rc;
}

/* The controller's routes as the plan's WAN table sees them; NULL (no word on any site) when
 * there are none or no memory (then the edge's own routing stands). Free with free(). */
static struct tplan_reach *reach_for(const struct tmgr *tm, const struct tplan *p)
{
	struct tplan_reach *r = NULL;

	if (!tm->n_routes || !(r = calloc(p->n_sites ? p->n_sites : 1, sizeof(*r))))
		return NULL;
	for (size_t i = 0; i < tm->n_routes; i++) {
		long s = tplan_site_index(p, tm->routes[i].site);
		if (s < 0)
			continue;
		r[s].kind = tm->routes[i].via[0] ? TPLAN_REACH_VIA : TPLAN_REACH_UNREACHABLE;
		r[s].via = tm->routes[i].via;
	}
	return r;
}

static int dp_routes_sync(struct tmgr *tm, const struct tplan *p)
{
	uint32_t *ids = calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(*ids));
	bool *live = calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(*live));
	struct tplan_reach *reach = reach_for(tm, p);
	struct lpm *routes = NULL;
	int rc = ids && live ? 0 : -ENOMEM;

	/* tm->tunnels follows the plan's order once apply has rebuilt it. */
	for (size_t i = 0; i < p->n_tunnels && !rc; i++) {
		ids[i] = tm->tunnels[i]->id;
		live[i] = tm->tunnels[i]->state == TM_UP;
	}
	if (!rc)
		rc = tplan_routes_reach(p, ids, live, reach, &routes);
	if (!rc)
		rc = dp_routes_set(tm->dp, &routes);
	lpm_free(routes);
	free(reach);
	free(live);
	free(ids);
	return rc;
}

/*
 * A tunnel went up or down: route around the dead ones (tplan_routes_live), e.g. a hub that
 * lost its tunnel to a spoke sends the spoke's traffic to the other hub. Kernel routes do not
 * change: they all lead into the TUN.
 */
static void routes_refresh(struct tmgr *tm)
{
	if (!tm->plan || !tm->dp)
		return;
	struct tplan view = *tm->plan;
	struct tplan_tunnel *running = calloc(tm->n_tunnels ? tm->n_tunnels : 1, sizeof(*running));
	int rc = running ? 0 : -ENOMEM;

	for (size_t i = 0; i < tm->n_tunnels && !rc; i++)
		running[i] = tm->tunnels[i]->spec;
	view.tunnels = running;
	view.n_tunnels = tm->n_tunnels;
	if (!rc)
		rc = dp_routes_sync(tm, &view);
	if (rc)
		LOG_ERR(DP, "could not update routes after a tunnel state change", "error=\"%s\"",
			sdw_strerror(rc));
	if (running) {
		OPENSSL_cleanse(running, tm->n_tunnels * sizeof(*running));
		free(running);
	}
}

/* The data plane is made on the first configuration: it answers oversized packets from the
 * site's first host address, which only the configuration tells. */
static int dp_create(struct tmgr *tm, const struct tplan *p)
{
	struct dp_config c = {.workers = tm->opts.workers,
			      .tun_fds = tm->tun.fds,
			      .tun_vnet_hdr = tm->tun.vnet_hdr,
			      .udp_fds = tm->udp.fds};
	int rc;

	for (size_t i = 0; i < p->n_subnets; i++) {
		struct ip_addr host = p->subnets[i].addr;
		host.bytes[host.family == IP_V4 ? 3 : 15] |= 1;
		struct ip_addr *slot = host.family == IP_V4 ? &c.icmp_src_v4 : &c.icmp_src_v6;
		if (!slot->family)
			*slot = host;
	}
	rc = dp_new(&c, &tm->dp);
	if (!rc)
		rc = dp_start(tm->dp);
	if (!rc)
		rc = uv_poll_init(tm->loop, &tm->dp_poll, dp_event_fd(tm->dp));
	if (!rc) {
		tm->dp_poll_open = true;
		tm->dp_poll.data = tm;
		rc = uv_poll_start(&tm->dp_poll, UV_READABLE, on_dp_event);
	}
	if (rc && !tm->dp_poll_open) {
		dp_free(tm->dp);
		tm->dp = NULL;
	}
	return rc;
}

static void set_error(struct tmgr_apply_error *err, Sdwan__ConfigError code, const char *tunnel,
		      const char *what, int rc)
{
	err->code = code;
	snprintf(err->tunnel, sizeof(err->tunnel), "%s", tunnel ? tunnel : "");
	snprintf(err->reason, sizeof(err->reason), "%s: %s", what, sdw_strerror(rc));
}

/* Rebuild the tunnel list in the plan's order: keep equal tunnels, tear down the rest, create
 * what is new or changed. */
static int tunnels_sync(struct tmgr *tm, const struct tplan *p, struct tmgr_apply_error *err)
{
	struct tm_tunnel **next =
		calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(struct tm_tunnel *));
	int rc = 0;

	if (!next)
		return -ENOMEM;
	for (size_t i = 0; i < tm->n_tunnels; i++) {
		struct tm_tunnel *t = tm->tunnels[i];
		const struct tplan_tunnel *s = tplan_find(p, t->spec.name);
		if (s && tplan_tunnel_equal(s, &t->spec)) {
			next[s - p->tunnels] = t;
			continue;
		}
		tunnel_destroy(tm, t, s ? "configuration changed" : "removed from configuration");
		tm->tunnels[i] = NULL;
	}
	/* From here the kept tunnels are known to free_id through next[] only. */
	tm->n_tunnels = 0;
	for (size_t i = 0; i < p->n_tunnels; i++) {
		if (next[i])
			continue;
		int r = tunnel_create(tm, &p->tunnels[i], free_id(tm, next, p->n_tunnels),
				      &next[i]);
		if (r) {
			rc = rc ? rc : r;
			if (!err->reason[0])
				set_error(err,
					  r == -ENOMEM ? SDWAN__CONFIG_ERROR__CONFIG_ERROR_RESOURCE
						       : SDWAN__CONFIG_ERROR__CONFIG_ERROR_SYSTEM,
					  p->tunnels[i].name, "could not set up the tunnel", r);
		}
	}
	/* A tunnel that could not be created is left out of the running list. */
	size_t n = 0;
	for (size_t i = 0; i < p->n_tunnels; i++)
		if (next[i])
			next[n++] = next[i];
	free(tm->tunnels);
	tm->tunnels = next;
	tm->n_tunnels = n;
	return rc;
}

int tmgr_apply(struct tmgr *tm, const Sdwan__EdgeConfig *cfg, struct tmgr_apply_error *err)
{
	struct tplan *p = NULL;
	struct tplan_error perr;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = tplan_build(cfg, tm->opts.key && tm->opts.cert && tm->opts.ca, &p, &perr);
	if (rc) {
		err->code = rc == -ENOMEM ? SDWAN__CONFIG_ERROR__CONFIG_ERROR_RESOURCE
					  : (Sdwan__ConfigError)perr.code;
		snprintf(err->reason, sizeof(err->reason), "%s",
			 rc == -ENOMEM ? "out of memory" : perr.reason);
		snprintf(err->tunnel, sizeof(err->tunnel), "%s", perr.tunnel);
		return rc;
	}
	if (tm->plan && p->generation < tm->plan->generation) {
		err->code = SDWAN__CONFIG_ERROR__CONFIG_ERROR_STALE;
		snprintf(err->reason, sizeof(err->reason),
			 "generation %" PRIu64 " is older than generation %" PRIu64 " running",
			 p->generation, tm->plan->generation);
		tplan_free(p);
		return -EINVAL;
	}
	struct tplan *old = tm->plan;
	tm->plan = p;
	if (!tm->dp && (rc = dp_create(tm, p)) != 0) {
		set_error(err, SDWAN__CONFIG_ERROR__CONFIG_ERROR_SYSTEM, NULL,
			  "could not start the data plane", rc);
		tm->plan = old;
		tplan_free(p);
		return rc;
	}
	rc = tunnels_sync(tm, p, err);
	/* Routes describe what runs, even after a partial failure. */
	struct tplan view = *p;
	struct tplan_tunnel *running = calloc(tm->n_tunnels ? tm->n_tunnels : 1, sizeof(*running));
	if (running) {
		for (size_t i = 0; i < tm->n_tunnels; i++)
			running[i] = tm->tunnels[i]->spec;
		view.tunnels = running;
		view.n_tunnels = tm->n_tunnels;
		int r = dp_routes_sync(tm, &view);
		if (!r)
			r = kernel_routes_sync(tm, &view);
		if (r && !rc) {
			rc = r;
			set_error(err, SDWAN__CONFIG_ERROR__CONFIG_ERROR_SYSTEM, NULL,
				  "could not install routes", r);
		}
		OPENSSL_cleanse(running, tm->n_tunnels * sizeof(*running));
		free(running);
	} else if (!rc) {
		rc = -ENOMEM;
		set_error(err, SDWAN__CONFIG_ERROR__CONFIG_ERROR_RESOURCE, NULL, "routes", rc);
	}
	unsigned mtu = tplan_link_mtu(p);
	if (mtu != tm->link_mtu && net_link_up(tm->net, tm->ifindex, mtu) == 0)
		tm->link_mtu = mtu;
	tplan_free(old);
	LOG_NOTICE(MAIN, "configuration applied", "generation=%" PRIu64 " tunnels=%zu result=%s",
		   p->generation, tm->n_tunnels, rc ? "partial" : "ok");
	hub_update(tm, mono_ms());
	schedule(tm);
	return rc;
}

/* ---- the controller's reachability ---- */

static int route_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tm_route *)a)->site, ((const struct tm_route *)b)->site);
}

/* "branch1 via hub-west, branch3 unreachable" (as much as fits). */
static void routes_text(const struct tm_route *r, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++) {
		int k = snprintf(buf + len, cap - len, "%s%s %s%s", i ? ", " : "", r[i].site,
				 r[i].via[0] ? "via " : "unreachable", r[i].via);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (!n)
		snprintf(buf, cap, "none: own routing");
}

int tmgr_reachability(struct tmgr *tm, const Sdwan__Reachability *r)
{
	struct tm_route *next = NULL;
	size_t n = 0, skipped = 0;

	if (r && r->epoch == tm->reach_epoch && r->seq <= tm->reach_seq)
		return -ESTALE;
	if (r && r->n_routes && !(next = calloc(r->n_routes, sizeof(*next))))
		return -ENOMEM;
	for (size_t i = 0; r && i < r->n_routes; i++) {
		const Sdwan__SiteRoute *sr = r->routes[i];
		if (!sr->site || !sr->site[0] || strlen(sr->site) >= sizeof(next->site) ||
		    !sr->via_hub || strlen(sr->via_hub) >= sizeof(next->via)) {
			skipped++;
			continue;
		}
		snprintf(next[n].site, sizeof(next[n].site), "%s", sr->site);
		snprintf(next[n].via, sizeof(next[n].via), "%s", sr->via_hub);
		n++;
	}
	if (n)
		qsort(next, n, sizeof(*next), route_cmp);
	bool changed = n != tm->n_routes || (n && memcmp(next, tm->routes, n * sizeof(*next)) != 0);
	free(tm->routes);
	tm->routes = next;
	tm->n_routes = n;
	tm->reach_epoch = r ? r->epoch : 0;
	tm->reach_seq = r ? r->seq : 0;
	if (skipped)
		LOG_WARN(MAIN, "controller routes with unusable site names ignored", "count=%zu",
			 skipped);
	if (!changed)
		return 0;
	/* Only the data-plane routes change: the kernel routes all lead into the TUN anyway. */
	routes_refresh(tm);
	char text[200];
	routes_text(tm->routes, tm->n_routes, text, sizeof(text));
	emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_REROUTE, NULL, "%s %" PRIu64 ": %s%s",
	     r ? "controller routes" : "controller routes withdrawn", tm->reach_seq, text,
	     strlen(text) + 1 >= sizeof(text) ? " ..." : "");
	return 0;
}

/* ---- health ---- */

static void drops_fill(Sdwan__DropCounters *d, const uint64_t v[DP_DROP_COUNT])
{
	sdwan__drop_counters__init(d);
	d->malformed = v[DP_DROP_MALFORMED];
	d->no_sa = v[DP_DROP_NO_SA];
	d->replay = v[DP_DROP_REPLAY];
	d->icv = v[DP_DROP_ICV];
	d->policy = v[DP_DROP_POLICY];
	d->seq_overflow = v[DP_DROP_SEQ_OVERFLOW];
	d->dummy = v[DP_DROP_DUMMY];
	d->mtu = v[DP_DROP_MTU];
	d->no_route = v[DP_DROP_NO_ROUTE];
	d->unreachable = v[DP_DROP_UNREACHABLE];
	d->loop = v[DP_DROP_LOOP];
}

static Sdwan__IkeState ike_state_of(const struct tm_tunnel *t)
{
	switch (t->state) {
	case TM_UP:
		return SDWAN__IKE_STATE__IKE_STATE_ESTABLISHED;
	case TM_CONNECTING:
		return SDWAN__IKE_STATE__IKE_STATE_CONNECTING;
	default:
		return SDWAN__IKE_STATE__IKE_STATE_DOWN;
	}
}

static int child_fill(const struct tm_tunnel *t, Sdwan__TunnelHealth *th)
{
	char prop[PROPOSAL_STRLEN];

	if (t->state != TM_UP || t->n_spi_in == 0)
		return 0;
	th->child_sas = calloc(1, sizeof(Sdwan__ChildSa *));
	Sdwan__ChildSa *c = calloc(1, sizeof(*c));
	if (!th->child_sas || !c) {
		free(c);
		return -ENOMEM;
	}
	sdwan__child_sa__init(c);
	th->child_sas[0] = c;
	th->n_child_sas = 1;
	c->spi_in = t->spi_in[t->n_spi_in - 1];
	c->spi_out = t->spi_out;
	c->established_at_ms = t->up_unix_ms;
	c->esp_proposal = strdup(proposal_format(&t->spec.esp, PROPOSAL_ESP, prop));
	return c->esp_proposal ? 0 : -ENOMEM;
}

/* Where the tunnel's ESP goes now (after NAT-T floats and NAT rebindings); nothing while the
 * peer is unknown. */
static int peer_fill(struct tmgr *tm, const struct tm_tunnel *t, Sdwan__TunnelHealth *th)
{
	struct sockaddr_in6 sa;
	struct ike_endpoint ep;

	if (dp_tunnel_peer(tm->dp, t->id, &sa) != 0)
		return 0;
	udpio_from_sockaddr(&sa, &ep);
	if (!ep.addr.family || !ip_addr_is_unicast(&ep.addr))
		return 0;
	size_t alen = ep.addr.family == IP_V4 ? 4 : 16;
	Sdwan__Endpoint *e = calloc(1, sizeof(*e));
	uint8_t *addr = malloc(alen);
	if (!e || !addr) {
		free(e);
		free(addr);
		return -ENOMEM;
	}
	sdwan__endpoint__init(e);
	memcpy(addr, ep.addr.bytes, alen);
	e->addr.data = addr; /* owned by the report from here (tmgr_health_free) */
	e->addr.len = alen;
	e->port = ep.port;
	th->peer = e;
	return 0;
}

static int tunnel_health(struct tmgr *tm, const struct tm_tunnel *t, uint64_t now,
			 Sdwan__TunnelHealth **out)
{
	Sdwan__TunnelHealth *th = calloc(1, sizeof(*th));
	Sdwan__DropCounters *d = calloc(1, sizeof(*d));
	struct dp_stats st = {0};

	*out = th;
	if (!th || !d) {
		free(d);
		return -ENOMEM;
	}
	sdwan__tunnel_health__init(th);
	th->drops = d;
	if (dp_tunnel_stats(tm->dp, t->id, &st) != 0)
		memset(&st, 0, sizeof(st));
	drops_fill(d, st.drops);
	th->name = strdup(t->spec.name);
	th->ike_state = ike_state_of(t);
	th->packets_in = st.rx_packets;
	th->packets_out = st.tx_packets;
	th->bytes_in = st.rx_bytes;
	th->bytes_out = st.tx_bytes;
	th->rtt_us = t->rtt_us;
	th->last_alive_ms = t->last_alive_unix_ms;
	th->uptime_ms = t->state == TM_UP ? now - t->up_ms : 0;
	th->active = t->spec.hub_priority ? strcmp(tm->active_hub, t->spec.name) == 0
					  : t->state == TM_UP;
	if (!th->name || peer_fill(tm, t, th) != 0)
		return -ENOMEM;
	return child_fill(t, th);
}

/* The controller's routes this edge holds, and which list they came in. */
static int routes_fill(const struct tmgr *tm, Sdwan__HealthReport *hr)
{
	hr->reachability_epoch = tm->reach_epoch;
	hr->reachability_seq = tm->reach_seq;
	if (!tm->n_routes)
		return 0;
	hr->controller_routes = calloc(tm->n_routes, sizeof(Sdwan__SiteRoute *));
	if (!hr->controller_routes)
		return -ENOMEM;
	for (size_t i = 0; i < tm->n_routes; i++) {
		Sdwan__SiteRoute *r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		sdwan__site_route__init(r);
		hr->controller_routes[hr->n_controller_routes++] = r;
		r->site = strdup(tm->routes[i].site);
		r->via_hub = strdup(tm->routes[i].via);
		if (!r->site || !r->via_hub)
			return -ENOMEM;
	}
	return 0;
}

int tmgr_health(struct tmgr *tm, Sdwan__HealthReport **out)
{
	Sdwan__HealthReport *hr = calloc(1, sizeof(*hr));
	uint64_t now = mono_ms();
	int rc = 0;

	*out = NULL;
	if (!hr)
		return -ENOMEM;
	sdwan__health_report__init(hr);
	hr->software_version = strdup(SDWAN_VERSION);
	hr->uptime_ms = now - tm->start_ms;
	hr->generation_applied = tm->plan ? tm->plan->generation : 0;
	hr->timestamp_ms = unix_ms();
	struct tm_tunnel *hub = tm->active_hub[0] ? tunnel_by_name(tm, tm->active_hub) : NULL;
	hr->active_hub = strdup(hub ? hub->spec.peer_site : "");
	hr->drops = calloc(1, sizeof(*hr->drops));
	if (tm->n_tunnels)
		hr->tunnels = calloc(tm->n_tunnels, sizeof(Sdwan__TunnelHealth *));
	if (!hr->software_version || !hr->active_hub || !hr->drops ||
	    (tm->n_tunnels && !hr->tunnels)) {
		rc = -ENOMEM;
		goto out;
	}
	uint64_t global[DP_DROP_COUNT] = {0};
	if (tm->dp)
		dp_global_drops(tm->dp, global);
	drops_fill(hr->drops, global);
	for (size_t i = 0; i < tm->n_tunnels && !rc; i++) {
		rc = tunnel_health(tm, tm->tunnels[i], now, &hr->tunnels[i]);
		if (hr->tunnels[i])
			hr->n_tunnels = i + 1;
	}
	if (!rc)
		rc = routes_fill(tm, hr);
out:
	if (rc) {
		tmgr_health_free(hr);
		return rc;
	}
	*out = hr;
	return 0;
}

void tmgr_health_free(Sdwan__HealthReport *hr)
{
	if (hr)
		protobuf_c_message_free_unpacked(&hr->base, NULL);
}

int tmgr_command_rekey(struct tmgr *tm, const char *tunnel)
{
	uint64_t now = mono_ms();
	int rc = tunnel ? -ENOENT : 0;

	for (size_t i = 0; i < tm->n_tunnels; i++) {
		struct tm_tunnel *t = tm->tunnels[i];
		if (tunnel && strcmp(t->spec.name, tunnel) != 0)
			continue;
		if (!t->spec.peer_known) {
			rc = -EOPNOTSUPP;
			continue;
		}
		if (tunnel)
			rc = 0;
		/* A fresh IKE SA whose Child SA replaces the current one on arrival. */
		tunnel_initiate(tm, t, now);
	}
	schedule(tm);
	return rc;
}

/* ---- life cycle ---- */

static void tm_free(struct tmgr *tm)
{
	for (size_t i = 0; i < tm->n_tunnels; i++)
		tunnel_free(tm->tunnels[i]);
	free(tm->tunnels);
	free(tm->kroutes);
	free(tm->routes);
	tplan_free(tm->plan);
	ike_engine_free(tm->eng);
	dp_free(tm->dp);
	if (tm->udp_open)
		udp_group_close(&tm->udp);
	if (tm->net && tm->ifindex > 0) {
		size_t removed = 0;
		if (net_routes_flush(tm->net, tm->ifindex, &removed) != 0)
			LOG_WARN(NET, "could not remove our routes", "ifindex=%d", tm->ifindex);
	}
	if (tm->tun_open)
		tun_close(&tm->tun);
	net_close(tm->net);
	EVP_PKEY_free(tm->opts.key);
	X509_free(tm->opts.cert);
	X509_free(tm->opts.ca);
	void (*done)(void *) = tm->done;
	void *arg = tm->done_arg;
	OPENSSL_cleanse(tm, sizeof(*tm));
	free(tm);
	if (done)
		done(arg);
}

static void handle_closed(struct tmgr *tm)
{
	if (--tm->closing == 0)
		tm_free(tm);
}

static void on_handle_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void on_ike_closed(struct udpio *u)
{
	handle_closed(u->arg);
}

/* Close whatever handles exist; tm is freed when the last one has closed. */
static void tm_close_handles(struct tmgr *tm, bool timers)
{
	tm->closing = 1; /* held until every close below has been started */
	if (timers) {
		tm->closing += 2;
		uv_close((uv_handle_t *)&tm->timer, on_handle_closed);
		uv_close((uv_handle_t *)&tm->reclaim, on_handle_closed);
	}
	if (tm->dp_poll_open) {
		tm->closing++;
		uv_close((uv_handle_t *)&tm->dp_poll, on_handle_closed);
	}
	if (tm->ike_open) {
		tm->closing++;
		udpio_close(&tm->ike, on_ike_closed);
	}
	handle_closed(tm);
}

int tmgr_set_identity(struct tmgr *tm, EVP_PKEY *key, X509 *cert, X509 *ca)
{
	if (!key || !cert || !ca)
		return -EINVAL;
	EVP_PKEY_up_ref(key);
	X509_up_ref(cert);
	X509_up_ref(ca);
	EVP_PKEY_free(tm->opts.key);
	X509_free(tm->opts.cert);
	X509_free(tm->opts.ca);
	tm->opts.key = key;
	tm->opts.cert = cert;
	tm->opts.ca = ca;
	LOG_NOTICE(MAIN, "certificate identity replaced", NULL);
	return 0;
}

void tmgr_close(struct tmgr *tm, void (*done)(void *arg), void *arg)
{
	tm->done = done;
	tm->done_arg = arg;
	LOG_NOTICE(MAIN, "tunnel manager stopping", "tunnels=%zu", tm->n_tunnels);
	for (size_t i = 0; i < tm->n_tunnels; i++)
		if (tm->tunnels[i]->state == TM_UP)
			emit(tm, SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN,
			     tm->tunnels[i]->spec.name, "edge stopping");
	tm_close_handles(tm, true);
}

static void options_defaults(struct tmgr_options *o)
{
	if (!o->tun_name[0])
		snprintf(o->tun_name, sizeof(o->tun_name), "sdwan0");
	if (!o->ike_port)
		o->ike_port = TPLAN_IKE_PORT;
	if (!o->natt_port)
		o->natt_port = TPLAN_NATT_PORT;
	if (!o->workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o->workers = n < 1 ? 1 : n > DP_MAX_WORKERS ? DP_MAX_WORKERS : (unsigned)n;
	}
	if (o->workers > DP_MAX_WORKERS)
		o->workers = DP_MAX_WORKERS;
}

/* Write "0" to /proc/sys/net/ipv4/conf/DEV/KEY; true if it was anything else before. */
static bool ipv4_conf_clear(const char *dev, const char *key)
{
	char path[128], old[8] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/%s", dev, key);
	f = fopen(path, "r+");
	if (!f)
		return false;
	bool changed = fgets(old, sizeof(old), f) && old[0] != '0';
	if (changed && (fseek(f, 0, SEEK_SET) != 0 || fputs("0\n", f) < 0))
		changed = false;
	if (fclose(f) != 0)
		changed = false;
	return changed;
}

/*
 * No ICMP redirects out of the TUN device. A hub forwards spoke-to-spoke traffic back into the
 * device it came from, which makes Linux send a redirect to the sender with whatever address
 * it picks as source; across a tunnel that is meaningless, and the spoke rightly drops it as
 * a source the tunnel may not carry. The kernel ORs the device's setting with "all", so both
 * are cleared (as IPsec gateways do; libreswan's "ipsec verify" asks for the same).
 */
static void redirects_off(const char *tun)
{
	if (ipv4_conf_clear("all", "send_redirects"))
		LOG_NOTICE(NET, "ICMP redirects turned off for this network namespace",
			   "sysctl=net.ipv4.conf.all.send_redirects");
	(void)ipv4_conf_clear(tun, "send_redirects");
}

/*
 * The data plane answers some packets with ICMP errors from the site's own first host address
 * (too big, unreachable). Those for a host of our own LAN come in through the TUN, which the
 * kernel drops as martians (a local source address) unless the device accepts them.
 */
static void accept_local_on(const char *tun)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/accept_local", tun);
	f = fopen(path, "w");
	if (!f || fputs("1\n", f) < 0)
		LOG_WARN(NET, "could not accept our own ICMP errors from the TUN", "sysctl=%s",
			 path);
	if (f && fclose(f) != 0)
		LOG_WARN(NET, "could not accept our own ICMP errors from the TUN", "sysctl=%s",
			 path);
}

static int net_setup(struct tmgr *tm)
{
	size_t removed = 0;
	int rc = net_open(&tm->net);

	if (!rc)
		rc = net_tun_remove_stale(tm->net, tm->opts.tun_name);
	/* What a crashed run left behind carries our protocol number. */
	if (!rc && net_routes_flush(tm->net, 0, &removed) == 0 && removed)
		LOG_NOTICE(NET, "removed routes left by an earlier run", "count=%zu", removed);
	if (!rc)
		rc = tun_open(tm->opts.tun_name, tm->opts.workers,
			      tm->opts.no_offload ? 0 : TUN_VNET_HDR, &tm->tun);
	if (rc)
		return rc;
	tm->tun_open = true;
	tm->link_mtu = TM_DEFAULT_LINK_MTU;
	rc = net_link_index(tm->net, tm->tun.name, &tm->ifindex);
	if (!rc)
		rc = net_link_up(tm->net, tm->ifindex, tm->link_mtu);
	if (!rc) {
		redirects_off(tm->tun.name);
		accept_local_on(tm->tun.name);
	}
	return rc;
}

static int sockets_setup(struct tmgr *tm)
{
	struct ike_endpoint any = {.addr = tm->opts.listen_addr};
	struct sockaddr_in6 sa;
	int rc;

	udpio_to_sockaddr(&any, &sa);
	rc = udp_group_open(tm->opts.listen_addr.family ? &sa.sin6_addr : NULL, tm->opts.natt_port,
			    tm->opts.workers, &tm->udp);
	if (rc)
		return rc;
	tm->udp_open = true;
	rc = udpio_init(tm->loop, &tm->ike, &tm->opts.listen_addr, tm->opts.ike_port, ike_rx, tm);
	if (!rc)
		tm->ike_open = true;
	return rc;
}

int tmgr_new(uv_loop_t *loop, const struct tmgr_options *opts, struct tmgr **out)
{
	struct tmgr *tm = calloc(1, sizeof(*tm));
	int rc;

	*out = NULL;
	if (!tm)
		return -ENOMEM;
	tm->loop = loop;
	tm->opts = *opts;
	options_defaults(&tm->opts);
	/* Our own references: the caller may replace or free its identity at any time. */
	if (tm->opts.key)
		EVP_PKEY_up_ref(tm->opts.key);
	if (tm->opts.cert)
		X509_up_ref(tm->opts.cert);
	if (tm->opts.ca)
		X509_up_ref(tm->opts.ca);
	tm->start_ms = mono_ms();
	tm->hub_recheck_ms = UINT64_MAX;
	struct ike_env env = {.now_ms = env_now,
			      .random = env_random,
			      .ike_keys = opts->keylog ? env_ike_keys : NULL,
			      .send = env_send,
			      .child_up = env_child_up,
			      .child_down = env_child_down,
			      .event = env_event,
			      .ctx = tm};
	rc = net_setup(tm);
	if (rc)
		LOG_ERR(NET, "could not set up the TUN device", "tun=%s error=\"%s\"",
			tm->opts.tun_name, sdw_strerror(rc));
	if (!rc && (rc = sockets_setup(tm)) != 0)
		LOG_ERR(NET, "could not open the UDP ports",
			"ike_port=%u natt_port=%u error=\"%s\"", tm->opts.ike_port,
			tm->opts.natt_port, sdw_strerror(rc));
	if (!rc)
		rc = ike_engine_new(&env, NULL, &tm->eng);
	if (rc) {
		tm_close_handles(tm, false);
		return rc;
	}
	uv_timer_init(loop, &tm->timer);
	uv_timer_init(loop, &tm->reclaim);
	tm->timer.data = tm;
	tm->reclaim.data = tm;
	uv_timer_start(&tm->reclaim, on_reclaim, TM_RECLAIM_MS, TM_RECLAIM_MS);
	LOG_NOTICE(MAIN, "tunnel manager started",
		   "tun=%s ike_port=%u natt_port=%u workers=%u offload=%d", tm->tun.name,
		   tm->opts.ike_port, tm->opts.natt_port, tm->opts.workers, tm->tun.vnet_hdr);
	*out = tm;
	return 0;
}
