/*
 * The controller's ZAP handler (RFC 27/ZAP 1.0): ZeroMQ asks it, during each CURVE handshake on a
 * server socket, whether the client's public key may connect, and it answers on the controller's
 * libuv loop through a zsock.
 *
 * Policies, per ZAP domain (the ZMQ_ZAP_DOMAIN a server socket was given by zcurve_server_setup):
 *
 *   ZAP_POLICY_LOOKUP    the domain's lookup callback maps the key to a user id (the controller
 *                        passes a wrapper over store_edge_find_by_key answering the site name,
 *                        -ENOENT for an unknown key, -EACCES for a revoked one). 200 with
 *                        User-Id = that name; 400 for unknown/revoked keys; 300 (temporary
 *                        failure) for any other lookup error, e.g. a busy database.
 *   ZAP_POLICY_ANY_KEY   any CURVE key is admitted with an empty User-Id: the enrollment socket,
 *                        where the request itself is checked against a token by the application.
 *
 * Every other request is refused with 400 (or 500 when it is malformed): a domain not
 * configured, a mechanism other than CURVE. The handler fails closed.
 *
 * What the client sees (libzmq 4.3): after 400 or 500 the server sends a CURVE ERROR and the
 * client's session for that endpoint ends for good (no automatic reconnection: an edge that was
 * refused must decide itself when to try again, with a new socket). After 300 nothing is sent:
 * the server leaves the handshake open until its ZMQ_HANDSHAKE_IVL expires and the client then
 * reconnects, so give CURVE server sockets a short ZMQ_HANDSHAKE_IVL (a few seconds).
 *
 * Every 200 reply also carries the client's public key as the connection's metadata property
 * ZAP_PROP_CURVE_KEY (64 hex digits), so an application can bind what a message says (e.g. the
 * key an enrollment request asks to record) to the key that actually authenticated.
 *
 * Identity: an edge's identity is what ZAP authenticated, never a name claimed inside a message.
 * Read it from each received message with zap_msg_user_id (ZeroMQ attaches the User-Id of the
 * connection to every frame it delivers from it). ZAP runs once per connection: revoking a key
 * refuses the next connection, and the application must itself drop sessions that are open.
 *
 * Counters: per domain (allowed, denied, failed), and one bucket for requests that matched no
 * domain. Denials are logged at debug, rate-limited (a peer can trigger them at will): watch the
 * counters.
 *
 * The handler is a ROUTER bound to ZAP_ENDPOINT in the controller's ZeroMQ context. RFC 27 shows a
 * REP socket; libzmq accepts a ROUTER too, and with one a request that cannot be answered (or a
 * reply that cannot be sent) costs only that handshake (ZeroMQ gives up on it after
 * ZMQ_HANDSHAKE_IVL) instead of wedging a REP socket's request/reply lockstep and with it every
 * later handshake.
 *
 * Order: bind the handler before any CURVE server socket accepts connections, and close those
 * sockets before the handler (zcurve_server_setup enforces the domain, so a missing handler
 * refuses clients rather than admitting them).
 *
 * Lifetime: struct zap embeds a zsock and follows its rules (zap_init/zap_close; memory freed
 * only from the close callback). Threads: the controller's loop thread only. No global state.
 */
#ifndef SDWAN_CONTROLLER_ZAP_H
#define SDWAN_CONTROLLER_ZAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

#include "common/log.h"
#include "common/zsock.h"

/* Where libzmq sends ZAP requests (RFC 27). One handler per ZeroMQ context. */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

#define ZAP_KEY_LEN 32
/* Longest domain name a policy can be configured for. */
#define ZAP_DOMAIN_MAX 31
/* Most domains one handler serves. */
#define ZAP_DOMAINS_MAX 4
/* Longest User-Id a lookup may answer (site names are at most 31). */
#define ZAP_USER_ID_MAX 63
/* Metadata property carrying the client's CURVE public key, 64 lowercase hex digits. */
#define ZAP_PROP_CURVE_KEY "X-Curve-Key"

enum zap_policy {
	ZAP_POLICY_LOOKUP,
	ZAP_POLICY_ANY_KEY,
};

/*
 * Decide whether the CURVE public key may connect: return 0 with user_id set to a NUL-terminated
 * name of 1..ZAP_USER_ID_MAX printable ASCII characters (no space); -ENOENT (unknown key) or
 * -EACCES (revoked) to refuse; any other -errno for a failure that may pass (answered 300). Called
 * on the loop thread, synchronously: keep it short (one indexed database read).
 */
typedef int zap_lookup_fn(void *arg, const uint8_t key[static ZAP_KEY_LEN],
			  char user_id[static ZAP_USER_ID_MAX + 1]);

struct zap;

/* The handler is closed; its memory is the caller's again. */
typedef void zap_close_cb(struct zap *zap);

struct zap_stats {
	uint64_t allowed; /* answered 200 */
	uint64_t denied; /* answered 400: unknown or revoked key, wrong mechanism, no such domain */
	uint64_t failed; /* answered 300/500, or not answerable: lookup failures, malformed requests
			  */
};

/* A configured domain. Private: use zap_domain_add. */
struct zap_domain {
	char name[ZAP_DOMAIN_MAX + 1];
	enum zap_policy policy;
	zap_lookup_fn *lookup;
	void *arg;
	struct zap_stats stats;
};

/* The handler. Fields are private; lives in caller memory (see Lifetime). */
struct zap {
	struct zsock zs;
	struct zap_domain domains[ZAP_DOMAINS_MAX];
	size_t ndomains;
	struct zap_stats other;
	struct log_ratelimit rl;
	zap_close_cb *close_cb;
};

/*
 * Create the handler's socket in zmq_ctx, bind it to ZAP_ENDPOINT and drive it from loop. No
 * domain is configured yet: every request is refused until zap_domain_add. Returns 0; -EADDRINUSE
 * when the context already has a ZAP handler; -EINVAL; or -errno from ZeroMQ/libuv (logged). On
 * error nothing is registered and zap may be freed at once. Loop thread.
 */
int zap_init(struct zap *zap, uv_loop_t *loop, void *zmq_ctx) __attribute__((warn_unused_result));

/*
 * Serve domain (1..ZAP_DOMAIN_MAX bytes) with policy. ZAP_POLICY_LOOKUP needs lookup (called
 * with arg, which must outlive the handler); ZAP_POLICY_ANY_KEY takes none (pass NULL). Returns 0;
 * -EEXIST (domain already configured); -ENOSPC (ZAP_DOMAINS_MAX reached); -EINVAL. Loop thread.
 */
int zap_domain_add(struct zap *zap, const char *domain, enum zap_policy policy,
		   zap_lookup_fn *lookup, void *arg) __attribute__((warn_unused_result));

/* Close the handler (see zsock_close); cb (may be NULL) runs from the loop once it is closed.
 * Loop thread. */
void zap_close(struct zap *zap, zap_close_cb *cb);

/* The counters of domain into *out, or, with domain NULL, of requests that matched no configured
 * domain or could not be parsed. Returns 0 or -ENOENT. Loop thread. */
int zap_stats_get(const struct zap *zap, const char *domain, struct zap_stats *out)
	__attribute__((warn_unused_result));

/*
 * The authenticated identity of the connection msg (a frame received from a CURVE server socket)
 * came from: the User-Id our handler answered, copied into out. Returns 0; -ENOENT when the
 * connection has none (not authenticated through ZAP, or admitted by ZAP_POLICY_ANY_KEY with an
 * empty User-Id), so that no caller can mistake "anyone" for a site; -EBADMSG when it is longer
 * than ZAP_USER_ID_MAX. A ROUTER's routing-id frames carry no metadata: pass a payload frame.
 */
int zap_msg_user_id(const zmq_msg_t *msg, char out[static ZAP_USER_ID_MAX + 1])
	__attribute__((warn_unused_result));

/* The CURVE public key the connection of msg authenticated with (ZAP_PROP_CURVE_KEY), into key.
 * Returns 0, -ENOENT (no such property), -EBADMSG (not 64 lowercase hex digits). */
int zap_msg_curve_key(const zmq_msg_t *msg, uint8_t key[static ZAP_KEY_LEN])
	__attribute__((warn_unused_result));

/* ---- the request parser (pure; exposed for tests and the fuzz target) ---- */

/* A borrowed byte view. */
struct zap_bytes {
	const uint8_t *p;
	size_t len;
};

enum zap_mechanism {
	ZAP_MECH_NULL,
	ZAP_MECH_PLAIN,
	ZAP_MECH_CURVE,
	ZAP_MECH_OTHER,
};

/* A parsed request; every view borrows from the frames it was parsed from. */
struct zap_request {
	size_t envelope; /* frames up to and including the empty delimiter */
	bool answerable; /* envelope and request id read: an error can be answered */
	struct zap_bytes request_id;
	struct zap_bytes domain;
	struct zap_bytes address;
	struct zap_bytes identity;
	struct zap_bytes mechanism;
	enum zap_mechanism mech;
	const uint8_t *curve_key; /* ZAP_KEY_LEN bytes when mech is ZAP_MECH_CURVE, else NULL */
};

/* Longest request id, domain, address, identity and mechanism name accepted. */
#define ZAP_FIELD_MAX 255

/*
 *   ROUTER message:  [routing id]... [""] ["1.0"] [request id] [domain] [address] [identity]
 *                    [mechanism] [credentials]...          (RFC 27 section "Request")
 *
 * Parse frames[0..n), a message as the handler's ROUTER receives it, into *out. The envelope is
 * 1..4 routing-id frames and an empty delimiter. Credentials: none for NULL, two for PLAIN, one
 * key of ZAP_KEY_LEN bytes for CURVE; any count for other mechanisms. Returns 0; -EPROTO when
 * there is no envelope (nothing can be answered); -EBADMSG when a frame is missing, too long or
 * wrong for its mechanism; -EPROTONOSUPPORT when the version is not "1.0". After either,
 * out->answerable says whether the envelope and request id were read, so that the refusal can
 * be answered.
 */
int zap_request_parse(const struct zap_bytes *frames, size_t n, struct zap_request *out)
	__attribute__((warn_unused_result));

#endif
