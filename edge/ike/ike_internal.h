/*
 * Private to edge/ike: the engine and IKE SA structures and the helpers the exchange files share.
 * Nothing outside edge/ike includes this (white-box tests aside).
 *
 * Who owns what:
 *   ike_sa.c    engine lifecycle, dispatch of datagrams to SAs and exchanges, message IDs,
 *               the request/response caches and retransmission, ike__sa_set_state(), events,
 *               counters, timers.
 *   ike_init.c  IKE_SA_INIT both roles: proposals, KE, nonces, NAT detection, cookies,
 *               INVALID_KE_PAYLOAD, IKE SA key derivation.
 *   ike_auth.c  IKE_AUTH both roles: identities, PSK or certificate authentication, the first
 *               Child SA.
 *   ike_cert.c  RFC 7427 signatures, CERT/CERTREQ payloads, the peer certificate's checks.
 *   ike_natt.c  NAT-T: the float to port 4500, peers moving behind a NAT, keepalives.
 *   ike_frag.c  RFC 7383 fragments: sealing, cached fragmented messages, reassembly.
 *   ike_child.c CREATE_CHILD_SA both roles (new Child SA, Child SA and IKE SA rekey, PFS,
 *               collisions), the Child SA list, lifetimes, and the work queue that starts our
 *               next request when the window is free (ike__sa_kick).
 *   ike_info.c  INFORMATIONAL: liveness, and Delete of Child SAs and of the IKE SA.
 *   ike_prop.c  struct proposal <-> SA payload: building offers, choosing, explaining refusals.
 *   ike_ts.c    traffic selectors: from prefixes, narrowing (§2.9), containment, formatting.
 *
 * Exchange handlers run inside ike_input()/ike_tick()/ike_sa_initiate(). They may move an SA to
 * IKE_STATE_FAILED but never free it: SAs are freed only by the reaper in ike_tick() (or by
 * ike_engine_free()), so no handler can be left holding a dangling SA.
 */
#ifndef SDWAN_EDGE_IKE_IKE_INTERNAL_H
#define SDWAN_EDGE_IKE_IKE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "common/proposal.h"
#include "edge/ike/ike_cert.h"
#include "edge/ike/ike_frag.h"
#include "edge/ike/ike_kex.h"
#include "edge/ike/ike_keys.h"
#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sa.h"
#include "edge/ike/ike_sk.h"

enum ike_internal_len {
	IKE_NONCE_LEN = 32,      /* our nonces: twice the 128-bit strength we target */
	IKE_COOKIE_MAX = 64,     /* §2.6, §3.10.1: cookie notify data is 1..64 octets */
	IKE_COOKIE_LEN = 1 + 16, /* ours: secret version | truncated HMAC */
	IKE_NATD_LEN = 20,       /* §2.23: SHA-1 */
	IKE_TX_MAX = 8192,       /* the longest message we build */
	IKE_RX_MAX = 65536,      /* the longest datagram we accept (decryption buffer) */
	IKE_COOKIE_ROUNDS = 2,   /* cookie demands we follow before giving up */
};

/* Message IDs are 32 bits and must not wrap (§2.2): counters are 64-bit and reaching this value
 * means the SA's message ID space is spent. */
#define IKE_MSGID_END (UINT64_C(1) << 32)

/* A configured tunnel. */
struct ike_peer {
	struct ike_peer *next;
	struct ike_peer_config cfg;
	/* Its IKE SAs by state, newest first (ike_index.c), linked through peer_next/peer_prev. */
	struct ike_ikesa *sas[IKE_STATE_COUNT];
	struct ike_cert_cache peer_cert; /* the peer's last certificate, decoded */
};

/* A message kept for retransmission: our outstanding request or our last response. With
 * n_frags > 0 it went out in RFC 7383 fragments: buf holds n_frags datagrams, each preceded by
 * its 2-octet length (ike__cached_send() sends them all). */
struct ike_cached {
	uint8_t *buf;
	size_t len;
	uint16_t n_frags;
};

/* A Child SA pair of an IKE SA. */
enum ike_child_state {
	IKE_CHILD_INSTALLED, /* in use */
	IKE_CHILD_REKEYED,   /* replaced by a newer pair, kept (inbound) until deleted */
	IKE_CHILD_DELETING,  /* in our outstanding Delete request */
};

struct ike_child {
	struct ike_child *next;
	uint32_t spi_in, spi_out;
	enum ike_child_state state;
	bool rekey_wanted;                      /* start a rekey when the window is free */
	bool delete_wanted;                     /* send a Delete when the window is free */
	enum ike_child_down_reason down_reason; /* what child_down will say */
	uint64_t rekey_at;                      /* INSTALLED: soft lifetime (UINT64_MAX: never) */
	uint64_t expire_at; /* INSTALLED: hard lifetime; REKEYED: delete it ourselves then */
};

/* What our outstanding CREATE_CHILD_SA request does. */
enum ike_ccsa_kind {
	IKE_CCSA_NONE,
	IKE_CCSA_NEW_CHILD,
	IKE_CCSA_REKEY_CHILD,
	IKE_CCSA_REKEY_IKE,
};

/* Our outstanding CREATE_CHILD_SA request, and (§2.8) what a colliding request of the peer for
 * the same SA produced while it was outstanding. */
struct ike_ccsa {
	enum ike_ccsa_kind kind;
	uint32_t old_spi_in; /* REKEY_CHILD: inbound SPI of the pair being rekeyed */
	uint32_t spi_in;     /* child kinds: our inbound SPI of the new pair */
	uint64_t new_sa;     /* REKEY_IKE: handle of the new IKE SA (ours, not yet keyed) */
	uint16_t group;      /* group of our KE payload, 0 without one */
	unsigned ke_rounds;  /* INVALID_KE_PAYLOAD retries so far */
	struct ike_kex *kex;
	uint8_t ni[IKE_NONCE_MAX];
	size_t ni_len;
	bool target_gone;                /* the SA being rekeyed was deleted meanwhile */
	bool collided;                   /* the peer rekeyed the same SA meanwhile; we answered */
	uint8_t peer_low[IKE_NONCE_MAX]; /* the lowest nonce of the peer's exchange */
	size_t peer_low_len;
	uint32_t peer_spi_in; /* the pair the peer's exchange made (our inbound SPI) */
	uint64_t peer_sa;     /* the IKE SA the peer's exchange made (our handle) */
};

/* The engine's hash indexes of IKE SAs (ike_index.c). */
enum ike_sa_index {
	IKE_SA_INDEX_HANDLE,   /* our SPI; every SA */
	IKE_SA_INDEX_PEER_SPI, /* SPI_i, remote address and port; responder SAs */
	IKE_SA_INDEX_COUNT,
};

/* An SA's link in one index; the hash is kept so the table can grow or unlink without the key
 * fields. */
struct ike_sa_link {
	struct ike_ikesa *next;
	uint64_t hash;
	bool linked;
};

/* A chained hash table of IKE SAs through their struct ike_sa_link; owns only the buckets. */
struct ike_sa_table {
	struct ike_ikesa **bucket;
	size_t mask; /* buckets - 1, a power of two */
	size_t n;
};

/* Our inbound Child SA SPIs in use, each with its number of holders (an SA's first-child SPI,
 * an outstanding CREATE_CHILD_SA, a Child SA): open addressing, 0 marks a free slot. */
struct ike_spi_slot {
	uint32_t spi;
	uint32_t holders;
};

struct ike_spi_set {
	struct ike_spi_slot *slot;
	size_t mask; /* slots - 1, a power of two */
	size_t n;
};

/* One IKE SA. (struct ike_sa is the SA payload in ike_msg.h, hence the name.) */
struct ike_ikesa {
	struct ike_ikesa *next;
	struct ike_engine *eng;
	struct ike_peer *peer; /* the tunnel it serves; never NULL; set by ike__sa_set_peer() */
	bool initiator;        /* we are the original initiator */
	enum ike_state state;
	uint64_t spi_i, spi_r;
	/* remote is indexed for responder SAs: change it with ike__sa_set_remote(). */
	struct ike_endpoint local, remote;
	struct ike_sa_link idx[IKE_SA_INDEX_COUNT];
	struct ike_ikesa *peer_next, *peer_prev; /* peer->sas[state] */
	uint64_t deadline; /* INIT_REPLIED: half-open timeout; FAILED: end of linger */

	/* §2.3 message IDs, window size 1. */
	uint64_t msgid_next;      /* our next request */
	uint64_t msgid_peer_next; /* the peer's next request */
	bool req_pending;
	uint32_t req_msgid;
	uint8_t req_exchange;
	struct ike_cached req; /* our outstanding request, resent as is */
	uint32_t req_sends;    /* transmissions of it so far */
	uint64_t req_retx_at;
	uint64_t req_interval;
	bool resp_valid;
	uint32_t resp_msgid;
	struct ike_cached resp;     /* our last response */
	struct ike_cached last_req; /* the request it answers, to recognise retransmissions */

	/* IKE_SA_INIT. */
	struct ike_kex *kex;
	uint8_t ni[IKE_NONCE_MAX], nr[IKE_NONCE_MAX];
	size_t ni_len, nr_len;
	struct ike_cached init_req, init_resp; /* as sent/received: signed in IKE_AUTH */
	uint8_t cookie[IKE_COOKIE_MAX];
	size_t cookie_len;
	unsigned cookie_rounds;
	bool nat_local, nat_remote, peer_frag;

	/* Keys (valid once keyed). */
	bool keyed;
	uint16_t prf; /* enum ike_prf */
	struct ike_sa_keys keys;
	struct ike_sk sk_out, sk_in;

	/* The first Child SA. */
	uint32_t child_spi_in;

	/* Certificate authentication (ike_auth.c, ike_cert.c). */
	uint8_t peer_sig_hashes; /* RFC 7427 §4 hash IDs the peer announced: bit n = ID n */
	bool cert_auth;          /* the peer proved a certificate */
	char peer_site[IKE_CERT_SITE_MAX];

	/* NAT-T (ike_natt.c). */
	bool natt;             /* floated to port 4500: ESP must be UDP-encapsulated */
	uint64_t keepalive_at; /* next NAT-keepalive while we are behind a NAT */

	/* RFC 7383 reassembly, one message per direction (ike_frag.c). */
	struct ike_frag_rx frag_rx;

	/* Child SAs, rekeying and deletion (ike_child.c, ike_info.c). */
	uint16_t create_wanted; /* additional Child SAs to negotiate */
	bool rekey_wanted;      /* rekey the IKE SA when the window is free */
	bool delete_wanted;     /* delete the IKE SA when the window is free */
	struct ike_child *children;
	struct ike_ccsa ccsa;
	uint64_t rekey_at; /* IKE SA soft lifetime (UINT64_MAX: never) */
	uint64_t retry_at; /* no new CREATE_CHILD_SA before (TEMPORARY_FAILURE backoff) */

	char reason[IKE_CERT_REASON_MAX]; /* why the SA failed, for the event */
};

struct ike_engine {
	struct ike_env env;
	struct ike_engine_config cfg;
	struct ike_peer *peers;
	struct ike_ikesa *sas; /* owns every SA; newest first */
	size_t n_sas;
	struct ike_sa_table index[IKE_SA_INDEX_COUNT];
	struct ike_spi_set child_spis;
	uint64_t hash_key[2];        /* SipHash key of the indexes */
	struct ike_kex_gen *kex_gen; /* key generation contexts, set up once */
	size_t half_open;
	uint8_t cookie_secret[32];
	uint8_t cookie_version;
	struct ike_stats stats;
	struct log_ratelimit rl;
	/* Scratch, so the handlers keep their stacks small. Used one datagram at a time. */
	struct ike_msg rx;
	struct ike_payloads inner;
	uint8_t pt[IKE_RX_MAX];
	uint8_t tx[IKE_TX_MAX];
	uint8_t chain[IKE_TX_MAX];
};

/* Names for logs: exchanges ("IKE_SA_INIT"), notify types ("NO_PROPOSAL_CHOSEN", or the number
 * for unknown ones, in buf). */
const char *ike__exchange_name(uint8_t exchange);
const char *ike__notify_name(uint16_t type, char buf[static 16]);

/* An identity or other peer-supplied text made safe for a log value: printable ASCII kept,
 * quotes, backslashes and the rest as \xNN, cut at cap. Returns buf. */
char *ike__safe_str(const uint8_t *s, size_t len, char *buf, size_t cap);

/* Append printf output to the NUL-terminated string in buf[0, cap), truncating. */
void ike__appendf(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether a peer-triggered debug line may be written now (rate limit, one per engine). */
bool ike__peer_log_ok(struct ike_engine *eng);

/* Debug line about something a remote peer did: rate-limited. */
#define IKE_PEER_DEBUG(eng, msg, ...)                                                              \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_DEBUG) && ike__peer_log_ok(eng))                         \
			log_write(LOG_SUB_IKE, LOG_LEVEL_DEBUG, msg, __VA_ARGS__);                 \
	} while (0)

uint64_t ike__now(const struct ike_engine *eng);
int ike__random(struct ike_engine *eng, uint8_t *buf, size_t len)
	__attribute__((warn_unused_result));

/* --- SAs (ike_sa.c) --- */

/* Count a dropped datagram under its reason and say why at debug (rate-limited). */
void ike__drop(struct ike_engine *eng, enum ike_drop why, const struct ike_endpoint *from,
	       const char *detail);

/* A new SA for peer in IKE_STATE_IDLE, with our SPI drawn (unique in the engine), linked into
 * the engine; *out borrows it. Returns 0, -ENOMEM, the random source's error, or -EAGAIN if no
 * unused SPI came up. */
int ike__sa_new(struct ike_engine *eng, struct ike_peer *peer, bool initiator,
		struct ike_ikesa **out) __attribute__((warn_unused_result));

/* Our SPI: the SA's handle. */
uint64_t ike__sa_handle(const struct ike_ikesa *sa);

/* --- indexes (ike_index.c) --- */

/* Set up and free the indexes of an engine. ike__index_init() draws the hash key. */
int ike__index_init(struct ike_engine *eng) __attribute__((warn_unused_result));
void ike__index_free(struct ike_engine *eng);

/* Link a new SA (our SPI drawn, state and peer set) into the handle and per-tunnel indexes;
 * ike__index_sa_remove() unlinks it from every index, before it leaves eng->sas. */
void ike__index_sa_add(struct ike_ikesa *sa);
void ike__index_sa_remove(struct ike_ikesa *sa);

/* sa->state changed from old (ike__sa_set_state()). */
void ike__index_sa_state(struct ike_ikesa *sa, enum ike_state old);

/* Move sa to another tunnel (the responder learns it from IKE_AUTH's identities). */
void ike__sa_set_peer(struct ike_ikesa *sa, struct ike_peer *peer);

/* Set the peer's address and port, re-indexing a responder SA (set spi_i before). */
void ike__sa_set_remote(struct ike_ikesa *sa, const struct ike_endpoint *remote);

/* The SA with this handle, or NULL. */
struct ike_ikesa *ike__sa_by_handle(const struct ike_engine *eng, uint64_t handle);

/* The newest responder SA with this SPI_i and peer address and port, or NULL. */
struct ike_ikesa *ike__sa_by_peer_spi(const struct ike_engine *eng, uint64_t spi_i,
				      const struct ike_endpoint *remote);

/* Hold an inbound Child SA SPI (ike__child_spi_in_use() is true while anyone holds it), and
 * give a hold back. Hold: 0 or -ENOMEM. SPI 0 is never held. */
int ike__child_spi_hold(struct ike_engine *eng, uint32_t spi) __attribute__((warn_unused_result));
void ike__child_spi_release(struct ike_engine *eng, uint32_t spi);

/* The one place an SA changes state: checks the transition table, logs "old -> new (reason)" at
 * notice, counts it, keeps the half-open count, reports IKE_EVENT_STATE. A forbidden transition
 * is refused, logged at err and counted (a bug). */
void ike__sa_set_state(struct ike_ikesa *sa, enum ike_state next, const char *reason);

/* Fail the SA: record the reason (printf format), report IKE_EVENT_FAILED with phase and notify,
 * move to IKE_STATE_FAILED. */
void ike__sa_fail(struct ike_ikesa *sa, const char *phase, uint16_t notify, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Report an event about sa (NULL for engine-level events) through env->event. */
void ike__event(struct ike_engine *eng, const struct ike_ikesa *sa, enum ike_event_type type,
		const char *phase, uint16_t notify, const char *reason);

/* Whether a tunnel may serve a peer at `remote` reaching us at `local`: its configured
 * addresses match, or are unset (any). */
bool ike__peer_accepts(const struct ike_peer *p, const struct ike_endpoint *remote,
		       const struct ike_endpoint *local);

/* Another SA of the same tunnel in a given state (the newest to enter it), or NULL. */
struct ike_ikesa *ike__sa_find_peer(struct ike_engine *eng, const struct ike_peer *peer,
				    const struct ike_ikesa *except, enum ike_state state);

/* The header of our next request on sa: SPIs, exchange, I/R flags, the next message ID.
 * -ERANGE when message IDs are exhausted. */
int ike__request_hdr(struct ike_ikesa *sa, uint8_t exchange, struct ike_hdr *hdr)
	__attribute__((warn_unused_result));

/* Send a request built with a header from ike__request_hdr() (or message ID 0 again, for an
 * IKE_SA_INIT repeated with a cookie): keep it for retransmission, arm the timer, advance the
 * message ID. msg is copied. */
int ike__request_send(struct ike_ikesa *sa, const struct ike_hdr *hdr, const uint8_t *msg,
		      size_t len) __attribute__((warn_unused_result));

/* Encrypt a payload chain (first type, chain[0, len)) into an SK message with hdr and send it
 * as a request. */
int ike__request_send_sk(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint8_t first,
			 const uint8_t *chain, size_t len) __attribute__((warn_unused_result));

/* Send the response to the request req (its header) from `to` back to `from`: a plain message
 * (IKE_SA_INIT) or the chain encrypted in an SK payload; kept as the cached response. */
int ike__response_send(struct ike_ikesa *sa, const struct ike_hdr *req, const uint8_t *msg,
		       size_t len, const struct ike_endpoint *from, const struct ike_endpoint *to)
	__attribute__((warn_unused_result));
int ike__response_send_sk(struct ike_ikesa *sa, const struct ike_hdr *req, uint8_t first,
			  const uint8_t *chain, size_t len, const struct ike_endpoint *from,
			  const struct ike_endpoint *to) __attribute__((warn_unused_result));

/* Send a datagram without SA state (stateless IKE_SA_INIT answers). */
void ike__send_raw(struct ike_engine *eng, const struct ike_endpoint *local,
		   const struct ike_endpoint *remote, const uint8_t *msg, size_t len);

/* A copy of msg[0, len) into *c (replacing and freeing what it held). 0 or -ENOMEM. */
int ike__cache_set(struct ike_cached *c, const uint8_t *msg, size_t len)
	__attribute__((warn_unused_result));
void ike__cache_clear(struct ike_cached *c);

/* The first notify of a type in a payload list, parsed into *out; false if none (or none that
 * parses). */
bool ike__notify_find(const struct ike_payloads *pls, uint16_t type, struct ike_notify *out);

/* The first payload of a type, or NULL. */
const struct ike_payload *ike__payload_find(const struct ike_payloads *pls, uint8_t type);

/* The first error notify (type < 16384) in a payload list; 0 if none. */
uint16_t ike__notify_error(const struct ike_payloads *pls);

/* --- IKE_SA_INIT (ike_init.c) --- */

/* Initiator: send (or, with a cookie, send again) the IKE_SA_INIT request. */
int ike__init_request_send(struct ike_ikesa *sa) __attribute__((warn_unused_result));

/* Responder: an IKE_SA_INIT request with no SA yet (stateless checks, then a new SA). */
void ike__init_process_request(struct ike_engine *eng, const uint8_t *pkt, size_t len,
			       const struct ike_endpoint *from, const struct ike_endpoint *to);

/* Initiator: the IKE_SA_INIT response (the request is no longer outstanding). */
void ike__init_process_response(struct ike_ikesa *sa, const uint8_t *pkt, size_t len);

/* --- IKE_AUTH (ike_auth.c) --- */

/* Initiator: build and send the IKE_AUTH request (keys are derived). */
int ike__auth_request_send(struct ike_ikesa *sa) __attribute__((warn_unused_result));

/* Responder: a decrypted IKE_AUTH request with its header; answer and establish, or fail. */
void ike__auth_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			       const struct ike_payloads *pls, const struct ike_endpoint *from,
			       const struct ike_endpoint *to);

/* Initiator: the decrypted IKE_AUTH response. */
void ike__auth_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls);

/* --- INFORMATIONAL (ike_info.c) --- */

int ike__info_request_send_empty(struct ike_ikesa *sa) __attribute__((warn_unused_result));
void ike__info_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			       const struct ike_payloads *pls, const struct ike_endpoint *from,
			       const struct ike_endpoint *to);
void ike__info_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls);

/* --- CREATE_CHILD_SA, Child SAs, the work queue (ike_child.c) --- */

/* Record a Child SA that env->child_up reported (IKE_AUTH's first one too), with its lifetimes
 * from now. 0 or -ENOMEM. */
int ike__child_add(struct ike_ikesa *sa, uint32_t spi_in, uint32_t spi_out)
	__attribute__((warn_unused_result));

/* The Child SA with this inbound (or, by_out, outbound) SPI, or NULL. */
struct ike_child *ike__child_find(const struct ike_ikesa *sa, uint32_t spi, bool by_out);

/* Whether an inbound SPI is in use by any Child SA of the engine. */
bool ike__child_spi_in_use(const struct ike_engine *eng, uint32_t spi);

/* Unlink and free a Child SA after reporting env->child_down and IKE_EVENT_CHILD_DELETED. */
void ike__child_remove(struct ike_ikesa *sa, struct ike_child *c, enum ike_child_down_reason why);

/* The SA ends (FAILED or CLOSED): abandon our CREATE_CHILD_SA (a colliding IKE rekey of the
 * peer's that won takes the children), then every remaining Child SA goes down. */
void ike__child_sa_ending(struct ike_ikesa *sa);

/* Start our next queued request if the window is free: Deletes first, then an IKE SA rekey,
 * a Child SA rekey, a new Child SA. Also turns due lifetimes into queued work. */
void ike__sa_kick(struct ike_ikesa *sa);

/* The earliest lifetime or retry timer of the SA, or UINT64_MAX. */
uint64_t ike__child_next_timer(const struct ike_ikesa *sa);

/* IKE SA soft lifetime from now (UINT64_MAX when the tunnel has none). */
uint64_t ike__ike_rekey_time(struct ike_ikesa *sa);

/* A CREATE_CHILD_SA request and response (decrypted), as the exchange files' handlers. */
void ike__child_process_request(struct ike_ikesa *sa, const struct ike_hdr *hdr,
				const struct ike_payloads *pls, const struct ike_endpoint *from,
				const struct ike_endpoint *to);
void ike__child_process_response(struct ike_ikesa *sa, const struct ike_payloads *pls);

/* Free what the outstanding CREATE_CHILD_SA of sa holds (the KE key pair, its SPI). */
void ike__ccsa_clear(struct ike_ikesa *sa);

/* --- INFORMATIONAL Delete (ike_info.c) --- */

/* Send one INFORMATIONAL request with a Delete of every Child SA marked delete_wanted (which
 * become DELETING), or of the IKE SA itself (ike_sa true: the SA becomes DELETING). */
int ike__info_request_send_delete(struct ike_ikesa *sa, bool ike_sa)
	__attribute__((warn_unused_result));

/* --- proposals (ike_prop.c) --- */

/* An SA payload holding one proposal: ours, of the given kind, with an SPI of spi_size octets
 * (0 for IKE_SA_INIT, 4 for ESP). ESP proposals carry no DH transform (§1.2: IKE_AUTH). */
int ike__prop_to_sa(const struct proposal *p, enum proposal_kind kind, const uint8_t *spi,
		    size_t spi_size, struct ike_sa *out) __attribute__((warn_unused_result));

/* The index of the first proposal of an offer that allows ours, or -1. */
int ike__prop_select(const struct ike_sa *offer, const struct proposal *ours,
		     enum proposal_kind kind);

/* Whether a responder's one-proposal SA is exactly ours; if not, why, into why[0, cap). */
bool ike__prop_check_response(const struct ike_sa *resp, const struct proposal *ours,
			      enum proposal_kind kind, char *why, size_t cap);

/* Why no proposal of an offer allows ours, naming the parameter that disagrees:
 * "peer offered only ecp256 for IKE key exchange; we require x25519". */
void ike__prop_explain(const struct ike_sa *offer, const struct proposal *ours,
		       enum proposal_kind kind, char *buf, size_t cap);

/* Names of transform values the way proposals write them ("x25519", "prfsha256",
 * "aes128gcm16"); unknown values as "<kind><number>" in buf. */
const char *ike__xform_name(uint8_t type, uint16_t id, uint16_t key_len, char buf[static 24]);

/* The IANA IDs of our proposal's algorithms. */
uint16_t ike__prf_id(uint8_t prf);

/* The data plane's cipher for a proposal's encryption algorithm. */
enum esp_cipher ike__esp_cipher(uint8_t encr);

/* --- traffic selectors (ike_ts.c) --- */

/* Each prefix as an address range, any protocol, all ports. */
void ike__ts_from_prefixes(const struct prefix *p, size_t n, struct ike_ts_list *out);

/* §2.9 narrowing: every non-empty intersection of an offered selector with a configured prefix.
 * Returns whether any is left. */
bool ike__ts_narrow(const struct ike_ts_list *offered, const struct prefix *cfg, size_t n,
		    struct ike_ts_list *out);

/* Whether every selector of got lies inside one of allowed. */
bool ike__ts_subset(const struct ike_ts_list *got, const struct ike_ts_list *allowed);

/* "10.1.0.0/16,192.0.2.1-192.0.2.9" (ports and protocol when not "any") into buf; returns buf. */
char *ike__ts_format(const struct ike_ts_list *ts, char *buf, size_t cap);

#endif
