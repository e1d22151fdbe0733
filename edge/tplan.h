/*
 * The tunnel manager's pure half: an EdgeConfig (proto/control.proto) checked and turned into
 * plain values (struct tplan), the comparison that decides which tunnels an update touches,
 * and the tables derived from it (data-plane routes with the hub group, anti-spoofing tables,
 * kernel routes). No sockets, no clock, no globals: everything here is unit-tested alone.
 *
 * Effective prefixes. A tunnel carries, in each direction, its own prefixes plus, when it is a
 * transit tunnel, every WAN prefix except those of the far end's site (what we send, with
 * local_transit) or of our own site (what the peer may send, with remote_transit). Those sets
 * are the IKE traffic selectors, the anti-spoofing table (our own subnets are denied on every
 * tunnel) and, for the remote side, the routes.
 *
 * Routes. Each remote prefix routes into the tunnel that names it directly (remote_prefixes);
 * a prefix only reachable through transit routes into the hub group when the tunnel is a hub
 * tunnel (hub_priority > 0: one group, TPLAN_HUB_GROUP, whose member is the active hub), else
 * into the most preferred transit tunnel. Our own subnets never route into the TUN.
 *
 * Ownership: a struct tplan owns its tunnels and their PSKs; tplan_free() wipes them.
 */
#ifndef SDWAN_EDGE_TPLAN_H
#define SDWAN_EDGE_TPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/lpm.h"
#include "common/prefix.h"
#include "common/proposal.h"
#include "edge/dpd.h"
#include "edge/ike/ike_sa.h"
#include "proto/control.pb-c.h"

enum {
	TPLAN_NAME_MAX = IKE_PEER_NAME_MAX, /* tunnel name with its NUL */
	TPLAN_PREFIX_MAX = IKE_PEER_TS_MAX, /* effective prefixes per side (traffic selectors) */
	TPLAN_SUBNET_MAX = 64,              /* local subnets of the site */
	TPLAN_HUB_GROUP = 0,                /* the data-plane route group of a spoke's hubs */
	TPLAN_MTU_DEFAULT = 1400,
	TPLAN_MTU_MIN = 576,
	TPLAN_MTU_MIN_V6 = 1280,
	TPLAN_MTU_MAX = 9000,
	TPLAN_DPD_INTERVAL_DEFAULT_MS = 10000,
	TPLAN_IKE_PORT = 500,
	TPLAN_NATT_PORT = 4500,
};

/* Defaults of lifetimes left at 0 in the configuration. */
#define TPLAN_IKE_LIFETIME_DEFAULT_MS   (24ull * 3600 * 1000)
#define TPLAN_CHILD_LIFETIME_DEFAULT_MS (8ull * 3600 * 1000)

/* One tunnel, validated and with defaults applied. Zero-initialised before filling, so two
 * tunnels built from the same configuration compare equal octet for octet. */
struct tplan_tunnel {
	char name[TPLAN_NAME_MAX];
	char local_id[IKE_ID_MAX]; /* our site: the IKE identity we prove */
	char peer_site[IKE_ID_MAX];
	char peer_id[IKE_ID_MAX];
	bool initiator;
	uint32_t kind;         /* Sdwan__TunnelKind */
	uint32_t hub_priority; /* > 0: member of the hub group */
	struct proposal ike, esp;
	uint64_t ike_lifetime_ms, child_lifetime_ms;
	uint64_t child_lifetime_bytes, child_lifetime_packets; /* 0 = no volume limit */
	enum dpd_mode dpd_mode;
	uint32_t dpd_interval_ms, dpd_timeout_ms;
	bool cert_auth;           /* RFC 7427 certificates; otherwise the PSK below */
	uint8_t psk[IKE_PSK_MAX]; /* secret */
	size_t psk_len;
	uint16_t mtu;
	bool peer_known; /* peer_addr holds the first of peer_addresses */
	struct ip_addr peer_addr;
	uint16_t peer_ike_port; /* where IKE starts (500 unless configured) */
	uint16_t peer_esp_port; /* where ESP goes: 4500, or the configured port if not 500 */
	struct prefix local[TPLAN_PREFIX_MAX]; /* effective: what we send */
	size_t n_local;
	struct prefix remote[TPLAN_PREFIX_MAX]; /* effective: what the peer may send */
	size_t n_remote;
	size_t n_remote_direct;               /* remote[0, n) are its own remote_prefixes */
	struct prefix deny[TPLAN_SUBNET_MAX]; /* our own subnets: never accepted inbound */
	size_t n_deny;
};

/* The whole configuration. */
struct tplan {
	uint64_t generation;
	char site[IKE_ID_MAX];
	uint32_t role; /* Sdwan__SiteRole */
	struct prefix subnets[TPLAN_SUBNET_MAX];
	size_t n_subnets;
	uint64_t failback_hold_down_ms;
	uint32_t health_interval_ms;
	struct tplan_tunnel *tunnels;
	size_t n_tunnels;
};

/* Why a configuration was refused: the ConfigNack fields. */
struct tplan_error {
	uint32_t code;               /* Sdwan__ConfigError */
	char reason[256];            /* what is wrong and what to change */
	char tunnel[TPLAN_NAME_MAX]; /* the tunnel at fault, or "" */
};

/*
 * Check cfg completely and build the plan. Returns 0 and *out (free with tplan_free), or
 * -EINVAL with *err filled (code INVALID or UNSUPPORTED, the reason naming the field), or
 * -ENOMEM. cert_auth tells whether certificate authentication is available in this build.
 */
int tplan_build(const struct Sdwan__EdgeConfig *cfg, bool cert_auth, struct tplan **out,
		struct tplan_error *err) __attribute__((warn_unused_result));

/* Free a plan, wiping every PSK. NULL-safe. */
void tplan_free(struct tplan *p);

/* Find a tunnel by name, or NULL. */
const struct tplan_tunnel *tplan_find(const struct tplan *p, const char *name);

/* Whether two tunnels are the same in every respect (constant time over the PSK). */
bool tplan_tunnel_equal(const struct tplan_tunnel *a, const struct tplan_tunnel *b);

/*
 * The data-plane routing table of the plan: ids[i] is the data-plane tunnel id of
 * p->tunnels[i]. Returns 0 and *out (owned by the caller), or -ENOMEM.
 */
int tplan_routes(const struct tplan *p, const uint32_t *ids, struct lpm **out)
	__attribute__((warn_unused_result));

/*
 * As tplan_routes, with live[i] telling whether p->tunnels[i] is up (NULL: all are). A prefix
 * whose tunnel is down routes through the next tunnel that may carry it (a hub whose direct
 * tunnel to a spoke died sends the spoke's traffic to the other hub over the hub-to-hub tunnel,
 * which carries it as transit); with no such tunnel it stays on the dead one. The hub group's
 * routes do not change: the group follows its live members itself.
 */
int tplan_routes_live(const struct tplan *p, const uint32_t *ids, const bool *live,
		      struct lpm **out) __attribute__((warn_unused_result));

/* A tunnel's anti-spoofing table (DP_SRC_ALLOW / DP_SRC_DENY values). 0 or -ENOMEM. */
int tplan_allowed(const struct tplan_tunnel *t, struct lpm **out)
	__attribute__((warn_unused_result));

/* One kernel route into the TUN. */
struct tplan_kroute {
	struct prefix dst;
	unsigned mtu;
};

/*
 * The kernel routes the plan needs (every destination of tplan_routes, the route MTU being the
 * smallest of the tunnels that may carry it). Returns the count written to out[0, cap), or
 * -ENOSPC if more are needed.
 */
int tplan_kernel_routes(const struct tplan *p, struct tplan_kroute *out, size_t cap);

/* The largest tunnel MTU of the plan (the TUN link's MTU), TPLAN_MTU_DEFAULT if none. */
unsigned tplan_link_mtu(const struct tplan *p);

#endif
