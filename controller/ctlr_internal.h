/*
 * Shared between the controller's files (ctlr.c: state, plan, pushes, group commit;
 * ctlr_edge.c: enrollment and the control channel; ctlr_admin.c: the admin socket). Not for
 * other modules.
 */
#ifndef SDWAN_CONTROLLER_CTLR_INTERNAL_H
#define SDWAN_CONTROLLER_CTLR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/log.h"
#include "common/zcurve.h"
#include "common/zsock.h"
#include "controller/ca.h"
#include "controller/cmdq.h"
#include "controller/ctlr.h"
#include "controller/edgecfg.h"
#include "controller/intent.h"
#include "controller/store.h"
#include "controller/token.h"
#include "controller/zap.h"
#include "proto/admin.pb-c.h"

/* Longest ROUTER routing id ZeroMQ generates (5 bytes) or a peer may set. */
#define CTLR_RID_MAX 255

/* Counters of what came in, by outcome. Names in ctlr__counter_name. */
enum ctlr_counter {
	CTLR_C_ENROLL_OK,
	CTLR_C_ENROLL_REPEATED,
	CTLR_C_ENROLL_TOKEN_INVALID,
	CTLR_C_ENROLL_TOKEN_EXPIRED,
	CTLR_C_ENROLL_TOKEN_USED,
	CTLR_C_ENROLL_WRONG_SITE,
	CTLR_C_ENROLL_SITE_UNKNOWN,
	CTLR_C_ENROLL_CSR_INVALID,
	CTLR_C_ENROLL_KEY_MISMATCH,
	CTLR_C_ENROLL_RATE_LIMITED,
	CTLR_C_ENROLL_INTERNAL,
	CTLR_C_MSG_MALFORMED,
	CTLR_C_MSG_TOO_LARGE,
	CTLR_C_MSG_VERSION,
	CTLR_C_MSG_UNEXPECTED,
	CTLR_C_MSG_NO_IDENTITY,
	CTLR_C_MSG_UNKNOWN_SITE,
	CTLR_C_CONFIG_PUSHED,
	CTLR_C_CONFIG_ACK,
	CTLR_C_CONFIG_NACK,
	CTLR_C_CONFIG_ACK_INVALID,
	CTLR_C_HEALTH,
	CTLR_C_EVENTS,
	CTLR_C_CERT_RENEWED,
	CTLR_C_CERT_RENEW_REFUSED,
	CTLR_C_SESSIONS_CLOSED,
	CTLR_C_DISCONNECTS,
	CTLR_C_SESSIONS_REPLACED,
	CTLR_C_TOPOLOGY_LOADED,
	CTLR_C_TOPOLOGY_INVALID,
	CTLR_C_COMMANDS_SENT,
	CTLR_C_STORE_ERRORS,
	CTLR_C_PLAN_DIFF_MISSED,
	CTLR_C_COUNT,
};

/* One site: in the topology, enrolled, or both. Allocated once, never moved. */
struct ctlr_site {
	char name[STORE_SITE_MAX + 1];
	long topo; /* index in the current topology; -1 when not in it */
	bool enrolled;
	bool revoked;
	bool prev_key;     /* the key it rotated from is still admitted (store.h prev_curve_key) */
	uint64_t features; /* CTL_FEATURE_* bits its edge announced; decides what configs carry */
	uint8_t curve_key[STORE_KEY_LEN];
	/* configuration */
	uint64_t generation; /* current generation of the site's config; 0: none */
	uint8_t digest[STORE_DIGEST_LEN];
	uint64_t applied;      /* generation the edge says it runs */
	uint64_t inflight_gen; /* pushed and not yet answered; 0: none */
	int64_t inflight_at;   /* monotonic */
	uint64_t nack_gen;
	char nack_reason[STORE_REASON_MAX + 1];
	bool queued; /* in the push queue */
	struct ctlr_site *next_queued;
	/* session */
	bool connected;
	int64_t last_seen_ms; /* wall clock: shown and stored */
	int64_t heard_mono;   /* monotonic: the silence check */
	uint8_t rid[CTLR_RID_MAX];
	size_t rid_len;
	int fd; /* descriptor the last message came on; -1: none */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	unsigned replaced;      /* sessions replaced by a newer one within the window */
	int64_t replaced_since; /* start of that window (monotonic) */
	/* health */
	uint32_t tunnels_total;
	uint32_t tunnels_up;
	char active_hub[STORE_SITE_MAX + 1];
	uint8_t *health; /* latest encoded HealthReport */
	size_t health_len;
	int64_t health_at;         /* wall clock of the latest report: shown and stored */
	int64_t health_mono;       /* monotonic, of the same */
	int64_t health_saved_mono; /* health_mono of the report last stored; 0: none yet */
};

/* A reply waiting for the group commit. */
struct ctlr_out {
	struct ctlr_out *next;
	struct zsock *zs;
	uint8_t rid[CTLR_RID_MAX];
	size_t rid_len;
	uint8_t *buf; /* encoded envelope; ctl_msg_buf_free */
	size_t len;
};

/* Per-source enrollment token bucket. */
struct ctlr_bucket {
	char addr[64];
	double tokens;
	int64_t at_ms; /* monotonic */
};
#define CTLR_BUCKETS 1024

struct ctlr_admin_conn;
struct reroute;

struct ctlr {
	uv_loop_t *loop;
	struct ctlr_options opts;
	char *topology_path;
	char *state_dir;
	char *admin_path;
	char listen_ep[256];
	char enroll_ep[256];
	char public_ep[256];        /* what edges are told (the topology's endpoint) */
	char public_enroll_ep[256]; /* the topology's enroll-endpoint at start; "": port + 1 */
	struct store *st;
	struct ca *ca;
	uint8_t *ca_der;
	size_t ca_der_len;
	struct zcurve_keypair kp;
	void *zctx;
	struct zap zap;
	struct zsock ctl;
	struct zsock enroll;
	struct zsock mon;
	unsigned open_zsocks;
	bool zap_open;
	bool zap_closing;
	bool mon_open;
	/* plan */
	struct intent in;
	struct edgecfg_wan *wan;
	uint8_t *topo_buf; /* the loaded file's bytes, to skip unchanged rewrites */
	size_t topo_len;
	uint64_t plan_generation;
	/* sites */
	struct ctlr_site **sites;
	size_t n_sites;
	size_t cap_sites;
	struct ctlr_site **index; /* open addressing by name; size index_cap (power of two) */
	size_t index_cap;
	/* pushes */
	struct ctlr_site *q_head;
	struct ctlr_site *q_tail;
	uint32_t inflight;
	/* group commit */
	bool tx_open;
	bool tx_failed;
	struct ctlr_out *out_head;
	struct ctlr_out *out_tail;
	uv_check_t check;
	uv_timer_t tick;
	uv_timer_t debounce;
	uv_timer_t verify;      /* the full pass after a plan-diff-guided load, in chunks */
	size_t verify_next;     /* the pass's next site, by index in the topology */
	uint64_t verify_missed; /* configs the pass found changed so far */
	uv_fs_event_t watch;
	uv_pipe_t admin;
	struct ctlr_admin_conn *admin_conns;
	unsigned handles_open;
	bool closing;
	ctlr_close_cb *close_cb;
	void *close_arg;
	uint64_t msg_id; /* last one used; starts at a random point (edges remember command ids) */
	struct cmdq commands; /* operator commands sent and not yet answered */
	uint64_t counters[CTLR_C_COUNT];
	struct ctlr_bucket buckets[CTLR_BUCKETS];
	struct log_ratelimit rl;
	/* Reachability for hubs (controller/ctlr_reroute.h). Stale from a plan load until
	 * rebuilt at the end of that loop iteration: health reports are not applied to it
	 * meanwhile (the next ones will be), anything else rebuilds it first. */
	struct reroute *reroute;
	bool reroute_stale;
};

/* Wall clock, Unix ms: for what is shown or stored. */
int64_t ctlr__now_ms(void);

/* Monotonic clock, ms: for intervals and timeouts within a run. */
int64_t ctlr__mono_ms(void);

/* Static name of a counter, e.g. "enroll_token_used". */
const char *ctlr__counter_name(enum ctlr_counter c);

/* Join (or open) this iteration's transaction. Returns 0 or a store error. */
int ctlr__tx(struct ctlr *c) __attribute__((warn_unused_result));

/* Send an encoded envelope buf (taken: freed with ctl_msg_buf_free) to the peer rid on zs, after
 * the open transaction commits (at once when none is open). */
void ctlr__send(struct ctlr *c, struct zsock *zs, const uint8_t *rid, size_t rid_len, uint8_t **buf,
		size_t len);

/* Encode env (version stamped here, and the next msg_id unless env has one) and ctlr__send it; a
 * failure to encode is logged and counted (the peer sees no reply and retries). */
void ctlr__send_env(struct ctlr *c, struct zsock *zs, const uint8_t *rid, size_t rid_len,
		    struct Sdwan__Envelope *env);

/* The site of this name, or NULL. */
struct ctlr_site *ctlr__site_find(const struct ctlr *c, const char *name);

/* The site of this name, created (not in the topology, not enrolled) when missing; NULL on
 * -ENOMEM or an invalid name. */
struct ctlr_site *ctlr__site_get(struct ctlr *c, const char *name);

/* Queue site for a config push if its edge runs an older generation; pump the queue. */
void ctlr__push_maybe(struct ctlr *c, struct ctlr_site *s);

/* Account for an answer (ack/nack) to an in-flight push and pump the queue. */
void ctlr__push_answered(struct ctlr *c, struct ctlr_site *s);

/* Shut down the TCP connection of s's recorded session (s->fd) if it still carries s's peer;
 * true when it did. */
bool ctlr__session_shutdown(const struct ctlr_site *s);

/* Close site's open session now (see ctlr.h), log why, count it. */
void ctlr__site_drop(struct ctlr *c, struct ctlr_site *s, const char *why);

/* Append an event to the store (joins the open transaction). */
void ctlr__event(struct ctlr *c, const char *site, const char *tunnel, const char *kind,
		 const char *detail);

/* Load a topology (buffer of len bytes, named source for diagnostics). On a valid one, swap it in
 * and give new generations to the sites whose config changed (their count into *updated);
 * diff_text (may be NULL) receives the plan diff as text (malloc'd). On an invalid one, log
 * every diagnostic, put them into *diags_text (may be NULL; malloc'd, one per line) and keep
 * the current plan. dry_run validates and diffs only. Returns 0, -EINVAL (invalid), -ENOMEM, or
 * a store error. */
int ctlr__topology_load(struct ctlr *c, const uint8_t *buf, size_t len, const char *source,
			bool dry_run, uint32_t *updated, char **diff_text, char **diags_text)
	__attribute__((warn_unused_result));

/* Revoke site (store, allowlist, session) and cut it off the data plane: its peers get
 * configurations without their tunnels to it. Returns 0, -ENOENT (not enrolled), or a store
 * error. */
int ctlr__revoke(struct ctlr *c, const char *site) __attribute__((warn_unused_result));

/* Rebuild every site's configuration from the current plan (after a site was revoked or
 * enrolled again) and push the ones that changed. A failure (memory, store) is logged; the
 * next topology load or revocation rebuilds again. */
void ctlr__regenerate(struct ctlr *c);

/* s's edge reports a generation above s->generation: one this controller never issued (its
 * state was restored from an older copy). Give s's current config a generation above the
 * edge's, so that it is pushed, and say so in the log and the events. */
void ctlr__generation_resync(struct ctlr *c, struct ctlr_site *s);

/* s's edge announced other features (s->features): build its config for them, push if it
 * changed. */
void ctlr__site_rebuild(struct ctlr *c, struct ctlr_site *s);

/* Send a Command to site's edge and keep it (controller/cmdq.h) until the edge answers it: sent
 * again on each new session of the site meanwhile, dropped with an event after
 * opts.command_timeout_ms. Returns 0 (handed over), -ENOTCONN, -ENOENT, -ENOSPC (too many
 * unanswered), -errno. */
int ctlr__command(struct ctlr *c, struct ctlr_site *s, Sdwan__CommandType type, const char *tunnel,
		  const char *token) __attribute__((warn_unused_result));

/* "rekey", "rotate-keys", "re-enroll" (as sdwanctl names them) for a Sdwan__CommandType. */
const char *ctlr__command_name(int type);

/* s has a new session: send it the commands its edge has not answered, in the order given. */
void ctlr__commands_resend(struct ctlr *c, struct ctlr_site *s);

/* ZAP lookup for the "edges" domain. */
int ctlr__zap_lookup(void *arg, const uint8_t key[static ZAP_KEY_LEN],
		     char user_id[static ZAP_USER_ID_MAX + 1]);

/* Receive callbacks of the two ROUTERs (ctlr_edge.c). */
void ctlr__on_enroll(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg);
void ctlr__on_control(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg);

/* During ctlr_close: free everything once the last handle and socket are closed. */
void ctlr__maybe_finish(struct ctlr *c);

/* Admin socket (ctlr_admin.c): bind and listen; close every connection. */
int ctlr__admin_start(struct ctlr *c) __attribute__((warn_unused_result));
void ctlr__admin_stop(struct ctlr *c);

/* Fill a SiteStatus (strings borrowed from s). */
void ctlr__site_status(const struct ctlr *c, const struct ctlr_site *s,
		       Sdwan__Admin__SiteStatus *out);

/* Create a one-time token for site into line; *expires (Unix ms). */
int ctlr__token_create(struct ctlr *c, const char *site, uint64_t ttl_ms,
		       char line[static TOKEN_LINE_MAX], int64_t *expires)
	__attribute__((warn_unused_result));

#endif
