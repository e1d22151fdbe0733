/*
 * What edges send: enrollment requests on the enrollment ROUTER, and everything else on the
 * control ROUTER (see ctlr.h). Every refusal is logged with its reason (at debug and
 * rate-limited when a peer can trigger it at will), counted, and leaves the store unchanged.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/ctl_msg.h"
#include "common/error.h"
#include "controller/ctlr_internal.h"
#include "controller/ctlr_reroute.h"

/* Log a refusal a peer can provoke: debug level, rate-limited. */
#define PEER_LOG(c, msg, ...)                                                                      \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_DEBUG) &&                                                \
		    log_ratelimit_allow(&(c)->rl, (uint64_t)ctlr__now_ms(), NULL))                 \
			LOG_DEBUG(CTL, msg, __VA_ARGS__);                                          \
	} while (0)

/* ---- enrollment -------------------------------------------------------------------------- */

/* Per-source token bucket; true when the attempt may proceed. */
static bool rate_allow(struct ctlr *c, const char *addr)
{
	size_t h = 5381;
	for (const char *p = addr; *p; p++)
		h = h * 33 + (uint8_t)*p;
	struct ctlr_bucket *b = &c->buckets[h % CTLR_BUCKETS];
	int64_t now = ctlr__mono_ms();
	if (strncmp(b->addr, addr, sizeof(b->addr)) != 0) {
		/* A colliding source takes the slot over with a full bucket: a flood from one
		 * address cannot be hidden that way for long, since it refills its own slot. */
		(void)snprintf(b->addr, sizeof(b->addr), "%s", addr);
		b->tokens = c->opts.enroll_burst;
		b->at_ms = now;
	}
	b->tokens += (double)(now - b->at_ms) * c->opts.enroll_rate / 1000.0;
	if (b->tokens > c->opts.enroll_burst)
		b->tokens = c->opts.enroll_burst;
	b->at_ms = now;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

/* Above this, a generation an edge reports is not one anybody issued. */
#define CTLR_GENERATION_SANE_MAX (UINT64_C(1) << 48)

/* Sessions of one site replaced this many times within the window: reported (two boxes?). */
#define CTLR_REPLACED_WARN      5
#define CTLR_REPLACED_WINDOW_MS 60000

struct enroll_reply {
	Sdwan__CertStatus status;
	char reason[256];
	char site[STORE_SITE_MAX + 1];
	uint8_t *cert_der;
	size_t cert_len;
};

static void enroll_refuse(struct enroll_reply *r, Sdwan__CertStatus st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void enroll_refuse(struct enroll_reply *r, Sdwan__CertStatus st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->status = st;
	(void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static enum ctlr_counter token_counter(enum store_token_status s, Sdwan__CertStatus *st)
{
	switch (s) {
	case STORE_TOKEN_EXPIRED:
		*st = SDWAN__CERT_STATUS__CERT_STATUS_TOKEN_EXPIRED;
		return CTLR_C_ENROLL_TOKEN_EXPIRED;
	case STORE_TOKEN_USED:
		*st = SDWAN__CERT_STATUS__CERT_STATUS_TOKEN_USED;
		return CTLR_C_ENROLL_TOKEN_USED;
	case STORE_TOKEN_WRONG_SITE:
		*st = SDWAN__CERT_STATUS__CERT_STATUS_TOKEN_INVALID;
		return CTLR_C_ENROLL_WRONG_SITE;
	case STORE_TOKEN_OK:
	case STORE_TOKEN_UNKNOWN:
		break;
	}
	*st = SDWAN__CERT_STATUS__CERT_STATUS_TOKEN_INVALID;
	return CTLR_C_ENROLL_TOKEN_INVALID;
}

/*
 * A retry of an enrollment that already went through and whose answer was lost (a dropped
 * connection, a controller restarted before it sent it): the site's edge holds the very key this
 * request is authenticated with (CURVE proved possession) and a certificate for the CSR's key.
 * Then r gets that certificate again and 0 is returned; -ENOENT when it is not such a retry.
 * Without this, the box would retry with its used token until the operator made a new one.
 */
static int enroll_repeat(struct ctlr *c, const char *site, const uint8_t key[static STORE_KEY_LEN],
			 X509_REQ *csr, struct enroll_reply *r)
{
	struct store_edge e;
	X509 *cert = NULL;
	if (store_edge_get(c->st, site, &e) != 0)
		return -ENOENT;
	int rc = !e.revoked && CRYPTO_memcmp(e.curve_key, key, STORE_KEY_LEN) == 0 ? 0 : -ENOENT;
	if (rc == 0 && x509id_cert_decode((const uint8_t *)e.cert_pem, strlen(e.cert_pem),
					  X509ID_PEM, &cert) != 0)
		rc = -ENOENT;
	if (rc == 0 && EVP_PKEY_eq(X509_get0_pubkey(cert), X509_REQ_get0_pubkey(csr)) != 1)
		rc = -ENOENT;
	if (rc == 0)
		rc = x509id_cert_encode(cert, X509ID_DER, &r->cert_der, &r->cert_len);
	X509_free(cert);
	store_edge_clear(&e);
	return rc;
}

/* What enroll_commit returns for a retry answered again (enroll_repeat). */
#define ENROLL_REPEATED 1

/* Token redeemed, certificate issued and edge recorded: one savepoint, all or nothing. Returns
 * 0, ENROLL_REPEATED (nothing written; r holds the certificate issued before), or -errno. */
static int enroll_commit(struct ctlr *c, const struct token_line *tl, X509_REQ *csr,
			 const uint8_t key[static STORE_KEY_LEN], uint64_t features,
			 struct enroll_reply *r, enum ctlr_counter *counter)
{
	enum store_token_status ts = STORE_TOKEN_UNKNOWN;
	X509 *cert = NULL;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	char why[CA_REASON_LEN] = "";
	int rc = ctlr__tx(c);
	if (rc == 0)
		rc = store_tx_begin(c->st); /* savepoint inside the group transaction */
	if (rc != 0) {
		enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_INTERNAL,
			      "controller busy; retry");
		*counter = CTLR_C_ENROLL_INTERNAL;
		return rc;
	}
	int64_t now = ctlr__now_ms();
	rc = token_redeem(c->st, tl, now, &ts);
	if (rc == 0 && ts == STORE_TOKEN_USED && enroll_repeat(c, tl->site, key, csr, r) == 0) {
		store_tx_rollback(c->st);
		*counter = CTLR_C_ENROLL_REPEATED;
		return ENROLL_REPEATED;
	}
	if (rc == 0 && ts != STORE_TOKEN_OK) {
		Sdwan__CertStatus st;
		*counter = token_counter(ts, &st);
		enroll_refuse(r, st,
			      "token %s: ask the operator for a new one (sdwanctl token create %s)",
			      store_token_status_name(ts), tl->site);
		rc = -EACCES;
	}
	struct ca_issue issue = {.site = tl->site, .lifetime_s = c->opts.cert_lifetime_s};
	if (rc == 0)
		rc = ca_sign_csr(c->ca, csr, &issue, &cert, why, sizeof(why));
	if (rc == 0)
		rc = x509id_cert_encode(cert, X509ID_PEM, &pem, &pem_len);
	if (rc == 0)
		rc = x509id_cert_encode(cert, X509ID_DER, &r->cert_der, &r->cert_len);
	if (rc == 0) {
		/* A new enrollment of an enrolled site replaces it: the operator issued the token.
		 */
		struct store_edge old;
		if (store_edge_get(c->st, tl->site, &old) == 0) {
			if (!old.revoked)
				rc = store_edge_revoke(c->st, tl->site, now);
			store_edge_clear(&old);
		}
	}
	if (rc == 0) {
		char *pem_str = realloc(pem, pem_len + 1);
		if (pem_str) {
			pem = (uint8_t *)pem_str;
			pem_str[pem_len] = '\0';
			rc = store_edge_add(c->st, tl->site, key, pem_str, now);
			if (rc == 0)
				rc = store_edge_features_set(c->st, tl->site, features);
		} else {
			rc = -ENOMEM;
		}
		if (rc == -EEXIST) {
			enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_KEY_INVALID,
				      "CURVE key already belongs to another site: make a new key");
			*counter = CTLR_C_ENROLL_KEY_MISMATCH;
		}
	}
	if (rc == 0)
		rc = store_tx_commit(c->st);
	else
		store_tx_rollback(c->st);
	if (rc != 0 && r->status == SDWAN__CERT_STATUS__CERT_STATUS_UNSPECIFIED) {
		enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_INTERNAL,
			      "certificate not issued: %s", why[0] ? why : sdw_strerror(rc));
		*counter = CTLR_C_ENROLL_INTERNAL;
	}
	X509_free(cert);
	free(pem);
	return rc;
}

/* Check an EnrollRequest and, when it holds, enroll. Fills r in every case. */
static void enroll(struct ctlr *c, const Sdwan__EnrollRequest *req, const zmq_msg_t *payload,
		   struct enroll_reply *r, enum ctlr_counter *counter)
{
	uint8_t authed[ZAP_KEY_LEN];
	struct token_line tl;
	X509_REQ *csr = NULL;
	char why[CA_REASON_LEN] = "";
	memset(&tl, 0, sizeof(tl));
	*counter = CTLR_C_ENROLL_KEY_MISMATCH;
	if (req->curve_public_key.len != ZAP_KEY_LEN || zap_msg_curve_key(payload, authed) != 0 ||
	    CRYPTO_memcmp(authed, req->curve_public_key.data, ZAP_KEY_LEN) != 0) {
		enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_KEY_INVALID,
			      "curve_public_key must be the 32-byte key this connection uses");
		goto out;
	}
	*counter = CTLR_C_ENROLL_TOKEN_INVALID;
	if (token_line_parse(req->token, strlen(req->token), &tl) != 0 ||
	    CRYPTO_memcmp(tl.controller_key, c->kp.public_key, ZCURVE_KEY_LEN) != 0) {
		enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_TOKEN_INVALID,
			      "token malformed or issued by another controller");
		goto out;
	}
	(void)snprintf(r->site, sizeof(r->site), "%s", tl.site);
	const struct ctlr_site *s = ctlr__site_find(c, tl.site);
	if (!s || s->topo < 0) {
		*counter = CTLR_C_ENROLL_SITE_UNKNOWN;
		enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_SITE_UNKNOWN,
			      "site '%s' is not in the topology", tl.site);
		goto out;
	}
	/* The CSR is checked before the token is touched: a bad request does not burn it. */
	*counter = CTLR_C_ENROLL_CSR_INVALID;
	if (x509id_csr_decode(req->csr_der.data, req->csr_der.len, X509ID_DER, &csr) != 0 ||
	    ca_csr_check(csr, why, sizeof(why)) != 0) {
		enroll_refuse(r, SDWAN__CERT_STATUS__CERT_STATUS_CSR_INVALID, "CSR refused: %s",
			      why[0] ? why : "not a DER PKCS#10 request");
		goto out;
	}
	int rc = enroll_commit(c, &tl, csr, req->curve_public_key.data, req->features, r, counter);
	if (rc == ENROLL_REPEATED) {
		r->status = SDWAN__CERT_STATUS__CERT_STATUS_OK;
		LOG_NOTICE(CTL, "enrollment answered again: the edge retried one that went through",
			   "site=%s", tl.site);
	} else if (rc == 0) {
		*counter = CTLR_C_ENROLL_OK;
		r->status = SDWAN__CERT_STATUS__CERT_STATUS_OK;
		struct ctlr_site *ms = ctlr__site_get(c, tl.site);
		if (ms) {
			/* An old session of the site's previous key goes now. */
			ctlr__site_drop(c, ms, "re-enrolled");
			/* The enrollment is the answer to a re-enroll command, whether the edge's
			 * CommandResult made it out before it switched keys or not. */
			(void)cmdq_remove_site(&c->commands, ms->name,
					       SDWAN__COMMAND_TYPE__COMMAND_TYPE_RE_ENROLL, NULL,
					       NULL);
			bool was_revoked = ms->revoked;
			bool new_features = ms->features != req->features;
			ms->enrolled = true;
			ms->revoked = false;
			ms->prev_key = false;
			ms->applied = 0;
			ms->features = req->features;
			memcpy(ms->curve_key, req->curve_public_key.data, STORE_KEY_LEN);
			/* Its peers get their tunnels to it back. */
			if (was_revoked)
				ctlr__regenerate(c);
			else if (new_features)
				ctlr__site_rebuild(c, ms);
		}
		ctlr__event(c, tl.site, NULL, "enrolled", req->software_version);
	}
out:
	X509_REQ_free(csr);
	token_line_clear(&tl);
}

static void enroll_reply_send(struct ctlr *c, const zmq_msg_t *rid, struct enroll_reply *r,
			      uint64_t in_reply_to)
{
	Sdwan__EnrollResponse resp = SDWAN__ENROLL_RESPONSE__INIT;
	ProtobufCBinaryData chain[1] = {{c->ca_der_len, c->ca_der}};
	resp.status = r->status;
	resp.site = r->site;
	resp.error_reason = r->reason;
	if (r->status == SDWAN__CERT_STATUS__CERT_STATUS_OK) {
		resp.certificate_der.data = r->cert_der;
		resp.certificate_der.len = r->cert_len;
		resp.ca_chain_der = chain;
		resp.n_ca_chain_der = 1;
	}
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	env.in_reply_to = in_reply_to;
	env.body_case = SDWAN__ENVELOPE__BODY_ENROLL_RESPONSE;
	env.enroll_response = &resp;
	ctlr__send_env(c, &c->enroll, zmq_msg_data((zmq_msg_t *)rid),
		       zmq_msg_size((zmq_msg_t *)rid), &env);
}

static void send_protocol_error(struct ctlr *c, struct zsock *zs, const zmq_msg_t *rid,
				Sdwan__ProtocolErrorCode code, const char *reason)
{
	Sdwan__ProtocolError pe = SDWAN__PROTOCOL_ERROR__INIT;
	pe.code = code;
	pe.supported_version = CTL_PROTO_VERSION;
	pe.reason = (char *)reason;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	env.body_case = SDWAN__ENVELOPE__BODY_ERROR;
	env.error = &pe;
	ctlr__send_env(c, zs, zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size((zmq_msg_t *)rid), &env);
}

/* Decode one envelope; on failure count it, log it and answer with a ProtocolError. */
static struct Sdwan__Envelope *decode_or_refuse(struct ctlr *c, struct zsock *zs, zmq_msg_t *rid,
						zmq_msg_t *payload, size_t max, const char *who)
{
	struct Sdwan__Envelope *env = NULL;
	struct ctl_msg_error err;
	memset(&err, 0, sizeof(err));
	int rc = ctl_msg_decode(zmq_msg_data(payload), zmq_msg_size(payload), max, &env, &err);
	if (rc == 0)
		return env;
	enum ctlr_counter ctr = CTLR_C_MSG_MALFORMED;
	Sdwan__ProtocolErrorCode code = SDWAN__PROTOCOL_ERROR_CODE__PROTOCOL_ERROR_CODE_MALFORMED;
	if (rc == -EMSGSIZE) {
		ctr = CTLR_C_MSG_TOO_LARGE;
		code = SDWAN__PROTOCOL_ERROR_CODE__PROTOCOL_ERROR_CODE_TOO_LARGE;
	} else if (rc == -EPROTONOSUPPORT) {
		ctr = CTLR_C_MSG_VERSION;
		code = SDWAN__PROTOCOL_ERROR_CODE__PROTOCOL_ERROR_CODE_VERSION;
	}
	c->counters[ctr]++;
	PEER_LOG(c, "message refused", "from=%s reason=\"%s\" bytes=%zu", who, err.text,
		 zmq_msg_size(payload));
	send_protocol_error(c, zs, rid, code, err.text);
	return NULL;
}

void ctlr__on_enroll(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct ctlr *c = arg;
	if (n != 2) {
		c->counters[CTLR_C_MSG_MALFORMED]++;
		return;
	}
	const char *addr = zmq_msg_gets(&frames[1], "Peer-Address");
	if (!addr)
		addr = "?";
	if (!rate_allow(c, addr)) {
		c->counters[CTLR_C_ENROLL_RATE_LIMITED]++;
		PEER_LOG(c, "enrollment rate-limited", "from=%s", addr);
		return;
	}
	struct Sdwan__Envelope *env =
		decode_or_refuse(c, zs, &frames[0], &frames[1], CTL_MSG_ENROLL_MAX_SIZE, addr);
	if (!env)
		return;
	if (env->body_case != SDWAN__ENVELOPE__BODY_ENROLL_REQUEST) {
		c->counters[CTLR_C_MSG_UNEXPECTED]++;
		PEER_LOG(c, "enrollment socket takes EnrollRequest only", "from=%s body=%s", addr,
			 ctl_msg_body_name(env));
		send_protocol_error(c, zs, &frames[0],
				    SDWAN__PROTOCOL_ERROR_CODE__PROTOCOL_ERROR_CODE_UNEXPECTED,
				    "this endpoint accepts only EnrollRequest");
		ctl_msg_free(env);
		return;
	}
	struct enroll_reply r;
	memset(&r, 0, sizeof(r));
	enum ctlr_counter counter = CTLR_C_ENROLL_INTERNAL;
	enroll(c, env->enroll_request, &frames[1], &r, &counter);
	c->counters[counter]++;
	if (r.status == SDWAN__CERT_STATUS__CERT_STATUS_OK)
		LOG_NOTICE(CTL, "edge enrolled", "site=%s from=%s", r.site, addr);
	else
		LOG_WARN(CTL, "enrollment refused", "site=%s from=%s outcome=%s reason=\"%s\"",
			 r.site[0] ? r.site : "?", addr, ctlr__counter_name(counter), r.reason);
	enroll_reply_send(c, &frames[0], &r, env->msg_id);
	free(r.cert_der);
	ctl_msg_free(env);
	/* The token travelled in this buffer. */
	OPENSSL_cleanse(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]));
}

/* ---- control channel --------------------------------------------------------------------- */

static void on_health(struct ctlr *c, struct ctlr_site *s, const Sdwan__HealthReport *h,
		      const zmq_msg_t *payload)
{
	c->counters[CTLR_C_HEALTH]++;
	s->applied = h->generation_applied;
	/* Generations count one per change: one this high is a broken or hostile report, not a
	 * restored controller (and would leave no room to count above it). */
	if (s->generation && s->applied > s->generation && s->topo >= 0) {
		if (s->applied < CTLR_GENERATION_SANE_MAX)
			ctlr__generation_resync(c, s);
		else
			PEER_LOG(c, "health report names an impossible generation; ignored",
				 "site=%s generation=%" PRIu64, s->name, s->applied);
	}
	uint32_t up = 0;
	for (size_t i = 0; i < h->n_tunnels; i++)
		if (h->tunnels[i]->ike_state == SDWAN__IKE_STATE__IKE_STATE_ESTABLISHED ||
		    h->tunnels[i]->ike_state == SDWAN__IKE_STATE__IKE_STATE_REKEYING)
			up++;
	s->tunnels_total = (uint32_t)h->n_tunnels;
	s->tunnels_up = up;
	(void)snprintf(s->active_hub, sizeof(s->active_hub), "%s", h->active_hub);
	if (h->features != s->features) {
		/* The edge was upgraded or downgraded in place: configs follow what it reads. */
		LOG_NOTICE(CTL, "edge features changed", "site=%s features=%#" PRIx64 "->%#" PRIx64,
			   s->name, s->features, h->features);
		s->features = h->features;
		if (ctlr__tx(c) != 0 || store_edge_features_set(c->st, s->name, s->features) != 0)
			c->counters[CTLR_C_STORE_ERRORS]++;
		ctlr__site_rebuild(c, s);
	}
	/* Keep the report as it came (the envelope is a superset: re-encode the body only). */
	size_t len = sdwan__health_report__get_packed_size(h);
	uint8_t *buf = len <= STORE_REPORT_MAX ? malloc(len ? len : 1) : NULL;
	(void)payload;
	if (buf) {
		sdwan__health_report__pack(h, buf);
		free(s->health);
		s->health = buf;
		s->health_len = len;
		s->health_at = ctlr__now_ms();
		s->health_mono = ctlr__mono_ms();
	}
	/* A site's first report is stored at once; later ones by the tick (ctlr.c, on_tick), at
	 * most every CTLR_HEALTH_SAVE_MS: the newest report is in memory anyway. */
	if (buf && !s->health_saved_mono && ctlr__tx(c) == 0 &&
	    store_health_put(c->st, s->name, buf, len, s->health_at) == 0)
		s->health_saved_mono = s->health_mono;
	ctlr__reroute_health(c, s, h);
}

static void on_ack(struct ctlr *c, struct ctlr_site *s, uint64_t gen)
{
	int rc = gen && gen <= s->generation ? ctlr__tx(c) : -ERANGE;
	if (rc == 0)
		rc = store_config_ack(c->st, s->name, gen, ctlr__now_ms());
	if (rc != 0) {
		c->counters[CTLR_C_CONFIG_ACK_INVALID]++;
		PEER_LOG(c, "config ack refused", "site=%s generation=%" PRIu64 " err=%s", s->name,
			 gen, sdw_strerror(rc));
		return;
	}
	c->counters[CTLR_C_CONFIG_ACK]++;
	if (gen > s->applied)
		s->applied = gen;
	LOG_INFO(CTL, "config applied", "site=%s generation=%" PRIu64, s->name, gen);
	if (gen == s->inflight_gen)
		ctlr__push_answered(c, s);
}

static void on_nack(struct ctlr *c, struct ctlr_site *s, const Sdwan__ConfigNack *nk)
{
	int rc = nk->generation && nk->generation <= s->generation ? ctlr__tx(c) : -ERANGE;
	if (rc == 0)
		rc = store_config_nack(c->st, s->name, nk->generation, nk->reason, ctlr__now_ms());
	if (rc != 0) {
		c->counters[CTLR_C_CONFIG_ACK_INVALID]++;
		PEER_LOG(c, "config nack refused", "site=%s generation=%" PRIu64 " err=%s", s->name,
			 nk->generation, sdw_strerror(rc));
		return;
	}
	c->counters[CTLR_C_CONFIG_NACK]++;
	s->nack_gen = nk->generation;
	(void)snprintf(s->nack_reason, sizeof(s->nack_reason), "%s", nk->reason);
	LOG_WARN(CTL, "config refused by edge",
		 "site=%s generation=%" PRIu64 " tunnel=%s "
		 "code=%d reason=\"%s\"",
		 s->name, nk->generation, nk->tunnel, (int)nk->code, nk->reason);
	char detail[STORE_REASON_MAX + 64];
	(void)snprintf(detail, sizeof(detail), "generation %" PRIu64 ": %s", nk->generation,
		       nk->reason);
	ctlr__event(c, s->name, nk->tunnel, "config-rejected", detail);
	if (nk->generation == s->inflight_gen)
		ctlr__push_answered(c, s);
}

static const char *event_kind(Sdwan__EventType t)
{
	switch (t) {
	case SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_UP:
		return "tunnel-up";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN:
		return "tunnel-down";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_FAILOVER:
		return "failover";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_FAILBACK:
		return "failback";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_REKEY:
		return "rekey";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_AUTH_FAILURE:
		return "auth-failure";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_CONFIG_APPLIED:
		return "config-applied";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_CONFIG_REJECTED:
		return "config-rejected";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_REROUTE:
		return "reroute";
	case SDWAN__EVENT_TYPE__EVENT_TYPE_PEER_MOVED:
		return "peer-moved";
	default:
		return "edge-event";
	}
}

static void on_cert_renew(struct ctlr *c, struct ctlr_site *s, const Sdwan__CertRenewRequest *rq,
			  const zmq_msg_t *rid, const zmq_msg_t *payload, uint64_t msg_id)
{
	uint8_t from_key[ZAP_KEY_LEN];
	Sdwan__CertRenewResponse resp = SDWAN__CERT_RENEW_RESPONSE__INIT;
	ProtobufCBinaryData chain[1] = {{c->ca_der_len, c->ca_der}};
	char why[CA_REASON_LEN] = "";
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	uint8_t *pem = NULL, *der = NULL;
	size_t pem_len = 0, der_len = 0;
	const uint8_t *new_key = NULL;
	int rc = -EINVAL;
	resp.status = SDWAN__CERT_STATUS__CERT_STATUS_CSR_INVALID;
	if (rq->new_curve_public_key.len && rq->new_curve_public_key.len != STORE_KEY_LEN) {
		resp.status = SDWAN__CERT_STATUS__CERT_STATUS_KEY_INVALID;
		(void)snprintf(why, sizeof(why), "new_curve_public_key must be 32 bytes");
		goto reply;
	}
	new_key = rq->new_curve_public_key.len ? rq->new_curve_public_key.data : NULL;
	/* The key this session authenticated with is the one the edge holds until it has our
	 * answer and has saved its new key: it stays admitted until the new one is seen. */
	if (new_key && zap_msg_curve_key(payload, from_key) != 0) {
		resp.status = SDWAN__CERT_STATUS__CERT_STATUS_INTERNAL;
		(void)snprintf(why, sizeof(why), "this session's CURVE key is unknown; try again");
		goto reply;
	}
	struct ca_issue issue = {.site = s->name, .lifetime_s = c->opts.cert_lifetime_s};
	rc = x509id_csr_decode(rq->csr_der.data, rq->csr_der.len, X509ID_DER, &csr);
	if (rc == 0)
		rc = ca_sign_csr(c->ca, csr, &issue, &cert, why, sizeof(why));
	if (rc == 0)
		rc = x509id_cert_encode(cert, X509ID_PEM, &pem, &pem_len);
	if (rc == 0)
		rc = x509id_cert_encode(cert, X509ID_DER, &der, &der_len);
	if (rc == 0) {
		char *p = realloc(pem, pem_len + 1);
		rc = p ? 0 : -ENOMEM;
		if (p) {
			pem = (uint8_t *)p;
			p[pem_len] = '\0';
		}
	}
	if (rc == 0)
		rc = ctlr__tx(c);
	if (rc == 0)
		rc = store_edge_renew(c->st, s->name, new_key, new_key ? from_key : NULL,
				      (char *)pem);
	if (rc == 0) {
		resp.status = SDWAN__CERT_STATUS__CERT_STATUS_OK;
		resp.certificate_der.data = der;
		resp.certificate_der.len = der_len;
		resp.ca_chain_der = chain;
		resp.n_ca_chain_der = 1;
		if (new_key) {
			memcpy(s->curve_key, new_key, STORE_KEY_LEN);
			s->prev_key = true;
		}
		c->counters[CTLR_C_CERT_RENEWED]++;
		LOG_NOTICE(CA, "certificate renewed", "site=%s new_curve_key=%s", s->name,
			   new_key ? "yes" : "no");
		ctlr__event(c, s->name, NULL, "cert-renewed",
			    new_key ? "with a new CURVE key" : "");
	} else if (rc == -EEXIST) {
		resp.status = SDWAN__CERT_STATUS__CERT_STATUS_KEY_INVALID;
		(void)snprintf(why, sizeof(why),
			       "that CURVE key is already in use: make a new one");
	}
reply:
	if (resp.status != SDWAN__CERT_STATUS__CERT_STATUS_OK) {
		c->counters[CTLR_C_CERT_RENEW_REFUSED]++;
		LOG_WARN(CA, "certificate renewal refused", "site=%s reason=\"%s\"", s->name, why);
	}
	resp.error_reason = why;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	env.in_reply_to = msg_id;
	env.body_case = SDWAN__ENVELOPE__BODY_CERT_RENEW_RESPONSE;
	env.cert_renew_response = &resp;
	ctlr__send_env(c, &c->ctl, zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size((zmq_msg_t *)rid),
		       &env);
	X509_REQ_free(csr);
	X509_free(cert);
	free(pem);
	free(der);
}

/*
 * A newer session of s speaks while the recorded one is open: the box connected again (a NAT
 * rebinding, a restart) before the old TCP connection was seen to go, or two boxes hold one
 * identity. The older session is closed: left alone it holds ZeroMQ's per-connection buffers
 * until TCP gives up on it, hours later, and replies could go to it. Sessions that keep
 * replacing each other are reported once a window: that is two boxes with one identity.
 */
static void session_replaced(struct ctlr *c, struct ctlr_site *s, const zmq_msg_t *payload)
{
	if (!ctlr__session_shutdown(s))
		return; /* already gone */
	c->counters[CTLR_C_SESSIONS_REPLACED]++;
	const char *from = zmq_msg_gets(payload, "Peer-Address");
	char old[NI_MAXHOST] = "?";
	(void)getnameinfo((const struct sockaddr *)&s->peer, s->peer_len, old, sizeof(old), NULL, 0,
			  NI_NUMERICHOST);
	LOG_INFO(CTL, "older session closed: the edge connected again", "site=%s old=%s new=%s",
		 s->name, old, from ? from : "?");
	int64_t now = ctlr__mono_ms();
	if (now - s->replaced_since > CTLR_REPLACED_WINDOW_MS) {
		s->replaced_since = now;
		s->replaced = 0;
	}
	if (++s->replaced != CTLR_REPLACED_WARN)
		return;
	char detail[200];
	(void)snprintf(detail, sizeof(detail),
		       "%u sessions replaced by newer ones within %d s (from %s and %s): two boxes "
		       "with this site's identity?",
		       s->replaced, CTLR_REPLACED_WINDOW_MS / 1000, old, from ? from : "?");
	LOG_WARN(CTL, "sessions of one site keep replacing each other", "site=%s detail=\"%s\"",
		 s->name, detail);
	ctlr__event(c, s->name, NULL, "duplicate-session", detail);
}

/* Remember where the site's session is: routing id for replies, descriptor to close it. */
static void session_note(struct ctlr *c, struct ctlr_site *s, zmq_msg_t *rid, zmq_msg_t *payload)
{
	size_t rlen = zmq_msg_size(rid);
	/* ZeroMQ gives every connection its own routing id: another one is another session,
	 * even when the monitor has not yet told that the last one ended. */
	bool new_session =
		!s->connected || rlen != s->rid_len || memcmp(s->rid, zmq_msg_data(rid), rlen) != 0;
	if (rlen <= CTLR_RID_MAX) {
		memcpy(s->rid, zmq_msg_data(rid), rlen);
		s->rid_len = rlen;
	}
	/* ZMQ_SRCFD is deprecated but is libzmq 4.3's only way to tie a message to its TCP
	 * connection; see ctlr.h for how it is used safely. */
	int fd = zmq_msg_get(payload, ZMQ_SRCFD);
	if (fd >= 0 && fd != s->fd && s->connected)
		session_replaced(c, s, payload);
	if (fd >= 0 && fd != s->fd) {
		s->peer_len = sizeof(s->peer);
		if (getpeername(fd, (struct sockaddr *)&s->peer, &s->peer_len) != 0)
			s->peer_len = 0;
		s->fd = fd;
	}
	if (!s->connected) {
		s->connected = true;
		LOG_INFO(CTL, "edge connected", "site=%s", s->name);
	}
	s->last_seen_ms = ctlr__now_ms();
	s->heard_mono = ctlr__mono_ms();
	if (new_session && s->rid_len == rlen)
		ctlr__commands_resend(c, s);
}

static void on_command_result(struct ctlr *c, const struct ctlr_site *s,
			      const Sdwan__CommandResult *r, uint64_t in_reply_to)
{
	/* A repeat answer (the command went out again on a new session, and both copies were
	 * answered) or an answer to nothing sent is not a second result. */
	if (!cmdq_answer(&c->commands, s->name, in_reply_to, NULL)) {
		LOG_DEBUG(CTL, "command answer matches nothing outstanding", "site=%s id=%llu",
			  s->name, (unsigned long long)in_reply_to);
		return;
	}
	char detail[300];
	(void)snprintf(detail, sizeof(detail), "%s %s%s%s", ctlr__command_name(r->type),
		       r->ok ? "done" : "failed", r->ok ? "" : ": ", r->reason);
	ctlr__event(c, s->name, NULL, "command-result", detail);
}

static void dispatch(struct ctlr *c, struct ctlr_site *s, struct Sdwan__Envelope *env,
		     zmq_msg_t *rid, zmq_msg_t *payload)
{
	switch (env->body_case) {
	case SDWAN__ENVELOPE__BODY_HEALTH:
		on_health(c, s, env->health, payload);
		break;
	case SDWAN__ENVELOPE__BODY_CONFIG_ACK:
		on_ack(c, s, env->config_ack->generation);
		break;
	case SDWAN__ENVELOPE__BODY_CONFIG_NACK:
		on_nack(c, s, env->config_nack);
		break;
	case SDWAN__ENVELOPE__BODY_EVENT:
		c->counters[CTLR_C_EVENTS]++;
		ctlr__event(c, s->name, env->event->tunnel, event_kind(env->event->type),
			    env->event->detail);
		ctlr__reroute_event(c, s, env->event);
		break;
	case SDWAN__ENVELOPE__BODY_COMMAND_RESULT:
		on_command_result(c, s, env->command_result, env->in_reply_to);
		break;
	case SDWAN__ENVELOPE__BODY_CERT_RENEW_REQUEST:
		on_cert_renew(c, s, env->cert_renew_request, rid, payload, env->msg_id);
		break;
	case SDWAN__ENVELOPE__BODY_ERROR:
		PEER_LOG(c, "edge reported a protocol error", "site=%s reason=\"%s\"", s->name,
			 env->error->reason);
		break;
	case SDWAN__ENVELOPE__BODY__NOT_SET:
		PEER_LOG(c, "message of a type this build does not know ignored", "site=%s",
			 s->name);
		break;
	default:
		c->counters[CTLR_C_MSG_UNEXPECTED]++;
		PEER_LOG(c, "message not allowed from an edge", "site=%s body=%s", s->name,
			 ctl_msg_body_name(env));
		send_protocol_error(c, &c->ctl, rid,
				    SDWAN__PROTOCOL_ERROR_CODE__PROTOCOL_ERROR_CODE_UNEXPECTED,
				    "message not allowed from an edge");
		break;
	}
}

/* s rotated its key: once a session authenticated with the new key speaks, the old key is no
 * longer admitted. */
static void key_confirm(struct ctlr *c, struct ctlr_site *s, const zmq_msg_t *payload)
{
	uint8_t k[ZAP_KEY_LEN];
	if (zap_msg_curve_key(payload, k) != 0 || CRYPTO_memcmp(k, s->curve_key, ZAP_KEY_LEN) != 0)
		return;
	int rc = ctlr__tx(c);
	if (rc == 0)
		rc = store_edge_key_confirmed(c->st, s->name);
	if (rc != 0) {
		c->counters[CTLR_C_STORE_ERRORS]++;
		LOG_WARN(CTL, "previous key not retired; trying again", "site=%s err=%s", s->name,
			 sdw_strerror(rc));
		return;
	}
	s->prev_key = false;
	LOG_NOTICE(CTL, "edge uses its new CURVE key; the previous one is no longer admitted",
		   "site=%s", s->name);
}

void ctlr__on_control(struct zsock *zs, zmq_msg_t *frames, size_t n, void *arg)
{
	struct ctlr *c = arg;
	char site[ZAP_USER_ID_MAX + 1];
	if (n != 2 || zap_msg_user_id(&frames[n - 1], site) != 0) {
		c->counters[CTLR_C_MSG_NO_IDENTITY]++;
		return;
	}
	struct ctlr_site *s = ctlr__site_find(c, site);
	if (!s || s->topo < 0 || !s->enrolled || s->revoked) {
		/* Admitted before it was revoked or removed: the session goes now. */
		c->counters[CTLR_C_MSG_UNKNOWN_SITE]++;
		if (s) {
			s->fd = zmq_msg_get(&frames[1], ZMQ_SRCFD);
			s->peer_len = sizeof(s->peer);
			if (s->fd < 0 ||
			    getpeername(s->fd, (struct sockaddr *)&s->peer, &s->peer_len) != 0)
				s->peer_len = 0;
			ctlr__site_drop(c, s, "site revoked or not in the topology");
		}
		return;
	}
	session_note(c, s, &frames[0], &frames[1]);
	if (s->prev_key)
		key_confirm(c, s, &frames[1]);
	struct Sdwan__Envelope *env =
		decode_or_refuse(c, zs, &frames[0], &frames[1], CTL_MSG_MAX_SIZE, site);
	if (!env)
		return;
	dispatch(c, s, env, &frames[0], &frames[1]);
	ctl_msg_free(env);
	ctlr__push_maybe(c, s);
}
