/*
 * EdgeConfig -> plan: validation with operator-facing reasons, effective prefixes, and the
 * tables derived from them. See tplan.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/ctl_msg.h"
#include "edge/dp/dp.h"
#include "edge/tplan.h"

__attribute__((format(printf, 4, 5))) static int fail(struct tplan_error *err, uint32_t code,
						      const char *tunnel, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	snprintf(err->tunnel, sizeof(err->tunnel), "%s", tunnel ? tunnel : "");
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define INVALID     SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID
#define UNSUPPORTED SDWAN__CONFIG_ERROR__CONFIG_ERROR_UNSUPPORTED

static bool has_prefix(const struct prefix *set, size_t n, const struct prefix *p)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_cmp(&set[i], p) == 0)
			return true;
	return false;
}

/* Append p to set[0, *n) unless present; false when the set is full. */
static bool add_prefix(struct prefix *set, size_t *n, size_t cap, const struct prefix *p)
{
	if (has_prefix(set, *n, p))
		return true;
	if (*n >= cap)
		return false;
	set[(*n)++] = *p;
	return true;
}

/* Read a repeated Prefix field into set (deduplicated). */
static int read_prefixes(Sdwan__Prefix *const *in, size_t n_in, struct prefix *set, size_t *n,
			 size_t cap, const char *field, const char *tunnel, struct tplan_error *err)
{
	for (size_t i = 0; i < n_in; i++) {
		struct prefix p;
		if (ctl_msg_prefix_get(in[i], &p) != 0)
			return fail(err, INVALID, tunnel,
				    "%s[%zu] is not a prefix (4 or 16 address bytes, length within "
				    "the family, no host bits set)",
				    field, i);
		if (!add_prefix(set, n, cap, &p))
			return fail(err, UNSUPPORTED, tunnel,
				    "%s: more than %zu prefixes; summarise them into fewer", field,
				    cap);
	}
	return 0;
}

/* Add every WAN prefix not belonging to site `except` (transit). */
static int add_transit(const struct Sdwan__EdgeConfig *cfg, const char *except, struct prefix *set,
		       size_t *n, const char *field, const char *tunnel, struct tplan_error *err)
{
	for (size_t s = 0; s < cfg->n_wan_prefixes; s++) {
		const Sdwan__SitePrefixes *sp = cfg->wan_prefixes[s];
		if (!sp->site || strcmp(sp->site, except) == 0 || strcmp(sp->site, cfg->site) == 0)
			continue;
		int rc = read_prefixes(sp->prefixes, sp->n_prefixes, set, n, TPLAN_PREFIX_MAX,
				       field, tunnel, err);
		if (rc)
			return rc;
	}
	return 0;
}

static bool str_fits(const char *s, size_t cap)
{
	return s && s[0] && strlen(s) < cap;
}

static int read_proposals(const Sdwan__Tunnel *in, struct tplan_tunnel *t, struct tplan_error *err)
{
	struct proposal_errors pe = {0};

	if (proposal_parse(in->ike_proposal, PROPOSAL_IKE, &t->ike, &pe) != 0)
		return fail(err, INVALID, t->name, "ike_proposal \"%s\": %s", in->ike_proposal,
			    pe.n ? pe.e[0].msg : "not a proposal");
	memset(&pe, 0, sizeof(pe));
	if (proposal_parse(in->esp_proposal, PROPOSAL_ESP, &t->esp, &pe) != 0)
		return fail(err, INVALID, t->name, "esp_proposal \"%s\": %s", in->esp_proposal,
			    pe.n ? pe.e[0].msg : "not a proposal");
	return 0;
}

static int read_dpd(const Sdwan__Tunnel *in, struct tplan_tunnel *t, struct tplan_error *err)
{
	switch (in->dpd_mode) {
	case SDWAN__DPD_MODE__DPD_MODE_UNSPECIFIED:
	case SDWAN__DPD_MODE__DPD_MODE_ON_IDLE:
		t->dpd_mode = DPD_ON_IDLE;
		break;
	case SDWAN__DPD_MODE__DPD_MODE_ON_DEMAND:
		t->dpd_mode = DPD_ON_DEMAND;
		break;
	case SDWAN__DPD_MODE__DPD_MODE_OFF:
		t->dpd_mode = DPD_OFF;
		break;
	default:
		return fail(err, UNSUPPORTED, t->name,
			    "dpd_mode %d unknown: use on-idle, on-demand or off",
			    (int)in->dpd_mode);
	}
	t->dpd_interval_ms =
		in->dpd_interval_ms ? in->dpd_interval_ms : TPLAN_DPD_INTERVAL_DEFAULT_MS;
	t->dpd_timeout_ms = in->dpd_timeout_ms ? in->dpd_timeout_ms : 3 * t->dpd_interval_ms;
	if (t->dpd_mode != DPD_OFF && t->dpd_interval_ms < 10)
		return fail(err, INVALID, t->name,
			    "dpd_interval_ms %u is below 10 ms: probes that fast are noise",
			    (unsigned)t->dpd_interval_ms);
	if (t->dpd_mode != DPD_OFF && t->dpd_timeout_ms <= t->dpd_interval_ms)
		return fail(err, INVALID, t->name,
			    "dpd_timeout_ms %u must exceed dpd_interval_ms %u (a probe needs time "
			    "to be answered); e.g. timeout = 3 x interval",
			    (unsigned)t->dpd_timeout_ms, (unsigned)t->dpd_interval_ms);
	return 0;
}

static int read_auth(const Sdwan__Tunnel *in, bool cert_auth, struct tplan_tunnel *t,
		     struct tplan_error *err)
{
	if (in->auth == SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE) {
		if (!cert_auth)
			return fail(
				err, UNSUPPORTED, t->name,
				"auth certificate needs this edge's key, certificate and the WAN "
				"CA: enroll with the controller, or set local key_path, cert_path "
				"and ca_path; or use psk");
		t->cert_auth = true;
		return 0;
	}
	if (in->auth != SDWAN__AUTH_METHOD__AUTH_METHOD_PSK)
		return fail(err, INVALID, t->name, "auth is not set: use psk or certificate");
	if (in->psk.len == 0 || in->psk.len > IKE_PSK_MAX)
		return fail(err, INVALID, t->name, "psk must be 1..%d octets (got %zu)",
			    IKE_PSK_MAX, in->psk.len);
	memcpy(t->psk, in->psk.data, in->psk.len);
	t->psk_len = in->psk.len;
	return 0;
}

static int read_peer(const Sdwan__Tunnel *in, struct tplan_tunnel *t, struct tplan_error *err)
{
	if (in->n_peer_addresses > 0) {
		const Sdwan__Endpoint *ep = in->peer_addresses[0];
		if (ctl_msg_addr_get(&ep->addr, &t->peer_addr) != 0 ||
		    !ip_addr_is_unicast(&t->peer_addr))
			return fail(err, INVALID, t->name,
				    "peer_addresses[0] is not a unicast IPv4 or IPv6 address");
		if (ep->port > 65535)
			return fail(err, INVALID, t->name, "peer_addresses[0] port %u > 65535",
				    (unsigned)ep->port);
		t->peer_known = true;
		t->peer_ike_port = ep->port ? (uint16_t)ep->port : TPLAN_IKE_PORT;
		/* A peer reached on another port than 500 speaks IKE and ESP on that one port,
		 * as after a NAT-T float (RFC 3948). */
		t->peer_esp_port =
			t->peer_ike_port == TPLAN_IKE_PORT ? TPLAN_NATT_PORT : t->peer_ike_port;
	} else if (in->initiator) {
		return fail(err, INVALID, t->name,
			    "initiator without peer_addresses: give the peer's address or let the "
			    "peer initiate");
	}
	return 0;
}

static int read_prefix_sets(const struct Sdwan__EdgeConfig *cfg, const struct tplan *p,
			    const Sdwan__Tunnel *in, struct tplan_tunnel *t,
			    struct tplan_error *err)
{
	int rc = read_prefixes(in->local_prefixes, in->n_local_prefixes, t->local, &t->n_local,
			       TPLAN_PREFIX_MAX, "local_prefixes", t->name, err);
	if (!rc && in->local_transit)
		rc = add_transit(cfg, t->peer_site, t->local, &t->n_local,
				 "local_prefixes with local_transit", t->name, err);
	if (!rc)
		rc = read_prefixes(in->remote_prefixes, in->n_remote_prefixes, t->remote,
				   &t->n_remote, TPLAN_PREFIX_MAX, "remote_prefixes", t->name, err);
	t->n_remote_direct = t->n_remote;
	if (!rc && in->remote_transit)
		rc = add_transit(cfg, cfg->site, t->remote, &t->n_remote,
				 "remote_prefixes with remote_transit", t->name, err);
	if (rc)
		return rc;
	if (t->n_local == 0 || t->n_remote == 0)
		return fail(err, INVALID, t->name,
			    "%s is empty: a tunnel needs traffic selectors on both sides",
			    t->n_local == 0 ? "local_prefixes" : "remote_prefixes");
	for (size_t i = 0; i < t->n_remote; i++) {
		if (has_prefix(p->subnets, p->n_subnets, &t->remote[i])) {
			char b[PREFIX_STRLEN];
			return fail(err, INVALID, t->name,
				    "remote prefix %s is one of this site's local_subnets",
				    prefix_format(&t->remote[i], b));
		}
	}
	memcpy(t->deny, p->subnets, p->n_subnets * sizeof(p->subnets[0]));
	t->n_deny = p->n_subnets;
	return 0;
}

static int read_mtu(const Sdwan__Tunnel *in, struct tplan_tunnel *t, struct tplan_error *err)
{
	unsigned mtu = in->mtu ? in->mtu : TPLAN_MTU_DEFAULT, min = TPLAN_MTU_MIN;

	for (size_t i = 0; i < t->n_remote; i++)
		if (t->remote[i].addr.family == IP_V6)
			min = TPLAN_MTU_MIN_V6;
	if (mtu < min || mtu > TPLAN_MTU_MAX)
		return fail(err, INVALID, t->name, "mtu %u outside %u..%u", mtu, min,
			    (unsigned)TPLAN_MTU_MAX);
	t->mtu = (uint16_t)mtu;
	return 0;
}

static int read_tunnel(const struct Sdwan__EdgeConfig *cfg, const struct tplan *p,
		       const Sdwan__Tunnel *in, size_t idx, bool cert_auth, struct tplan_tunnel *t,
		       struct tplan_error *err)
{
	if (!str_fits(in->name, sizeof(t->name)))
		return fail(err, INVALID, NULL, "tunnels[%zu]: name empty or longer than %d", idx,
			    TPLAN_NAME_MAX - 1);
	snprintf(t->name, sizeof(t->name), "%s", in->name);
	const char *id =
		in->peer_identity && in->peer_identity[0] ? in->peer_identity : in->peer_site;
	if (!str_fits(in->peer_site, sizeof(t->peer_site)) || !str_fits(id, sizeof(t->peer_id)))
		return fail(err, INVALID, t->name, "peer_site or peer_identity empty or too long");
	snprintf(t->peer_site, sizeof(t->peer_site), "%s", in->peer_site);
	snprintf(t->local_id, sizeof(t->local_id), "%s", p->site);
	snprintf(t->peer_id, sizeof(t->peer_id), "%s", id);
	t->initiator = in->initiator;
	t->kind = (uint32_t)in->kind;
	t->hub_priority = in->hub_priority;
	t->ike_lifetime_ms =
		in->ike_lifetime_ms ? in->ike_lifetime_ms : TPLAN_IKE_LIFETIME_DEFAULT_MS;
	t->child_lifetime_ms =
		in->esp_lifetime_ms ? in->esp_lifetime_ms : TPLAN_CHILD_LIFETIME_DEFAULT_MS;
	t->child_lifetime_bytes = in->esp_rekey_bytes;
	t->child_lifetime_packets = in->esp_rekey_packets;
	if (t->ike_lifetime_ms / 1000 > UINT32_MAX || t->child_lifetime_ms / 1000 > UINT32_MAX)
		return fail(err, INVALID, t->name, "ike_lifetime_ms or esp_lifetime_ms too large");
	int rc = read_proposals(in, t, err);
	if (!rc)
		rc = read_dpd(in, t, err);
	if (!rc)
		rc = read_auth(in, cert_auth, t, err);
	if (!rc)
		rc = read_peer(in, t, err);
	if (!rc)
		rc = read_prefix_sets(cfg, p, in, t, err);
	if (!rc)
		rc = read_mtu(in, t, err);
	return rc;
}

int tplan_build(const struct Sdwan__EdgeConfig *cfg, bool cert_auth, struct tplan **out,
		struct tplan_error *err)
{
	struct tplan *p = calloc(1, sizeof(*p));
	int rc = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (!p)
		return -ENOMEM;
	if (!str_fits(cfg->site, sizeof(p->site))) {
		rc = fail(err, INVALID, NULL, "site is empty or too long");
		goto out;
	}
	snprintf(p->site, sizeof(p->site), "%s", cfg->site);
	p->generation = cfg->generation;
	p->role = (uint32_t)cfg->role;
	p->failback_hold_down_ms = cfg->failback_hold_down_ms;
	p->health_interval_ms = cfg->health_interval_ms;
	rc = read_prefixes(cfg->local_subnets, cfg->n_local_subnets, p->subnets, &p->n_subnets,
			   TPLAN_SUBNET_MAX, "local_subnets", NULL, err);
	if (rc)
		goto out;
	if (cfg->n_tunnels) {
		p->tunnels = calloc(cfg->n_tunnels, sizeof(*p->tunnels));
		if (!p->tunnels) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < cfg->n_tunnels && !rc; i++) {
		rc = read_tunnel(cfg, p, cfg->tunnels[i], i, cert_auth, &p->tunnels[i], err);
		p->n_tunnels = i + 1;
		if (!rc && tplan_find(p, p->tunnels[i].name) != &p->tunnels[i])
			rc = fail(err, INVALID, p->tunnels[i].name,
				  "tunnel name used twice: names must be unique");
	}
out:
	if (rc) {
		tplan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void tplan_free(struct tplan *p)
{
	if (!p)
		return;
	if (p->tunnels) {
		OPENSSL_cleanse(p->tunnels, p->n_tunnels * sizeof(*p->tunnels));
		free(p->tunnels);
	}
	free(p);
}

const struct tplan_tunnel *tplan_find(const struct tplan *p, const char *name)
{
	for (size_t i = 0; i < p->n_tunnels; i++)
		if (strcmp(p->tunnels[i].name, name) == 0)
			return &p->tunnels[i];
	return NULL;
}

bool tplan_tunnel_equal(const struct tplan_tunnel *a, const struct tplan_tunnel *b)
{
	return CRYPTO_memcmp(a, b, sizeof(*a)) == 0;
}

/* One candidate route, before precedence is applied. */
struct route_cand {
	struct prefix dst;
	uint32_t value;
	/* 0 direct, 1 transit via the hub group, 2 transit via a tunnel; + TPLAN_RANK_DOWN
	 * through a tunnel that is down */
	unsigned rank;
	uint64_t order; /* within a rank: preference, then configuration order */
};

static int cand_cmp(const void *a, const void *b)
{
	const struct route_cand *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return prefix_cmp(&x->dst, &y->dst);
}

static bool is_hub(const struct tplan_tunnel *t)
{
	return t->hub_priority > 0;
}

/* A route through a tunnel that is down is the last resort for its prefix. */
#define TPLAN_RANK_DOWN 3u

/* Every route of the plan, in precedence order, first occurrence of a prefix winning. live may
 * be NULL (every tunnel counts as up). */
static int route_cands(const struct tplan *p, const uint32_t *ids, const bool *live,
		       struct route_cand **out, size_t *n_out)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_tunnels; i++)
		n += p->tunnels[i].n_remote;
	struct route_cand *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < p->n_tunnels; i++) {
		const struct tplan_tunnel *t = &p->tunnels[i];
		uint64_t pref = t->hub_priority ? t->hub_priority : UINT32_MAX;
		for (size_t k = 0; k < t->n_remote; k++) {
			struct route_cand *r = &c[n++];
			r->dst = t->remote[k];
			r->order = pref << 32 | i;
			if (k < t->n_remote_direct) {
				r->rank = 0;
				r->value = ids[i];
			} else if (is_hub(t)) {
				r->rank = 1;
				r->value = DP_ROUTE_GROUP(TPLAN_HUB_GROUP);
			} else {
				r->rank = 2;
				r->value = ids[i];
			}
			/* The hub group follows liveness itself (edge/failover). */
			if (live && !live[i] && r->rank != 1)
				r->rank += TPLAN_RANK_DOWN;
		}
	}
	qsort(c, n, sizeof(*c), cand_cmp);
	/* Keep the first of each prefix. */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < kept && !dup; j++)
			dup = prefix_cmp(&c[j].dst, &c[i].dst) == 0;
		if (!dup && !has_prefix(p->subnets, p->n_subnets, &c[i].dst))
			c[kept++] = c[i];
	}
	*out = c;
	*n_out = kept;
	return 0;
}

int tplan_routes(const struct tplan *p, const uint32_t *ids, struct lpm **out)
{
	return tplan_routes_live(p, ids, NULL, out);
}

int tplan_routes_live(const struct tplan *p, const uint32_t *ids, const bool *live,
		      struct lpm **out)
{
	struct route_cand *c = NULL;
	size_t n = 0;
	struct lpm_builder *b = lpm_builder_new();
	int rc = b ? route_cands(p, ids, live, &c, &n) : -ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < n && !rc; i++)
		rc = lpm_insert(b, &c[i].dst, c[i].value);
	if (!rc)
		rc = lpm_build(b, out);
	free(c);
	lpm_builder_free(b);
	return rc;
}

int tplan_allowed(const struct tplan_tunnel *t, struct lpm **out)
{
	struct lpm_builder *b = lpm_builder_new();
	int rc = b ? 0 : -ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < t->n_remote && !rc; i++)
		rc = lpm_insert(b, &t->remote[i], DP_SRC_ALLOW);
	/* Our own subnets never arrive from a tunnel, even inside an allowed supernet. */
	for (size_t i = 0; i < t->n_deny && !rc; i++)
		rc = lpm_insert(b, &t->deny[i], DP_SRC_DENY);
	if (!rc)
		rc = lpm_build(b, out);
	lpm_builder_free(b);
	return rc;
}

/* The MTU of what a route value may use: its tunnel's, or the smallest hub's for the group. */
static unsigned value_mtu(const struct tplan *p, const uint32_t *ids, uint32_t value)
{
	unsigned mtu = 0;

	for (size_t i = 0; i < p->n_tunnels; i++) {
		const struct tplan_tunnel *t = &p->tunnels[i];
		bool carries =
			value == DP_ROUTE_GROUP(TPLAN_HUB_GROUP) ? is_hub(t) : ids[i] == value;
		if (carries && (mtu == 0 || t->mtu < mtu))
			mtu = t->mtu;
	}
	return mtu;
}

int tplan_kernel_routes(const struct tplan *p, struct tplan_kroute *out, size_t cap)
{
	uint32_t *ids = calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(*ids));
	struct route_cand *c = NULL;
	size_t n = 0;
	int rc = ids ? 0 : -ENOMEM;

	/* Tunnel ids only need to be distinct here: use the index. */
	for (size_t i = 0; i < p->n_tunnels && ids; i++)
		ids[i] = (uint32_t)i;
	if (!rc)
		rc = route_cands(p, ids, NULL, &c, &n);
	if (!rc && n > cap)
		rc = -ENOSPC;
	for (size_t i = 0; i < n && !rc; i++)
		out[i] = (struct tplan_kroute){.dst = c[i].dst,
					       .mtu = value_mtu(p, ids, c[i].value)};
	free(c);
	free(ids);
	return rc ? rc : (int)n;
}

unsigned tplan_link_mtu(const struct tplan *p)
{
	unsigned mtu = 0;

	for (size_t i = 0; i < p->n_tunnels; i++)
		if (p->tunnels[i].mtu > mtu)
			mtu = p->tunnels[i].mtu;
	return mtu ? mtu : TPLAN_MTU_DEFAULT;
}
