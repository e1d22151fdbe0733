/*
 * The planner: a checked topology compiled into every edge's tunnels.
 *
 * A pure function of the topology: the same file gives the same plan on any controller. For
 * each pair of sites that must be connected it decides the kind of tunnel, who initiates
 * (a dynamic site always does; otherwise a spoke initiates to its hub; between equals the
 * lexically lower name does), the crypto profile (defaults with both ends' overrides; two
 * different overrides of one setting are an error), the tunnel MTU and TCP MSS (underlay MTU
 * minus the ESP-in-UDP overhead of the worse address family the pair can use), and for spokes
 * the hub priority. Which tunnels exist:
 *
 *   full-mesh      every pair of sites                               N(N-1)/2
 *   hub-and-spoke  each spoke to each of its hubs, plus every pair of hubs: with redundant
 *                  hubs two spokes may be active on different hubs, and their traffic then
 *                  crosses hub to hub                                 sum(hubs per spoke) +
 * H(H-1)/2 hybrid         hubs meshed as a backbone, spokes to their hubs, and peers meshed with
 * each other and with every hub                          H(H-1)/2 + attachments
 *                                                                    + P(P-1)/2 + P*H
 *
 * External gateways (role external, an IPsec gateway we do not run) get tunnels from our sites
 * only, never to each other: in hub-and-spoke and hybrid from the hubs their `hubs:` list names
 * (first = preferred), or from every hub when it names none; in a full mesh from every peer. Our
 * site always initiates: the gateway has a static address by rule, and our edges are the side
 * whose retry, rekey and failover behaviour we control.
 *
 * Prefixes: a hub carries transit (every WAN prefix except the receiving peer's own, external
 * gateways' included) toward every peer; every other site carries only its own subnets. Kept
 * symbolic so a 10,000-spoke plan stays linear in size: edges expand it from the WAN's prefix
 * table, so the rule must stay this simple for the exported gateways to agree with them.
 *
 * A plan borrows its topology (which must outlive it) and owns its arrays. Control path only.
 */
#ifndef SDWAN_CONTROLLER_PLAN_H
#define SDWAN_CONTROLLER_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/topo.h"

enum plan_kind {
	PLAN_KIND_PEER_PEER,
	PLAN_KIND_SPOKE_HUB,
	PLAN_KIND_HUB_HUB,
	PLAN_KIND_PEER_HUB,
	PLAN_KIND_EXTERNAL, /* one of our sites to an external gateway */
	PLAN_KIND_COUNT,
};

enum plan_initiator_reason {
	PLAN_INIT_DYNAMIC,    /* the other end has no static address */
	PLAN_INIT_SPOKE,      /* spokes initiate to their hubs */
	PLAN_INIT_LOWER_NAME, /* between equals, the lexically lower name */
	PLAN_INIT_EXTERNAL,   /* our site opens tunnels to an external gateway */
};

/* The settings both ends of a tunnel agree on. */
struct plan_profile {
	struct proposal ike;
	struct proposal esp;
	uint64_t ike_lifetime_ms;
	uint64_t esp_lifetime_ms;
	uint64_t dpd_interval_ms;
	uint64_t dpd_timeout_ms;
	uint8_t dpd_mode; /* enum topo_dpd_mode */
	uint8_t auth;     /* enum topo_auth */
};

struct plan_tunnel {
	uint32_t initiator; /* site index */
	uint32_t responder; /* site index */
	uint32_t profile;   /* index in plan.profiles */
	uint16_t mtu;       /* inner MTU of the tunnel */
	uint16_t mss_v4;
	uint16_t mss_v6;
	uint8_t kind;         /* enum plan_kind */
	uint8_t init_reason;  /* enum plan_initiator_reason */
	uint8_t families;     /* underlay families the pair can use: bit IP_V4, bit IP_V6 */
	uint8_t hub_priority; /* spoke-hub and external with hubs: 1 = the preferred hub; else 0 */
};

struct plan_edge {
	size_t first; /* into plan.edge_tunnels */
	size_t count;
};

struct plan {
	const struct topo *topo;
	struct plan_tunnel *tunnels;
	size_t n_tunnels;
	struct plan_profile *profiles;
	size_t n_profiles;
	size_t cap_profiles;
	uint32_t *edge_tunnels;  /* tunnel indices of each edge, edge by edge */
	struct plan_edge *edges; /* one per site, same index as topo.sites */
	size_t by_kind[PLAN_KIND_COUNT];
};

/*
 * Compile t (already through topo_check) into *out (owned by the caller; plan_free). Pair
 * errors (two dynamic ends, no common address family, conflicting overrides, a tunnel MTU too
 * small for IPv6) are reported into diags. Returns 0, or -ENOMEM.
 */
int plan_build(const struct topo *t, struct plan **out, struct diag_list *diags)
	__attribute__((warn_unused_result));

/* Free a plan. NULL-safe. */
void plan_free(struct plan *p);

/* Tunnel name "a:b" with the two site names in lexical order, into buf; returns buf. */
char *plan_tunnel_name(const struct plan *p, const struct plan_tunnel *tun, char *buf, size_t len);

/* The far end of a tunnel seen from site. */
uint32_t plan_tunnel_peer(const struct plan_tunnel *tun, uint32_t site);

/* Whether site sends transit (every WAN prefix except the peer's) into its tunnels. */
bool plan_site_carries_transit(const struct plan *p, uint32_t site);

/* Whether the tunnel from site to peer carries the subnets of site `from`: its own always, and
 * for a hub (transit) every other site's but the peer's. */
bool plan_carries_site(const struct plan *p, uint32_t site, uint32_t peer, uint32_t from);

/* Names as shown in output ("spoke-hub"), and why the tunnel exists / why that side initiates. */
const char *plan_kind_name(enum plan_kind k);
const char *plan_initiator_reason_text(enum plan_initiator_reason r);

/* Tunnel MTU and MSS for an underlay MTU, ESP proposal and underlay family (IP_V4 / IP_V6). */
void plan_mtu(uint32_t underlay_mtu, const struct proposal *esp, uint8_t family, uint16_t *mtu,
	      uint16_t *mss_v4, uint16_t *mss_v6);

#endif
