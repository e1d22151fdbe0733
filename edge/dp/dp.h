/*
 * The userspace ESP data plane: TUN <-> ESP-in-UDP, route-based, one worker thread per core.
 *
 *   outbound  TUN queue -> route (LPM on the destination, a route may name a group whose
 *             member is switched atomically: a spoke's "active hub") -> tunnel -> its current
 *             outbound SA -> ESP encapsulation -> batched UDP (GSO) send to the tunnel's peer
 *   inbound   UDP (GRO) -> SPI -> inbound SA -> replay check, decrypt, replay commit ->
 *             inner source must be one the tunnel may carry (anti-spoofing) -> split horizon
 *             (a tunnel of a horizon never relays into another of the same one) -> TUN
 *
 * A route may also say "unreachable" (DP_ROUTE_UNREACHABLE): the packet is dropped, counted,
 * and answered with ICMP Destination Unreachable into the TUN (rate-limited per worker).
 *
 * A peer behind a NAT may get a new public address or port: an inbound ESP packet that
 * authenticated but came from elsewhere than the tunnel's peer is reported once to the control
 * thread (dp_peer_moved_pop), which decides whether the tunnel follows it.
 *
 * Workers never block on the control thread and take no lock on the packet path. The control
 * thread changes what they see by building new immutable tables and publishing them with one
 * atomic pointer swap; what the swap replaced is reclaimed (dp_reclaim) once every worker has
 * passed a quiescent point, i.e. finished the batch it was processing or gone idle. A spoke's
 * failover is a single atomic store (dp_group_set), visible to the next packet.
 *
 * Inbound SAs are owned by worker SPI % workers, which is where the UDP layer's BPF program
 * steers their packets, so their replay windows need no lock. Outbound SAs are shared: each
 * worker has its own cipher context and all draw sequence numbers from one atomic counter.
 *
 * IKE messages (non-ESP marker on the ESP port) are handed to the control thread through a
 * bounded queue; dp_event_fd() becomes readable when any are waiting.
 *
 * Every function here is for the control thread unless it says otherwise.
 */
#ifndef SDWAN_EDGE_DP_DP_H
#define SDWAN_EDGE_DP_DP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/lpm.h"
#include "common/prefix.h"
#include "edge/esp/esp_sa.h"

enum {
	DP_MAX_WORKERS = 16,
	DP_IKE_MAX = 8192, /* largest IKE datagram passed up; bigger ones need RFC 7383 */
};

/* Route values: a tunnel id, or a group (DP_ROUTE_GROUP(g)) resolved at lookup time, or
 * "unreachable" (drop with an ICMP error). */
#define DP_ROUTE_GROUP_FLAG  0x80000000u
#define DP_ROUTE_GROUP(g)    (DP_ROUTE_GROUP_FLAG | (uint32_t)(g))
#define DP_ROUTE_UNREACHABLE 0x7ffffffeu
enum {
	DP_MAX_GROUPS = 64
};

/* Value marking an allowed source in a tunnel's anti-spoofing table (see lpm.h). */
enum {
	DP_SRC_ALLOW = 1,
	DP_SRC_DENY = 2
};

/* Why packets were dropped; one counter each, per tunnel where a tunnel is known. */
enum dp_drop {
	DP_DROP_MALFORMED,
	DP_DROP_NO_SA,
	DP_DROP_REPLAY,
	DP_DROP_ICV,
	DP_DROP_POLICY,
	DP_DROP_SEQ_OVERFLOW,
	DP_DROP_DUMMY,
	DP_DROP_MTU,
	DP_DROP_NO_ROUTE,
	DP_DROP_UNREACHABLE, /* the route says unreachable (answered with ICMP) */
	DP_DROP_LOOP,        /* would leave over the horizon it came in from (split horizon) */
	DP_DROP_COUNT,
};

/* Stable counter names ("malformed", "no_sa", ...). */
const char *dp_drop_name(enum dp_drop d);

struct dp_config {
	unsigned workers;   /* 1..DP_MAX_WORKERS */
	const int *tun_fds; /* one TUN queue per worker; borrowed, must outlive the dp */
	/* The TUN queues carry virtio-net headers with offloads: reads may be TCP/UDP
	 * super-packets (segmented here) and writes coalesce TCP segments (GRO). */
	bool tun_vnet_hdr;
	const int *udp_fds; /* one socket of the SPI-steered group per worker; borrowed */
	/* Source addresses of the ICMP "too big" replies the data plane sends back into the
	 * TUN for packets that do not fit a tunnel (family 0: drop those silently, counted as
	 * mtu). */
	struct ip_addr icmp_src_v4, icmp_src_v6;
};

struct dp;

/* Totals for one tunnel (summed over workers). */
struct dp_stats {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t drops[DP_DROP_COUNT];
	uint64_t last_rx_ms; /* CLOCK_MONOTONIC ms of the last authenticated inbound packet */
};

/* Create a data plane (workers not started). Returns 0 and *out, or -errno. */
int dp_new(const struct dp_config *cfg, struct dp **out) __attribute__((warn_unused_result));

/* Start the worker threads. */
int dp_start(struct dp *dp) __attribute__((warn_unused_result));

/* Stop and join the workers (idempotent). */
void dp_stop(struct dp *dp);

/* Stop, then free everything the data plane owns. NULL-safe. */
void dp_free(struct dp *dp);

/*
 * Add tunnel `id` (small integers, < 65536): peer address, inner MTU, and the anti-spoofing
 * table of sources it may carry (ownership taken, *allowed set to NULL; values DP_SRC_ALLOW /
 * DP_SRC_DENY). -EEXIST if the id is in use.
 */
int dp_tunnel_add(struct dp *dp, uint32_t id, const struct sockaddr_in6 *peer, uint16_t mtu,
		  struct lpm **allowed) __attribute__((warn_unused_result));

/* Remove a tunnel, its SAs and its routes' meaning (routes to it then drop as no_route). */
int dp_tunnel_remove(struct dp *dp, uint32_t id) __attribute__((warn_unused_result));

/* Move a tunnel to a new peer address (NAT rebinding, roaming). */
int dp_tunnel_set_peer(struct dp *dp, uint32_t id, const struct sockaddr_in6 *peer)
	__attribute__((warn_unused_result));

/* The tunnel's current peer address. -ENOENT for an unknown id. */
int dp_tunnel_peer(struct dp *dp, uint32_t id, struct sockaddr_in6 *out)
	__attribute__((warn_unused_result));

/*
 * Put a tunnel in split-horizon group `horizon` (0: none, the default). A packet that arrives
 * over a tunnel of a group and whose route leads into a tunnel of the same group is dropped
 * (DP_DROP_LOOP on the arriving tunnel) instead of being relayed: a hub's backbone tunnels form
 * one group, so transit from one hub is never passed on to another hub and cannot loop between
 * hubs whatever their routes say. Any thread; seen by the next packet.
 */
int dp_tunnel_set_horizon(struct dp *dp, uint32_t id, uint8_t horizon)
	__attribute__((warn_unused_result));

/*
 * Take the next report of an authenticated ESP packet that came from another address or port
 * than its tunnel's peer: the tunnel id and where it came from. Returns 1, or 0 when none is
 * waiting. Each worker reports a given new source of a tunnel once; the caller decides whether
 * the tunnel follows it (dp_tunnel_set_peer). dp_event_fd() becomes readable when one waits.
 */
int dp_peer_moved_pop(struct dp *dp, uint32_t *tunnel, struct sockaddr_in6 *from);

/*
 * Install an outbound SA for a tunnel (cfg->dir must be ESP_DIR_OUT; cfg->shared_seq is
 * ignored). It becomes the tunnel's current SA at once; the previous one is retired.
 */
int dp_sa_out_install(struct dp *dp, uint32_t tunnel, const struct esp_sa_config *cfg)
	__attribute__((warn_unused_result));

/* Install an inbound SA (cfg->dir ESP_DIR_IN) for a tunnel. Several may be live at once
 * (make-before-break rekeying). -EEXIST if the SPI is in use. */
int dp_sa_in_install(struct dp *dp, uint32_t tunnel, const struct esp_sa_config *cfg)
	__attribute__((warn_unused_result));

/* Remove an inbound SA by SPI. */
int dp_sa_in_remove(struct dp *dp, uint32_t spi) __attribute__((warn_unused_result));

/* Replace the routing table (destination prefix -> route value); ownership taken. */
int dp_routes_set(struct dp *dp, struct lpm **routes) __attribute__((warn_unused_result));

/* Point group g at a tunnel (or UINT32_MAX: no tunnel). One atomic store; any thread. */
void dp_group_set(struct dp *dp, unsigned g, uint32_t tunnel);

/* Counters of a tunnel. -ENOENT for an unknown id. */
int dp_tunnel_stats(struct dp *dp, uint32_t id, struct dp_stats *out)
	__attribute__((warn_unused_result));

/* Drops not attributable to a tunnel (unknown SPI, no route, malformed outer packet). */
void dp_global_drops(struct dp *dp, uint64_t drops[DP_DROP_COUNT]);

/* Outbound packets sent on a tunnel's current SA (its sequence number), for soft lifetimes. */
uint64_t dp_sa_out_packets(struct dp *dp, uint32_t tunnel);

/* A descriptor readable when IKE messages are queued; read it (8 bytes) to re-arm. */
int dp_event_fd(const struct dp *dp);

/*
 * Take the next queued IKE message (the non-ESP marker removed) into buf: its length, or 0
 * when none is waiting, or -EMSGSIZE if cap is too small (the message is then dropped).
 */
int dp_ike_pop(struct dp *dp, uint8_t *buf, size_t cap, struct sockaddr_in6 *from);

/* Free what earlier changes retired, once every worker has moved past it. Call regularly
 * (e.g. on a 100 ms timer); cheap when there is nothing to do. */
void dp_reclaim(struct dp *dp);

#endif
