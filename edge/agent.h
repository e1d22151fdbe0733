/*
 * The edge's controller client: enrollment, the control channel, configuration, health, events,
 * commands and certificate renewal, all on one libuv loop (issue 3 item 4, CONTRACTS.md).
 *
 * Life of an agent:
 *
 *   start       the identity in the state directory is loaded (edge/identity.h); when there is
 *               none, the enrollment parameters (token, endpoint, optional pinned key) must be
 *               given: the edge makes its CURVE key pair and IKE key (private keys never leave
 *               it), sends EnrollRequest to the enrollment endpoint over CURVE pinned to the
 *               token's controller key, and stores what comes back. The last good configuration
 *               in the directory is applied through the ops before the controller is asked
 *               anything: the data plane never waits for the controller.
 *   control     a DEALER (CURVE, the edge's key pair, the pinned controller key) on the control
 *               endpoint. A socket monitor tells when the CURVE handshake succeeded: then the
 *               first message is a HealthReport, then the queued events, then health every
 *               health_interval_ms. A disconnection, a handshake refused (ZAP says no) or no
 *               handshake within the connect timeout closes the socket (libzmq does not retry
 *               after a ZAP refusal) and a fresh one connects after a jittered exponential
 *               backoff. ZMQ heartbeats keep "connected" honest on both sides.
 *   config      EdgeConfig -> ops.apply -> ConfigAck (and config.pb replaced) or ConfigNack with
 *               the reason; a generation not newer than the one running is nacked as STALE.
 *   routes      Reachability (hubs) -> ops.reachability. It is routing state, not configuration:
 *               not stored, not acknowledged (health reports say which list runs). Once the
 *               control session has been gone for reach_grace_ms it is withdrawn
 *               (ops.reachability(NULL)) and the edge's own routing stands, so that stale word
 *               from a controller that is away never outlives the grace time.
 *   commands    REKEY_NOW -> ops.rekey; RE_ENROLL -> enroll again with the command's token;
 *               ROTATE_KEYS -> new IKE and CURVE keys sent in a CertRenewRequest. Each answered
 *               with a CommandResult (in_reply_to = the command's msg_id).
 *   renewal     when the certificate passes two thirds of its life (x509id_cert_should_renew),
 *               a CertRenewRequest for the current IKE key.
 *
 * The agent knows nothing of the tunnel manager: struct agent_ops is what it calls.
 *
 * Ownership: struct agent is allocated by agent_new and freed by the close callback machinery of
 * agent_close. The ZeroMQ context is borrowed and must outlive the agent. Threads: the loop's
 * thread only; no global state.
 */
#ifndef SDWAN_EDGE_AGENT_H
#define SDWAN_EDGE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/control.pb-c.h"

struct agent;

/* Why a config could not be applied: what ConfigNack carries. */
struct agent_apply_error {
	Sdwan__ConfigError code; /* CONFIG_ERROR_INVALID, _UNSUPPORTED, _RESOURCE, _SYSTEM */
	char reason[256];        /* what is wrong and what to change */
	char tunnel[64];         /* the tunnel at fault, "" if none */
};

/*
 * What the agent drives. Every callback is called from the loop with ops->arg; every pointer
 * argument is borrowed for the duration of the call.
 */
struct agent_ops {
	void *arg;
	/* Apply a complete config (the tunnel manager diffs it against what runs). Return 0, or
	 * nonzero with *err filled: the previous config keeps running. Required. */
	int (*apply)(void *arg, const Sdwan__EdgeConfig *cfg, struct agent_apply_error *err);
	/* Fill a new health report (*out owned by the ops, released with health_free). The agent
	 * sets software_version, uptime_ms, generation_applied and timestamp_ms itself. May be
	 * NULL: the report then carries no tunnels. */
	int (*health)(void *arg, Sdwan__HealthReport **out);
	void (*health_free)(void *arg, Sdwan__HealthReport *hr);
	/* Take the controller's Reachability, or NULL: withdraw it (see "routes" above). Return 0
	 * or -errno (logged). May be NULL: the message is ignored. */
	int (*reachability)(void *arg, const Sdwan__Reachability *r);
	/* Rekey tunnel (NULL = every tunnel). Return 0 or -errno. May be NULL (-ENOTSUP). */
	int (*rekey)(void *arg, const char *tunnel);
	/* The IKE key or certificate changed (enrollment, renewal, rotation); both borrowed, valid
	 * until the next call or agent_close. May be NULL. */
	void (*identity_changed)(void *arg, EVP_PKEY *ike_key, X509 *cert, X509 *ca);
	/* The agent gave up for good (enrollment refused: token invalid, used or expired; state
	 * unusable): the daemon should exit. reason is for the operator. May be NULL. */
	void (*failed)(void *arg, int err, const char *reason);
};

/* First start: what the operator gave. Borrowed for the duration of agent_new. */
struct agent_enroll_params {
	const char *endpoint;        /* control endpoint, e.g. tcp://192.0.2.1:7800 */
	const char *enroll_endpoint; /* NULL: the control endpoint's host, port + 1 */
	const char *token;           /* the token line (secret) */
	const char *controller_key;  /* 64 hex digits, or NULL: then the token's key is used */
};

/* Tunables; 0 means the default in brackets. Tests shorten them. */
struct agent_options {
	const char *state_dir;         /* required */
	uint32_t backoff_min_ms;       /* first reconnect delay [500] */
	uint32_t backoff_max_ms;       /* cap of the exponential backoff [30000] */
	uint32_t connect_timeout_ms;   /* no handshake by then: fresh socket [5000] */
	uint32_t enroll_timeout_ms;    /* no EnrollResponse by then: retry [10000] */
	uint32_t health_default_ms;    /* when the config says 0 [2000] */
	uint32_t heartbeat_ivl_ms;     /* ZMQ_HEARTBEAT_IVL [1000] */
	uint32_t heartbeat_timeout_ms; /* ZMQ_HEARTBEAT_TIMEOUT [3000] */
	uint32_t event_queue_max;      /* events kept while disconnected; oldest dropped [1024] */
	uint32_t renew_check_ms;       /* how often to check the certificate's age [60000] */
	uint32_t reach_grace_ms;       /* controller routes kept without a session [60000] */
};

/* Counters and state, for tests and logs. */
struct agent_stats {
	bool enrolled;
	bool connected;           /* CURVE handshake done, not disconnected since */
	uint64_t generation;      /* generation running (0: none) */
	uint64_t connects;        /* control sockets created */
	uint64_t handshakes;      /* handshakes that succeeded */
	uint64_t refusals;        /* handshakes the controller refused (ZAP) */
	uint64_t enroll_attempts; /* EnrollRequests sent */
	uint64_t health_sent;     /* HealthReports sent */
	uint64_t events_sent;     /* Events sent */
	uint64_t events_dropped;  /* Events dropped from a full queue */
	uint64_t acks, nacks;     /* ConfigAck / ConfigNack sent */
	uint64_t renewals;        /* CertRenewRequests sent */
	uint64_t reachability;    /* Reachability messages handed to ops.reachability */
	uint64_t reach_withdrawn; /* times the grace time ran out and the routes were withdrawn */
	uint64_t last_backoff_ms; /* the delay chosen for the last reconnect */
	uint32_t events_queued;   /* events waiting now */
};

/*
 * Create an agent on loop with the borrowed ZeroMQ context zctx. enroll may be NULL (restart from
 * the state directory). Checks what can be checked before any I/O: a controller_key that differs
 * from the token's is refused with -EKEYREJECTED (nothing is written); a malformed token or
 * endpoint with -EINVAL. On success *out is the agent (not yet started). ops is copied.
 */
int agent_new(uv_loop_t *loop, void *zctx, const struct agent_options *opts,
	      const struct agent_enroll_params *enroll, const struct agent_ops *ops,
	      struct agent **out) __attribute__((warn_unused_result));

/*
 * Start: load the identity (or begin enrolling), apply the stored config through ops.apply, and
 * connect. Returns 0; -ENOENT when the state directory holds no identity and no enrollment
 * parameters were given; or the identity's load error. Loop thread.
 */
int agent_start(struct agent *a) __attribute__((warn_unused_result));

/*
 * Report an event: sent at once when connected, otherwise queued (bounded, oldest dropped and
 * counted). Each event gets the next sequence number (from 1, per process). tunnel and detail
 * may be NULL; longer strings are cut. Never fails. Loop thread.
 */
void agent_event(struct agent *a, Sdwan__EventType type, const char *tunnel, const char *detail);

/* The counters and state, borrowed until agent_close. */
const struct agent_stats *agent_stats(const struct agent *a);

/* Site name, "" before enrollment completed. Borrowed. */
const char *agent_site(const struct agent *a);

/*
 * Close every socket and timer; cb (may be NULL) runs from the loop once everything is closed and
 * the agent freed. No ops callback runs after this returns. NULL-safe. Loop thread.
 */
void agent_close(struct agent *a, void (*cb)(void *arg), void *arg);

#endif
