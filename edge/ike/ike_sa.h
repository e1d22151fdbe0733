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
 * Implemented: IKE_SA_INIT (cookies, INVALID_KE_PAYLOAD, NAT detection), IKE_AUTH with a
 * pre-shared key or with certificates (RFC 7427 signatures) and the first Child SA,
 * CREATE_CHILD_SA (more Child SAs, Child SA and IKE SA rekeying with PFS, simultaneous-rekey
 * collisions per §2.8.1 and §2.8.2), INFORMATIONAL (liveness, Delete of Child SAs and of the IKE
 * SA, §1.4.1), rekeying driven by lifetimes and message ID use, IKE fragmentation (RFC 7383)
 * and NAT traversal (RFC 7296 §2.23: float to port 4500, keepalives, peers that move behind
 * their NAT).
 *
 * Child SAs and rekeying, make-before-break: a rekey hands the new pair to env->child_up first;
 * the old pair is reported to env->child_down only once it is deleted (by a Delete exchange, or
 * when the peer never deletes it), so the data plane keeps accepting on the old inbound SPI
 * until then and no packet is lost. An IKE SA rekey moves every Child SA to the new IKE SA
 * without touching the data plane (IKE_EVENT_IKE_REKEYED names old and new handle).
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
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

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
	IKE_PEER_SITE_MAX = 64, /* a site name from a certificate, with its NUL */
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
	IKE_STATE_REKEYED,      /* replaced by a rekeyed IKE SA (children moved): awaiting Delete */
	IKE_STATE_DELETING,     /* our Delete of this IKE SA is outstanding */
	IKE_STATE_CLOSED,       /* terminal, deleted cleanly; lingers like FAILED, then reaped */
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
	IKE_EVENT_CHILD_REKEYED, /* spi_in/spi_out rekeyed into new_spi_in/new_spi_out (both up) */
	IKE_EVENT_CHILD_DELETED, /* Child SA spi_in/spi_out removed (after env->child_down) */
	IKE_EVENT_IKE_REKEYED,   /* IKE SA sa replaced by new_sa, which now holds the children */
	IKE_EVENT_IKE_DELETED,   /* IKE SA sa deleted by a Delete exchange (ours or the peer's) */
	IKE_EVENT_REKEY_FAILED,  /* a rekey was refused; the old SA stays; reason says why */
	/* NAT-T (RFC 7296 §2.23): an authenticated message of an established SA came from a new
	 * address or port of a peer behind a NAT; the SA now sends there (ev->remote). Move the
	 * data plane too (dp_tunnel_set_peer). */
	IKE_EVENT_PEER_MOVED,
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
	/* The SA's endpoints as they are now (for IKE_EVENT_PEER_MOVED: the peer's new one). */
	struct ike_endpoint local, remote;
	/* Child SA events: the pair concerned (our inbound SPI, the peer's), and for
	 * IKE_EVENT_CHILD_REKEYED the pair that replaces it. */
	uint32_t spi_in, spi_out;
	uint32_t new_spi_in, new_spi_out;
	uint64_t new_sa; /* IKE_EVENT_IKE_REKEYED: the handle of the new IKE SA */
};

/* Why a Child SA left (env->child_down). */
enum ike_child_down_reason {
	IKE_CHILD_DOWN_REKEYED,      /* replaced by a rekeyed pair, which is already up */
	IKE_CHILD_DOWN_REDUNDANT,    /* the losing pair of a simultaneous rekey (§2.8.1) */
	IKE_CHILD_DOWN_DELETED,      /* we deleted it (ike_child_delete, hard lifetime) */
	IKE_CHILD_DOWN_PEER_DELETED, /* the peer deleted it */
	IKE_CHILD_DOWN_IKE_GONE,     /* its IKE SA was deleted or failed */
	IKE_CHILD_DOWN_REASON_COUNT,
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
	/* Where ESP goes: UDP-encapsulated (RFC 3948) between these endpoints. udp_encap says
	 * that NAT-T was negotiated (a NAT was detected, or encapsulation forced), so the ESP
	 * packets must be UDP-encapsulated for the peer too; our data plane always encapsulates
	 * in UDP, on port IKE_NATT_PORT. */
	bool udp_encap;
	struct ike_endpoint local, remote;
	/* A rekey: this pair replaces the one with inbound SPI rekeyed_spi_in, which stays
	 * installed until env->child_down names it. Install the new inbound SA at once. The
	 * initiator of the rekey may send on the new pair at once too; its responder should keep
	 * sending on the old pair until the first packet arrives on the new inbound SPI or the old
	 * pair goes down, since the peer installs the new pair only when our answer reaches it. */
	bool rekey;
	uint32_t rekeyed_spi_in;
	bool initiated; /* we sent the request that created this pair */
};

/*
 * What the engine needs from its caller. Every callback receives ctx.
 *   now_ms    a monotonic clock in milliseconds.
 *   random    fill buf[0, len) with CSPRNG output (nonces, SPIs, the cookie secret); 0 or -errno.
 *   send      transmit one datagram from local to remote as the UDP payload; 0 or -errno (a
 *             failed send is counted and left to retransmission). The engine never writes the
 *             4-octet non-ESP marker (RFC 3948 §2.2): when local or remote port is
 *             IKE_NATT_PORT (NAT-T, after the float of §2.23), the caller MUST prepend four
 *             zero octets to msg before sending, except for a NAT-keepalive, the one-octet
 *             datagram 0xFF, which goes out as is. ike_send_needs_marker() makes that decision.
 *             Symmetrically, ike_input() takes IKE messages with the marker removed; the
 *             caller discards keepalives it receives on port 4500 and hands ESP elsewhere.
 *             The caller therefore receives on both IKE_SA_PORT and IKE_NATT_PORT, and passes
 *             ike_input() the local endpoint (with its port) each datagram arrived at; after a
 *             float the engine sends from local port IKE_NATT_PORT.
 *   child_up  a Child SA is ready to install (may be NULL).
 *   event     something happened (may be NULL).
 *   child_down the Child SA (spi_in, spi_out) of IKE SA sa is gone: remove both directions
 *             from the data plane (may be NULL). Called once per pair that child_up reported,
 *             when it is deleted, replaced and deleted, or its IKE SA ends.
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
	/* Wall-clock time (seconds since the epoch) for certificate validity; NULL: time(). */
	time_t (*wall_time)(void *ctx);
	void *ctx;
	void (*child_down)(void *ctx, const char *peer, uint64_t sa, uint32_t spi_in,
			   uint32_t spi_out, enum ike_child_down_reason reason);
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
	/* A failed or closed SA answers retransmissions this long, then is freed; a replaced
	 * Child or IKE SA whose Delete the peer owes us is deleted by us after this. [30000] */
	uint32_t linger_ms;
	/* NAT-T: interval of NAT-keepalives (RFC 3948 §2.3) sent while we are behind a NAT
	 * [20000]. */
	uint32_t natt_keepalive_ms;
	/* RFC 7383: the longest IKE message (header included, non-ESP marker excluded) we send
	 * unfragmented to a peer that supports fragmentation; longer ones go in SKF fragments of
	 * at most this size. [1228: a 1280-octet IPv6 path, less IPv6, UDP and the marker] */
	uint32_t fragment_size;
	/* Reassembly bounds: fragments per message [32], octets of one reassembled message
	 * [16384, at most IKE_FRAG_REASSEMBLY_MAX], and how long an incomplete message is kept
	 * [5000 ms]. Memory held for reassembly is at most two messages per SA (one each way),
	 * and only from peers holding the SA's keys. */
	uint32_t frag_max_fragments;
	uint32_t frag_max_octets;
	uint32_t frag_timeout_ms;
};

/* RFC 7296 §2.23: the UDP port IKE floats to once NAT-T is in use, and ESP-in-UDP's; and
 * IKE's own port. */
#define IKE_NATT_PORT 4500
#define IKE_SA_PORT   500

/* The largest reassembled message (plaintext of all fragments) frag_max_octets may allow. */
#define IKE_FRAG_REASSEMBLY_MAX 49152

/* How a tunnel authenticates (both sides the same way). */
enum ike_peer_auth {
	IKE_PEER_AUTH_PSK,  /* RFC 7296 §2.15 shared key MIC (the zero value) */
	IKE_PEER_AUTH_CERT, /* RFC 7427 digital signatures with X.509 certificates */
};

/* One tunnel: who we are, whom we expect, how to authenticate, what to negotiate. */
struct ike_peer_config {
	char name[IKE_PEER_NAME_MAX]; /* tunnel name for logs and events; unique per engine */
	char local_id[IKE_ID_MAX];    /* our ID_FQDN (the site name) */
	char remote_id[IKE_ID_MAX];   /* the peer's ID_FQDN; IDi/IDr must equal it exactly */
	enum ike_peer_auth auth;      /* PSK (the zero value) or certificates */
	uint8_t psk[IKE_PSK_MAX];     /* pre-shared key (RFC 7296 §2.15), IKE_PEER_AUTH_PSK */
	size_t psk_len;               /* 1..IKE_PSK_MAX with a PSK */
	/*
	 * IKE_PEER_AUTH_CERT. Borrowed from the caller: ike_engine_add_peer() takes its own
	 * reference to each (EVP_PKEY_up_ref, X509_up_ref, one per certificate of the chain) and
	 * drops them when the engine is freed, so the caller may free its objects right after the
	 * call. The engine only reads them (signing with key), from the control loop's thread.
	 *   key     our private key: ECDSA P-256/P-384/P-521, Ed25519 or RSA (signs RSA-PSS)
	 *   cert    our end-entity certificate (must be key's, and name local_id as its site)
	 *   chain   intermediates sent after cert, issuer-side last; NULL for none
	 *   ca      the trust anchor the peer's certificate must chain to (the WAN CA)
	 * The peer's ID must equal remote_id, and its certificate must name that site.
	 */
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) * chain;
	X509 *ca;
	struct proposal ike; /* pinned IKE proposal (encr, prf, group) */
	struct proposal esp; /* pinned ESP proposal (encr, esn; group unused in IKE_AUTH) */
	/* Lifetimes (0: never rekey). An SA is rekeyed at a soft lifetime 5 to 15% before its
	 * lifetime, randomly, the configured initiator in the earlier half so that both ends rarely
	 * start together; a Child SA still unrekeyed at its lifetime is deleted. */
	uint32_t ike_lifetime_s;
	uint32_t child_lifetime_s;               /* also handed to child_up */
	struct prefix local_ts[IKE_PEER_TS_MAX]; /* our side's prefixes */
	size_t n_local_ts;
	struct prefix remote_ts[IKE_PEER_TS_MAX]; /* the peer's prefixes */
	size_t n_remote_ts;
	struct ike_endpoint local;  /* our address and port */
	struct ike_endpoint remote; /* the peer's; family 0 accepts any address (responder only) */
	bool initiate;              /* we start the SA (ike_sa_initiate) */
	/* NAT-T even without a NAT (strongSwan's encap=yes): we send a fake
	 * NAT_DETECTION_SOURCE_IP so the peer floats to port 4500 and encapsulates ESP too. */
	bool force_encap;
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
	/* RFC 7383 fragmentation. */
	struct ike_frag_stats {
		uint64_t tx_messages;  /* messages we sent fragmented */
		uint64_t tx_fragments; /* fragments of them */
		uint64_t rx_fragments; /* fragments verified and kept */
		uint64_t reassembled;  /* messages completed */
		uint64_t duplicate;    /* a fragment number we already held */
		uint64_t inconsistent; /* a total below that of the fragments held */
		uint64_t too_many;     /* total above frag_max_fragments */
		uint64_t too_big;      /* reassembly above frag_max_octets: all of it dropped */
		uint64_t timed_out;    /* incomplete past frag_timeout_ms: dropped */
		uint64_t retransmit_trigger; /* an answered request's fragment 1: answer resent */
	} frag;
	uint64_t natt_keepalives; /* NAT-keepalives sent */
	uint64_t peer_moved;      /* remote endpoint updates (IKE_EVENT_PEER_MOVED) */
	uint64_t children_down;
	uint64_t child_rekeys, ike_rekeys; /* completed, either role */
	uint64_t rekey_collisions;         /* simultaneous rekeys resolved (§2.8) */
	uint64_t temporary_failures_sent, temporary_failures_received;
	uint64_t deletes_sent, deletes_received; /* INFORMATIONAL requests with Delete payloads */
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
	/* NAT-T in use (a NAT on either side, or forced by either side): IKE runs on port 4500
	 * since IKE_AUTH and ESP must be UDP-encapsulated between local and remote (our data
	 * plane always does so). */
	bool natt;
	bool keepalives; /* we send NAT-keepalives (we are behind a NAT) */
	/* ESP-in-UDP endpoints: the IKE ones once floated, else the same addresses on 4500. */
	struct ike_endpoint esp_local, esp_remote;
	bool cert_auth;                    /* authenticated with certificates */
	char peer_site[IKE_PEER_SITE_MAX]; /* the site the peer's certificate names, or "" */
	size_t n_children; /* Child SAs installed on this IKE SA (rekeyed ones included) */
};

struct ike_engine;

/* A short stable name of a state ("idle", "init_sent", ...), or "unknown". */
const char *ike_state_name(enum ike_state s);

/* A short stable name of an event type, or "unknown". */
const char *ike_event_name(enum ike_event_type t);

/* A short stable name of a drop reason ("parse", "no_sa", ...), or "unknown". */
const char *ike_drop_name(enum ike_drop d);

/* A short stable name of a child_down reason ("rekeyed", "peer_deleted", ...), or "unknown". */
const char *ike_child_down_reason_name(enum ike_child_down_reason r);

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
 * Add a tunnel. cfg is copied (PSK included; wipe your copy); with certificates the engine takes
 * its own references to key, cert, chain and ca (see struct ike_peer_config). With certificates
 * -EINVAL also names what is wrong with them: missing, key and certificate not a pair, a key
 * type we cannot sign with, a certificate that does not name local_id, a remote_id that is not
 * a site name. Returns 0; -EINVAL with a log line
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
 * Authenticated ESP of one of the SA's Child SAs arrived from `from` (the data plane saw it):
 * follow it as an authenticated IKE message is followed (§2.23: only an established SA whose
 * peer is behind a NAT moves; Linux reports the same as an XFRM mapping change), so that IKE
 * (liveness checks, rekeys) goes where the peer's NAT maps it now, and report
 * IKE_EVENT_PEER_MOVED (phase "ESP") if it moved. A NAT that gives a quiet peer a new port is
 * then followed with the next ESP packet rather than the next IKE message.
 * Returns 0 (followed, or already there); -ENOENT (no such SA); -EPERM (its peer may not move).
 */
int ike_sa_peer_seen(struct ike_engine *eng, uint64_t sa, const struct ike_endpoint *from)
	__attribute__((warn_unused_result));

/*
 * Rekeying and teardown. Each queues the work on the IKE SA (handle sa) and starts it as soon as
 * no request of ours is outstanding there (window size 1); outcomes arrive as child_up,
 * child_down and events. A peer's TEMPORARY_FAILURE makes the engine retry after a short random
 * delay. Control loop only.
 *
 * ike_child_create   negotiate one more Child SA with the tunnel's selectors (CREATE_CHILD_SA).
 * ike_child_rekey    rekey the Child SA whose inbound SPI is spi_in (§1.3.3); for the data plane
 *                    when an SA nears its packet, byte or sequence number limit.
 * ike_child_delete   delete that Child SA (INFORMATIONAL Delete, §1.4.1); child_down follows.
 * ike_sa_rekey       rekey the IKE SA (§1.3.2): new SPIs, nonces and KE, children move.
 * ike_sa_delete      delete the IKE SA: a Delete exchange, then it lingers (linger_ms, answering
 *                    retransmissions) and is freed; its children go down with it. An SA not yet
 *                    established is failed at once; a rekeyed one (state rekeyed) is deleted.
 *
 * All return 0 (queued or started); -ENOENT (no such SA, or no such Child SA); -EAGAIN (the IKE
 * SA is not established, or too many Child SAs are queued); -EALREADY (that Child SA, or for
 * ike_sa_rekey and ike_sa_delete the IKE SA, is already being rekeyed or deleted).
 */
int ike_child_create(struct ike_engine *eng, uint64_t sa) __attribute__((warn_unused_result));
int ike_child_rekey(struct ike_engine *eng, uint64_t sa, uint32_t spi_in)
	__attribute__((warn_unused_result));
int ike_child_delete(struct ike_engine *eng, uint64_t sa, uint32_t spi_in)
	__attribute__((warn_unused_result));
int ike_sa_rekey(struct ike_engine *eng, uint64_t sa) __attribute__((warn_unused_result));
int ike_sa_delete(struct ike_engine *eng, uint64_t sa) __attribute__((warn_unused_result));

/*
 * Process one received datagram (UDP payload, non-ESP marker removed) that arrived from `from`
 * at `to`. Never fails: every datagram is either acted on or counted as a drop.
 */
void ike_input(struct ike_engine *eng, const uint8_t *pkt, size_t len,
	       const struct ike_endpoint *from, const struct ike_endpoint *to);

/* Whether a datagram the engine passes to env->send must get the 4-octet non-ESP marker
 * prepended: it travels from or to port IKE_NATT_PORT and is not a NAT-keepalive. */
bool ike_send_needs_marker(const struct ike_endpoint *local, const struct ike_endpoint *remote,
			   const uint8_t *msg, size_t len);

/* Run the timers: retransmit outstanding requests, fail exchanges out of retries and half-open
 * SAs out of time, start rekeys at soft lifetimes, delete Child SAs at hard lifetimes, retry
 * after TEMPORARY_FAILURE, free SAs whose linger ended. Call at least every
 * ike_next_timer_ms(). */
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
