/*
 * The tunnel manager's pure half: an EdgeConfig (proto/control.proto) checked and turned into
 * plain values (struct tplan), the comparison that decides which tunnels an update touches,
 * and the tables derived from it (data-plane routes with the hub group, anti-spoofing tables,
 * kernel routes). No sockets, no clock, no globals: everything here is unit-tested alone.
 *
 * Effective prefixes. A tunnel carries, in each direction, its own prefixes plus, when it is a
 * transit tunnel, every WAN prefix except those of the far end's site (what we send, with
 * local_transit) or of our own site (what the peer may send, with remote_transit). The WAN
 * prefixes live once in the plan (tplan.sites / tplan.wan), not in each tunnel: a hub of a
 * 10,000-site WAN holds them once. The effective sets are the anti-spoofing table (our own
 * subnets are denied on every tunnel) and, for the remote side, the routes.
 *
 * Summarised table. A spoke of a large WAN gets its own site and its tunnels' peer sites as
 * entries of their own and every other site's prefixes aggregated (EdgeConfig.wan_summary),
 * read as one more entry of the table that belongs to no site. Every rule here works on it
 * unchanged: the summary never holds our own prefixes or a prefix a tunnel names itself.
 *
 * Traffic selectors. IKE negotiates the effective sets themselves while they are small: a
 * tunnel that is not a transit tunnel, or a transit tunnel in a WAN whose prefix table (plus the
 * tunnel's own prefixes) has at most TPLAN_PREFIX_MAX prefixes. Beyond that, or with a
 * summarised table, a transit tunnel negotiates every address of the families it carries
 * (0.0.0.0/0, ::/0): it is a route-based tunnel whose routes and anti-spoofing table still hold
 * the exact sets. Both ends decide alike: both compute it from the same WAN table and mirrored
 * transit flags, and the controller summarises only tables too large for exact selectors.
 *
 * Routes. Each remote prefix routes into the tunnel that names it directly (remote_prefixes);
 * a prefix only reachable through transit routes into the hub group when the tunnel is a hub
 * tunnel (hub_priority > 0: one group, TPLAN_HUB_GROUP, whose member is the active hub), else
 * into the most preferred transit tunnel. Our own subnets never route into the TUN. The
 * controller's reachability (struct tplan_reach) refines this on hubs: see tplan_routes_reach.
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
	TPLAN_SITE_NAME_MAX = 64,           /* a site name of the WAN table, with its NUL */
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
	struct prefix local[TPLAN_PREFIX_MAX]; /* its own local_prefixes */
	size_t n_local;
	struct prefix remote[TPLAN_PREFIX_MAX]; /* its own remote_prefixes */
	size_t n_remote;
	bool local_transit;  /* we also send the WAN's prefixes but the peer's (see above) */
	bool remote_transit; /* the peer may also send the WAN's prefixes but ours */
	bool wide_ts;        /* traffic selectors: whole families, not the exact sets */
	/* SHA-256 of the WAN table for a transit tunnel (zero otherwise): a new table changes the
	 * tunnel, whose selectors and anti-spoofing table follow it */
	uint8_t wan_digest[32];
	struct prefix deny[TPLAN_SUBNET_MAX]; /* our own subnets: never accepted inbound */
	size_t n_deny;
};

/* One site of the WAN prefix table (EdgeConfig.wan_prefixes): its prefixes are
 * tplan.wan[first, first + count). */
struct tplan_site {
	char name[TPLAN_SITE_NAME_MAX];
	size_t first, count;
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
	struct tplan_site *sites; /* the WAN prefix table, in configuration order */
	size_t n_sites;
	size_t *site_order; /* indices of sites sorted by name (tplan_site_index) */
	struct prefix *wan; /* every site's prefixes, site after site */
	size_t n_wan;
	long own_site; /* our site's index in sites, -1 if the table has none */
	/* The last entry of sites (name "") is EdgeConfig.wan_summary: the sites not listed */
	bool wan_summarised;
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

/* The index of the WAN table's site `name` (tplan.sites), or -1. */
long tplan_site_index(const struct tplan *p, const char *name);

/*
 * A tunnel's effective set of prefixes (remote: what the peer may send; else what we send),
 * deduplicated, into *out (owned by the caller, free()) with its count in *n. 0 or -ENOMEM.
 */
int tplan_effective(const struct tplan *p, const struct tplan_tunnel *t, bool remote,
		    struct prefix **out, size_t *n) __attribute__((warn_unused_result));

/*
 * A tunnel's IKE traffic selectors for one side (see above): the effective set, or with wide_ts
 * the whole of each address family in it. Fills out[0, TPLAN_PREFIX_MAX) and *n. 0 or -ENOMEM.
 */
int tplan_traffic_selectors(const struct tplan *p, const struct tplan_tunnel *t, bool remote,
			    struct prefix out[static TPLAN_PREFIX_MAX], size_t *n)
	__attribute__((warn_unused_result));

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

/* What the controller says of one site of the WAN table (proto SiteRoute). */
enum tplan_reach_kind {
	TPLAN_REACH_OWN,         /* nothing: the edge's own routing */
	TPLAN_REACH_VIA,         /* reached through the tunnel to hub `via` */
	TPLAN_REACH_UNREACHABLE, /* no hub reaches it */
};

struct tplan_reach {
	enum tplan_reach_kind kind;
	const char *via; /* TPLAN_REACH_VIA: the hub's site name (borrowed) */
};

/*
 * As tplan_routes_live, refined by the controller's reachability: reach[s] (NULL: no word on
 * any site) describes p->sites[s]. Precedence, first match wins:
 *
 *   1. a live tunnel that names the prefix directly (first-hand, newer than the controller)
 *   2. the hub group (spokes)
 *   3. VIA: the live tunnel to that hub
 *   4. UNREACHABLE: DP_ROUTE_UNREACHABLE (dropped with an ICMP error, never sent to a hub
 *      that lost the site too)
 *   5. a live transit tunnel, by preference then configuration order (the edge's own choice)
 *   6. the same through tunnels that are down
 */
int tplan_routes_reach(const struct tplan *p, const uint32_t *ids, const bool *live,
		       const struct tplan_reach *reach, struct lpm **out)
	__attribute__((warn_unused_result));

/* A tunnel's anti-spoofing table (DP_SRC_ALLOW / DP_SRC_DENY values). 0 or -ENOMEM. */
int tplan_allowed(const struct tplan *p, const struct tplan_tunnel *t, struct lpm **out)
	__attribute__((warn_unused_result));

/* One kernel route into the TUN. */
struct tplan_kroute {
	struct prefix dst;
	unsigned mtu;
};

/*
 * The kernel routes the plan needs (every destination of tplan_routes, the route MTU being the
 * smallest of the tunnels that may carry it), into *out (owned by the caller, free()) with
 * their count in *n. 0 or -ENOMEM.
 */
int tplan_kernel_routes(const struct tplan *p, struct tplan_kroute **out, size_t *n)
	__attribute__((warn_unused_result));

/* The largest tunnel MTU of the plan (the TUN link's MTU), TPLAN_MTU_DEFAULT if none. */
unsigned tplan_link_mtu(const struct tplan *p);

#endif
