/*
 * The controller's state, plan, config pushes and group commit (see ctlr.h).
 */
#include "controller/ctlr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/ctl_msg.h"
#include "common/error.h"
#include "controller/admin.h"
#include "controller/ctlr_internal.h"
#include "controller/ctlr_reroute.h"
#include "controller/plan_diff.h"
#include "controller/reroute.h"

/* How long a pushed config may go unanswered before it is pushed again. */
#define CTLR_PUSH_TIMEOUT_MS 10000
/* A session is considered gone after this many health intervals without a message. */
#define CTLR_SILENT_INTERVALS 3
/* A site's newest health report is stored at most this often: the store's copy only serves
 * until the edges report again after a controller restart, seconds later. */
#define CTLR_HEALTH_SAVE_MS 60000
/* Topology file changes settle for this long before the file is read. */
#define CTLR_DEBOUNCE_MS 200
#define CTLR_TICK_MS     1000
/* Sites the post-load verify pass builds per loop iteration (~4 ms at 10,000 sites). */
#define CTLR_VERIFY_CHUNK ((size_t)512)
/* Largest topology file read. */
#define ADMIN_TOPOLOGY_MAX ((size_t)16 * 1024 * 1024)

static const char *const counter_names[CTLR_C_COUNT] = {
	[CTLR_C_ENROLL_OK] = "enroll_ok",
	[CTLR_C_ENROLL_TOKEN_INVALID] = "enroll_token_invalid",
	[CTLR_C_ENROLL_TOKEN_EXPIRED] = "enroll_token_expired",
	[CTLR_C_ENROLL_TOKEN_USED] = "enroll_token_used",
	[CTLR_C_ENROLL_WRONG_SITE] = "enroll_wrong_site",
	[CTLR_C_ENROLL_SITE_UNKNOWN] = "enroll_site_unknown",
	[CTLR_C_ENROLL_CSR_INVALID] = "enroll_csr_invalid",
	[CTLR_C_ENROLL_KEY_MISMATCH] = "enroll_key_mismatch",
	[CTLR_C_ENROLL_RATE_LIMITED] = "enroll_rate_limited",
	[CTLR_C_ENROLL_INTERNAL] = "enroll_internal",
	[CTLR_C_ENROLL_REPEATED] = "enroll_repeated",
	[CTLR_C_MSG_MALFORMED] = "msg_malformed",
	[CTLR_C_MSG_TOO_LARGE] = "msg_too_large",
	[CTLR_C_MSG_VERSION] = "msg_version",
	[CTLR_C_MSG_UNEXPECTED] = "msg_unexpected",
	[CTLR_C_MSG_NO_IDENTITY] = "msg_no_identity",
	[CTLR_C_MSG_UNKNOWN_SITE] = "msg_unknown_site",
	[CTLR_C_CONFIG_PUSHED] = "config_pushed",
	[CTLR_C_CONFIG_ACK] = "config_ack",
	[CTLR_C_CONFIG_NACK] = "config_nack",
	[CTLR_C_CONFIG_ACK_INVALID] = "config_ack_invalid",
	[CTLR_C_HEALTH] = "health",
	[CTLR_C_EVENTS] = "events",
	[CTLR_C_CERT_RENEWED] = "cert_renewed",
	[CTLR_C_CERT_RENEW_REFUSED] = "cert_renew_refused",
	[CTLR_C_SESSIONS_CLOSED] = "sessions_closed",
	[CTLR_C_DISCONNECTS] = "disconnects",
	[CTLR_C_SESSIONS_REPLACED] = "sessions_replaced",
	[CTLR_C_TOPOLOGY_LOADED] = "topology_loaded",
	[CTLR_C_TOPOLOGY_INVALID] = "topology_invalid",
	[CTLR_C_COMMANDS_SENT] = "commands_sent",
	[CTLR_C_STORE_ERRORS] = "store_errors",
	[CTLR_C_PLAN_DIFF_MISSED] = "plan_diff_missed",
};

const char *ctlr__counter_name(enum ctlr_counter c)
{
	return (unsigned)c < CTLR_C_COUNT ? counter_names[c] : "?";
}

int64_t ctlr__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ctlr__mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- sites ------------------------------------------------------------------------------- */

static size_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return (size_t)h;
}

static int index_rebuild(struct ctlr *c, size_t cap)
{
	struct ctlr_site **idx = calloc(cap, sizeof(struct ctlr_site *));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_sites; i++) {
		size_t h = name_hash(c->sites[i]->name) & (cap - 1);
		while (idx[h])
			h = (h + 1) & (cap - 1);
		idx[h] = c->sites[i];
	}
	free(c->index);
	c->index = idx;
	c->index_cap = cap;
	return 0;
}

struct ctlr_site *ctlr__site_find(const struct ctlr *c, const char *name)
{
	if (!c->index_cap)
		return NULL;
	size_t h = name_hash(name) & (c->index_cap - 1);
	while (c->index[h]) {
		if (strcmp(c->index[h]->name, name) == 0)
			return c->index[h];
		h = (h + 1) & (c->index_cap - 1);
	}
	return NULL;
}

struct ctlr_site *ctlr__site_get(struct ctlr *c, const char *name)
{
	struct ctlr_site *s = ctlr__site_find(c, name);
	if (s)
		return s;
	if (!store_site_name_valid(name))
		return NULL;
	if (c->n_sites == c->cap_sites) {
		size_t cap = c->cap_sites ? c->cap_sites * 2 : 64;
		struct ctlr_site **ns = realloc(c->sites, cap * sizeof(struct ctlr_site *));
		if (!ns)
			return NULL;
		c->sites = ns;
		c->cap_sites = cap;
	}
	if ((c->n_sites + 1) * 2 > c->index_cap &&
	    index_rebuild(c, c->index_cap ? c->index_cap * 2 : 128) != 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	(void)snprintf(s->name, sizeof(s->name), "%s", name);
	s->topo = -1;
	s->fd = -1;
	c->sites[c->n_sites++] = s;
	size_t h = name_hash(name) & (c->index_cap - 1);
	while (c->index[h])
		h = (h + 1) & (c->index_cap - 1);
	c->index[h] = s;
	return s;
}

/* ---- group commit ------------------------------------------------------------------------ */

int ctlr__tx(struct ctlr *c)
{
	if (c->tx_open)
		return 0;
	int rc = store_tx_begin(c->st);
	if (rc != 0) {
		c->counters[CTLR_C_STORE_ERRORS]++;
		return rc;
	}
	c->tx_open = true;
	return 0;
}

static void out_send(struct ctlr *c, struct ctlr_out *o)
{
	/* The encoding is handed over, not copied: a spoke's config is a few hundred KiB. */
	struct zsock_buf rid = {o->rid, o->rid_len};
	int rc = zsock_sendv_take(o->zs, &rid, 1, o->buf, o->len);
	if (rc != 0 && log_ratelimit_allow(&c->rl, (uint64_t)ctlr__now_ms(), NULL))
		LOG_DEBUG(CTL, "reply not sent", "err=%s", sdw_strerror(rc));
	free(o);
}

/* Commit the iteration's transaction, then release the replies that waited for it. */
static void commit_and_flush(struct ctlr *c)
{
	if (c->tx_open) {
		c->tx_open = false;
		int rc = store_tx_commit(c->st);
		if (rc != 0) {
			/* The replies describe writes that are not on disk: drop them; the edges
			 * retry and the handlers redo the work. */
			c->counters[CTLR_C_STORE_ERRORS]++;
			LOG_ERR(CTL, "store commit failed; replies of this batch dropped", "err=%s",
				sdw_strerror(rc));
			while (c->out_head) {
				struct ctlr_out *o = c->out_head;
				c->out_head = o->next;
				ctl_msg_buf_free(o->buf, o->len);
				free(o);
			}
			c->out_tail = NULL;
			return;
		}
	}
	while (c->out_head) {
		struct ctlr_out *o = c->out_head;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		out_send(c, o);
	}
}

static void on_check(uv_check_t *h)
{
	struct ctlr *c = h->data;
	ctlr__reroute_flush(c);
	commit_and_flush(c);
	/* A new plan's reachability: built once the plan's configurations have left (at 10,000
	 * sites it takes ~6 ms, which would delay every push of a one-site change). */
	if (c->reroute_stale) {
		ctlr__reroute_plan(c);
		ctlr__reroute_flush(c);
	}
}

void ctlr__send(struct ctlr *c, struct zsock *zs, const uint8_t *rid, size_t rid_len, uint8_t **buf,
		size_t len)
{
	struct ctlr_out *o = calloc(1, sizeof(*o));
	if (!o || rid_len > CTLR_RID_MAX) {
		free(o);
		ctl_msg_buf_free(*buf, len);
		*buf = NULL;
		return;
	}
	o->zs = zs;
	memcpy(o->rid, rid, rid_len);
	o->rid_len = rid_len;
	o->buf = *buf;
	o->len = len;
	*buf = NULL;
	if (!c->tx_open && !c->out_head) {
		out_send(c, o);
		return;
	}
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
}

void ctlr__send_env(struct ctlr *c, struct zsock *zs, const uint8_t *rid, size_t rid_len,
		    struct Sdwan__Envelope *env)
{
	env->version = CTL_PROTO_VERSION;
	if (!env->msg_id)
		env->msg_id = ++c->msg_id;
	env->sent_at_ms = (uint64_t)ctlr__now_ms();
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ctl_msg_encode_alloc(env, &buf, &len);
	if (rc != 0) {
		c->counters[CTLR_C_STORE_ERRORS]++;
		LOG_ERR(CTL, "reply not encoded", "body=%s err=%s", ctl_msg_body_name(env),
			sdw_strerror(rc));
		return;
	}
	ctlr__send(c, zs, rid, rid_len, &buf, len);
}

void ctlr__event(struct ctlr *c, const char *site, const char *tunnel, const char *kind,
		 const char *detail)
{
	int rc = ctlr__tx(c);
	if (rc == 0)
		rc = store_event_append(c->st, ctlr__now_ms(), site, tunnel, kind, detail, NULL);
	if (rc != 0) {
		c->counters[CTLR_C_STORE_ERRORS]++;
		LOG_WARN(CTL, "event not stored", "kind=%s site=%s err=%s", kind, site ? site : "",
			 sdw_strerror(rc));
	}
}

/* ---- pushes ------------------------------------------------------------------------------ */

/* The PSK of a tunnel: stored, or made now and stored in the open transaction. */
static int psk_source(void *arg, const char *tunnel, uint8_t psk[static EDGECFG_PSK_LEN])
{
	struct ctlr *c = arg;
	int rc = ctlr__tx(c);
	return rc == 0 ? edgecfg_psk_store(c->st, tunnel, psk) : rc;
}

void ctlr__generation_resync(struct ctlr *c, struct ctlr_site *s)
{
	uint64_t ours = s->generation;
	int rc = ctlr__tx(c);
	if (rc == 0)
		rc = store_config_push(c->st, s->name, s->digest, ctlr__now_ms(), s->applied + 1,
				       &s->generation);
	if (rc != 0) {
		c->counters[CTLR_C_STORE_ERRORS]++;
		LOG_ERR(CTL, "generation not lifted", "site=%s err=%s", s->name, sdw_strerror(rc));
		return;
	}
	LOG_WARN(CTL,
		 "edge runs a generation this controller never issued; current config sent "
		 "over it",
		 "site=%s edge_generation=%" PRIu64 " ours=%" PRIu64 " new=%" PRIu64, s->name,
		 s->applied, ours, s->generation);
	char detail[160];
	(void)snprintf(
		detail, sizeof(detail),
		"edge ran generation %" PRIu64 ", ours was %" PRIu64
		" (controller state older than the edge's?): current config sent as %" PRIu64,
		s->applied, ours, s->generation);
	ctlr__event(c, s->name, NULL, "generation-resync", detail);
}

static bool needs_push(const struct ctlr_site *s)
{
	return s->connected && s->topo >= 0 && s->enrolled && !s->revoked && s->generation &&
	       s->applied < s->generation && s->inflight_gen != s->generation &&
	       s->nack_gen != s->generation;
}

static void push_one(struct ctlr *c, struct ctlr_site *s)
{
	struct edgecfg *ec = NULL;
	int rc = edgecfg_build(c->wan, (uint32_t)s->topo, psk_source, c, &ec);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = edgecfg_encode(ec, s->generation, ++c->msg_id, &buf, &len);
	edgecfg_free(ec);
	if (rc != 0) {
		LOG_ERR(CTL, "config not built", "site=%s generation=%" PRIu64 " err=%s", s->name,
			s->generation, sdw_strerror(rc));
		return;
	}
	ctlr__send(c, &c->ctl, s->rid, s->rid_len, &buf, len);
	s->inflight_gen = s->generation;
	s->inflight_at = ctlr__mono_ms();
	c->inflight++;
	c->counters[CTLR_C_CONFIG_PUSHED]++;
	LOG_INFO(CTL, "config pushed", "site=%s generation=%" PRIu64 " bytes=%zu", s->name,
		 s->generation, len);
}

static void push_pump(struct ctlr *c)
{
	while (c->q_head && c->inflight < c->opts.push_window) {
		struct ctlr_site *s = c->q_head;
		c->q_head = s->next_queued;
		if (!c->q_head)
			c->q_tail = NULL;
		s->next_queued = NULL;
		s->queued = false;
		if (needs_push(s))
			push_one(c, s);
	}
}

void ctlr__push_maybe(struct ctlr *c, struct ctlr_site *s)
{
	if (needs_push(s) && !s->queued) {
		s->queued = true;
		if (c->q_tail)
			c->q_tail->next_queued = s;
		else
			c->q_head = s;
		c->q_tail = s;
	}
	push_pump(c);
}

void ctlr__push_answered(struct ctlr *c, struct ctlr_site *s)
{
	if (s->inflight_gen) {
		s->inflight_gen = 0;
		if (c->inflight)
			c->inflight--;
	}
	push_pump(c);
}

/* ---- sessions ---------------------------------------------------------------------------- */

static bool same_peer(const struct sockaddr_storage *a, socklen_t alen,
		      const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && alen > 0 && memcmp(a, b, alen) == 0;
}

bool ctlr__session_shutdown(const struct ctlr_site *s)
{
	if (s->fd < 0)
		return false;
	struct sockaddr_storage now;
	socklen_t nlen = sizeof(now);
	memset(&now, 0, sizeof(now));
	/* The descriptor must still carry this site's connection: ZeroMQ may have closed it and
	 * the number been reused for someone else's. */
	return getpeername(s->fd, (struct sockaddr *)&now, &nlen) == 0 &&
	       same_peer(&now, nlen, &s->peer, s->peer_len) && shutdown(s->fd, SHUT_RDWR) == 0;
}

void ctlr__site_drop(struct ctlr *c, struct ctlr_site *s, const char *why)
{
	bool closed = ctlr__session_shutdown(s);
	if (s->connected || closed) {
		c->counters[CTLR_C_SESSIONS_CLOSED]++;
		LOG_NOTICE(CTL, "session closed", "site=%s reason=\"%s\" tcp=%s", s->name, why,
			   closed ? "shut down" : "already gone");
	}
	s->connected = false;
	s->fd = -1;
	s->peer_len = 0;
	s->rid_len = 0;
	ctlr__push_answered(c, s);
}

int ctlr__zap_lookup(void *arg, const uint8_t key[static ZAP_KEY_LEN],
		     char user_id[static ZAP_USER_ID_MAX + 1])
{
	struct ctlr *c = arg;
	struct store_edge e;
	int rc = store_edge_find_by_key(c->st, key, &e);
	if (rc != 0)
		return rc;
	bool revoked = e.revoked;
	(void)snprintf(user_id, ZAP_USER_ID_MAX + 1, "%s", e.site);
	store_edge_clear(&e);
	if (revoked)
		return -EACCES;
	const struct ctlr_site *s = ctlr__site_find(c, user_id);
	/* A site taken out of the topology is out of the allowlist, enrolled or not. */
	if (!s || s->topo < 0)
		return -EACCES;
	return 0;
}

int ctlr__revoke(struct ctlr *c, const char *site)
{
	struct ctlr_site *s = ctlr__site_find(c, site);
	if (!s || !s->enrolled)
		return -ENOENT;
	int rc = ctlr__tx(c);
	if (rc == 0)
		rc = store_edge_revoke(c->st, site, ctlr__now_ms());
	if (rc != 0)
		return rc;
	s->revoked = true;
	s->prev_key = false;
	ctlr__site_drop(c, s, "revoked by the operator");
	(void)cmdq_remove_site(&c->commands, site, -1, NULL, NULL);
	ctlr__event(c, site, NULL, "revoked", "certificate and CURVE key revoked by the operator");
	LOG_NOTICE(CTL, "site revoked", "site=%s", site);
	ctlr__regenerate(c);
	return 0;
}

const char *ctlr__command_name(int type)
{
	switch (type) {
	case SDWAN__COMMAND_TYPE__COMMAND_TYPE_REKEY_NOW:
		return "rekey";
	case SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL:
		return "re-enroll";
	case SDWAN__COMMAND_TYPE__COMMAND_TYPE_ROTATE_KEYS:
		return "rotate-keys";
	default:
		return "unknown";
	}
}

static void command_send(struct ctlr *c, const struct ctlr_site *s, struct cmdq_entry *e)
{
	Sdwan__Command cmd = SDWAN__COMMAND__INIT;
	cmd.type = (Sdwan__CommandType)e->type;
	cmd.tunnel = e->tunnel;
	cmd.token = e->token;
	/* An edge started from its state directory knows only the control endpoint. */
	if (e->type == SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL)
		cmd.enroll_endpoint = (char *)c->public_enroll_ep;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, e->msg_id);
	env.body_case = SDWAN__ENVELOPE__BODY_COMMAND;
	env.command = &cmd;
	ctlr__send_env(c, &c->ctl, s->rid, s->rid_len, &env);
	e->sends++;
	c->counters[CTLR_C_COMMANDS_SENT]++;
}

int ctlr__command(struct ctlr *c, struct ctlr_site *s, Sdwan__CommandType type, const char *tunnel,
		  const char *token)
{
	if (!s->enrolled || s->revoked)
		return -ENOENT;
	if (!s->connected || !s->rid_len)
		return -ENOTCONN;
	struct cmdq_entry *e = NULL;
	int rc = cmdq_add(&c->commands, s->name, ++c->msg_id, (int)type, tunnel, token,
			  ctlr__now_ms(), ctlr__mono_ms(), &e);
	if (rc != 0)
		return rc;
	command_send(c, s, e);
	return 0;
}

void ctlr__commands_resend(struct ctlr *c, struct ctlr_site *s)
{
	for (struct cmdq_entry *e = cmdq_next_for_site(&c->commands, s->name, NULL); e;
	     e = cmdq_next_for_site(&c->commands, s->name, e)) {
		LOG_INFO(CTL, "command sent again on the new session", "site=%s command=%s id=%llu",
			 s->name, ctlr__command_name(e->type), (unsigned long long)e->msg_id);
		command_send(c, s, e);
	}
}

static void command_expired(const struct cmdq_entry *e, void *arg)
{
	struct ctlr *c = arg;
	char detail[200];
	(void)snprintf(detail, sizeof(detail),
		       "%s not answered within %u s (sent %u times); the edge may not have carried "
		       "it out: check the site and give it again",
		       ctlr__command_name(e->type), c->opts.command_timeout_ms / 1000, e->sends);
	LOG_WARN(CTL, "command not answered", "site=%s command=%s id=%llu sends=%u", e->site,
		 ctlr__command_name(e->type), (unsigned long long)e->msg_id, e->sends);
	ctlr__event(c, e->site, NULL, "command-result", detail);
}

int ctlr__token_create(struct ctlr *c, const char *site, uint64_t ttl_ms,
		       char line[static TOKEN_LINE_MAX], int64_t *expires)
{
	const struct ctlr_site *s = ctlr__site_find(c, site);
	if (!s || s->topo < 0)
		return -ENOENT;
	int64_t now = ctlr__now_ms();
	int rc = ctlr__tx(c);
	if (rc == 0)
		rc = token_create(c->st, site, ttl_ms, now, c->kp.public_key, line);
	if (rc == 0)
		*expires = now + (int64_t)ttl_ms;
	return rc;
}

/* ---- topology ---------------------------------------------------------------------------- */

static char *diags_to_text(const struct diag_list *d, const char *source)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	diag_print(d, source, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void log_lines(const char *text, bool error)
{
	const char *p = text;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		if (error)
			LOG_ERR(CFG, "topology rejected", "diag=\"%.*s\"", n, p);
		p = nl ? nl + 1 : NULL;
	}
}

static int load_generation(struct ctlr *c, struct ctlr_site *s)
{
	struct store_config sc;
	int rc = store_config_get(c->st, s->name, &sc);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	s->generation = sc.generation;
	memcpy(s->digest, sc.digest, sizeof(s->digest));
	if (sc.nack_generation == sc.generation) {
		s->nack_gen = sc.nack_generation;
		(void)snprintf(s->nack_reason, sizeof(s->nack_reason), "%s", sc.nack_reason);
	}
	return 0;
}

/* A new generation for s when its configuration differs from the one it has (or it has none). */
static int generation_bump(struct ctlr *c, struct ctlr_site *s, const struct edgecfg *ec,
			   uint32_t *updated)
{
	if (s->generation && CRYPTO_memcmp(s->digest, ec->digest, sizeof(s->digest)) == 0)
		return 0;
	int rc = store_config_push(c->st, s->name, ec->digest, ctlr__now_ms(), 0, &s->generation);
	if (rc == 0) {
		memcpy(s->digest, ec->digest, sizeof(s->digest));
		(*updated)++;
		LOG_INFO(CTL, "new generation", "site=%s generation=%" PRIu64, s->name,
			 s->generation);
	}
	return rc;
}

/* Build sites [first, end) of wan's topology and give each a new generation where its config
 * changed. named (by topology index; NULL: all) limits it to those sites, and sites without a
 * generation yet. The sites exist and are cut off as revoked (assign_generations). */
static int build_sites(struct ctlr *c, struct edgecfg_wan *wan, const bool *named, size_t first,
		       size_t end, uint32_t *updated)
{
	const struct topo *t = edgecfg_wan_plan(wan)->topo;
	int rc = ctlr__tx(c);
	for (size_t i = first; i < end && rc == 0; i++) {
		struct ctlr_site *s = ctlr__site_find(c, t->sites[i].name);
		if (!s)
			return -ENOENT;
		if (named && !named[i] && s->generation)
			continue;
		if (!s->generation)
			rc = load_generation(c, s);
		struct edgecfg *ec = NULL;
		if (rc == 0)
			rc = edgecfg_build(wan, (uint32_t)i, psk_source, c, &ec);
		if (rc != 0)
			break;
		rc = generation_bump(c, s, ec, updated);
		edgecfg_free(ec);
	}
	return rc;
}

/* Give the sites of the plan their generations; push where changed. Revoked sites are cut off
 * first: every config is built knowing which peers are gone. With a plan diff, only the edges
 * it names (and sites without a generation yet) are built; the others keep theirs. */
static int assign_generations(struct ctlr *c, struct edgecfg_wan *wan, const struct plan_diff *d,
			      uint32_t *updated)
{
	const struct topo *t = edgecfg_wan_plan(wan)->topo;
	int rc = ctlr__tx(c);
	/* The sites to build, by index in t; NULL: all of them. */
	bool *named = d && rc == 0 ? calloc(t->n_sites + 1, sizeof(*named)) : NULL;
	if (d && rc == 0 && !named)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_sites && rc == 0; i++) {
		struct ctlr_site *s = ctlr__site_get(c, t->sites[i].name);
		if (!s)
			rc = -ENOMEM;
		else {
			s->topo = (long)i;
			rc = edgecfg_wan_cut_off(wan, (uint32_t)i, s->revoked);
			if (rc == 0)
				rc = edgecfg_wan_features(wan, (uint32_t)i, s->features);
		}
	}
	for (size_t k = 0; d && named && rc == 0 && k < d->n_edges; k++) {
		const struct ctlr_site *s = ctlr__site_find(c, d->edges[k].site);
		if (s && s->topo >= 0 && d->edges[k].change != PLAN_EDGE_REMOVED)
			named[s->topo] = true;
	}
	if (rc == 0)
		rc = build_sites(c, wan, named, 0, t->n_sites, updated);
	free(named);
	return rc;
}

/* Build every site's config from the current plan and push what changed. Returns the number of
 * sites updated, or a negative error (logged). */
static long rebuild_all(struct ctlr *c)
{
	uint32_t updated = 0;
	int rc = c->wan ? assign_generations(c, c->wan, NULL, &updated) : 0;
	if (rc != 0) {
		LOG_ERR(CTL, "configurations not rebuilt", "err=%s", sdw_strerror(rc));
		return rc;
	}
	for (size_t i = 0; i < c->n_sites; i++)
		ctlr__push_maybe(c, c->sites[i]);
	return updated;
}

void ctlr__site_rebuild(struct ctlr *c, struct ctlr_site *s)
{
	if (!c->wan || s->topo < 0)
		return;
	uint32_t updated = 0;
	int rc = edgecfg_wan_features(c->wan, (uint32_t)s->topo, s->features);
	if (rc == 0)
		rc = build_sites(c, c->wan, NULL, (size_t)s->topo, (size_t)s->topo + 1, &updated);
	if (rc != 0) {
		LOG_ERR(CTL, "configuration not rebuilt", "site=%s err=%s", s->name,
			sdw_strerror(rc));
		return;
	}
	ctlr__push_maybe(c, s);
}

void ctlr__regenerate(struct ctlr *c)
{
	long updated = rebuild_all(c);
	if (updated > 0)
		LOG_NOTICE(CTL, "configurations rebuilt", "sites_updated=%ld", updated);
}

static int plan_diff_text(const struct plan_diff *d, char **out)
{
	*out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(out, &len);
	if (f) {
		plan_diff_print(d, f, false);
		if (fclose(f) != 0) {
			free(*out);
			*out = NULL;
		}
	}
	return *out ? 0 : -ENOMEM;
}

/* The full pass after a load that built only what the plan diff named: every site's config is
 * built and compared. The diff is meant to name every edge whose config changes; should it
 * miss one, the edge still gets its configuration here, a moment later, and the miss is logged
 * and counted (plan_diff_missed) as the bug it is. It runs CTLR_VERIFY_CHUNK sites per loop
 * iteration: at 10,000 sites the whole pass takes ~80 ms, which in one piece would hold back
 * the acks of the configurations just pushed. A new load starts it over. */
static void on_verify(uv_timer_t *t)
{
	struct ctlr *c = t->data;
	size_t n = c->in.topo ? c->in.topo->n_sites : 0;
	size_t first = c->verify_next < n ? c->verify_next : n;
	size_t end = n - first > CTLR_VERIFY_CHUNK ? first + CTLR_VERIFY_CHUNK : n;
	uint32_t updated = 0;
	int rc = c->wan ? build_sites(c, c->wan, NULL, first, end, &updated) : 0;
	if (rc != 0) {
		LOG_ERR(CTL, "configurations not verified", "err=%s", sdw_strerror(rc));
		return;
	}
	for (size_t i = first; i < end; i++) {
		struct ctlr_site *s = ctlr__site_find(c, c->in.topo->sites[i].name);
		if (s)
			ctlr__push_maybe(c, s);
	}
	c->verify_missed += updated;
	c->verify_next = end;
	if (end < n) {
		/* 1 ms, not 0: libuv runs a timer re-armed at 0 again in the same iteration. */
		uv_timer_start(&c->verify, on_verify, 1, 0);
		return;
	}
	if (c->verify_missed > 0) {
		c->counters[CTLR_C_PLAN_DIFF_MISSED] += c->verify_missed;
		LOG_WARN(CTL, "plan diff missed configuration changes; pushed now",
			 "sites=%" PRIu64, c->verify_missed);
	}
}

/* Sites that left the topology: out of the allowlist, sessions closed. */
static void retire_sites(struct ctlr *c, const struct topo *t)
{
	for (size_t i = 0; i < c->n_sites; i++) {
		struct ctlr_site *s = c->sites[i];
		if (s->topo < 0)
			continue;
		if ((size_t)s->topo < t->n_sites && strcmp(t->sites[s->topo].name, s->name) == 0)
			continue;
		if (topo_find_site(t, s->name) >= 0)
			continue;
		s->topo = -1;
		ctlr__site_drop(c, s, "site removed from the topology");
		ctlr__event(c, s->name, NULL, "site-removed", "site no longer in the topology");
	}
}

int ctlr__topology_load(struct ctlr *c, const uint8_t *buf, size_t len, const char *source,
			bool dry_run, uint32_t *updated, char **diff_text, char **diags_text)
{
	struct intent in = {0};
	struct diag_list diags = {0};
	struct plan_diff diff = {0};
	struct edgecfg_wan *wan = NULL;
	uint32_t n_updated = 0;
	if (diff_text)
		*diff_text = NULL;
	if (diags_text)
		*diags_text = NULL;
	int rc = intent_compile_buf(buf, len, &in, &diags);
	char *dtext = diags_to_text(&diags, source);
	if (rc != 0) {
		c->counters[CTLR_C_TOPOLOGY_INVALID]++;
		log_lines(dtext, true);
		LOG_ERR(CFG, "topology invalid; keeping the last good plan", "file=%s errors=%zu",
			source, diags.errors);
		goto out;
	}
	if (c->in.topo && strcmp(in.topo->wan, c->in.topo->wan) != 0) {
		char msg[160];
		(void)snprintf(msg, sizeof(msg),
			       "%s: error: wan name changed from '%s' to '%s'; the CA and every "
			       "certificate belong to the WAN: keep its name\n",
			       source, c->in.topo->wan, in.topo->wan);
		free(dtext);
		dtext = strdup(msg);
		log_lines(msg, true);
		c->counters[CTLR_C_TOPOLOGY_INVALID]++;
		rc = -EINVAL;
		goto out;
	}
	/* The diff names the edges whose configuration changes: only those are built now (at
	 * 10,000 sites building them all is a third of a reload); on_verify checks the rest. */
	bool have_diff = c->in.plan != NULL;
	if (have_diff)
		rc = plan_diff_compute(c->in.plan, in.plan, &diff);
	if (rc == 0 && have_diff && diff_text)
		rc = plan_diff_text(&diff, diff_text);
	if (rc != 0 || dry_run)
		goto out;
	rc = edgecfg_wan_new(in.plan, c->ca_der, c->ca_der_len, c->opts.health_interval_ms, &wan);
	if (rc == 0)
		rc = assign_generations(c, wan, have_diff ? &diff : NULL, &n_updated);
	if (rc != 0)
		goto out;
	/* Swap: the new plan is current from here on. */
	retire_sites(c, in.topo);
	edgecfg_wan_free(c->wan);
	intent_free(&c->in);
	c->in = in;
	c->wan = wan;
	/* The hubs' reachability is rebuilt after this load's pushes are out (on_check). */
	c->reroute_stale = true;
	memset(&in, 0, sizeof(in));
	wan = NULL;
	free(c->topo_buf);
	c->topo_buf = malloc(len ? len : 1);
	if (c->topo_buf)
		memcpy(c->topo_buf, buf, len);
	c->topo_len = c->topo_buf ? len : 0;
	c->plan_generation++;
	c->counters[CTLR_C_TOPOLOGY_LOADED]++;
	LOG_NOTICE(CFG, "topology loaded", "file=%s wan=%s sites=%zu tunnels=%zu updated=%" PRIu32,
		   source, c->in.topo->wan, c->in.topo->n_sites, c->in.plan->n_tunnels, n_updated);
	{
		char detail[96];
		(void)snprintf(detail, sizeof(detail),
			       "plan %" PRIu64 ": %" PRIu32 " sites updated", c->plan_generation,
			       n_updated);
		ctlr__event(c, NULL, NULL, "topology-loaded", detail);
	}
	for (size_t i = 0; i < c->n_sites; i++)
		ctlr__push_maybe(c, c->sites[i]);
	if (have_diff && c->handles_open) {
		c->verify_next = 0;
		c->verify_missed = 0;
		uv_timer_start(&c->verify, on_verify, 0, 0);
	}
out:
	plan_diff_free(&diff);
	if (updated)
		*updated = n_updated;
	if (diags_text)
		*diags_text = dtext;
	else
		free(dtext);
	edgecfg_wan_free(wan);
	intent_free(&in);
	diag_list_free(&diags);
	return rc;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = cap <= ADMIN_TOPOLOGY_MAX ? realloc(buf, cap) : NULL;
			if (!nb) {
				rc = cap > ADMIN_TOPOLOGY_MAX ? -EFBIG : -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			rc = ferror(f) ? -EIO : 0;
			break;
		}
	}
	(void)fclose(f);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

static void reload_file(struct ctlr *c)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(c->topology_path, &buf, &len);
	if (rc != 0) {
		LOG_WARN(CFG, "topology file not readable; keeping the last good plan",
			 "file=%s err=%s", c->topology_path, sdw_strerror(rc));
		return;
	}
	if (c->topo_buf && len == c->topo_len && memcmp(buf, c->topo_buf, len) == 0) {
		free(buf);
		return;
	}
	LOG_NOTICE(CFG, "topology file changed", "file=%s", c->topology_path);
	uint32_t updated = 0;
	rc = ctlr__topology_load(c, buf, len, c->topology_path, false, &updated, NULL, NULL);
	(void)rc; /* logged inside */
	free(buf);
}

static void on_debounce(uv_timer_t *t)
{
	reload_file(t->data);
}

static void on_watch(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct ctlr *c = h->data;
	(void)events;
	const char *base = strrchr(c->topology_path, '/');
	base = base ? base + 1 : c->topology_path;
	if (status < 0 || (filename && strcmp(filename, base) != 0))
		return;
	/* Editors write in several steps (truncate, write, rename): wait until it settles. */
	uv_timer_start(&c->debounce, on_debounce, CTLR_DEBOUNCE_MS, 0);
}

/* ---- periodic work ----------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
	struct ctlr *c = t->data;
	/* Intervals on the monotonic clock: an NTP step of the wall clock (a box that booted
	 * without one) must not make every session look silent, nor none for hours. */
	int64_t now = ctlr__mono_ms();
	int64_t silent = (int64_t)CTLR_SILENT_INTERVALS * c->opts.health_interval_ms;
	for (size_t i = 0; i < c->n_sites; i++) {
		struct ctlr_site *s = c->sites[i];
		/* After its first, a site's health reports are stored here, in the tick's one
		 * transaction, at most every CTLR_HEALTH_SAVE_MS: stored as they came, 10,000 edges
		 * reporting every 2 s meant a commit (an fdatasync) per loop iteration, a third of
		 * the loop's time. */
		if (s->health && s->health_saved_mono &&
		    s->health_mono - s->health_saved_mono >= CTLR_HEALTH_SAVE_MS &&
		    ctlr__tx(c) == 0 &&
		    store_health_put(c->st, s->name, s->health, s->health_len, s->health_at) == 0)
			s->health_saved_mono = s->health_mono;
		if (s->connected && now - s->heard_mono > silent) {
			/* Also closes its TCP connection: the controller runs no ZeroMQ heartbeat
			 * (server_socket), so this is what reaps a half-open session. */
			ctlr__site_drop(c, s, "silent for three health intervals");
		}
		if (s->inflight_gen && now - s->inflight_at > CTLR_PUSH_TIMEOUT_MS) {
			LOG_WARN(CTL, "config push unanswered; will push again", "site=%s",
				 s->name);
			ctlr__push_answered(c, s);
			ctlr__push_maybe(c, s);
		}
	}
	(void)cmdq_expire(&c->commands, now, c->opts.command_timeout_ms, command_expired, c);
	ctlr__reroute_tick(c);
}

/* Socket monitor: a DISCONNECTED event names the descriptor that went away. */
static void on_monitor(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct ctlr *c = arg;
	(void)zs;
	if (n < 1 || zmq_msg_size(&frames[0]) < 6)
		return;
	const uint8_t *p = zmq_msg_data(&frames[0]);
	uint16_t ev = 0;
	uint32_t val = 0;
	memcpy(&ev, p, 2);
	memcpy(&val, p + 2, 4);
	if (ev != ZMQ_EVENT_DISCONNECTED)
		return;
	c->counters[CTLR_C_DISCONNECTS]++;
	for (size_t i = 0; i < c->n_sites; i++) {
		struct ctlr_site *s = c->sites[i];
		if (s->fd == (int)val) {
			LOG_INFO(CTL, "edge disconnected", "site=%s", s->name);
			s->connected = false;
			s->fd = -1;
			ctlr__push_answered(c, s);
		}
	}
}

/* ---- start-up ---------------------------------------------------------------------------- */

static int load_key(struct ctlr *c)
{
	char path[4096];
	(void)snprintf(path, sizeof(path), "%s/controller.key", c->state_dir);
	/* First start: no key yet (checked first so that loading does not log a failure). */
	if (access(path, F_OK) == 0)
		return zcurve_secret_load(path, &c->kp);
	int rc = zcurve_keypair_generate(&c->kp);
	if (rc == 0)
		rc = zcurve_secret_save(path, &c->kp);
	if (rc == 0)
		LOG_NOTICE(CTL, "controller CURVE key created", "file=%s", path);
	return rc;
}

static int load_ca(struct ctlr *c, const char *wan)
{
	struct store_ca sc = {0};
	int rc = store_ca_get(c->st, &sc);
	if (rc == 0) {
		rc = ca_load_pem(sc.key_pem, sc.cert_pem, &c->ca);
		store_ca_clear(&sc);
	} else if (rc == -ENOENT) {
		struct ca_params p = {.wan = wan, .key_type = c->opts.ca_key_type};
		rc = ca_create(&p, &c->ca);
		char *key = NULL, *cert = NULL;
		if (rc == 0)
			rc = ca_export_pem(c->ca, &key, &cert);
		if (rc == 0)
			rc = store_ca_put(c->st, key, cert, ctlr__now_ms());
		if (key)
			OPENSSL_clear_free(key, strlen(key));
		free(cert);
		if (rc == 0)
			LOG_NOTICE(CA, "CA created", "wan=%s key=%s", wan,
				   x509id_key_type_name(c->opts.ca_key_type));
	}
	if (rc != 0)
		return rc;
	if (strcmp(ca_wan(c->ca), wan) != 0) {
		LOG_ERR(CA, "the stored CA belongs to another WAN; use that WAN's state directory",
			"ca_wan=%s topology_wan=%s", ca_wan(c->ca), wan);
		return -EINVAL;
	}
	uint8_t *der = NULL;
	size_t len = 0;
	rc = x509id_cert_encode(ca_cert(c->ca), X509ID_DER, &der, &len);
	c->ca_der = der;
	c->ca_der_len = len;
	return rc;
}

/* Sites known to the store: enrolled edges and their generations. */
static int load_sites(struct ctlr *c)
{
	struct store_edge *v = NULL;
	size_t n = 0;
	int rc = store_edge_list(c->st, &v, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ctlr_site *s = ctlr__site_get(c, v[i].site);
		if (!s) {
			rc = -ENOMEM;
			break;
		}
		s->enrolled = true;
		s->revoked = v[i].revoked;
		s->features = v[i].features;
		memcpy(s->curve_key, v[i].curve_key, sizeof(s->curve_key));
		s->prev_key = v[i].has_prev_key;
		s->last_seen_ms = v[i].last_seen_ms;
	}
	store_edge_list_free(v, n);
	return rc;
}

/* The enrollment endpoint next to the control one: same host, port + 1. */
static int enroll_default(const char *ep, char *out, size_t size)
{
	const char *colon = strrchr(ep, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || !end || *end || port <= 0 || port >= 65535)
		return -EINVAL;
	int n = snprintf(out, size, "%.*s:%ld", (int)(colon - ep), ep, port + 1);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static int first_load(struct ctlr *c)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(c->topology_path, &buf, &len);
	if (rc != 0) {
		LOG_ERR(CFG, "topology file not readable", "file=%s err=%s", c->topology_path,
			sdw_strerror(rc));
		return rc;
	}
	/* The CA needs the WAN's name first: compile once to read it. */
	struct intent probe = {0};
	struct diag_list d = {0};
	rc = intent_compile_buf(buf, len, &probe, &d);
	if (rc != 0) {
		char *text = diags_to_text(&d, c->topology_path);
		log_lines(text, true);
		if (text)
			(void)fputs(text, stderr);
		free(text);
	}
	if (rc == 0)
		rc = load_ca(c, probe.topo->wan);
	if (rc == 0) {
		(void)snprintf(c->public_ep, sizeof(c->public_ep), "%s",
			       probe.topo->controller_endpoint);
		(void)snprintf(c->public_enroll_ep, sizeof(c->public_enroll_ep), "%s",
			       probe.topo->enroll_endpoint ? probe.topo->enroll_endpoint : "");
		(void)snprintf(c->listen_ep, sizeof(c->listen_ep), "%s",
			       c->opts.listen ? c->opts.listen : probe.topo->controller_endpoint);
		if (c->opts.enroll_listen)
			(void)snprintf(c->enroll_ep, sizeof(c->enroll_ep), "%s",
				       c->opts.enroll_listen);
		else if (probe.topo->enroll_endpoint && !c->opts.listen)
			(void)snprintf(c->enroll_ep, sizeof(c->enroll_ep), "%s",
				       probe.topo->enroll_endpoint);
		else
			rc = enroll_default(c->listen_ep, c->enroll_ep, sizeof(c->enroll_ep));
	}
	intent_free(&probe);
	diag_list_free(&d);
	if (rc == 0)
		rc = load_sites(c);
	for (size_t i = 0; i < c->n_sites && rc == 0; i++)
		rc = load_generation(c, c->sites[i]);
	if (rc == 0) {
		uint32_t updated = 0;
		rc = ctlr__topology_load(c, buf, len, c->topology_path, false, &updated, NULL,
					 NULL);
	}
	free(buf);
	if (rc == 0 && c->tx_open) {
		c->tx_open = false;
		rc = store_tx_commit(c->st);
	}
	return rc;
}

static int server_socket(struct ctlr *c, struct zsock *zs, const char *domain, size_t max,
			 zsock_recv_cb *cb, const char *ep)
{
	void *s = zmq_socket(c->zctx, ZMQ_ROUTER);
	if (!s)
		return -errno;
	/*
	 * No ZeroMQ heartbeats on the server side. libzmq 4.3 cancels a timer by walking every
	 * timer of its I/O thread, and every heartbeat round (ours, or a TTL an edge announces)
	 * cancels one: O(n) per edge per interval, O(n^2) per second in all (measured: 34 % of
	 * the controller's CPU in that walk at 5,000 edges with a 5 s probe). The controller
	 * already knows each edge's liveness from its health reports: on_tick closes the TCP
	 * connection of an edge silent for CTLR_SILENT_INTERVALS reports, and kernel keepalives
	 * reap connections that never became an identified session. Edges keep probing the
	 * controller (edge/agent.c), so they still notice a dead controller within seconds.
	 */
	int one = 1, zero = 0, hs = 5000, hwm = 10000;
	int ka_idle = 30, ka_intvl = 10, ka_cnt = 3;
	int rc = zcurve_server_setup(s, &c->kp, domain);
	if (rc == 0 &&
	    (zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0 ||
	     zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE, &one, sizeof(one)) != 0 ||
	     zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE_IDLE, &ka_idle, sizeof(ka_idle)) != 0 ||
	     zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE_INTVL, &ka_intvl, sizeof(ka_intvl)) != 0 ||
	     zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE_CNT, &ka_cnt, sizeof(ka_cnt)) != 0 ||
	     zmq_setsockopt(s, ZMQ_HANDSHAKE_IVL, &hs, sizeof(hs)) != 0 ||
	     zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
	     zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
	     zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0))
		rc = -errno;
	if (rc != 0) {
		zmq_close(s);
		return rc;
	}
	struct zsock_options zo = {
		.max_msg_size = max, .max_frames = 2, .sndq_max = 65536, .batch = 1024};
	rc = zsock_init(zs, c->loop, &s, &zo, cb, c);
	if (rc != 0)
		return rc;
	c->open_zsocks++;
	rc = zsock_bind(zs, ep);
	if (rc == 0)
		LOG_NOTICE(CTL, "listening", "domain=%s endpoint=%s", domain, ep);
	return rc;
}

static int start_monitor(struct ctlr *c)
{
	char ep[64];
	(void)snprintf(ep, sizeof(ep), "inproc://ctlr-monitor-%p", (void *)c);
	if (zmq_socket_monitor(zsock_socket(&c->ctl), ep, ZMQ_EVENT_DISCONNECTED) != 0)
		return -errno;
	void *s = zmq_socket(c->zctx, ZMQ_PAIR);
	if (!s)
		return -errno;
	struct zsock_options zo = {.max_msg_size = 4096, .max_frames = 2};
	int rc = zsock_init(&c->mon, c->loop, &s, &zo, on_monitor, c);
	if (rc != 0)
		return rc;
	c->mon_open = true;
	c->open_zsocks++;
	return zsock_connect(&c->mon, ep);
}

static int start_loop_handles(struct ctlr *c)
{
	uv_check_init(c->loop, &c->check);
	c->check.data = c;
	uv_check_start(&c->check, on_check);
	uv_timer_init(c->loop, &c->tick);
	c->tick.data = c;
	uv_timer_start(&c->tick, on_tick, CTLR_TICK_MS, CTLR_TICK_MS);
	uv_timer_init(c->loop, &c->debounce);
	c->debounce.data = c;
	uv_timer_init(c->loop, &c->verify);
	c->verify.data = c;
	uv_fs_event_init(c->loop, &c->watch);
	c->watch.data = c;
	c->handles_open = 5;
	/* Watch the directory: editors and `sdwanctl apply` replace the file by rename. */
	char dir[4096];
	(void)snprintf(dir, sizeof(dir), "%s", c->topology_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		(void)snprintf(dir, sizeof(dir), ".");
	int rc = uv_fs_event_start(&c->watch, on_watch, dir[0] ? dir : "/", 0);
	if (rc != 0)
		LOG_WARN(CFG, "topology file not watched; use sdwanctl apply", "err=%s",
			 uv_strerror(rc));
	return 0;
}

static int ctlr_start(struct ctlr *c)
{
	int rc = store_new(c->state_dir, NULL, &c->st);
	if (rc == 0)
		rc = load_key(c);
	if (rc == 0)
		rc = first_load(c);
	if (rc != 0)
		return rc;
	c->zctx = zmq_ctx_new();
	if (!c->zctx)
		return -ENOMEM;
	/* One I/O thread per core: connections (and libzmq's per-thread timer lists, see
	 * server_socket) are spread over them. */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (zmq_ctx_set(c->zctx, ZMQ_IO_THREADS, cores > 1 ? (int)(cores < 8 ? cores : 8) : 1) != 0)
		LOG_WARN(CTL, "could not set the ZeroMQ I/O threads", NULL);
	rc = zap_init(&c->zap, c->loop, c->zctx);
	if (rc != 0)
		return rc;
	c->zap_open = true;
	rc = zap_domain_add(&c->zap, "edges", ZAP_POLICY_LOOKUP, ctlr__zap_lookup, c);
	if (rc == 0)
		rc = zap_domain_add(&c->zap, "enroll", ZAP_POLICY_ANY_KEY, NULL, NULL);
	if (rc == 0)
		rc = server_socket(c, &c->ctl, "edges", CTL_MSG_MAX_SIZE, ctlr__on_control,
				   c->listen_ep);
	if (rc == 0)
		rc = start_monitor(c);
	if (rc == 0)
		rc = server_socket(c, &c->enroll, "enroll", CTL_MSG_ENROLL_MAX_SIZE,
				   ctlr__on_enroll, c->enroll_ep);
	if (rc == 0)
		rc = start_loop_handles(c);
	if (rc == 0)
		rc = ctlr__admin_start(c);
	if (rc == 0) {
		char hex[ZCURVE_HEX_LEN + 1];
		zcurve_hex_encode(c->kp.public_key, hex);
		LOG_NOTICE(CTL, "controller running", "wan=%s sites=%zu public_key=%s admin=%s",
			   c->in.topo->wan, c->in.topo->n_sites, hex, c->admin_path);
	}
	return rc;
}

int ctlr_new(uv_loop_t *loop, const struct ctlr_options *opts, struct ctlr **out)
{
	*out = NULL;
	if (!opts || !opts->topology_path || !opts->state_dir)
		return -EINVAL;
	struct ctlr *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->opts = *opts;
	if (!c->opts.health_interval_ms)
		c->opts.health_interval_ms = EDGECFG_HEALTH_INTERVAL_DEFAULT_MS;
	if (c->opts.enroll_rate <= 0)
		c->opts.enroll_rate = 5;
	if (!c->opts.enroll_burst)
		c->opts.enroll_burst = 20;
	if (!c->opts.push_window)
		c->opts.push_window = 512;
	if (!c->opts.command_timeout_ms)
		c->opts.command_timeout_ms = CTLR_COMMAND_TIMEOUT_DEFAULT_MS;
	c->rl = (struct log_ratelimit){.interval_ms = 1000, .burst = 10};
	/* Edges remember the ids of the commands they carried out, to answer a repeat without
	 * doing it twice: a restarted controller must not reuse ids, so it starts at a random
	 * point (2^62 leaves room to count up). */
	if (RAND_bytes((unsigned char *)&c->msg_id, sizeof(c->msg_id)) != 1) {
		free(c);
		return -EIO;
	}
	c->msg_id &= (UINT64_C(1) << 62) - 1;
	c->topology_path = strdup(opts->topology_path);
	c->state_dir = strdup(opts->state_dir);
	char def[4096];
	(void)snprintf(def, sizeof(def), "%s/%s", opts->state_dir, ADMIN_SOCK_NAME);
	c->admin_path = strdup(opts->admin_path ? opts->admin_path : def);
	if (!c->topology_path || !c->state_dir || !c->admin_path) {
		free(c->topology_path);
		free(c->state_dir);
		free(c->admin_path);
		free(c);
		return -ENOMEM;
	}
	int rc = ctlr_start(c);
	if (rc != 0) {
		LOG_ERR(CTL, "controller did not start", "err=%s", sdw_strerror(rc));
		ctlr_close(c, NULL, NULL);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- shutdown ---------------------------------------------------------------------------- */

void ctlr__maybe_finish(struct ctlr *c)
{
	if (c->handles_open || c->open_zsocks || c->zap_open)
		return;
	if (c->zctx)
		(void)zmq_ctx_term(c->zctx);
	commit_and_flush(c);
	for (size_t i = 0; i < c->n_sites; i++) {
		free(c->sites[i]->health);
		free(c->sites[i]);
	}
	free(c->sites);
	free(c->index);
	cmdq_clear(&c->commands);
	reroute_free(c->reroute);
	edgecfg_wan_free(c->wan);
	intent_free(&c->in);
	free(c->topo_buf);
	ca_free(c->ca);
	free(c->ca_der);
	store_free(c->st);
	zcurve_keypair_clear(&c->kp);
	free(c->topology_path);
	free(c->state_dir);
	free(c->admin_path);
	ctlr_close_cb *cb = c->close_cb;
	void *arg = c->close_arg;
	free(c);
	if (cb)
		cb(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ctlr *c = h->data;
	c->handles_open--;
	ctlr__maybe_finish(c);
}

static void on_zap_closed(struct zap *z)
{
	/* container_of: the zap handle is embedded in its controller. */
	struct ctlr *c = (struct ctlr *)(void *)((char *)z - offsetof(struct ctlr, zap));
	c->zap_open = false;
	ctlr__maybe_finish(c);
}

static void close_zap(struct ctlr *c)
{
	if (c->zap_open && !c->zap_closing) {
		c->zap_closing = true;
		zap_close(&c->zap, on_zap_closed);
	}
}

static void on_zsock_closed(struct zsock *zs)
{
	struct ctlr *c = zs->arg;
	c->open_zsocks--;
	/* ZAP goes last: the server sockets enforce its domain and must be gone first. */
	if (!c->open_zsocks)
		close_zap(c);
	ctlr__maybe_finish(c);
}

void ctlr_close(struct ctlr *c, ctlr_close_cb *cb, void *arg)
{
	c->closing = true;
	c->close_cb = cb;
	c->close_arg = arg;
	commit_and_flush(c);
	ctlr__admin_stop(c);
	if (c->handles_open) {
		uv_close((uv_handle_t *)&c->check, on_handle_closed);
		uv_close((uv_handle_t *)&c->tick, on_handle_closed);
		uv_close((uv_handle_t *)&c->debounce, on_handle_closed);
		uv_close((uv_handle_t *)&c->verify, on_handle_closed);
		uv_close((uv_handle_t *)&c->watch, on_handle_closed);
	}
	bool any = c->open_zsocks > 0;
	if (c->mon_open) {
		c->mon_open = false;
		zsock_close(&c->mon, on_zsock_closed);
	}
	if (zsock_socket(&c->ctl))
		zsock_close(&c->ctl, on_zsock_closed);
	if (zsock_socket(&c->enroll))
		zsock_close(&c->enroll, on_zsock_closed);
	if (!any)
		close_zap(c);
	ctlr__maybe_finish(c);
}
