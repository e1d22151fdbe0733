/*
 * The tunnel manager: turns an EdgeConfig into running tunnels on one libuv loop and keeps them
 * alive. It owns the TUN device, the kernel routes into it, the userspace data plane (edge/dp),
 * the IKE engine (edge/ike) and both UDP ports:
 *
 *   ike_port (500)   a socket of our own on the loop (udpio), IKE only
 *   natt_port (4500) the data plane's SPI-steered group: ESP-in-UDP, and IKE behind the non-ESP
 *                    marker, which the data plane hands back through dp_ike_pop()
 *
 *   tmgr_apply(cfg) -> tplan (validate) -> diff by tunnel name:
 *       unchanged tunnels are not touched; removed ones are torn down; added and changed ones
 *       are (re)created: data-plane tunnel + anti-spoofing table, IKE peer, initiation
 *     -> data-plane routes (published at once) and kernel routes (diffed) into the TUN
 *   IKE child_up   -> dp_sa_in_install / dp_sa_out_install -> TUNNEL_UP
 *   one timer      -> IKE timers, DPD decisions (edge/dpd), re-initiation with backoff,
 *                     active hub choice (edge/failover) -> dp_group_set, FAILOVER / FAILBACK
 *
 * The TUN device carries no address. It is a next hop only: the kernel forwards LAN traffic
 * into it by the routes, and an address there would duplicate the LAN gateway's (the site's
 * first host address normally sits on the LAN interface already). The data plane answers
 * oversized packets with ICMP from the first host address of the site's first subnet.
 *
 * Liveness: any authenticated inbound ESP packet (the data plane's last_rx_ms) or IKE message
 * (one the engine accepted on an established SA) is proof of life; nothing unauthenticated is.
 * A tunnel declared dead goes down (TUNNEL_DOWN), its IKE state is dropped, and an initiator
 * starts again with backoff (500 ms doubling to 8 s; each attempt gets 3 s). The round-trip
 * time is measured on liveness checks.
 *
 * Threads: everything here runs on the loop's thread.
 */
#ifndef SDWAN_EDGE_TMGR_H
#define SDWAN_EDGE_TMGR_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/prefix.h"
#include "edge/keylog.h"
#include "proto/control.pb-c.h"

/* Something happened that the controller (and the log) should hear about at once. Strings are
 * borrowed for the call; tunnel is NULL for edge-wide events. */
typedef void tmgr_event_fn(void *arg, Sdwan__EventType type, const char *tunnel,
			   const char *detail);

/* How to run. Zero fields take the defaults in brackets. */
struct tmgr_options {
	char tun_name[16];          /* TUN device ["sdwan0"] */
	struct ip_addr listen_addr; /* underlay address for IKE and ESP; family 0 = any */
	uint16_t ike_port;          /* [500] */
	uint16_t natt_port;         /* [4500] */
	unsigned workers;           /* data-plane workers [one per core, at most 16] */
	bool no_offload;            /* TUN without virtio-net offloads (GSO/GRO) */
	/* Our IKE identity for certificate authentication (may be NULL: PSK tunnels only).
	 * tmgr_new takes its own reference to each; the caller keeps its own. */
	EVP_PKEY *key;
	X509 *cert;
	X509 *ca;
	/* Testing only: a tunnel's first outbound ESP SA starts at this sequence number (0:
	 * normal), to exercise sequence-space rekeying. */
	uint64_t test_esp_first_seq;
	/* Debugging key log (edge/keylog.h), NULL = off. Borrowed: must outlive the manager. */
	struct keylog *keylog;
	tmgr_event_fn *event; /* may be NULL */
	void *event_arg;
};

/* Why a configuration was refused: the fields of a ConfigNack. */
struct tmgr_apply_error {
	Sdwan__ConfigError code;
	char reason[256]; /* what is wrong and what to change */
	char tunnel[64];  /* the tunnel at fault, "" if none */
};

struct tmgr;

/*
 * Create the tunnel manager on loop: TUN device (a leftover one of the same name is removed,
 * and so are routes a crashed run left), UDP ports, data plane (started) and IKE engine. No
 * tunnel runs until tmgr_apply(). opts is copied. Returns 0 and *out (release with
 * tmgr_close), or -errno with everything undone (-EPERM without CAP_NET_ADMIN, -EADDRINUSE).
 */
int tmgr_new(uv_loop_t *loop, const struct tmgr_options *opts, struct tmgr **out)
	__attribute__((warn_unused_result));

/*
 * Apply a complete configuration: validate it all first (nothing changes if it is refused:
 * -EINVAL, err says why and which tunnel), then change only what differs. A configuration
 * older than the one running is refused as CONFIG_ERROR_STALE. Returns 0, -EINVAL, or another
 * -errno when the system refused (err->code SYSTEM or RESOURCE; tunnels changed before the
 * failure stay changed). cfg is borrowed (PSKs copied and wiped later by us).
 */
int tmgr_apply(struct tmgr *tm, const Sdwan__EdgeConfig *cfg, struct tmgr_apply_error *err)
	__attribute__((warn_unused_result));

/*
 * Take the controller's reachability (proto Reachability): where the sites this hub does not
 * reach over a live tunnel of its own are reached, and which no hub reaches (tplan.h:
 * tplan_routes_reach). The list replaces the previous one; the data-plane routes change at once
 * where it changed (a REROUTE event says how), nothing else does. NULL withdraws it (the control
 * session has been gone for the grace time): the edge's own routing stands again. A list not
 * newer than the one held (same epoch, seq not greater) is ignored: -ESTALE. Returns 0, -ESTALE
 * or -ENOMEM (nothing changed).
 */
int tmgr_reachability(struct tmgr *tm, const Sdwan__Reachability *r)
	__attribute__((warn_unused_result));

/*
 * A health report of every configured tunnel and of the edge (active hub, global drops,
 * generation applied, uptime, timestamp). *out is owned by the caller: release it with
 * tmgr_health_free. Returns 0 or -ENOMEM.
 */
int tmgr_health(struct tmgr *tm, Sdwan__HealthReport **out) __attribute__((warn_unused_result));

/* Release a report from tmgr_health. NULL-safe. */
void tmgr_health_free(Sdwan__HealthReport *hr);

/*
 * Rekey a tunnel (NULL: every tunnel) by authenticating a fresh IKE SA whose Child SA replaces
 * the current one make-before-break. Only tunnels with a known peer address can start one.
 * Returns 0, -ENOENT (no such tunnel), or -EOPNOTSUPP (the peer's address is unknown).
 */
int tmgr_command_rekey(struct tmgr *tm, const char *tunnel) __attribute__((warn_unused_result));

/*
 * Replace our certificate identity (renewal, new CA): tunnels configured from now on and IKE SAs
 * set up again use it; running SAs are not touched. References as for tmgr_new. Returns 0 or
 * -EINVAL when one of the three is missing.
 */
int tmgr_set_identity(struct tmgr *tm, EVP_PKEY *key, X509 *cert, X509 *ca)
	__attribute__((warn_unused_result));

/*
 * Stop: remove the kernel routes and the TUN device, stop the data plane, free the IKE engine,
 * close the sockets; done(arg) runs from the loop once tm is freed. After this call tm must not
 * be used.
 */
void tmgr_close(struct tmgr *tm, void (*done)(void *arg), void *arg);

#endif
