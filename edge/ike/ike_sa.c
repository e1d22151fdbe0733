/*
 * The IKE engine core: SAs and their lifecycle, dispatch of datagrams, message IDs (§2.3, window
 * size 1), request retransmission with exponential backoff (§2.1), the response cache that
 * answers retransmitted requests byte for byte, and the one state-change function.
 *
 * Dispatch of a datagram, in order, every refusal counted under its own reason:
 *
 *   parse (header, payload chain)                         -> IKE_DROP_PARSE
 *   IKE_SA_INIT request  -> retransmission of a known one? -> cached response
 *                        -> ike_init.c (stateless checks, then a new SA)
 *   IKE_SA_INIT response -> our SA in INIT_SENT            -> IKE_DROP_NO_SA / _UNEXPECTED
 *   other                -> SA by both SPIs and our role   -> IKE_DROP_NO_SA
 *     request:  message ID = next expected?  else the last one, byte-identical? -> cache
 *                                                          else IKE_DROP_MSGID
 *               a handler for (exchange, state)?           -> IKE_DROP_UNSUPPORTED / _STATE
 *     response: matches the outstanding request?           -> IKE_DROP_UNEXPECTED
 *     SK payload decrypts and its content parses?          -> IKE_DROP_DECRYPT / _PARSE
 *     -> the exchange's handler
 */
#include "edge/ike/ike_sa.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/error.h"
#include "common/log.h"
#include "edge/ike/ike_internal.h"
#include "edge/ike/ike_natt.h"

static const char *const state_names[IKE_STATE_COUNT] = {
	[IKE_STATE_IDLE] = "idle",
	[IKE_STATE_INIT_SENT] = "init_sent",
	[IKE_STATE_INIT_REPLIED] = "init_replied",
	[IKE_STATE_AUTH_SENT] = "auth_sent",
	[IKE_STATE_ESTABLISHED] = "established",
	[IKE_STATE_FAILED] = "failed",
	[IKE_STATE_REKEYED] = "rekeyed",
	[IKE_STATE_DELETING] = "deleting",
	[IKE_STATE_CLOSED] = "closed",
};

static const char *const event_names[IKE_EVENT_TYPE_COUNT] = {
	[IKE_EVENT_STATE] = "state",
	[IKE_EVENT_ESTABLISHED] = "established",
	[IKE_EVENT_FAILED] = "failed",
	[IKE_EVENT_CHILD_FAILED] = "child_failed",
	[IKE_EVENT_REJECTED] = "rejected",
	[IKE_EVENT_REKEY_NEEDED] = "rekey_needed",
	[IKE_EVENT_CHILD_REKEYED] = "child_rekeyed",
	[IKE_EVENT_CHILD_DELETED] = "child_deleted",
	[IKE_EVENT_IKE_REKEYED] = "ike_rekeyed",
	[IKE_EVENT_IKE_DELETED] = "ike_deleted",
	[IKE_EVENT_REKEY_FAILED] = "rekey_failed",
	[IKE_EVENT_PEER_MOVED] = "peer_moved",
};

static const char *const child_down_names[IKE_CHILD_DOWN_REASON_COUNT] = {
	[IKE_CHILD_DOWN_REKEYED] = "rekeyed",   [IKE_CHILD_DOWN_REDUNDANT] = "redundant",
	[IKE_CHILD_DOWN_DELETED] = "deleted",   [IKE_CHILD_DOWN_PEER_DELETED] = "peer_deleted",
	[IKE_CHILD_DOWN_IKE_GONE] = "ike_gone",
};

static const char *const drop_names[IKE_DROP_COUNT] = {
	[IKE_DROP_PARSE] = "parse",
	[IKE_DROP_NO_SA] = "no_sa",
	[IKE_DROP_MSGID] = "msgid",
	[IKE_DROP_UNEXPECTED] = "unexpected",
	[IKE_DROP_DECRYPT] = "decrypt",
	[IKE_DROP_INVALID] = "invalid",
	[IKE_DROP_UNSUPPORTED] = "unsupported",
	[IKE_DROP_STATE] = "state",
	[IKE_DROP_BUSY] = "busy",
};

/* The state machine: which changes are allowed. Everything else is a bug, refused and counted. */
static const bool transitions[IKE_STATE_COUNT][IKE_STATE_COUNT] = {
	/* IDLE -> ESTABLISHED: an IKE SA made by a CREATE_CHILD_SA rekey (§1.3.2). */
	[IKE_STATE_IDLE] = {[IKE_STATE_INIT_SENT] = true,
			    [IKE_STATE_INIT_REPLIED] = true,
			    [IKE_STATE_ESTABLISHED] = true,
			    [IKE_STATE_FAILED] = true},
	[IKE_STATE_INIT_SENT] = {[IKE_STATE_AUTH_SENT] = true, [IKE_STATE_FAILED] = true},
	[IKE_STATE_INIT_REPLIED] = {[IKE_STATE_ESTABLISHED] = true, [IKE_STATE_FAILED] = true},
	[IKE_STATE_AUTH_SENT] = {[IKE_STATE_ESTABLISHED] = true, [IKE_STATE_FAILED] = true},
	[IKE_STATE_ESTABLISHED] = {[IKE_STATE_FAILED] = true,
				   [IKE_STATE_REKEYED] = true,
				   [IKE_STATE_DELETING] = true,
				   [IKE_STATE_CLOSED] = true},
	[IKE_STATE_REKEYED] =
		{[IKE_STATE_FAILED] = true, [IKE_STATE_DELETING] = true, [IKE_STATE_CLOSED] = true},
	[IKE_STATE_DELETING] = {[IKE_STATE_FAILED] = true, [IKE_STATE_CLOSED] = true},
};

/* Defaults of struct ike_engine_config. */
enum {
	DEFAULT_RETRANSMIT_BASE_MS = 500,
	DEFAULT_RETRANSMIT_TRIES = 5,
	DEFAULT_HALF_OPEN_COOKIE_LIMIT = 64,
	DEFAULT_HALF_OPEN_TIMEOUT_MS = 30000,
	DEFAULT_HALF_OPEN_MAX = 1024,
	DEFAULT_LINGER_MS = 30000,
	DEFAULT_NATT_KEEPALIVE_MS = 20000,
	PEER_LOG_BURST = 20,
	PEER_LOG_INTERVAL_MS = 1000,
	SPI_DRAWS = 8,
};

const char *ike_state_name(enum ike_state s)
{
	return (unsigned)s < IKE_STATE_COUNT ? state_names[s] : "unknown";
}

const char *ike_event_name(enum ike_event_type t)
{
	return (unsigned)t < IKE_EVENT_TYPE_COUNT ? event_names[t] : "unknown";
}

const char *ike_drop_name(enum ike_drop d)
{
	return (unsigned)d < IKE_DROP_COUNT ? drop_names[d] : "unknown";
}

const char *ike_child_down_reason_name(enum ike_child_down_reason r)
{
	return (unsigned)r < IKE_CHILD_DOWN_REASON_COUNT ? child_down_names[r] : "unknown";
}

/* ---- small shared helpers ---- */

const char *ike__exchange_name(uint8_t exchange)
{
	switch (exchange) {
	case IKE_EXCH_IKE_SA_INIT:
		return "IKE_SA_INIT";
	case IKE_EXCH_IKE_AUTH:
		return "IKE_AUTH";
	case IKE_EXCH_CREATE_CHILD_SA:
		return "CREATE_CHILD_SA";
	case IKE_EXCH_INFORMATIONAL:
		return "INFORMATIONAL";
	default:
		return "unknown-exchange";
	}
}

const char *ike__notify_name(uint16_t type, char buf[static 16])
{
	switch (type) {
	case IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD:
		return "UNSUPPORTED_CRITICAL_PAYLOAD";
	case IKE_N_INVALID_IKE_SPI:
		return "INVALID_IKE_SPI";
	case IKE_N_INVALID_MAJOR_VERSION:
		return "INVALID_MAJOR_VERSION";
	case IKE_N_INVALID_SYNTAX:
		return "INVALID_SYNTAX";
	case IKE_N_INVALID_MESSAGE_ID:
		return "INVALID_MESSAGE_ID";
	case IKE_N_INVALID_SPI:
		return "INVALID_SPI";
	case IKE_N_NO_PROPOSAL_CHOSEN:
		return "NO_PROPOSAL_CHOSEN";
	case IKE_N_INVALID_KE_PAYLOAD:
		return "INVALID_KE_PAYLOAD";
	case IKE_N_AUTHENTICATION_FAILED:
		return "AUTHENTICATION_FAILED";
	case IKE_N_SINGLE_PAIR_REQUIRED:
		return "SINGLE_PAIR_REQUIRED";
	case IKE_N_NO_ADDITIONAL_SAS:
		return "NO_ADDITIONAL_SAS";
	case IKE_N_INTERNAL_ADDRESS_FAILURE:
		return "INTERNAL_ADDRESS_FAILURE";
	case IKE_N_FAILED_CP_REQUIRED:
		return "FAILED_CP_REQUIRED";
	case IKE_N_TS_UNACCEPTABLE:
		return "TS_UNACCEPTABLE";
	case IKE_N_INVALID_SELECTORS:
		return "INVALID_SELECTORS";
	case IKE_N_TEMPORARY_FAILURE:
		return "TEMPORARY_FAILURE";
	case IKE_N_CHILD_SA_NOT_FOUND:
		return "CHILD_SA_NOT_FOUND";
	case IKE_N_COOKIE:
		return "COOKIE";
	default:
		snprintf(buf, 16, "notify-%u", (unsigned)type);
		return buf;
	}
}

char *ike__safe_str(const uint8_t *s, size_t len, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return buf;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
		if (o + (plain ? 1 : 4) >= cap)
			break;
		if (plain) {
			buf[o++] = (char)c;
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[c >> 4];
		buf[o++] = hex[c & 15];
	}
	buf[o] = '\0';
	return buf;
}

void ike__appendf(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used = strnlen(buf, cap);
	va_list ap;

	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, cap - used, fmt, ap);
	va_end(ap);
}

bool ike__peer_log_ok(struct ike_engine *eng)
{
	return log_ratelimit_allow(&eng->rl, ike__now(eng), NULL);
}

uint64_t ike__now(const struct ike_engine *eng)
{
	return eng->env.now_ms(eng->env.ctx);
}

int ike__random(struct ike_engine *eng, uint8_t *buf, size_t len)
{
	int rc = eng->env.random(eng->env.ctx, buf, len);

	if (rc != 0)
		LOG_ERR(IKE, "random source failed", "err=\"%s\"", sdw_strerror(rc));
	return rc;
}

int ike__cache_set(struct ike_cached *c, const uint8_t *msg, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, msg, len);
	free(c->buf);
	c->buf = copy;
	c->len = len;
	c->n_frags = 0;
	return 0;
}

void ike__cache_clear(struct ike_cached *c)
{
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
	c->n_frags = 0;
}

static bool cache_equal(const struct ike_cached *c, const uint8_t *msg, size_t len)
{
	return c->buf && c->len == len && memcmp(c->buf, msg, len) == 0;
}

const struct ike_payload *ike__payload_find(const struct ike_payloads *pls, uint8_t type)
{
	for (size_t i = 0; i < pls->n; i++)
		if (pls->pl[i].type == type)
			return &pls->pl[i];
	return NULL;
}

bool ike__notify_find(const struct ike_payloads *pls, uint16_t type, struct ike_notify *out)
{
	for (size_t i = 0; i < pls->n; i++) {
		const struct ike_payload *pl = &pls->pl[i];
		if (pl->type == IKE_PAYLOAD_NOTIFY &&
		    ike_notify_parse(pl->body, pl->len, out) == IKE_PARSE_OK && out->type == type)
			return true;
	}
	return false;
}

uint16_t ike__notify_error(const struct ike_payloads *pls)
{
	struct ike_notify n;

	for (size_t i = 0; i < pls->n; i++) {
		const struct ike_payload *pl = &pls->pl[i];
		if (pl->type == IKE_PAYLOAD_NOTIFY &&
		    ike_notify_parse(pl->body, pl->len, &n) == IKE_PARSE_OK &&
		    n.type < IKE_NOTIFY_STATUS_MIN)
			return n.type;
	}
	return 0;
}

void ike__send_raw(struct ike_engine *eng, const struct ike_endpoint *local,
		   const struct ike_endpoint *remote, const uint8_t *msg, size_t len)
{
	int rc = eng->env.send(eng->env.ctx, local, remote, msg, len);

	if (rc == 0) {
		eng->stats.tx++;
		return;
	}
	eng->stats.tx_failed++;
	/* Bounded by our own sending, not by the peer's: no rate limit needed. */
	LOG_INFO(IKE, "IKE send failed", "len=%zu err=\"%s\"", len, sdw_strerror(rc));
}

static void endpoint_str(const struct ike_endpoint *ep, char buf[static IP_ADDR_STRLEN + 8])
{
	char a[IP_ADDR_STRLEN];

	if (ep->addr.family != IP_V4 && ep->addr.family != IP_V6) {
		snprintf(buf, IP_ADDR_STRLEN + 8, "any:%u", (unsigned)ep->port);
		return;
	}
	snprintf(buf, IP_ADDR_STRLEN + 8, "%s:%u", ip_addr_format(&ep->addr, a),
		 (unsigned)ep->port);
}

void ike__drop(struct ike_engine *eng, enum ike_drop why, const struct ike_endpoint *from,
	       const char *detail)
{
	char ep[IP_ADDR_STRLEN + 8];

	eng->stats.drops[why]++;
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	endpoint_str(from, ep);
	IKE_PEER_DEBUG(eng, "IKE datagram dropped", "reason=%s from=%s detail=\"%s\"",
		       ike_drop_name(why), ep, detail);
}

/* ---- engine ---- */

int ike_engine_new(const struct ike_env *env, const struct ike_engine_config *cfg,
		   struct ike_engine **out)
{
	struct ike_engine *eng;
	int rc;

	*out = NULL;
	if (!env || !env->now_ms || !env->random || !env->send)
		return -EINVAL;
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	eng->env = *env;
	if (cfg)
		eng->cfg = *cfg;
	if (!eng->cfg.retransmit_base_ms)
		eng->cfg.retransmit_base_ms = DEFAULT_RETRANSMIT_BASE_MS;
	if (!eng->cfg.retransmit_tries)
		eng->cfg.retransmit_tries = DEFAULT_RETRANSMIT_TRIES;
	if (!eng->cfg.half_open_cookie_limit)
		eng->cfg.half_open_cookie_limit = DEFAULT_HALF_OPEN_COOKIE_LIMIT;
	if (!eng->cfg.half_open_timeout_ms)
		eng->cfg.half_open_timeout_ms = DEFAULT_HALF_OPEN_TIMEOUT_MS;
	if (!eng->cfg.half_open_max)
		eng->cfg.half_open_max = DEFAULT_HALF_OPEN_MAX;
	if (!eng->cfg.linger_ms)
		eng->cfg.linger_ms = DEFAULT_LINGER_MS;
	if (!eng->cfg.natt_keepalive_ms)
		eng->cfg.natt_keepalive_ms = DEFAULT_NATT_KEEPALIVE_MS;
	ike__frag_config(&eng->cfg);
	eng->rl = (struct log_ratelimit){.interval_ms = PEER_LOG_INTERVAL_MS,
					 .burst = PEER_LOG_BURST};
	eng->cookie_version = 1;
	rc = ike__random(eng, eng->cookie_secret, sizeof(eng->cookie_secret));
	if (rc == 0)
		rc = ike__index_init(eng);
	if (rc == 0 && !(eng->kex_gen = ike_kex_gen_new()))
		rc = -ENOMEM;
	if (rc != 0) {
		ike_engine_free(eng);
		return rc;
	}
	*out = eng;
	return 0;
}

static void sa_free(struct ike_ikesa *sa)
{
	while (sa->children) {
		struct ike_child *c = sa->children;
		sa->children = c->next;
		ike__child_spi_release(sa->eng, c->spi_in);
		free(c);
	}
	ike__child_spi_release(sa->eng, sa->child_spi_in);
	ike__ccsa_clear(sa);
	ike_kex_free(sa->kex);
	ike_sa_keys_wipe(&sa->keys);
	ike_sk_wipe(&sa->sk_out);
	ike_sk_wipe(&sa->sk_in);
	ike__cache_clear(&sa->req);
	ike__cache_clear(&sa->resp);
	ike__cache_clear(&sa->last_req);
	ike__cache_clear(&sa->init_req);
	ike__cache_clear(&sa->init_resp);
	ike__frag_rx_free(&sa->frag_rx);
	OPENSSL_cleanse(sa, sizeof(*sa));
	free(sa);
}

void ike_engine_free(struct ike_engine *eng)
{
	if (!eng)
		return;
	while (eng->sas) {
		struct ike_ikesa *sa = eng->sas;
		eng->sas = sa->next;
		sa_free(sa);
	}
	ike__index_free(eng);
	ike_kex_gen_free(eng->kex_gen);
	while (eng->peers) {
		struct ike_peer *p = eng->peers;
		eng->peers = p->next;
		ike__cert_cache_clear(&p->peer_cert);
		ike__cert_config_unref(&p->cfg);
		OPENSSL_cleanse(p, sizeof(*p));
		free(p);
	}
	OPENSSL_cleanse(eng, sizeof(*eng));
	free(eng);
}

/* Non-empty, NUL-terminated, and safe to print inside a quoted log value as is. */
static bool str_ok(const char *s, size_t cap)
{
	if (s[0] == '\0' || memchr(s, '\0', cap) == NULL)
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

static bool ts_ok(const struct prefix *p, size_t n)
{
	if (n == 0 || n > IKE_PEER_TS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((p[i].addr.family != IP_V4 && p[i].addr.family != IP_V6) ||
		    p[i].len > ip_family_bits(p[i].addr.family))
			return false;
	return true;
}

/* The first field of a tunnel configuration the engine cannot run, or NULL. */
static const char *peer_config_problem(const struct ike_peer_config *c, const char **why)
{
	*why = "missing, not NUL-terminated, or not printable ASCII without spaces and quotes";
	if (!str_ok(c->name, sizeof(c->name)))
		return "name";
	if (!str_ok(c->local_id, sizeof(c->local_id)))
		return "local_id";
	if (!str_ok(c->remote_id, sizeof(c->remote_id)))
		return "remote_id";
	*why = "must be psk or certificate";
	if (c->auth != IKE_PEER_AUTH_PSK && c->auth != IKE_PEER_AUTH_CERT)
		return "auth";
	*why = "must be 1 to 128 octets";
	if (c->auth == IKE_PEER_AUTH_PSK && (c->psk_len == 0 || c->psk_len > IKE_PSK_MAX))
		return "psk";
	*why = "needs an AEAD cipher, a PRF and a group of x25519, ecp256 or ecp384";
	if (ike_sk_keymat_len(c->ike.encr) == 0 || ike__prf_id(c->ike.prf) == 0 ||
	    ike_kex_public_len(c->ike.group) == 0)
		return "ike proposal";
	*why = "needs an AEAD cipher";
	if (ike__esp_cipher(c->esp.encr) == ESP_CIPHER_COUNT)
		return "esp proposal";
	*why = "needs 1 to 16 valid prefixes";
	if (!ts_ok(c->local_ts, c->n_local_ts))
		return "local_ts";
	if (!ts_ok(c->remote_ts, c->n_remote_ts))
		return "remote_ts";
	*why = "an initiator needs the peer's address and port";
	if (c->initiate && ((c->remote.addr.family != IP_V4 && c->remote.addr.family != IP_V6) ||
			    c->remote.port == 0))
		return "remote";
	return NULL;
}

static struct ike_peer *peer_by_name(struct ike_engine *eng, const char *name)
{
	for (struct ike_peer *p = eng->peers; p; p = p->next)
		if (strncmp(p->cfg.name, name, sizeof(p->cfg.name)) == 0)
			return p;
	return NULL;
}

int ike_engine_add_peer(struct ike_engine *eng, const struct ike_peer_config *cfg)
{
	const char *why, *field = peer_config_problem(cfg, &why);
	char name[IKE_PEER_NAME_MAX * 4], cert_why[IKE_CERT_REASON_MAX];

	ike__safe_str((const uint8_t *)cfg->name, strnlen(cfg->name, sizeof(cfg->name)), name,
		      sizeof(name));
	if (!field && cfg->auth == IKE_PEER_AUTH_CERT &&
	    !ike__cert_config_ok(cfg, cert_why, sizeof(cert_why))) {
		field = "certificate";
		why = cert_why;
	}
	if (field) {
		LOG_ERR(IKE, "invalid tunnel configuration",
			"tunnel=\"%s\" field=\"%s\" problem=\"%s\"", name, field, why);
		return -EINVAL;
	}
	if (peer_by_name(eng, cfg->name)) {
		LOG_ERR(IKE, "duplicate tunnel name", "tunnel=\"%s\"", name);
		return -EEXIST;
	}
	struct ike_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	if (ike__cert_config_ref(&p->cfg) != 0) {
		free(p);
		return -ENOMEM;
	}
	/* Append, so responders try tunnels in the order they were configured. */
	struct ike_peer **pp = &eng->peers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	return 0;
}

int ike_engine_remove_peer(struct ike_engine *eng, const char *name)
{
	struct ike_peer **pp = &eng->peers;

	while (*pp && strncmp((*pp)->cfg.name, name, sizeof((*pp)->cfg.name)) != 0)
		pp = &(*pp)->next;
	struct ike_peer *p = *pp;
	if (!p)
		return -ENOENT;
	/* SAs point at their peer's configuration: none may outlive it. */
	for (struct ike_ikesa **sp = &eng->sas; *sp;) {
		struct ike_ikesa *sa = *sp;
		if (sa->peer != p) {
			sp = &sa->next;
			continue;
		}
		*sp = sa->next;
		ike__index_sa_remove(sa);
		if (sa->state == IKE_STATE_INIT_REPLIED)
			eng->half_open--;
		eng->n_sas--;
		eng->stats.sas_freed++;
		sa_free(sa);
	}
	*pp = p->next;
	ike__cert_cache_clear(&p->peer_cert);
	ike__cert_config_unref(&p->cfg);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
	return 0;
}

static bool endpoint_accepts(const struct ike_endpoint *cfg, const struct ike_endpoint *ep)
{
	if (cfg->addr.family != IP_V4 && cfg->addr.family != IP_V6)
		return true;
	return ip_addr_cmp(&cfg->addr, &ep->addr) == 0;
}

bool ike__peer_accepts(const struct ike_peer *p, const struct ike_endpoint *remote,
		       const struct ike_endpoint *local)
{
	return endpoint_accepts(&p->cfg.remote, remote) && endpoint_accepts(&p->cfg.local, local);
}

/* ---- SAs ---- */

uint64_t ike__sa_handle(const struct ike_ikesa *sa)
{
	return sa->initiator ? sa->spi_i : sa->spi_r;
}

int ike__sa_new(struct ike_engine *eng, struct ike_peer *peer, bool initiator,
		struct ike_ikesa **out)
{
	struct ike_ikesa *sa = calloc(1, sizeof(*sa));
	uint64_t spi = 0;
	int rc = 0;

	*out = NULL;
	if (!sa)
		return -ENOMEM;
	/* Our SPI: random, non-zero (§3.1: zero means "not yet known"), unique here. */
	for (int i = 0; i < SPI_DRAWS && (spi == 0 || ike__sa_by_handle(eng, spi)); i++) {
		uint8_t b[IKE_SPI_LEN];
		rc = ike__random(eng, b, sizeof(b));
		if (rc != 0)
			break;
		spi = 0;
		for (size_t k = 0; k < sizeof(b); k++)
			spi = spi << 8 | b[k];
	}
	if (rc == 0 && (spi == 0 || ike__sa_by_handle(eng, spi)))
		rc = -EAGAIN;
	if (rc != 0) {
		free(sa);
		return rc;
	}
	sa->eng = eng;
	sa->peer = peer;
	sa->initiator = initiator;
	sa->state = IKE_STATE_IDLE;
	if (initiator)
		sa->spi_i = spi;
	else
		sa->spi_r = spi;
	sa->next = eng->sas;
	eng->sas = sa;
	ike__index_sa_add(sa);
	eng->n_sas++;
	eng->stats.sas_created++;
	*out = sa;
	return 0;
}

static void event_fill(const struct ike_engine *eng, const struct ike_ikesa *sa,
		       enum ike_event_type type, struct ike_event *ev)
{
	(void)eng;
	*ev = (struct ike_event){.type = type, .peer = "", .phase = ""};
	if (!sa)
		return;
	ev->peer = sa->peer->cfg.name;
	ev->local = sa->local;
	ev->remote = sa->remote;
	ev->sa = ike__sa_handle(sa);
	ev->spi_i = sa->spi_i;
	ev->spi_r = sa->spi_r;
	ev->old_state = sa->state;
	ev->new_state = sa->state;
}

void ike__event(struct ike_engine *eng, const struct ike_ikesa *sa, enum ike_event_type type,
		const char *phase, uint16_t notify, const char *reason)
{
	struct ike_event ev;

	if (!eng->env.event)
		return;
	event_fill(eng, sa, type, &ev);
	ev.phase = phase ? phase : "";
	ev.notify = notify;
	ev.reason = reason ? reason : "";
	eng->env.event(eng->env.ctx, &ev);
}

void ike__sa_set_state(struct ike_ikesa *sa, enum ike_state next, const char *reason)
{
	struct ike_engine *eng = sa->eng;
	enum ike_state old = sa->state;
	uint64_t now = ike__now(eng);

	if ((unsigned)next >= IKE_STATE_COUNT || !transitions[old][next]) {
		eng->stats.state_refused++;
		LOG_ERR(IKE, "IKE_SA state change refused",
			"tunnel=%s sa=%016" PRIx64 " state=\"%s -> %s (%s)\"", sa->peer->cfg.name,
			ike__sa_handle(sa), ike_state_name(old), ike_state_name(next), reason);
		return;
	}
	sa->state = next;
	ike__index_sa_state(sa, old);
	if (old == IKE_STATE_INIT_REPLIED)
		eng->half_open--;
	if (next == IKE_STATE_INIT_REPLIED) {
		eng->half_open++;
		sa->deadline = now + eng->cfg.half_open_timeout_ms;
	}
	if (next == IKE_STATE_FAILED) {
		/* Only a responder has answers worth keeping for retransmissions. */
		sa->deadline = now + (sa->initiator ? 0 : eng->cfg.linger_ms);
		sa->req_pending = false;
	}
	if (next == IKE_STATE_CLOSED) {
		/* Either side may have answered the peer's last request (a crossing Delete). */
		sa->deadline = now + eng->cfg.linger_ms;
		sa->req_pending = false;
	}
	if (next == IKE_STATE_REKEYED)
		sa->deadline = now + eng->cfg.linger_ms; /* then we delete it ourselves */
	if (next == IKE_STATE_ESTABLISHED)
		sa->rekey_at = ike__ike_rekey_time(sa);
	eng->stats.state_enter[next]++;
	LOG_NOTICE(IKE, "IKE_SA state change",
		   "tunnel=%s sa=%016" PRIx64 " spi_i=%016" PRIx64 " spi_r=%016" PRIx64
		   " state=\"%s -> %s (%s)\"",
		   sa->peer->cfg.name, ike__sa_handle(sa), sa->spi_i, sa->spi_r,
		   ike_state_name(old), ike_state_name(next), reason);
	if (eng->env.event) {
		struct ike_event ev;
		event_fill(eng, sa, IKE_EVENT_STATE, &ev);
		ev.old_state = old;
		ev.reason = reason;
		eng->env.event(eng->env.ctx, &ev);
	}
	if (next == IKE_STATE_FAILED || next == IKE_STATE_CLOSED)
		ike__child_sa_ending(sa);
}

void ike__sa_fail(struct ike_ikesa *sa, const char *phase, uint16_t notify, const char *fmt, ...)
{
	va_list ap;

	if (sa->state == IKE_STATE_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(sa->reason, sizeof(sa->reason), fmt, ap);
	va_end(ap);
	ike__sa_set_state(sa, IKE_STATE_FAILED, sa->reason);
	ike__event(sa->eng, sa, IKE_EVENT_FAILED, phase, notify, sa->reason);
}

/* ---- requests and responses ---- */

int ike__request_hdr(struct ike_ikesa *sa, uint8_t exchange, struct ike_hdr *hdr)
{
	/* §2.2: message IDs do not wrap; the SA must be rekeyed before they run out. */
	if (sa->msgid_next >= IKE_MSGID_END)
		return -ERANGE;
	*hdr = (struct ike_hdr){
		.spi_i = sa->spi_i,
		.spi_r = sa->spi_r,
		.exchange = exchange,
		.flags = sa->initiator ? IKE_FLAG_INITIATOR : 0,
		.msg_id = (uint32_t)sa->msgid_next,
	};
	return 0;
}

/* Send the request now in sa->req (whole or fragmented) and arm its retransmission. */
static void request_arm(struct ike_ikesa *sa, const struct ike_hdr *hdr)
{
	struct ike_engine *eng = sa->eng;

	sa->req_pending = true;
	sa->req_msgid = hdr->msg_id;
	sa->req_exchange = hdr->exchange;
	sa->msgid_next = (uint64_t)hdr->msg_id + 1;
	sa->req_sends = 1;
	sa->req_interval = eng->cfg.retransmit_base_ms;
	sa->req_retx_at = ike__now(eng) + sa->req_interval;
	ike__cached_send(eng, &sa->req, &sa->local, &sa->remote);
}

int ike__request_send(struct ike_ikesa *sa, const struct ike_hdr *hdr, const uint8_t *msg,
		      size_t len)
{
	int rc = ike__cache_set(&sa->req, msg, len);

	if (rc != 0)
		return rc;
	request_arm(sa, hdr);
	return 0;
}

int ike__request_send_sk(struct ike_ikesa *sa, const struct ike_hdr *hdr, uint8_t first,
			 const uint8_t *chain, size_t len)
{
	struct ike_engine *eng = sa->eng;
	size_t mlen;
	int rc;

	if (ike__frag_needed(sa, len)) {
		rc = ike__frag_seal(sa, hdr, first, chain, len, &sa->req);
		if (rc == 0)
			request_arm(sa, hdr);
		return rc;
	}
	rc = ike_sk_encrypt(&sa->sk_out, hdr, first, chain, len, eng->tx, sizeof(eng->tx), &mlen);
	if (rc != 0)
		return rc;
	return ike__request_send(sa, hdr, eng->tx, mlen);
}

int ike__response_send(struct ike_ikesa *sa, const struct ike_hdr *req, const uint8_t *msg,
		       size_t len, const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	int rc = ike__cache_set(&sa->resp, msg, len);

	if (rc != 0)
		return rc;
	sa->resp_valid = true;
	sa->resp_msgid = req->msg_id;
	ike__cached_send(sa->eng, &sa->resp, to, from);
	return 0;
}

int ike__response_send_sk(struct ike_ikesa *sa, const struct ike_hdr *req, uint8_t first,
			  const uint8_t *chain, size_t len, const struct ike_endpoint *from,
			  const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	struct ike_hdr hdr = {
		.spi_i = sa->spi_i,
		.spi_r = sa->spi_r,
		.exchange = req->exchange,
		.flags = (uint8_t)(IKE_FLAG_RESPONSE | (sa->initiator ? IKE_FLAG_INITIATOR : 0)),
		.msg_id = req->msg_id,
	};
	size_t mlen;
	int rc;

	if (ike__frag_needed(sa, len)) {
		rc = ike__frag_seal(sa, &hdr, first, chain, len, &sa->resp);
		if (rc != 0)
			return rc;
		sa->resp_valid = true;
		sa->resp_msgid = req->msg_id;
		ike__cached_send(eng, &sa->resp, to, from);
		return 0;
	}
	rc = ike_sk_encrypt(&sa->sk_out, &hdr, first, chain, len, eng->tx, sizeof(eng->tx), &mlen);
	if (rc != 0)
		return rc;
	return ike__response_send(sa, req, eng->tx, mlen, from, to);
}

/* ---- input ---- */

/* The SA a non-IKE_SA_INIT message belongs to: both SPIs, and our role opposite the sender's.
 * Our SPI (the handle) is unique in the engine, so it finds the one candidate. */
static struct ike_ikesa *sa_by_spis(struct ike_engine *eng, const struct ike_hdr *h)
{
	bool we_initiated = (h->flags & IKE_FLAG_INITIATOR) == 0;
	struct ike_ikesa *sa = ike__sa_by_handle(eng, we_initiated ? h->spi_i : h->spi_r);

	if (sa && sa->initiator == we_initiated && sa->spi_i == h->spi_i && sa->spi_r == h->spi_r)
		return sa;
	return NULL;
}

/* Decrypt the SK payload of eng->rx (from pkt) and parse its content into eng->inner. */
static bool decrypt_inner(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
			  const struct ike_endpoint *from)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_payloads *pls = &eng->rx.pls;
	const struct ike_payload *sk = pls->n ? &pls->pl[pls->n - 1] : NULL;
	size_t pt_len;

	if (!sa->keyed) {
		ike__drop(eng, IKE_DROP_STATE, from, "encrypted message before keys exist");
		return false;
	}
	if (!pls->encrypted || !sk) {
		ike__drop(eng, IKE_DROP_INVALID, from, "unencrypted message after IKE_SA_INIT");
		return false;
	}
	/* RFC 7383: a fragment is verified and held; the last one completes eng->inner. */
	if (sk->type == IKE_PAYLOAD_SKF)
		return ike__frag_input(sa, pkt, len, sk, from) == IKE_FRAG_COMPLETE;
	enum ike_sk_verdict v = ike_sk_decrypt(&sa->sk_in, pkt, len, (size_t)(sk->body - pkt),
					       sk->len, eng->pt, sizeof(eng->pt), &pt_len);
	if (v != IKE_SK_OK) {
		eng->stats.sk[v]++;
		ike__drop(eng, IKE_DROP_DECRYPT, from, ike_sk_verdict_name(v));
		return false;
	}
	enum ike_parse perr = ike_msg_parse_inner(eng->pt, pt_len, sk->next, &eng->inner);
	if (perr != IKE_PARSE_OK) {
		eng->stats.parse[perr]++;
		ike__drop(eng, IKE_DROP_PARSE, from, ike_parse_name(perr));
		return false;
	}
	return true;
}

typedef void request_handler(struct ike_ikesa *sa, const struct ike_hdr *hdr,
			     const struct ike_payloads *pls, const struct ike_endpoint *from,
			     const struct ike_endpoint *to);

/* The handler of a new request in the SA's state, or NULL with *why set. */
static request_handler *request_handler_for(const struct ike_ikesa *sa, uint8_t exchange,
					    enum ike_drop *why)
{
	*why = IKE_DROP_STATE;
	switch (exchange) {
	case IKE_EXCH_IKE_AUTH:
		if (!sa->initiator && sa->state == IKE_STATE_INIT_REPLIED)
			return ike__auth_process_request;
		return NULL;
	case IKE_EXCH_INFORMATIONAL:
		if (sa->state == IKE_STATE_ESTABLISHED || sa->state == IKE_STATE_REKEYED ||
		    sa->state == IKE_STATE_DELETING)
			return ike__info_process_request;
		return NULL;
	case IKE_EXCH_CREATE_CHILD_SA:
		/* A rekeyed or closing SA still answers (TEMPORARY_FAILURE, §2.25). */
		if (sa->state == IKE_STATE_ESTABLISHED || sa->state == IKE_STATE_REKEYED ||
		    sa->state == IKE_STATE_DELETING)
			return ike__child_process_request;
		return NULL;
	default:
		*why = IKE_DROP_INVALID;
		return NULL;
	}
}

static void input_request(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
			  const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_hdr *h = &eng->rx.hdr;
	enum ike_drop why;

	if (h->msg_id != sa->msgid_peer_next) {
		/* §2.1: a retransmitted request gets the same response again, octet for octet;
		 * of a fragmented one, only its authentic fragment 1 does (RFC 7383 §2.6.1). */
		if (sa->resp_valid && h->msg_id == sa->resp_msgid &&
		    (ike__frag_is_skf(&eng->rx.pls) ? ike__frag_retransmit_trigger(sa, pkt, len)
						    : cache_equal(&sa->last_req, pkt, len))) {
			eng->stats.cached_responses++;
			ike__cached_send(eng, &sa->resp, to, from);
			return;
		}
		ike__drop(eng, IKE_DROP_MSGID, from, "request outside the window");
		return;
	}
	request_handler *handler = request_handler_for(sa, h->exchange, &why);
	if (!handler) {
		ike__drop(eng, why, from, ike__exchange_name(h->exchange));
		return;
	}
	if (!decrypt_inner(sa, pkt, len, from))
		return;
	if (ike__cache_set(&sa->last_req, pkt, len) != 0) {
		ike__drop(eng, IKE_DROP_STATE, from, "out of memory");
		return;
	}
	sa->msgid_peer_next++;
	ike__natt_authenticated(sa, from, to);
	handler(sa, h, &eng->inner, from, to);
	ike__sa_kick(sa);
}

static void input_response(struct ike_ikesa *sa, const uint8_t *pkt, size_t len,
			   const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_hdr *h = &eng->rx.hdr;

	if (!sa->req_pending || h->msg_id != sa->req_msgid || h->exchange != sa->req_exchange) {
		ike__drop(eng, IKE_DROP_UNEXPECTED, from, "response to no outstanding request");
		return;
	}
	if (!decrypt_inner(sa, pkt, len, from))
		return;
	sa->req_pending = false;
	ike__cache_clear(&sa->req);
	ike__natt_authenticated(sa, from, to);
	if (h->exchange == IKE_EXCH_IKE_AUTH)
		ike__auth_process_response(sa, &eng->inner);
	else if (h->exchange == IKE_EXCH_INFORMATIONAL)
		ike__info_process_response(sa, &eng->inner);
	else if (h->exchange == IKE_EXCH_CREATE_CHILD_SA)
		ike__child_process_response(sa, &eng->inner);
	ike__sa_kick(sa);
}

static void input_init_request(struct ike_engine *eng, const uint8_t *pkt, size_t len,
			       const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	const struct ike_hdr *h = &eng->rx.hdr;

	if (!(h->flags & IKE_FLAG_INITIATOR) || h->msg_id != 0 || h->spi_r != 0 || h->spi_i == 0) {
		ike__drop(eng, IKE_DROP_INVALID, from, "IKE_SA_INIT request header");
		return;
	}
	struct ike_ikesa *sa = ike__sa_by_peer_spi(eng, h->spi_i, from);
	if (sa) {
		if (sa->state == IKE_STATE_INIT_REPLIED && cache_equal(&sa->init_req, pkt, len)) {
			eng->stats.cached_responses++;
			ike__send_raw(eng, to, from, sa->init_resp.buf, sa->init_resp.len);
			return;
		}
		ike__drop(eng, IKE_DROP_MSGID, from, "IKE_SA_INIT for an SPI in use");
		return;
	}
	ike__init_process_request(eng, pkt, len, from, to);
}

static void input_init_response(struct ike_engine *eng, const uint8_t *pkt, size_t len,
				const struct ike_endpoint *from)
{
	const struct ike_hdr *h = &eng->rx.hdr;
	struct ike_ikesa *sa = ike__sa_by_handle(eng, h->spi_i);

	if (sa && !sa->initiator)
		sa = NULL;
	if (!sa) {
		ike__drop(eng, IKE_DROP_NO_SA, from, "IKE_SA_INIT response");
		return;
	}
	if (sa->state != IKE_STATE_INIT_SENT || !sa->req_pending ||
	    sa->req_exchange != IKE_EXCH_IKE_SA_INIT || h->msg_id != 0 ||
	    (h->flags & IKE_FLAG_INITIATOR)) {
		ike__drop(eng, IKE_DROP_UNEXPECTED, from, "IKE_SA_INIT response");
		return;
	}
	sa->req_pending = false;
	ike__init_process_response(sa, pkt, len);
}

void ike_input(struct ike_engine *eng, const uint8_t *pkt, size_t len,
	       const struct ike_endpoint *from, const struct ike_endpoint *to)
{
	const struct ike_hdr *h = &eng->rx.hdr;

	eng->stats.rx++;
	enum ike_parse perr = ike_msg_parse(pkt, len, &eng->rx);
	if (perr != IKE_PARSE_OK) {
		eng->stats.parse[perr]++;
		ike__drop(eng, IKE_DROP_PARSE, from, ike_parse_name(perr));
		return;
	}
	bool response = (h->flags & IKE_FLAG_RESPONSE) != 0;
	if (h->exchange == IKE_EXCH_IKE_SA_INIT) {
		if (response)
			input_init_response(eng, pkt, len, from);
		else
			input_init_request(eng, pkt, len, from, to);
		return;
	}
	struct ike_ikesa *sa = sa_by_spis(eng, h);
	if (!sa) {
		ike__drop(eng, IKE_DROP_NO_SA, from, ike__exchange_name(h->exchange));
		return;
	}
	if (response)
		input_response(sa, pkt, len, from, to);
	else
		input_request(sa, pkt, len, from, to);
}

bool ike_send_needs_marker(const struct ike_endpoint *local, const struct ike_endpoint *remote,
			   const uint8_t *msg, size_t len)
{
	/* RFC 3948 §2.3: the NAT-keepalive is the one octet 0xFF, never prefixed. */
	if (len == 1 && msg[0] == 0xff)
		return false;
	return local->port == IKE_NATT_PORT || remote->port == IKE_NATT_PORT;
}

/* ---- timers ---- */

static void sa_retransmit(struct ike_ikesa *sa, uint64_t now)
{
	struct ike_engine *eng = sa->eng;
	char ep[IP_ADDR_STRLEN + 8];

	if (sa->req_sends > eng->cfg.retransmit_tries && sa->state == IKE_STATE_DELETING) {
		/* Going away anyway: the peer may have dropped it already (a rekey it abandoned).
		 */
		ike__sa_set_state(sa, IKE_STATE_CLOSED, "our Delete went unanswered");
		ike__event(eng, sa, IKE_EVENT_IKE_DELETED, "INFORMATIONAL", 0,
			   "deleted by us; the peer did not answer");
		return;
	}
	if (sa->req_sends > eng->cfg.retransmit_tries) {
		endpoint_str(&sa->remote, ep);
		ike__sa_fail(sa, ike__exchange_name(sa->req_exchange), 0,
			     "no response to %s from %s after %u transmissions: check that the "
			     "peer is reachable and has a tunnel configured for us",
			     ike__exchange_name(sa->req_exchange), ep, (unsigned)sa->req_sends);
		return;
	}
	sa->req_sends++;
	sa->req_interval *= 2;
	sa->req_retx_at = now + sa->req_interval;
	eng->stats.retransmits++;
	LOG_INFO(IKE, "IKE request retransmitted", "tunnel=%s sa=%016" PRIx64 " exchange=%s try=%u",
		 sa->peer->cfg.name, ike__sa_handle(sa), ike__exchange_name(sa->req_exchange),
		 (unsigned)sa->req_sends);
	ike__cached_send(eng, &sa->req, &sa->local, &sa->remote);
}

void ike_tick(struct ike_engine *eng)
{
	uint64_t now = ike__now(eng);
	struct ike_ikesa **pp = &eng->sas;

	while (*pp) {
		struct ike_ikesa *sa = *pp;
		if ((sa->state == IKE_STATE_FAILED || sa->state == IKE_STATE_CLOSED) &&
		    now >= sa->deadline) {
			*pp = sa->next;
			ike__index_sa_remove(sa);
			eng->n_sas--;
			eng->stats.sas_freed++;
			sa_free(sa);
			continue;
		}
		if (sa->req_pending && now >= sa->req_retx_at)
			sa_retransmit(sa, now);
		if (sa->state == IKE_STATE_INIT_REPLIED && now >= sa->deadline)
			ike__sa_fail(sa, "IKE_AUTH", 0,
				     "half-open: no valid IKE_AUTH request within %u ms",
				     (unsigned)eng->cfg.half_open_timeout_ms);
		ike__natt_tick(sa, now);
		ike__frag_tick(sa, now);
		ike__sa_kick(sa);
		pp = &sa->next;
	}
}

uint64_t ike_next_timer_ms(const struct ike_engine *eng)
{
	uint64_t next = UINT64_MAX;

	for (const struct ike_ikesa *sa = eng->sas; sa; sa = sa->next) {
		if (sa->req_pending && sa->req_retx_at < next)
			next = sa->req_retx_at;
		if ((sa->state == IKE_STATE_INIT_REPLIED || sa->state == IKE_STATE_FAILED ||
		     sa->state == IKE_STATE_CLOSED || sa->state == IKE_STATE_REKEYED) &&
		    sa->deadline < next)
			next = sa->deadline;
		if (ike__natt_next(sa) < next)
			next = ike__natt_next(sa);
		if (ike__frag_next(sa) < next)
			next = ike__frag_next(sa);
		uint64_t child = ike__child_next_timer(sa);
		if (child < next)
			next = child;
	}
	return next;
}

/* ---- API ---- */

int ike_sa_initiate(struct ike_engine *eng, const char *peer, uint64_t *handle)
{
	struct ike_peer *p = peer_by_name(eng, peer);
	struct ike_ikesa *sa;
	int rc;

	if (!p)
		return -ENOENT;
	if (p->cfg.remote.addr.family != IP_V4 && p->cfg.remote.addr.family != IP_V6)
		return -EINVAL;
	rc = ike__sa_new(eng, p, true, &sa);
	if (rc != 0)
		return rc;
	sa->local = p->cfg.local;
	ike__sa_set_remote(sa, &p->cfg.remote);
	rc = ike__init_request_send(sa);
	if (rc != 0) {
		ike__sa_fail(sa, "IKE_SA_INIT", 0, "could not start: %s", sdw_strerror(rc));
		return rc;
	}
	ike__sa_set_state(sa, IKE_STATE_INIT_SENT, "IKE_SA_INIT request sent");
	if (handle)
		*handle = ike__sa_handle(sa);
	return 0;
}

int ike_sa_liveness_check(struct ike_engine *eng, uint64_t handle)
{
	struct ike_ikesa *sa = ike__sa_by_handle(eng, handle);
	int rc;

	if (!sa)
		return -ENOENT;
	if (sa->state != IKE_STATE_ESTABLISHED || sa->req_pending)
		return -EAGAIN;
	rc = ike__info_request_send_empty(sa);
	if (rc == -ERANGE) {
		LOG_NOTICE(IKE, "IKE_SA message IDs exhausted",
			   "tunnel=%s sa=%016" PRIx64 " action=\"rekey the IKE SA\"",
			   sa->peer->cfg.name, handle);
		ike__event(eng, sa, IKE_EVENT_REKEY_NEEDED, "INFORMATIONAL", 0,
			   "message IDs exhausted (2^32 requests): the IKE SA must be rekeyed");
	}
	return rc;
}

int ike_sa_peer_seen(struct ike_engine *eng, uint64_t handle, const struct ike_endpoint *from)
{
	struct ike_ikesa *sa = ike__sa_by_handle(eng, handle);

	return sa ? ike__natt_esp_seen(sa, from) : -ENOENT;
}

const struct ike_stats *ike_engine_stats(const struct ike_engine *eng)
{
	return &eng->stats;
}

size_t ike_engine_sa_count(const struct ike_engine *eng)
{
	return eng->n_sas;
}

static void sa_info(const struct ike_ikesa *sa, struct ike_sa_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->peer, sizeof(out->peer), "%s", sa->peer->cfg.name);
	out->sa = ike__sa_handle(sa);
	out->spi_i = sa->spi_i;
	out->spi_r = sa->spi_r;
	out->initiator = sa->initiator;
	out->state = sa->state;
	out->local = sa->local;
	out->remote = sa->remote;
	out->msgid_next = sa->msgid_next;
	out->msgid_peer_next = sa->msgid_peer_next;
	out->nat_local = sa->nat_local;
	out->nat_remote = sa->nat_remote;
	out->peer_fragmentation = sa->peer_frag;
	out->cert_auth = sa->cert_auth;
	out->natt = sa->natt;
	out->keepalives = ike__natt_next(sa) != UINT64_MAX;
	ike__natt_esp_endpoints(sa, &out->esp_local, &out->esp_remote);
	snprintf(out->peer_site, sizeof(out->peer_site), "%s", sa->peer_site);
	for (const struct ike_child *c = sa->children; c; c = c->next)
		out->n_children++;
}

int ike_engine_sa_at(const struct ike_engine *eng, size_t idx, struct ike_sa_info *out)
{
	const struct ike_ikesa *sa = eng->sas;

	for (size_t i = 0; sa && i < idx; i++)
		sa = sa->next;
	if (!sa)
		return -ENOENT;
	sa_info(sa, out);
	return 0;
}

int ike_engine_sa_get(const struct ike_engine *eng, uint64_t handle, struct ike_sa_info *out)
{
	const struct ike_ikesa *sa = ike__sa_by_handle(eng, handle);

	if (!sa)
		return -ENOENT;
	sa_info(sa, out);
	return 0;
}
