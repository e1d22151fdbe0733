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
#include <openssl/evp.h>

#include "common/ctl_msg.h"
#include "common/prefix_set.h"
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

_Static_assert(CTL_MSG_SUMMARY_MIN_PREFIXES >= TPLAN_PREFIX_MAX,
	       "a summarised table's full-table peer must negotiate whole families too");

/* What every tunnel of a plan shares about the WAN table, computed once per plan. */
struct wan_facts {
	uint8_t digest[32];  /* SHA-256 of the table */
	bool v6;             /* another site has an IPv6 prefix */
	long clash_site;     /* another site that lists one of our subnets, or -1 */
	size_t clash_prefix; /* that prefix, in tplan.wan */
};

/* How many of the WAN table's prefixes belong to sites other than ours and `peer` (-1: none). */
static size_t wan_others(const struct tplan *p, long peer)
{
	size_t n = p->n_wan;
	if (p->own_site >= 0)
		n -= p->sites[p->own_site].count;
	if (peer >= 0 && peer != p->own_site)
		n -= p->sites[peer].count;
	return n;
}

static int read_prefix_sets(const struct tplan *p, const struct wan_facts *wf,
			    const Sdwan__Tunnel *in, struct tplan_tunnel *t,
			    struct tplan_error *err)
{
	int rc = read_prefixes(in->local_prefixes, in->n_local_prefixes, t->local, &t->n_local,
			       TPLAN_PREFIX_MAX, "local_prefixes", t->name, err);
	if (!rc)
		rc = read_prefixes(in->remote_prefixes, in->n_remote_prefixes, t->remote,
				   &t->n_remote, TPLAN_PREFIX_MAX, "remote_prefixes", t->name, err);
	if (rc)
		return rc;
	t->local_transit = in->local_transit;
	t->remote_transit = in->remote_transit;
	bool local_some = t->n_local || (t->local_transit &&
					 wan_others(p, tplan_site_index(p, t->peer_site)) > 0);
	bool remote_some = t->n_remote || (t->remote_transit && wan_others(p, -1) > 0);
	if (!local_some || !remote_some)
		return fail(err, INVALID, t->name,
			    "%s is empty: a tunnel needs traffic selectors on both sides",
			    !local_some ? "local_prefixes" : "remote_prefixes");
	for (size_t i = 0; i < t->n_remote; i++) {
		if (has_prefix(p->subnets, p->n_subnets, &t->remote[i])) {
			char b[PREFIX_STRLEN];
			return fail(err, INVALID, t->name,
				    "remote prefix %s is one of this site's local_subnets",
				    prefix_format(&t->remote[i], b));
		}
	}
	if (t->remote_transit && wf->clash_site >= 0) {
		char b[PREFIX_STRLEN];
		return fail(err, INVALID, t->name,
			    "remote prefix %s (site %s in wan_prefixes) is one of this site's "
			    "local_subnets",
			    prefix_format(&p->wan[wf->clash_prefix], b),
			    p->sites[wf->clash_site].name);
	}
	if (t->local_transit || t->remote_transit) {
		memcpy(t->wan_digest, wf->digest, sizeof(t->wan_digest));
		/* Symmetric: our local set is the peer's remote set and both ends see one table, or
		 * one end a summary of a table too large for exact selectors at the other. */
		size_t own = t->n_local > t->n_remote ? t->n_local : t->n_remote;
		t->wide_ts = p->wan_summarised || p->n_wan + own > TPLAN_PREFIX_MAX;
	}
	memcpy(t->deny, p->subnets, p->n_subnets * sizeof(p->subnets[0]));
	t->n_deny = p->n_subnets;
	return 0;
}

static int read_mtu(const struct wan_facts *wf, const Sdwan__Tunnel *in, struct tplan_tunnel *t,
		    struct tplan_error *err)
{
	unsigned mtu = in->mtu ? in->mtu : TPLAN_MTU_DEFAULT, min = TPLAN_MTU_MIN;

	for (size_t i = 0; i < t->n_remote; i++)
		if (t->remote[i].addr.family == IP_V6)
			min = TPLAN_MTU_MIN_V6;
	if (t->remote_transit && wf->v6)
		min = TPLAN_MTU_MIN_V6;
	if (mtu < min || mtu > TPLAN_MTU_MAX)
		return fail(err, INVALID, t->name, "mtu %u outside %u..%u", mtu, min,
			    (unsigned)TPLAN_MTU_MAX);
	t->mtu = (uint16_t)mtu;
	return 0;
}

static int read_tunnel(const struct tplan *p, const struct wan_facts *wf, const Sdwan__Tunnel *in,
		       size_t idx, bool cert_auth, struct tplan_tunnel *t, struct tplan_error *err)
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
		rc = read_prefix_sets(p, wf, in, t, err);
	if (!rc)
		rc = read_mtu(wf, in, t, err);
	return rc;
}

/* Sort order of the WAN table's sites by name (qsort_r: the plan is the context). */
static int site_name_cmp(const void *a, const void *b, void *arg)
{
	const struct tplan *p = arg;
	return strcmp(p->sites[*(const size_t *)a].name, p->sites[*(const size_t *)b].name);
}

/* EdgeConfig.wan_summary: one more entry of the table, of no site (its name is empty, which no
 * site's is), appended to p->wan. It must leave our own subnets out, as a site's entry would. */
static int read_summary(const struct Sdwan__EdgeConfig *cfg, struct tplan *p,
			struct tplan_site *site, struct tplan_error *err)
{
	site->first = p->n_wan;
	for (size_t k = 0; k < cfg->n_wan_summary; k++) {
		struct prefix *pf = &p->wan[p->n_wan];
		char b[PREFIX_STRLEN], o[PREFIX_STRLEN];
		if (ctl_msg_prefix_get(cfg->wan_summary[k], pf) != 0)
			return fail(
				err, INVALID, NULL,
				"wan_summary[%zu] is not a prefix (4 or 16 address bytes, no host "
				"bits set)",
				k);
		for (size_t i = 0; i < p->n_subnets; i++)
			if (prefix_overlaps(pf, &p->subnets[i]))
				return fail(err, INVALID, NULL,
					    "wan_summary %s overlaps local subnet %s: the summary "
					    "must leave this site's own prefixes out",
					    prefix_format(pf, b), prefix_format(&p->subnets[i], o));
		p->n_wan++;
	}
	site->count = p->n_wan - site->first;
	p->wan_summarised = true;
	return 0;
}

/* Read the WAN prefix table once: its sites in order, their prefixes, a by-name index, and
 * where our own site is in it. */
static int read_wan(const struct Sdwan__EdgeConfig *cfg, struct tplan *p, struct tplan_error *err)
{
	size_t total = cfg->n_wan_summary, n = cfg->n_wan_prefixes;

	p->own_site = -1;
	for (size_t s = 0; s < n; s++)
		total += cfg->wan_prefixes[s]->n_prefixes;
	p->sites = calloc(n + 1, sizeof(*p->sites));
	p->site_order = calloc(n + 1, sizeof(*p->site_order));
	p->wan = calloc(total ? total : 1, sizeof(*p->wan));
	if (!p->sites || !p->site_order || !p->wan)
		return -ENOMEM;
	for (size_t s = 0; s < n; s++) {
		const Sdwan__SitePrefixes *sp = cfg->wan_prefixes[s];
		struct tplan_site *site = &p->sites[s];
		if (!str_fits(sp->site, sizeof(site->name)))
			return fail(err, INVALID, NULL,
				    "wan_prefixes[%zu]: site name empty or longer than %d", s,
				    TPLAN_SITE_NAME_MAX - 1);
		snprintf(site->name, sizeof(site->name), "%s", sp->site);
		site->first = p->n_wan;
		for (size_t k = 0; k < sp->n_prefixes; k++) {
			if (ctl_msg_prefix_get(sp->prefixes[k], &p->wan[p->n_wan]) != 0)
				return fail(err, INVALID, NULL,
					    "wan_prefixes[%zu] (site %s): prefixes[%zu] is not a "
					    "prefix (4 or 16 address bytes, no host bits set)",
					    s, site->name, k);
			p->n_wan++;
		}
		site->count = p->n_wan - site->first;
		p->site_order[s] = s;
		if (strcmp(site->name, p->site) == 0)
			p->own_site = (long)s;
	}
	if (cfg->n_wan_summary) {
		int rc = read_summary(cfg, p, &p->sites[n], err);
		if (rc)
			return rc;
		p->site_order[n] = n;
		n++;
	}
	p->n_sites = n;
	qsort_r(p->site_order, n, sizeof(*p->site_order), site_name_cmp, p);
	for (size_t i = 1; i < n; i++)
		if (site_name_cmp(&p->site_order[i - 1], &p->site_order[i], p) == 0)
			return fail(err, INVALID, NULL,
				    "wan_prefixes: site %s is listed twice; list each site once",
				    p->sites[p->site_order[i]].name);
	return 0;
}

/* The facts transit tunnels share: the table's digest, whether it holds IPv6, and whether
 * another site claims one of our subnets. */
static int wan_facts_make(const struct tplan *p, struct wan_facts *wf)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);

	memset(wf, 0, sizeof(*wf));
	wf->clash_site = -1;
	for (size_t s = 0; s < p->n_sites && ok; s++) {
		const struct tplan_site *site = &p->sites[s];
		ok = EVP_DigestUpdate(md, site->name, strlen(site->name) + 1);
		for (size_t k = site->first; k < site->first + site->count && ok; k++) {
			const struct prefix *pf = &p->wan[k];
			uint8_t enc[18] = {pf->addr.family, pf->len};
			memcpy(enc + 2, pf->addr.bytes, sizeof(pf->addr.bytes));
			ok = EVP_DigestUpdate(md, enc, sizeof(enc));
			if ((long)s == p->own_site)
				continue;
			if (pf->addr.family == IP_V6)
				wf->v6 = true;
			if (wf->clash_site < 0 && has_prefix(p->subnets, p->n_subnets, pf)) {
				wf->clash_site = (long)s;
				wf->clash_prefix = k;
			}
		}
	}
	if (ok)
		ok = EVP_DigestFinal_ex(md, wf->digest, NULL);
	EVP_MD_CTX_free(md);
	return ok ? 0 : -ENOMEM;
}

int tplan_build(const struct Sdwan__EdgeConfig *cfg, bool cert_auth, struct tplan **out,
		struct tplan_error *err)
{
	struct tplan *p = calloc(1, sizeof(*p));
	struct wan_facts wf;
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
	if (!rc)
		rc = read_wan(cfg, p, err);
	if (!rc)
		rc = wan_facts_make(p, &wf);
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
		rc = read_tunnel(p, &wf, cfg->tunnels[i], i, cert_auth, &p->tunnels[i], err);
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
	free(p->sites);
	free(p->site_order);
	free(p->wan);
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

long tplan_site_index(const struct tplan *p, const char *name)
{
	size_t lo = 0, hi = p->n_sites;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, p->sites[p->site_order[mid]].name);
		if (c == 0)
			return (long)p->site_order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

int tplan_effective(const struct tplan *p, const struct tplan_tunnel *t, bool remote,
		    struct prefix **out, size_t *n)
{
	const struct prefix *own = remote ? t->remote : t->local;
	size_t n_own = remote ? t->n_remote : t->n_local;
	bool transit = remote ? t->remote_transit : t->local_transit;
	/* What we send leaves out the peer's own prefixes; what it sends leaves out ours. */
	long skip = remote ? p->own_site : tplan_site_index(p, t->peer_site);
	struct prefix *set = calloc(n_own + (transit ? p->n_wan : 0) + 1, sizeof(*set));
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!set)
		return -ENOMEM;
	memcpy(set, own, n_own * sizeof(*own));
	k = n_own;
	for (size_t s = 0; transit && s < p->n_sites; s++) {
		if ((long)s == p->own_site || (long)s == skip)
			continue;
		memcpy(set + k, p->wan + p->sites[s].first, p->sites[s].count * sizeof(*set));
		k += p->sites[s].count;
	}
	prefix_set_sort(set, k);
	size_t kept = 0;
	for (size_t i = 0; i < k; i++)
		if (kept == 0 || prefix_cmp(&set[kept - 1], &set[i]) != 0)
			set[kept++] = set[i];
	*out = set;
	*n = kept;
	return 0;
}

int tplan_traffic_selectors(const struct tplan *p, const struct tplan_tunnel *t, bool remote,
			    struct prefix out[static TPLAN_PREFIX_MAX], size_t *n)
{
	struct prefix *set = NULL;
	size_t n_set = 0;
	int rc = tplan_effective(p, t, remote, &set, &n_set);

	*n = 0;
	if (rc)
		return rc;
	if (!t->wide_ts && n_set <= TPLAN_PREFIX_MAX) {
		memcpy(out, set, n_set * sizeof(*set));
		*n = n_set;
	} else {
		/* Route-based: the whole of each family the tunnel carries. */
		bool v4 = false, v6 = false;
		for (size_t i = 0; i < n_set; i++) {
			v4 = v4 || set[i].addr.family == IP_V4;
			v6 = v6 || set[i].addr.family == IP_V6;
		}
		if (v4)
			out[(*n)++] = (struct prefix){.addr = {.family = IP_V4}, .len = 0};
		if (v6)
			out[(*n)++] = (struct prefix){.addr = {.family = IP_V6}, .len = 0};
	}
	free(set);
	return 0;
}

/* One candidate route, before precedence is applied. */
struct route_cand {
	struct prefix dst;
	uint32_t value;
	unsigned rank;  /* enum route_rank, + RANK_DOWN through a tunnel that is down */
	uint64_t order; /* within a rank: preference, then configuration order */
};

/* Precedence of candidate routes for one prefix (tplan_routes_reach). */
enum route_rank {
	RANK_DIRECT,      /* the tunnel names the prefix itself */
	RANK_GROUP,       /* transit through the hub group (spokes) */
	RANK_CONTROLLER,  /* transit through the hub the controller names */
	RANK_UNREACHABLE, /* the controller says no hub reaches it */
	RANK_TRANSIT,     /* transit through a tunnel of our own choosing */
	RANK_DOWN,        /* added for a tunnel that is down: the last resort */
};

/* By prefix, then precedence: the first of each prefix wins. */
static int cand_cmp(const void *a, const void *b)
{
	const struct route_cand *x = a, *y = b;
	int c = prefix_cmp(&x->dst, &y->dst);

	if (c)
		return c;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

static bool is_hub(const struct tplan_tunnel *t)
{
	return t->hub_priority > 0;
}

/* Candidates of one tunnel: its own remote prefixes, then the transit it may carry. */
static size_t tunnel_cands(const struct tplan *p, size_t i, const uint32_t *ids, const bool *live,
			   const struct tplan_reach *reach, struct route_cand *c)
{
	const struct tplan_tunnel *t = &p->tunnels[i];
	uint64_t order = (uint64_t)(t->hub_priority ? t->hub_priority : UINT32_MAX) << 32 | i;
	bool down = live && !live[i];
	size_t n = 0;

	for (size_t k = 0; k < t->n_remote; k++)
		c[n++] = (struct route_cand){.dst = t->remote[k],
					     .value = ids[i],
					     .rank = RANK_DIRECT + (down ? RANK_DOWN : 0),
					     .order = order};
	for (size_t s = 0; t->remote_transit && s < p->n_sites; s++) {
		if ((long)s == p->own_site)
			continue;
		unsigned rank = is_hub(t) ? RANK_GROUP : RANK_TRANSIT;
		if (rank == RANK_TRANSIT && reach && reach[s].kind == TPLAN_REACH_VIA &&
		    strcmp(reach[s].via, t->peer_site) == 0)
			rank = RANK_CONTROLLER;
		/* The hub group follows liveness itself (edge/failover). */
		if (down && rank != RANK_GROUP)
			rank += RANK_DOWN;
		uint32_t value = rank == RANK_GROUP ? DP_ROUTE_GROUP(TPLAN_HUB_GROUP) : ids[i];
		for (size_t k = p->sites[s].first; k < p->sites[s].first + p->sites[s].count; k++) {
			/* A prefix the tunnel names itself is direct there, never also transit. */
			if (has_prefix(t->remote, t->n_remote, &p->wan[k]))
				continue;
			c[n++] = (struct route_cand){
				.dst = p->wan[k], .value = value, .rank = rank, .order = order};
		}
	}
	return n;
}

/* Every route of the plan, one per prefix, the most preferred candidate of each. live and reach
 * may be NULL (every tunnel up; no word from the controller). */
static int route_cands(const struct tplan *p, const uint32_t *ids, const bool *live,
		       const struct tplan_reach *reach, struct route_cand **out, size_t *n_out)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_tunnels; i++)
		n += p->tunnels[i].n_remote + (p->tunnels[i].remote_transit ? p->n_wan : 0);
	if (reach)
		n += p->n_wan;
	struct route_cand *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < p->n_tunnels; i++)
		n += tunnel_cands(p, i, ids, live, reach, c + n);
	for (size_t s = 0; reach && s < p->n_sites; s++) {
		if (reach[s].kind != TPLAN_REACH_UNREACHABLE || (long)s == p->own_site)
			continue;
		for (size_t k = p->sites[s].first; k < p->sites[s].first + p->sites[s].count; k++)
			c[n++] = (struct route_cand){.dst = p->wan[k],
						     .value = DP_ROUTE_UNREACHABLE,
						     .rank = RANK_UNREACHABLE};
	}
	qsort(c, n, sizeof(*c), cand_cmp);
	/* Keep the first of each prefix; our own subnets never route into the TUN. */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && prefix_cmp(&c[i - 1].dst, &c[i].dst) == 0)
			continue;
		if (!has_prefix(p->subnets, p->n_subnets, &c[i].dst))
			c[kept++] = c[i];
	}
	*out = c;
	*n_out = kept;
	return 0;
}

int tplan_routes(const struct tplan *p, const uint32_t *ids, struct lpm **out)
{
	return tplan_routes_reach(p, ids, NULL, NULL, out);
}

int tplan_routes_live(const struct tplan *p, const uint32_t *ids, const bool *live,
		      struct lpm **out)
{
	return tplan_routes_reach(p, ids, live, NULL, out);
}

int tplan_routes_reach(const struct tplan *p, const uint32_t *ids, const bool *live,
		       const struct tplan_reach *reach, struct lpm **out)
{
	struct route_cand *c = NULL;
	size_t n = 0;
	struct lpm_builder *b = lpm_builder_new();
	int rc = b ? route_cands(p, ids, live, reach, &c, &n) : -ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < n && !rc; i++)
		rc = lpm_insert(b, &c[i].dst, c[i].value);
	if (!rc)
		rc = lpm_build(b, out);
	free(c);
	lpm_builder_free(b);
	return rc;
}

int tplan_allowed(const struct tplan *p, const struct tplan_tunnel *t, struct lpm **out)
{
	struct lpm_builder *b = lpm_builder_new();
	struct prefix *set = NULL;
	size_t n = 0;
	int rc = b ? tplan_effective(p, t, true, &set, &n) : -ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < n && !rc; i++)
		rc = lpm_insert(b, &set[i], DP_SRC_ALLOW);
	/* Our own subnets never arrive from a tunnel, even inside an allowed supernet. */
	for (size_t i = 0; i < t->n_deny && !rc; i++)
		rc = lpm_insert(b, &t->deny[i], DP_SRC_DENY);
	if (!rc)
		rc = lpm_build(b, out);
	free(set);
	lpm_builder_free(b);
	return rc;
}

int tplan_kernel_routes(const struct tplan *p, struct tplan_kroute **out, size_t *n_out)
{
	uint32_t *ids = calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(*ids));
	struct route_cand *c = NULL;
	struct tplan_kroute *kr = NULL;
	size_t n = 0;
	unsigned group_mtu = 0;
	int rc = ids ? 0 : -ENOMEM;

	*out = NULL;
	*n_out = 0;
	/* Tunnel ids only need to be distinct here: use the index, so a route value is the index
	 * of its tunnel. The hub group may use any hub: its routes take the smallest hub MTU. */
	for (size_t i = 0; i < p->n_tunnels && ids; i++) {
		ids[i] = (uint32_t)i;
		if (is_hub(&p->tunnels[i]) && (group_mtu == 0 || p->tunnels[i].mtu < group_mtu))
			group_mtu = p->tunnels[i].mtu;
	}
	if (!rc)
		rc = route_cands(p, ids, NULL, NULL, &c, &n);
	if (!rc && !(kr = calloc(n ? n : 1, sizeof(*kr))))
		rc = -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		uint32_t v = c[i].value;
		kr[i] = (struct tplan_kroute){.dst = c[i].dst,
					      .mtu = v == DP_ROUTE_GROUP(TPLAN_HUB_GROUP)
							     ? group_mtu
							     : p->tunnels[v].mtu};
	}
	free(c);
	free(ids);
	if (rc) {
		free(kr);
		return rc;
	}
	*out = kr;
	*n_out = n;
	return 0;
}

unsigned tplan_link_mtu(const struct tplan *p)
{
	unsigned mtu = 0;

	for (size_t i = 0; i < p->n_tunnels; i++)
		if (p->tunnels[i].mtu > mtu)
			mtu = p->tunnels[i].mtu;
	return mtu ? mtu : TPLAN_MTU_DEFAULT;
}
