/*
 * The IKEv2 engine (RFC 7296): IKE SAs, their exchanges and their timers, with no sockets, no
 * clock and no randomness of its own. The caller (the tunnel manager; a test) injects all three
 * through struct ike_env, feeds received datagrams to ike_input() and calls ike_tick() when
 * time passes. Negotiated Child SAs leave through env->child_up; everything else that happens
 * is reported through env->event.
 *
 *   caller                         engine
 *   ike_engine_add_peer(cfg) ─────► peer table (copied)
 *   ike_sa_initiate(name)   ─────► IKE_SA_INIT request ──► env->send
 *   ike_input(datagram)     ─────► dispatch by SPIs and message ID ──► exchange handlers
 *   ike_tick()              ─────► retransmissions, timeouts, reaping of dead SAs
 *                                   env->child_up(keys), env->event(ev) ◄──┘
 *
 * Phase 1 implements IKE_SA_INIT (cookies, INVALID_KE_PAYLOAD, NAT detection, fragmentation
 * announcement), IKE_AUTH with a pre-shared key and the first Child SA, and an empty
 * INFORMATIONAL exchange (liveness). CREATE_CHILD_SA, Delete, certificates and fragmentation
 * reassembly come later (ike_child.c, ike_info.c); requests of those kinds are dropped and counted.
 *
 * An SA is named by our own SPI (the SPIi of the SAs we initiate, the SPIr of those we answer),
 * which is unique within one engine. Handles are plain values, so they cannot dangle: an SA that
 * is gone is simply not found.
 *
 * Threads: an engine and everything in it belongs to one thread, the control loop; the
 * callbacks run on it, from inside ike_input(), ike_tick() or ike_sa_initiate(), and must not
 * call back into the engine. Secrets (PSKs, keys) are wiped when the engine drops them.
 */
#ifndef SDWAN_EDGE_IKE_IKE_SA_H
#define SDWAN_EDGE_IKE_IKE_SA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "common/proposal.h"
#include "edge/esp/esp_sa.h"
#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sk.h"

/* Bounds of a peer configuration. */
enum ike_config_limit {
	IKE_PEER_NAME_MAX = 64, /* tunnel name, with its NUL */
	IKE_ID_MAX = 256,       /* an ID_FQDN, with its NUL */
	IKE_PSK_MAX = 128,      /* pre-shared key octets */
	IKE_PEER_TS_MAX = 16,   /* traffic selectors per side */
	/* KEYMAT of one Child SA direction: the longest cipher key (32) and the salt. */
	IKE_CHILD_KEYMAT_MAX = 32 + ESP_SALT_LEN,
};

/* A UDP endpoint: address and port (host byte order). */
struct ike_endpoint {
	struct ip_addr addr;
	uint16_t port;
};

/* A new IKE SA's encryption keys, for a debugging key log (env->ike_keys, edge/keylog.h).
 * Everything it points to is valid only during the callback. */
struct ike_sa_keylog {
	const char *peer;             /* tunnel name */
	uint64_t spi_i, spi_r;        /* the SA's SPIs, initiator's first */
	uint8_t encr;                 /* enum proposal_encr */
	const uint8_t *sk_ei, *sk_er; /* cipher key || 4-octet salt, enc_len octets each */
	size_t enc_len;
};

/* The IKE SA state machine. Every change goes through one function that checks it against the
 * table in ike_sa.c, logs "old -> new (reason)" at notice and counts it. */
enum ike_state {
	IKE_STATE_IDLE,         /* created, nothing sent or received yet */
	IKE_STATE_INIT_SENT,    /* initiator: IKE_SA_INIT request outstanding */
	IKE_STATE_INIT_REPLIED, /* responder: IKE_SA_INIT answered, half-open, awaiting IKE_AUTH */
	IKE_STATE_AUTH_SENT,    /* initiator: keys derived, IKE_AUTH request outstanding */
	IKE_STATE_ESTABLISHED,  /* authenticated both ways */
	IKE_STATE_FAILED,       /* terminal; kept a while to answer retransmissions, then reaped */
	IKE_STATE_COUNT,
};

/* What env->event reports. */
enum ike_event_type {
	IKE_EVENT_STATE,        /* an SA changed state (old_state -> new_state) */
	IKE_EVENT_ESTABLISHED,  /* an IKE SA is up */
	IKE_EVENT_FAILED,       /* an IKE SA failed; reason says why, phase where */
	IKE_EVENT_CHILD_FAILED, /* the IKE SA is up but its first Child SA was refused */
	IKE_EVENT_REJECTED,     /* responder: a peer's IKE_SA_INIT refused without creating state */
	IKE_EVENT_REKEY_NEEDED, /* message IDs exhausted: no more requests on this IKE SA */
	IKE_EVENT_TYPE_COUNT,
};

/* One event. Everything it points to is valid only during the callback. */
struct ike_event {
	enum ike_event_type type;
	const char *peer; /* the configured tunnel's name, or "" while none is known */
	uint64_t sa;      /* our SPI: the SA's handle (0 for IKE_EVENT_REJECTED) */
	uint64_t spi_i, spi_r;
	enum ike_state old_state, new_state; /* for IKE_EVENT_STATE */
	const char *phase;                   /* "IKE_SA_INIT", "IKE_AUTH", "INFORMATIONAL" */
	uint16_t notify;    /* the error notify sent or received (enum ike_notify_type), or 0 */
	const char *reason; /* operator-facing text: what disagreed and what to change */
};

/* A negotiated Child SA, handed to env->child_up once. The keys are wiped right after the
 * callback returns: copy what you keep. KEYMAT layout is esp_sa's (cipher key || 4-octet salt). */
struct ike_child_keys {
	const char *peer; /* tunnel name */
	uint64_t sa;      /* the IKE SA's handle (our SPI) */
	enum esp_cipher cipher;
	bool esn;
	uint32_t spi_in;  /* chosen by us: inbound ESP packets carry it */
	uint32_t spi_out; /* chosen by the peer: we send with it */
	size_t keymat_len;
	uint8_t keymat_in[IKE_CHILD_KEYMAT_MAX];
	uint8_t keymat_out[IKE_CHILD_KEYMAT_MAX];
	/* Negotiated selectors (address ranges, possibly narrowed by the responder, §2.9): local
	 * is our side's traffic, remote the peer's. */
	struct ike_ts_list local_ts;
	struct ike_ts_list remote_ts;
	uint32_t lifetime_s; /* from the peer configuration: rekey before this */
};

/*
 * What the engine needs from its caller. Every callback receives ctx.
 *   now_ms    a monotonic clock in milliseconds.
 *   random    fill buf[0, len) with CSPRNG output (nonces, SPIs, the cookie secret); 0 or -errno.
 *   send      transmit one datagram from local to remote (UDP payload, no non-ESP marker);
 *             0 or -errno (a failed send is counted and left to retransmission).
 *   child_up  a Child SA is ready to install (may be NULL).
 *   event     something happened (may be NULL).
 */
struct ike_env {
	uint64_t (*now_ms)(void *ctx);
	int (*random)(void *ctx, uint8_t *buf, size_t len);
	/* Debugging only, NULL in production: an IKE SA's keys as soon as they are derived. */
	void (*ike_keys)(void *ctx, const struct ike_sa_keylog *keys);
	int (*send)(void *ctx, const struct ike_endpoint *local, const struct ike_endpoint *remote,
		    const uint8_t *msg, size_t len);
	void (*child_up)(void *ctx, const struct ike_child_keys *keys);
	void (*event)(void *ctx, const struct ike_event *ev);
	void *ctx;
};

/* Engine-wide settings. Zero fields take the defaults in brackets. */
struct ike_engine_config {
	/* The first retransmission after this, doubling each time [500]. */
	uint32_t retransmit_base_ms;
	/* Retransmissions before the exchange times out [5]. */
	uint32_t retransmit_tries;
	/* Responder: once this many SAs are half-open, IKE_SA_INIT needs a cookie (§2.6).
	 * Negative: always demand one. [64] */
	int32_t half_open_cookie_limit;
	/* A half-open SA without a valid IKE_AUTH fails after this [30000]. */
	uint32_t half_open_timeout_ms;
	/* Responder: beyond this many half-open SAs, new IKE_SA_INIT requests are dropped even
	 * with a valid cookie (cookies prove an address, they do not bound memory). [1024] */
	uint32_t half_open_max;
	/* A failed SA answers retransmissions this long, then is freed [30000]. */
	uint32_t linger_ms;
};

/* One tunnel: who we are, whom we expect, how to authenticate, what to negotiate. */
struct ike_peer_config {
	char name[IKE_PEER_NAME_MAX]; /* tunnel name for logs and events; unique per engine */
	char local_id[IKE_ID_MAX];    /* our ID_FQDN (the site name) */
	char remote_id[IKE_ID_MAX];   /* the peer's ID_FQDN; IDi/IDr must equal it exactly */
	uint8_t psk[IKE_PSK_MAX];     /* pre-shared key (RFC 7296 §2.15) */
	size_t psk_len;               /* 1..IKE_PSK_MAX */
	struct proposal ike;          /* pinned IKE proposal (encr, prf, group) */
	struct proposal esp;       /* pinned ESP proposal (encr, esn; group unused in IKE_AUTH) */
	uint32_t ike_lifetime_s;   /* reported, rekeying is a later phase */
	uint32_t child_lifetime_s; /* handed to child_up */
	struct prefix local_ts[IKE_PEER_TS_MAX]; /* our side's prefixes */
	size_t n_local_ts;
	struct prefix remote_ts[IKE_PEER_TS_MAX]; /* the peer's prefixes */
	size_t n_remote_ts;
	struct ike_endpoint local;  /* our address and port */
	struct ike_endpoint remote; /* the peer's; family 0 accepts any address (responder only) */
	bool initiate;              /* we start the SA (ike_sa_initiate) */
};

/* Counters. Every dropped datagram is counted once, under its reason. */
enum ike_drop {
	IKE_DROP_PARSE,       /* malformed (see parse[] for the kind) */
	IKE_DROP_NO_SA,       /* SPIs match no SA */
	IKE_DROP_MSGID,       /* request outside the window, not a retransmission */
	IKE_DROP_UNEXPECTED,  /* response to nothing outstanding, or of the wrong kind */
	IKE_DROP_DECRYPT,     /* SK payload failed (see sk[] for the verdict) */
	IKE_DROP_INVALID,     /* well-formed, but not what this exchange allows */
	IKE_DROP_UNSUPPORTED, /* an exchange this phase does not implement */
	IKE_DROP_STATE,       /* valid, but not in this SA's state */
	IKE_DROP_BUSY,        /* IKE_SA_INIT beyond half_open_max */
	IKE_DROP_COUNT,
};

struct ike_stats {
	uint64_t rx, tx, tx_failed;
	uint64_t drops[IKE_DROP_COUNT];
	uint64_t parse[IKE_PARSE_COUNT];
	uint64_t sk[IKE_SK_VERDICT_COUNT];
	uint64_t retransmits;      /* our requests sent again */
	uint64_t cached_responses; /* retransmitted requests answered from the cache */
	uint64_t cookies_sent, cookies_accepted, cookies_refused;
	uint64_t invalid_ke_sent, no_proposal_sent;
	uint64_t state_enter[IKE_STATE_COUNT];
	uint64_t state_refused; /* transitions the table forbids (a bug if non-zero) */
	uint64_t sas_created, sas_freed;
	uint64_t children_up;
};

/* A snapshot of one SA, for status and tests. */
struct ike_sa_info {
	char peer[IKE_PEER_NAME_MAX];
	uint64_t sa; /* handle: our SPI */
	uint64_t spi_i, spi_r;
	bool initiator;
	enum ike_state state;
	struct ike_endpoint local, remote;
	uint64_t msgid_next;      /* our next request's message ID (2^32: exhausted) */
	uint64_t msgid_peer_next; /* the peer's next request's message ID we accept */
	bool nat_local;           /* NAT detected in front of us */
	bool nat_remote;          /* NAT detected in front of the peer */
	bool peer_fragmentation;  /* peer announced RFC 7383 fragmentation */
};

struct ike_engine;

/* A short stable name of a state ("idle", "init_sent", ...), or "unknown". */
const char *ike_state_name(enum ike_state s);

/* A short stable name of an event type, or "unknown". */
const char *ike_event_name(enum ike_event_type t);

/* A short stable name of a drop reason ("parse", "no_sa", ...), or "unknown". */
const char *ike_drop_name(enum ike_drop d);

/*
 * Create an engine. env is copied (its ctx is borrowed for the engine's lifetime); cfg may be
 * NULL for the defaults. Draws the cookie secret from env->random. On success *out owns the
 * engine (ike_engine_free). Returns 0, -EINVAL (a required callback missing), -ENOMEM, or the
 * error of env->random.
 */
int ike_engine_new(const struct ike_env *env, const struct ike_engine_config *cfg,
		   struct ike_engine **out) __attribute__((warn_unused_result));

/* Free the engine and every SA, wiping all keys and PSKs. No callbacks run. NULL-safe. */
void ike_engine_free(struct ike_engine *eng);

/*
 * Add a tunnel. cfg is copied (PSK included; wipe your copy). Returns 0; -EINVAL with a log line
 * naming the field (empty name or IDs, PSK length, a proposal the engine cannot run, no traffic
 * selectors, an initiator without a remote address); -EEXIST if the name is taken; -ENOMEM.
 */
int ike_engine_add_peer(struct ike_engine *eng, const struct ike_peer_config *cfg)
	__attribute__((warn_unused_result));

/*
 * Remove a tunnel: every SA that refers to it is freed at once (keys wiped, no Delete sent: the
 * peer notices through its liveness checks), then the peer configuration itself (PSK wiped).
 * The name may then be added again with a new configuration. No callbacks run.
 * Returns 0, or -ENOENT if no such peer exists.
 */
int ike_engine_remove_peer(struct ike_engine *eng, const char *name)
	__attribute__((warn_unused_result));

/*
 * Start an IKE SA to the named peer: send IKE_SA_INIT. *sa (may be NULL) receives its handle.
 * Returns 0; -ENOENT (no such peer); -ENOMEM; -EIO (key generation, random source).
 */
int ike_sa_initiate(struct ike_engine *eng, const char *peer, uint64_t *sa)
	__attribute__((warn_unused_result));

/*
 * Send an empty INFORMATIONAL request on an established SA (a liveness check, §1.4). The
 * answer, or the timeout failure, arrives through the usual paths.
 * Returns 0; -ENOENT (no such SA); -EAGAIN (not established, or a request is outstanding:
 * the window is 1); -ERANGE (message IDs exhausted: the SA must be rekeyed, and
 * IKE_EVENT_REKEY_NEEDED has been reported); -ENOMEM.
 */
int ike_sa_liveness_check(struct ike_engine *eng, uint64_t sa) __attribute__((warn_unused_result));

/*
 * Process one received datagram (UDP payload, non-ESP marker removed) that arrived from `from`
 * at `to`. Never fails: every datagram is either acted on or counted as a drop.
 */
void ike_input(struct ike_engine *eng, const uint8_t *pkt, size_t len,
	       const struct ike_endpoint *from, const struct ike_endpoint *to);

/* Run the timers: retransmit outstanding requests, fail exchanges out of retries and half-open
 * SAs out of time, free SAs whose linger ended. Call at least every ike_next_timer_ms(). */
void ike_tick(struct ike_engine *eng);

/* The earliest time (env->now_ms scale) at which ike_tick() has work, or UINT64_MAX. */
uint64_t ike_next_timer_ms(const struct ike_engine *eng);

/* The counters. */
const struct ike_stats *ike_engine_stats(const struct ike_engine *eng);

/* Number of SAs, and a snapshot of the idx-th (0 <= idx < count) or of the one with handle sa.
 * Return 0 or -ENOENT. */
size_t ike_engine_sa_count(const struct ike_engine *eng);
int ike_engine_sa_at(const struct ike_engine *eng, size_t idx, struct ike_sa_info *out)
	__attribute__((warn_unused_result));
int ike_engine_sa_get(const struct ike_engine *eng, uint64_t sa, struct ike_sa_info *out)
	__attribute__((warn_unused_result));

#endif
