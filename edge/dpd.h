/*
 * Dead peer detection decisions for one tunnel (RFC 7296 §2.4 liveness), as a pure state
 * machine over an injected clock: no timers, no sockets. The tunnel manager feeds it proof of
 * life and asks it, when its one timer fires, what to do and when to ask again.
 *
 * Proof of life is anything authenticated from the peer: an ESP packet that decrypted (the data
 * plane's last_rx_ms) or an IKE message that passed the engine's integrity check. Nothing
 * unauthenticated counts, so a forged packet cannot keep a dead tunnel alive.
 *
 *   mode        probe when                                         dead when
 *   on-idle     nothing alive for interval_ms                      a probe went unanswered and
 *   on-demand   we sent since the last proof of life, and nothing  nothing alive arrived for
 *               alive for interval_ms                              timeout_ms
 *   off         never                                              never
 *
 * Timers are never re-armed per packet: dpd_next_ms() says when the next decision is due, from
 * the last proof of life seen; the caller's single timer fires then and calls dpd_poll().
 * Values only, no ownership; any thread that owns the struct.
 */
#ifndef SDWAN_EDGE_DPD_H
#define SDWAN_EDGE_DPD_H

#include <stdbool.h>
#include <stdint.h>

enum dpd_mode {
	DPD_ON_IDLE,
	DPD_ON_DEMAND,
	DPD_OFF,
};

/* What dpd_poll() asks the caller to do. */
enum dpd_action {
	DPD_NONE,  /* nothing now */
	DPD_PROBE, /* send a liveness check (an empty INFORMATIONAL request) */
	DPD_DEAD,  /* the peer is dead: take the tunnel down */
};

struct dpd {
	enum dpd_mode mode;
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint64_t last_alive_ms; /* latest proof of life (or the start) */
	uint64_t probe_sent_ms; /* latest probe, 0 = none since start */
	uint64_t tx_at_alive;   /* packets sent as of the last proof of life (on-demand) */
	uint64_t tx_packets;    /* packets sent so far, as last reported */
	bool dead;              /* DPD_DEAD was returned; sticky until dpd_start() */
};

/* (Re)start detection at now (a tunnel came up): everything before is forgotten. */
void dpd_start(struct dpd *d, enum dpd_mode mode, uint32_t interval_ms, uint32_t timeout_ms,
	       uint64_t now_ms);

/* Proof of life at t (monotonic ms; older values than the last are ignored). */
void dpd_on_alive(struct dpd *d, uint64_t t_ms);

/* Packets sent so far on the tunnel (a running total, for on-demand mode). */
void dpd_on_tx(struct dpd *d, uint64_t tx_packets);

/* A probe was sent (or one was already outstanding) at now. */
void dpd_on_probe(struct dpd *d, uint64_t now_ms);

/* Decide at now. DPD_DEAD is returned once; afterwards DPD_NONE until dpd_start(). */
enum dpd_action dpd_poll(struct dpd *d, uint64_t now_ms);

/* The earliest time at which dpd_poll() may return something other than DPD_NONE, given what
 * is known now, or UINT64_MAX (mode off, or already dead). */
uint64_t dpd_next_ms(const struct dpd *d);

#endif
