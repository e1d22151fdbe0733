/*
 * The controller's durable state: one SQLite database, <state_dir>/controller.db, holding what
 * must survive a restart (the CA, enrolled edges, enrollment token hashes, config generations,
 * the last health report per site and a bounded event history).
 *
 * Files: the state directory is 0700 and the database (with its -wal and -shm files) 0600; both
 * are created so, and tightened with a warning when found wider. The CA key is stored in clear
 * inside that 0600 file.
 *
 * Durability: WAL journal, synchronous=FULL (a commit is on disk when the call returns: an edge
 * that was given a certificate, or a token that was consumed, stays so across a power loss, not
 * only across a crash), foreign keys on, secure_delete on (deleted token hashes and replaced CA
 * keys are overwritten, not left in free pages), a busy timeout for other processes using the
 * same directory (sdwanctl beside the controller). Every function that writes is one
 * transaction: it is applied whole or not at all, including across kill -9.
 *
 * Composing: several calls become one transaction between store_tx_begin() and
 * store_tx_commit(); calls inside join it (as savepoints), so e.g. consuming a token and adding
 * the edge it enrolls commit together or not at all.
 *
 * Time: no function reads a clock; callers pass now_ms, milliseconds since the Unix epoch.
 *
 * Threads: a struct store is used by one thread at a time (the controller's loop thread, or one
 * libuv worker at a time); it holds no global state. Several processes may open one directory.
 *
 * Errors: 0 or a negative errno. SQLite failures are logged once (with SQLite's message, never a
 * bound value) and mapped: -EBUSY (locked past the busy timeout), -ENOSPC, -EIO, -ENOMEM,
 * -EUCLEAN (corrupt database), -EROFS, -EACCES. Constraint outcomes are named per function.
 */
#ifndef SDWAN_CONTROLLER_STORE_H
#define SDWAN_CONTROLLER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* File name of the database inside the state directory. */
#define STORE_DB_NAME "controller.db"

/* Schema version this code creates and migrates to. */
#define STORE_SCHEMA_VERSION 5

/* Longest site name (the topology's rule: 1-31 of [a-z0-9-], starting with a letter). */
#define STORE_SITE_MAX 31
/* Longest tunnel name and event kind in an event. */
#define STORE_TUNNEL_MAX 71
#define STORE_KIND_MAX   31
/* Longest event detail and nack reason, in bytes. */
#define STORE_DETAIL_MAX 1024
#define STORE_REASON_MAX 255
/* Largest health report kept, in bytes. */
#define STORE_REPORT_MAX ((size_t)1024 * 1024)
/* Largest PEM accepted (certificate or key). */
#define STORE_PEM_MAX ((size_t)64 * 1024)

/* CURVE25519 public key, plan digest and token hash sizes. */
#define STORE_KEY_LEN    32
#define STORE_DIGEST_LEN 32
#define STORE_HASH_LEN   32
/* Pre-shared key of one tunnel (auth: psk). */
#define STORE_PSK_LEN 32

/* Events kept when the options do not say. */
#define STORE_EVENT_RETENTION_DEFAULT 10000u

/* An open database. Opaque; owned by whoever called store_new(). */
struct store;

struct store_options {
	/* Newest events kept; older ones are pruned in the transaction that appends. 0: default. */
	uint32_t event_retention;
	/* How long to wait for another process's write lock. 0: 5000 ms. */
	uint32_t busy_timeout_ms;
	/* Migrate only up to this schema version (0: STORE_SCHEMA_VERSION). For migration tests:
	 * functions that need later tables fail on such a store. */
	uint32_t schema_version;
};

/*
 * Open, or create, the database in state_dir (created 0700 when missing; its parent must exist),
 * and apply pending migrations in one transaction. opts may be NULL for defaults. On success
 * *out is an owned store (free with store_free). Returns 0, -EINVAL (bad argument), -ENOTDIR,
 * -EPERM (directory or file owned by another user), -ENOTSUP (database written by a newer
 * controller: schema version above STORE_SCHEMA_VERSION), or an error listed above.
 */
int store_new(const char *state_dir, const struct store_options *opts, struct store **out)
	__attribute__((warn_unused_result));

/* Close the database (finalising cached statements; an open transaction is rolled back).
 * NULL-safe. */
void store_free(struct store *st);

/* The schema version of the open database into *out. */
int store_schema_version(struct store *st, uint32_t *out) __attribute__((warn_unused_result));

/* Full integrity check (SQLite's integrity_check and foreign_key_check). Returns 0, or -EUCLEAN
 * with the first problems logged. Reads the whole file: for startup and tools, not per request. */
int store_integrity_check(struct store *st) __attribute__((warn_unused_result));

/*
 * Copy the last committed state to dest_path, a new file (mode 0600; it holds the CA's key):
 * written as dest_path.part through a read-only connection of its own (SQLite's online backup,
 * so the store keeps working), checked (quick_check), then renamed and its directory synced.
 * Returns 0, -EEXIST (dest_path.part exists), -EUCLEAN (the copy does not read back), or another
 * -errno; nothing is left at dest_path on failure.
 */
int store_backup(struct store *st, const char *dest_path) __attribute__((warn_unused_result));

/* Whether name is a valid site name (the topology's rule). Pure; any thread. */
bool store_site_name_valid(const char *name);

/* --- Transactions ------------------------------------------------------------------------ */

/*
 * Begin a transaction (BEGIN IMMEDIATE: the write lock is taken now, so a read followed by a
 * write inside cannot fail on a concurrent writer), or a savepoint when one is already open.
 * Every begin is closed by exactly one commit or rollback. Returns 0, -EBUSY, -EIO.
 */
int store_tx_begin(struct store *st) __attribute__((warn_unused_result));

/* Commit the innermost level (the outermost commits to disk). On failure that level has been
 * rolled back; do not call store_tx_rollback() for it. Returns 0, -EIO, -ENOSPC, or -EINVAL
 * when no level is open. */
int store_tx_commit(struct store *st) __attribute__((warn_unused_result));

/* Roll back the innermost level. Failures are logged; the level is closed either way. */
void store_tx_rollback(struct store *st);

/* --- The CA ------------------------------------------------------------------------------ */

struct store_ca {
	char *key_pem;  /* owned; wiped by store_ca_clear */
	char *cert_pem; /* owned */
	int64_t created_ms;
};

/* Record the CA (once). Strings are copied. Returns 0, -EEXIST when a CA is already stored,
 * -EINVAL (empty or longer than STORE_PEM_MAX). */
int store_ca_put(struct store *st, const char *key_pem, const char *cert_pem, int64_t now_ms)
	__attribute__((warn_unused_result));

/* The CA into *out (owned by the caller: store_ca_clear). Returns 0, -ENOENT, -ENOMEM. */
int store_ca_get(struct store *st, struct store_ca *out) __attribute__((warn_unused_result));

/* Wipe and free the key, free the certificate, zero *ca. NULL-safe. */
void store_ca_clear(struct store_ca *ca);

/* --- Enrolled edges ---------------------------------------------------------------------- */

struct store_edge {
	char site[STORE_SITE_MAX + 1];
	uint8_t curve_key[STORE_KEY_LEN];
	char *cert_pem; /* owned; store_edge_clear frees it */
	int64_t enrolled_ms;
	int64_t last_seen_ms; /* 0: never seen since enrollment */
	int64_t revoked_ms;   /* when revoked */
	bool revoked;
	uint64_t features; /* CTL_FEATURE_* bits the edge last announced (0 before schema 4) */
	/* The key a rotation started from, admitted until the edge is seen with curve_key. */
	uint8_t prev_curve_key[STORE_KEY_LEN];
	bool has_prev_key;
};

/*
 * Enroll: record site with its CURVE public key and certificate. A revoked site may enroll
 * again (its row is replaced, last_seen reset). Returns 0, -EINVAL (bad site name or PEM),
 * -EEXIST (site enrolled and not revoked, or the key already belongs to another site).
 */
int store_edge_add(struct store *st, const char *site,
		   const uint8_t curve_key[static STORE_KEY_LEN], const char *cert_pem,
		   int64_t now_ms) __attribute__((warn_unused_result));

/* Revoke site (its key is no longer admitted). Revoking twice keeps the first time.
 * Returns 0 or -ENOENT. */
int store_edge_revoke(struct store *st, const char *site, int64_t now_ms)
	__attribute__((warn_unused_result));

/* Certificate renewal for an enrolled, not revoked site: new certificate and, when new_key is
 * not NULL, a new CURVE key. from_key (required with new_key) is the key the request came
 * with: it stays admitted beside new_key until store_edge_key_confirmed, so that an edge that
 * never got the answer, or died before saving its new key, can still connect. Returns 0,
 * -EINVAL, -ENOENT (unknown or revoked), -EEXIST (new_key held by any site, this one too). */
int store_edge_renew(struct store *st, const char *site, const uint8_t *new_key,
		     const uint8_t *from_key, const char *cert_pem)
	__attribute__((warn_unused_result));

/* site's edge was seen with its current key: the key it rotated from is no longer admitted.
 * 0 (also when there was none), or a store error. */
int store_edge_key_confirmed(struct store *st, const char *site)
	__attribute__((warn_unused_result));

/* Record what site's edge build understands (CTL_FEATURE_* bits, as it announced them at
 * enrollment or in a health report). 0 or -ENOENT. */
int store_edge_features_set(struct store *st, const char *site, uint64_t features)
	__attribute__((warn_unused_result));

/* Note that site was heard from at now_ms (last_seen never moves backwards). 0 or -ENOENT. */
int store_edge_seen(struct store *st, const char *site, int64_t now_ms)
	__attribute__((warn_unused_result));

/* The edge of site into *out (caller clears it). Returns 0, -ENOENT, -ENOMEM. */
int store_edge_get(struct store *st, const char *site, struct store_edge *out)
	__attribute__((warn_unused_result));

/* The edge holding this CURVE key (as curve_key or prev_curve_key), revoked or not: the ZAP
 * handler admits it only when !out->revoked. Returns 0, -ENOENT, -ENOMEM. */
int store_edge_find_by_key(struct store *st, const uint8_t curve_key[static STORE_KEY_LEN],
			   struct store_edge *out) __attribute__((warn_unused_result));

/* Every edge, by site name, into an owned array (*n entries; store_edge_list_free). */
int store_edge_list(struct store *st, struct store_edge **out, size_t *n)
	__attribute__((warn_unused_result));

/* Free what a store_edge owns and zero it. NULL-safe. */
void store_edge_clear(struct store_edge *e);

/* Free an array from store_edge_list. NULL-safe. */
void store_edge_list_free(struct store_edge *v, size_t n);

/* --- Enrollment tokens (hashes only; controller/token.h makes and checks the secrets) ---- */

/* Why a token was or was not accepted. Checked in this order. */
enum store_token_status {
	STORE_TOKEN_OK,         /* consumed now */
	STORE_TOKEN_UNKNOWN,    /* no such token: mistyped, forged, or purged */
	STORE_TOKEN_WRONG_SITE, /* a real token, bound to another site; left unused */
	STORE_TOKEN_USED,       /* consumed before */
	STORE_TOKEN_EXPIRED,    /* past its expiry, never used */
};

/* Static name of a status ("ok", "unknown", "wrong-site", "used", "expired"). */
const char *store_token_status_name(enum store_token_status s);

/* Record a token by its hash. Returns 0, -EINVAL (bad site, expires_ms <= created_ms),
 * -EEXIST (hash already stored). */
int store_token_add(struct store *st, const uint8_t hash[static STORE_HASH_LEN], const char *site,
		    int64_t created_ms, int64_t expires_ms) __attribute__((warn_unused_result));

/*
 * Consume the token with this hash for site, atomically: one transaction whose UPDATE matches
 * only an unused, unexpired (now_ms < expires_ms) token of that site, so of two callers racing
 * with one token exactly one gets STORE_TOKEN_OK. Otherwise *status says why (nothing is written).
 * Returns 0 with *status set, or an error (then *status is STORE_TOKEN_UNKNOWN).
 */
int store_token_consume(struct store *st, const uint8_t hash[static STORE_HASH_LEN],
			const char *site, int64_t now_ms, enum store_token_status *status)
	__attribute__((warn_unused_result));

/* Delete tokens that expired, or were used, at or before before_ms; *n (may be NULL) receives
 * how many. A purged token then reads as STORE_TOKEN_UNKNOWN. */
int store_token_purge(struct store *st, int64_t before_ms, size_t *n)
	__attribute__((warn_unused_result));

/* --- Config generations ------------------------------------------------------------------ */

struct store_config {
	uint64_t generation; /* latest pushed, >= 1 */
	uint8_t digest[STORE_DIGEST_LEN];
	int64_t pushed_ms;
	uint64_t acked_generation; /* 0: none acked */
	int64_t acked_ms;
	uint64_t nack_generation; /* 0: none refused */
	int64_t nacked_ms;
	char nack_reason[STORE_REASON_MAX + 1];
};

/*
 * Record a push of a new configuration with this plan digest to site: its generation is one
 * more than the site's last (1 for the first), or at_least if that is more, into *generation.
 * Generations of a site only grow, across restarts and re-enrollments; at_least lifts them over
 * one an edge runs that this store never issued (a controller restored from an older copy).
 * Returns 0 or -EINVAL.
 */
int store_config_push(struct store *st, const char *site,
		      const uint8_t digest[static STORE_DIGEST_LEN], int64_t now_ms,
		      uint64_t at_least, uint64_t *generation) __attribute__((warn_unused_result));

/* The edge applied generation: acked_generation becomes it unless an ack as new or newer was
 * recorded (a late, reordered ack changes nothing and returns 0). Returns 0, -ENOENT (nothing
 * pushed to site), -ERANGE (generation never pushed: 0 or above the latest). */
int store_config_ack(struct store *st, const char *site, uint64_t generation, int64_t now_ms)
	__attribute__((warn_unused_result));

/* The edge refused generation for reason (copied; truncated to STORE_REASON_MAX bytes). Kept
 * unless a nack for a newer generation was recorded. Same returns as store_config_ack. */
int store_config_nack(struct store *st, const char *site, uint64_t generation, const char *reason,
		      int64_t now_ms) __attribute__((warn_unused_result));

/* The config state of site into *out. Returns 0 or -ENOENT (nothing pushed yet). */
int store_config_get(struct store *st, const char *site, struct store_config *out)
	__attribute__((warn_unused_result));

/* --- Health ------------------------------------------------------------------------------ */

/* Keep report (len bytes, copied; an encoded health message) as site's latest, and mark the
 * edge seen. Returns 0, -ENOENT (site not enrolled), -EMSGSIZE (over STORE_REPORT_MAX). */
int store_health_put(struct store *st, const char *site, const uint8_t *report, size_t len,
		     int64_t now_ms) __attribute__((warn_unused_result));

/* Site's latest report into *report (owned: free()), *len and *received_ms.
 * Returns 0, -ENOENT, -ENOMEM. */
int store_health_get(struct store *st, const char *site, uint8_t **report, size_t *len,
		     int64_t *received_ms) __attribute__((warn_unused_result));

/* --- Event history ----------------------------------------------------------------------- */

struct store_event {
	int64_t id; /* increasing, never reused */
	int64_t at_ms;
	char site[STORE_SITE_MAX + 1];     /* "" for controller-wide events */
	char tunnel[STORE_TUNNEL_MAX + 1]; /* "" when not about a tunnel */
	char kind[STORE_KIND_MAX + 1];
	char *detail; /* owned; NULL when none */
};

/*
 * Append an event and, in the same transaction, prune to the newest event_retention ones.
 * site and tunnel may be NULL or "", detail may be NULL; kind is required. *id (may be NULL)
 * receives the new id. Returns 0 or -EINVAL (kind missing, a field too long, bad site name).
 */
int store_event_append(struct store *st, int64_t at_ms, const char *site, const char *tunnel,
		       const char *kind, const char *detail, int64_t *id)
	__attribute__((warn_unused_result));

/* Up to max events with id > after_id, oldest first, into an owned array (*n entries; free with
 * store_event_list_free). For following the history: pass the last id seen. */
int store_event_list_since(struct store *st, int64_t after_id, size_t max, struct store_event **out,
			   size_t *n) __attribute__((warn_unused_result));

/* The newest max events of site, oldest first, into an owned array as above. */
int store_event_list_site(struct store *st, const char *site, size_t max, struct store_event **out,
			  size_t *n) __attribute__((warn_unused_result));

/* The newest max events of every site, oldest first, into an owned array as above. */
int store_event_list_latest(struct store *st, size_t max, struct store_event **out, size_t *n)
	__attribute__((warn_unused_result));

/* Free an array from the event lists. NULL-safe. */
void store_event_list_free(struct store_event *v, size_t n);

/* --- Tunnel pre-shared keys (secret: wiped by secure_delete when replaced; never logged) -- */

/* The PSK of tunnel (its plan name "a:b") into psk. Returns 0, -ENOENT (none stored), -EINVAL.
 * On any error psk is left unchanged. The caller wipes psk after use. */
int store_psk_get(struct store *st, const char *tunnel, uint8_t psk[static STORE_PSK_LEN])
	__attribute__((warn_unused_result));

/* Record tunnel's PSK (copied). Returns 0, -EEXIST (tunnel has one), -EINVAL. */
int store_psk_put(struct store *st, const char *tunnel, const uint8_t psk[static STORE_PSK_LEN],
		  int64_t now_ms) __attribute__((warn_unused_result));

/* Forget tunnel's PSK (the next one is new). Returns 0, -ENOENT, -EINVAL. */
int store_psk_delete(struct store *st, const char *tunnel) __attribute__((warn_unused_result));

#endif
