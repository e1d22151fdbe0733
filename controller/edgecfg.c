/*
 * Edge configurations from the plan (see edgecfg.h).
 */
#include "controller/edgecfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <time.h>

#include "common/arena.h"
#include "common/ctl_msg.h"
#include "common/prefix_set.h"
#include "common/proposal.h"
#include "controller/store.h"

/* Per-site arrays every config that mentions the site borrows. */
struct edgecfg_site {
	Sdwan__Prefix **prefixes; /* the site's subnets */
	size_t n_prefixes;
	Sdwan__Endpoint **endpoints; /* its static underlay addresses */
	size_t n_endpoints;
	Sdwan__UnderlayLink **links;
	size_t n_links;
};

struct edgecfg_wan {
	const struct plan *plan;
	struct arena arena;
	struct edgecfg_site *sites;
	Sdwan__SitePrefixes **wan_prefixes;
	size_t n_wan_prefixes;
	bool *cut_off;        /* per site: its tunnels are left out of every config */
	uint64_t *features;   /* per site: CTL_FEATURE_* bits its edge understands */
	uint8_t *wan_encoded; /* the table as a config's field-7 entries, encoded once */
	size_t wan_encoded_len;
	uint8_t wan_digest[EDGECFG_DIGEST_LEN];
	/* Every site's prefixes aggregated (wan_summary's source); n_aggregate is 0 when the table
	 * is too small to summarise or does not aggregate to less than half its size. */
	struct prefix *aggregate;
	size_t n_aggregate;
	char (*ike)[PROPOSAL_STRLEN]; /* per profile */
	char (*esp)[PROPOSAL_STRLEN];
	uint8_t *ca_der;
	size_t ca_len;
	uint32_t health_interval_ms;
};

static int site_prefixes(struct edgecfg_wan *w, const struct topo_site *s, struct edgecfg_site *o)
{
	o->prefixes = arena_alloc(&w->arena, (s->n_subnets + 1) * sizeof(Sdwan__Prefix *));
	if (!o->prefixes)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_subnets; i++) {
		if (!s->subnets[i].prefix.addr.family)
			continue;
		Sdwan__Prefix *px = arena_alloc(&w->arena, sizeof(*px));
		if (!px)
			return -ENOMEM;
		sdwan__prefix__init(px);
		ctl_msg_prefix_set(px, &s->subnets[i].prefix);
		o->prefixes[o->n_prefixes++] = px;
	}
	return 0;
}

static int site_links(struct edgecfg_wan *w, const struct topo_site *s, struct edgecfg_site *o)
{
	size_t n = s->n_links + 1;
	o->endpoints = arena_alloc(&w->arena, n * sizeof(Sdwan__Endpoint *));
	o->links = arena_alloc(&w->arena, n * sizeof(Sdwan__UnderlayLink *));
	if (!o->endpoints || !o->links)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_links; i++) {
		const struct topo_link *l = &s->links[i];
		Sdwan__UnderlayLink *ul = arena_alloc(&w->arena, sizeof(*ul));
		if (!ul)
			return -ENOMEM;
		sdwan__underlay_link__init(ul);
		ul->name = (char *)(l->name ? l->name : "");
		size_t alen = l->addr.family == IP_V6 ? 16 : 4;
		if (l->dynamic || !l->addr.family) {
			ul->addressing_case = SDWAN__UNDERLAY_LINK__ADDRESSING_DYNAMIC;
			ul->dynamic = true;
		} else {
			ul->addressing_case = SDWAN__UNDERLAY_LINK__ADDRESSING_STATIC_ADDRESS;
			ul->static_address.data = (uint8_t *)l->addr.bytes;
			ul->static_address.len = alen;
			Sdwan__Endpoint *ep = arena_alloc(&w->arena, sizeof(*ep));
			if (!ep)
				return -ENOMEM;
			sdwan__endpoint__init(ep);
			ep->addr.data = (uint8_t *)l->addr.bytes;
			ep->addr.len = alen;
			ep->link = ul->name;
			o->endpoints[o->n_endpoints++] = ep;
		}
		o->links[o->n_links++] = ul;
	}
	return 0;
}

/* The WAN prefix table, its encoding (each entry as a field-7 submessage, which is how it
 * appears inside an EdgeConfig) and the digest of that encoding. */
static int wan_table(struct edgecfg_wan *w)
{
	const struct topo *t = w->plan->topo;
	w->wan_prefixes = arena_alloc(&w->arena, (t->n_sites + 1) * sizeof(Sdwan__SitePrefixes *));
	if (!w->wan_prefixes)
		return -ENOMEM;
	Sdwan__EdgeConfig only = SDWAN__EDGE_CONFIG__INIT;
	for (size_t i = 0; i < t->n_sites; i++) {
		Sdwan__SitePrefixes *sp = arena_alloc(&w->arena, sizeof(*sp));
		if (!sp)
			return -ENOMEM;
		sdwan__site_prefixes__init(sp);
		sp->site = (char *)t->sites[i].name;
		sp->prefixes = w->sites[i].prefixes;
		sp->n_prefixes = w->sites[i].n_prefixes;
		w->wan_prefixes[w->n_wan_prefixes++] = sp;
	}
	only.wan_prefixes = w->wan_prefixes;
	only.n_wan_prefixes = w->n_wan_prefixes;
	size_t len = sdwan__edge_config__get_packed_size(&only);
	uint8_t *buf = arena_alloc(&w->arena, len ? len : 1);
	if (!buf)
		return -ENOMEM;
	w->wan_encoded = buf;
	w->wan_encoded_len = sdwan__edge_config__pack(&only, buf);
	unsigned int dlen = 0;
	int ok = EVP_Digest(buf, len, w->wan_digest, &dlen, EVP_sha256(), NULL);
	return ok == 1 ? 0 : -ENOMEM;
}

/* The table's prefixes aggregated, kept when summarising pays: a table larger than exact
 * traffic selectors carry (CTL_MSG_SUMMARY_MIN_PREFIXES) that aggregates to at most half its
 * prefixes. Otherwise each spoke's summary would cost as much to build as the table to copy. */
static int wan_aggregate(struct edgecfg_wan *w)
{
	const struct topo *t = w->plan->topo;
	size_t n = 0;
	for (size_t i = 0; i < t->n_sites; i++)
		n += w->sites[i].n_prefixes;
	if (n <= CTL_MSG_SUMMARY_MIN_PREFIXES)
		return 0;
	w->aggregate = arena_alloc(&w->arena, n * sizeof(*w->aggregate));
	if (!w->aggregate)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < t->n_sites; i++)
		for (size_t j = 0; j < t->sites[i].n_subnets; j++)
			if (t->sites[i].subnets[j].prefix.addr.family)
				w->aggregate[k++] = t->sites[i].subnets[j].prefix;
	size_t m = prefix_set_aggregate(w->aggregate, k);
	w->n_aggregate = m * 2 <= n ? m : 0;
	return 0;
}

int edgecfg_wan_new(const struct plan *p, const uint8_t *ca_der, size_t ca_len,
		    uint32_t health_interval_ms, struct edgecfg_wan **out)
{
	*out = NULL;
	if (!p || !p->topo || (ca_len && !ca_der))
		return -EINVAL;
	struct edgecfg_wan *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->plan = p;
	w->health_interval_ms =
		health_interval_ms ? health_interval_ms : EDGECFG_HEALTH_INTERVAL_DEFAULT_MS;
	const struct topo *t = p->topo;
	int rc = -ENOMEM;
	w->sites = arena_alloc(&w->arena, (t->n_sites + 1) * sizeof(*w->sites));
	w->ike = arena_alloc(&w->arena, (p->n_profiles + 1) * sizeof(*w->ike));
	w->esp = arena_alloc(&w->arena, (p->n_profiles + 1) * sizeof(*w->esp));
	w->ca_der = arena_alloc(&w->arena, ca_len + 1);
	w->cut_off = arena_alloc(&w->arena, (t->n_sites + 1) * sizeof(*w->cut_off));
	w->features = arena_alloc(&w->arena, (t->n_sites + 1) * sizeof(*w->features));
	if (!w->sites || !w->ike || !w->esp || !w->ca_der || !w->cut_off || !w->features)
		goto err;
	memset(w->cut_off, 0, (t->n_sites + 1) * sizeof(*w->cut_off));
	memset(w->features, 0, (t->n_sites + 1) * sizeof(*w->features));
	memcpy(w->ca_der, ca_der ? ca_der : (const uint8_t *)"", ca_len);
	w->ca_len = ca_len;
	for (size_t i = 0; i < p->n_profiles; i++) {
		proposal_format(&p->profiles[i].ike, PROPOSAL_IKE, w->ike[i]);
		proposal_format(&p->profiles[i].esp, PROPOSAL_ESP, w->esp[i]);
	}
	for (size_t i = 0; i < t->n_sites; i++) {
		rc = site_prefixes(w, &t->sites[i], &w->sites[i]);
		if (rc == 0)
			rc = site_links(w, &t->sites[i], &w->sites[i]);
		if (rc != 0)
			goto err;
	}
	rc = wan_table(w);
	if (rc == 0)
		rc = wan_aggregate(w);
	if (rc != 0)
		goto err;
	*out = w;
	return 0;
err:
	edgecfg_wan_free(w);
	return rc;
}

void edgecfg_wan_free(struct edgecfg_wan *w)
{
	if (!w)
		return;
	arena_free(&w->arena);
	free(w);
}

const struct plan *edgecfg_wan_plan(const struct edgecfg_wan *w)
{
	return w->plan;
}

int edgecfg_wan_cut_off(struct edgecfg_wan *w, uint32_t site, bool cut)
{
	if (site >= w->plan->topo->n_sites)
		return -EINVAL;
	w->cut_off[site] = cut;
	return 0;
}

int edgecfg_wan_features(struct edgecfg_wan *w, uint32_t site, uint64_t features)
{
	if (site >= w->plan->topo->n_sites)
		return -EINVAL;
	w->features[site] = features;
	return 0;
}

static Sdwan__SiteRole role_of(enum topo_role r)
{
	switch (r) {
	case TOPO_ROLE_HUB:
		return SDWAN__SITE_ROLE__SITE_ROLE_HUB;
	case TOPO_ROLE_SPOKE:
		return SDWAN__SITE_ROLE__SITE_ROLE_SPOKE;
	case TOPO_ROLE_PEER:
		return SDWAN__SITE_ROLE__SITE_ROLE_PEER;
	case TOPO_ROLE_EXTERNAL:
		return SDWAN__SITE_ROLE__SITE_ROLE_EXTERNAL;
	case TOPO_ROLE_COUNT:
		break;
	}
	return SDWAN__SITE_ROLE__SITE_ROLE_UNSPECIFIED;
}

/* The tunnel's kind seen from site (plan kinds are named from the spoke's or peer's side). */
static Sdwan__TunnelKind kind_of(const struct plan *p, const struct plan_tunnel *tun, uint32_t site)
{
	bool hub = p->topo->sites[site].role == TOPO_ROLE_HUB;
	switch ((enum plan_kind)tun->kind) {
	case PLAN_KIND_PEER_PEER:
		return SDWAN__TUNNEL_KIND__TUNNEL_KIND_PEER_PEER;
	case PLAN_KIND_SPOKE_HUB:
		return hub ? SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_SPOKE
			   : SDWAN__TUNNEL_KIND__TUNNEL_KIND_SPOKE_HUB;
	case PLAN_KIND_HUB_HUB:
		return SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_HUB;
	case PLAN_KIND_PEER_HUB:
		return hub ? SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_PEER
			   : SDWAN__TUNNEL_KIND__TUNNEL_KIND_PEER_HUB;
	case PLAN_KIND_EXTERNAL:
		return SDWAN__TUNNEL_KIND__TUNNEL_KIND_EXTERNAL;
	case PLAN_KIND_COUNT:
		break;
	}
	return SDWAN__TUNNEL_KIND__TUNNEL_KIND_UNSPECIFIED;
}

static Sdwan__DpdMode dpd_of(uint8_t m)
{
	switch ((enum topo_dpd_mode)m) {
	case TOPO_DPD_ON_IDLE:
		return SDWAN__DPD_MODE__DPD_MODE_ON_IDLE;
	case TOPO_DPD_ON_DEMAND:
		return SDWAN__DPD_MODE__DPD_MODE_ON_DEMAND;
	case TOPO_DPD_OFF:
		return SDWAN__DPD_MODE__DPD_MODE_OFF;
	}
	return SDWAN__DPD_MODE__DPD_MODE_UNSPECIFIED;
}

static uint32_t clamp_u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Fill one tunnel of site's config; its name goes into the tunnel's own name buffer. */
static int fill_tunnel(const struct edgecfg_wan *w, const struct plan_tunnel *tun, uint32_t site,
		       Sdwan__Tunnel *o, char *name, size_t name_len, uint8_t *psk,
		       edgecfg_psk_fn *psk_fn, void *psk_arg)
{
	const struct plan *p = w->plan;
	const struct topo *t = p->topo;
	uint32_t peer = plan_tunnel_peer(tun, site);
	const struct plan_profile *pr = &p->profiles[tun->profile];
	sdwan__tunnel__init(o);
	o->name = plan_tunnel_name(p, tun, name, name_len);
	o->peer_site = (char *)t->sites[peer].name;
	o->peer_identity = o->peer_site;
	o->peer_addresses = w->sites[peer].endpoints;
	o->n_peer_addresses = w->sites[peer].n_endpoints;
	o->initiator = tun->initiator == site;
	o->kind = kind_of(p, tun, site);
	/* Only the side whose peer is the hub has a hub preference: on the hub's own side a
	 * priority would make its spokes (or the external gateways it serves) a "hub group" of
	 * their own, with failover and failback between them. */
	o->hub_priority = t->sites[peer].role == TOPO_ROLE_HUB ? tun->hub_priority : 0;
	o->ike_proposal = (char *)w->ike[tun->profile];
	o->esp_proposal = (char *)w->esp[tun->profile];
	o->ike_lifetime_ms = pr->ike_lifetime_ms;
	o->esp_lifetime_ms = pr->esp_lifetime_ms;
	o->dpd_interval_ms = clamp_u32(pr->dpd_interval_ms);
	o->dpd_timeout_ms = clamp_u32(pr->dpd_timeout_ms);
	o->dpd_mode = dpd_of(pr->dpd_mode);
	o->mtu = tun->mtu;
	o->mss_v4 = tun->mss_v4;
	o->mss_v6 = tun->mss_v6;
	o->local_prefixes = w->sites[site].prefixes;
	o->n_local_prefixes = w->sites[site].n_prefixes;
	o->remote_prefixes = w->sites[peer].prefixes;
	o->n_remote_prefixes = w->sites[peer].n_prefixes;
	o->local_transit = plan_site_carries_transit(p, site);
	o->remote_transit = plan_site_carries_transit(p, peer);
	if (pr->auth == TOPO_AUTH_PSK) {
		o->auth = SDWAN__AUTH_METHOD__AUTH_METHOD_PSK;
		int rc = psk_fn ? psk_fn(psk_arg, o->name, psk) : -EINVAL;
		if (rc != 0)
			return rc;
		o->psk.data = psk;
		o->psk.len = EDGECFG_PSK_LEN;
	} else {
		o->auth = SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE;
	}
	return 0;
}

/* SHA-256 of the config minus generation and shared WAN table, then the table's digest if
 * carried (a summarised table is the config's own, hashed with the rest). */
static int config_digest(const struct edgecfg_wan *w, struct edgecfg *ec)
{
	Sdwan__EdgeConfig c = ec->cfg;
	c.generation = 0;
	if (ec->wan_encoded) {
		c.wan_prefixes = NULL;
		c.n_wan_prefixes = 0;
	}
	size_t len = sdwan__edge_config__get_packed_size(&c);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	sdwan__edge_config__pack(&c, buf);
	int rc = -ENOMEM;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dlen = 0;
	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, buf, len) == 1 &&
	    (!ec->wan_encoded || EVP_DigestUpdate(md, w->wan_digest, sizeof(w->wan_digest)) == 1) &&
	    EVP_DigestFinal_ex(md, ec->digest, &dlen) == 1)
		rc = 0;
	EVP_MD_CTX_free(md);
	/* The encoding holds the PSKs. */
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* Whether p lies inside one of set[0, n). */
static bool within_any(const struct prefix *p, const struct prefix *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p->len >= set[i].len && prefix_contains_addr(&set[i], &p->addr))
			return true;
	return false;
}

static int u32_qcmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The summarised table of site's config (its tunnels already filled): its own site and its
 * tunnels' peer sites listed as they are, every other site's addresses as the WAN's aggregate
 * split around the listed prefixes, which are then left out. */
static int summarise(const struct edgecfg_wan *w, uint32_t site, struct edgecfg *ec)
{
	const struct plan *p = w->plan;
	const struct plan_edge *pe = &p->edges[site];
	Sdwan__EdgeConfig *c = &ec->cfg;
	size_t n_sites = 0, n_at = 0;
	uint32_t *sites = calloc(pe->count + 1, sizeof(*sites));
	ec->listed = calloc(pe->count + 1, sizeof(Sdwan__SitePrefixes *));
	if (!sites || !ec->listed) {
		free(sites);
		return -ENOMEM;
	}
	/* Our own site and each site a kept tunnel leads to, once, in site order (the table's
	 * entry i is site i's). */
	sites[n_sites++] = site;
	for (size_t i = 0; i < pe->count; i++) {
		uint32_t peer = plan_tunnel_peer(&p->tunnels[p->edge_tunnels[pe->first + i]], site);
		if (!w->cut_off[peer])
			sites[n_sites++] = peer;
	}
	qsort(sites, n_sites, sizeof(*sites), u32_qcmp);
	/* The listed sites' entries, and their prefixes to split the aggregate at. */
	const struct topo *t = p->topo;
	for (size_t i = 0; i < n_sites; i++)
		n_at += t->sites[sites[i]].n_subnets;
	struct prefix *at = calloc(n_at + 1, sizeof(*at));
	ec->summary = calloc(PREFIX_SET_SPLIT_MAX(w->n_aggregate, n_at), sizeof(*ec->summary));
	if (!at || !ec->summary) {
		free(sites);
		free(at);
		return -ENOMEM;
	}
	n_at = 0;
	c->wan_prefixes = ec->listed;
	for (size_t i = 0; i < n_sites; i++) {
		if (i > 0 && sites[i] == sites[i - 1])
			continue;
		c->wan_prefixes[c->n_wan_prefixes++] = w->wan_prefixes[sites[i]];
		const struct topo_site *ts = &t->sites[sites[i]];
		for (size_t j = 0; j < ts->n_subnets; j++)
			if (ts->subnets[j].prefix.addr.family)
				at[n_at++] = ts->subnets[j].prefix;
	}
	free(sites);
	prefix_set_sort(at, n_at);
	size_t n = prefix_set_split(w->aggregate, w->n_aggregate, at, n_at, ec->summary);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (!within_any(&ec->summary[i], at, n_at))
			ec->summary[kept++] = ec->summary[i];
	free(at);
	ec->summary_msgs = calloc(kept + 1, sizeof(*ec->summary_msgs) + sizeof(Sdwan__Prefix *));
	if (!ec->summary_msgs)
		return -ENOMEM;
	Sdwan__Prefix **ptrs = (Sdwan__Prefix **)(ec->summary_msgs + kept + 1);
	for (size_t i = 0; i < kept; i++) {
		ctl_msg_prefix_set(&ec->summary_msgs[i], &ec->summary[i]);
		ptrs[i] = &ec->summary_msgs[i];
	}
	c->wan_summary = ptrs;
	c->n_wan_summary = kept;
	return 0;
}

/* Tunnel names live right after the tunnel structs in one block. */
#define EDGECFG_NAME_LEN 72

int edgecfg_build(const struct edgecfg_wan *w, uint32_t site, edgecfg_psk_fn *psk, void *psk_arg,
		  struct edgecfg **out)
{
	*out = NULL;
	const struct plan *p = w->plan;
	const struct topo *t = p->topo;
	if (site >= t->n_sites)
		return -EINVAL;
	const struct plan_edge *pe = &p->edges[site];
	struct edgecfg *ec = calloc(1, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	size_t n = pe->count;
	int rc = -ENOMEM;
	ec->tunnel_store = calloc(n + 1, sizeof(*ec->tunnel_store) + EDGECFG_NAME_LEN);
	ec->tunnel_ptrs = calloc(n + 1, sizeof(Sdwan__Tunnel *));
	ec->psks = calloc(n + 1, EDGECFG_PSK_LEN);
	ec->slots = n + 1;
	if (!ec->tunnel_store || !ec->tunnel_ptrs || !ec->psks)
		goto err;
	char *names = (char *)(ec->tunnel_store + n + 1);
	Sdwan__EdgeConfig *c = &ec->cfg;
	sdwan__edge_config__init(c);
	const struct topo_site *s = &t->sites[site];
	c->site = (char *)s->name;
	c->role = role_of(s->role);
	c->local_subnets = w->sites[site].prefixes;
	c->n_local_subnets = w->sites[site].n_prefixes;
	c->links = w->sites[site].links;
	c->n_links = w->sites[site].n_links;
	size_t k = 0; /* tunnels kept */
	for (size_t i = 0; i < n; i++) {
		const struct plan_tunnel *tun = &p->tunnels[p->edge_tunnels[pe->first + i]];
		if (w->cut_off[plan_tunnel_peer(tun, site)])
			continue;
		rc = fill_tunnel(w, tun, site, &ec->tunnel_store[k], names + k * EDGECFG_NAME_LEN,
				 EDGECFG_NAME_LEN, ec->psks + k * EDGECFG_PSK_LEN, psk, psk_arg);
		if (rc != 0)
			goto err;
		ec->tunnel_ptrs[k] = &ec->tunnel_store[k];
		k++;
	}
	n = k;
	c->tunnels = ec->tunnel_ptrs;
	c->n_tunnels = n;
	/* Only transit tunnels refer to the WAN table; a full mesh needs none of it. */
	bool transit = false;
	for (size_t i = 0; i < n; i++)
		transit = transit || ec->tunnel_store[i].local_transit ||
			  ec->tunnel_store[i].remote_transit;
	if (transit && w->n_aggregate && s->role != TOPO_ROLE_HUB &&
	    (w->features[site] & CTL_FEATURE_WAN_SUMMARY)) {
		/* Hubs keep the whole table: the controller's Reachability names any site. An edge
		 * that did not announce summaries would ignore one and lose those routes. */
		rc = summarise(w, site, ec);
		if (rc != 0)
			goto err;
	} else if (transit) {
		c->wan_prefixes = w->wan_prefixes;
		c->n_wan_prefixes = w->n_wan_prefixes;
		ec->wan_encoded = w->wan_encoded;
		ec->wan_encoded_len = w->wan_encoded_len;
	}
	c->ca_certificate_der.data = w->ca_der;
	c->ca_certificate_der.len = w->ca_len;
	c->failback_hold_down_ms = s->effective.hold_down_ms;
	c->health_interval_ms = w->health_interval_ms;
	c->wan_name = (char *)t->wan;
	rc = config_digest(w, ec);
	if (rc != 0)
		goto err;
	*out = ec;
	return 0;
err:
	edgecfg_free(ec);
	return rc;
}

void edgecfg_free(struct edgecfg *ec)
{
	if (!ec)
		return;
	if (ec->psks) {
		OPENSSL_cleanse(ec->psks, ec->slots * EDGECFG_PSK_LEN);
		free(ec->psks);
	}
	free(ec->tunnel_ptrs);
	free(ec->tunnel_store);
	free(ec->listed);
	free(ec->summary);
	free(ec->summary_msgs);
	free(ec);
}

/* A protobuf varint (base 128, least significant group first); returns its length. */
static size_t varint_put(uint64_t v, uint8_t out[static 10])
{
	size_t n = 0;
	for (; v >= 0x80; v >>= 7)
		out[n++] = (uint8_t)(v | 0x80);
	out[n++] = (uint8_t)v;
	return n;
}

/* Encode the envelope with the config (without its WAN table) followed by the table's cached
 * encoding: protobuf readers accept a message's fields in any order and a repeated field's
 * entries need not be adjacent, so this decodes exactly as packing the whole config would. In a
 * hub-and-spoke WAN every spoke carries the table: packing its two submessages per site again
 * for every push cost the controller far more than copying the bytes (at 10,000 sites, about
 * 1 ms against 20 us). protobuf-c packs the parts; only the config field's key and length are
 * written here. */
static int encode_spliced(const struct edgecfg *ec, uint64_t msg_id, uint8_t **out, size_t *len)
{
	Sdwan__EdgeConfig head = ec->cfg;
	head.wan_prefixes = NULL;
	head.n_wan_prefixes = 0;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, msg_id);
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&sdwan__envelope__descriptor, "config");
	if (!f || !protobuf_c_message_check(&head.base))
		return -EINVAL;
	size_t env_len = sdwan__envelope__get_packed_size(&env);
	size_t head_len = sdwan__edge_config__get_packed_size(&head);
	if (head_len > CTL_MSG_MAX_SIZE || ec->wan_encoded_len > CTL_MSG_MAX_SIZE - head_len)
		return -EMSGSIZE;
	size_t config_len = head_len + ec->wan_encoded_len;
	uint8_t key[10], length[10];
	size_t key_len =
		varint_put((uint64_t)f->id << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, key);
	size_t length_len = varint_put(config_len, length);
	size_t total = env_len + key_len + length_len + config_len;
	if (total > CTL_MSG_MAX_SIZE)
		return -EMSGSIZE;
	uint8_t *buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	uint8_t *p = buf + sdwan__envelope__pack(&env, buf);
	memcpy(p, key, key_len);
	p += key_len;
	memcpy(p, length, length_len);
	p += length_len;
	p += sdwan__edge_config__pack(&head, p);
	memcpy(p, ec->wan_encoded, ec->wan_encoded_len);
	*out = buf;
	*len = total;
	return 0;
}

int edgecfg_encode(struct edgecfg *ec, uint64_t generation, uint64_t msg_id, uint8_t **out,
		   size_t *len)
{
	ec->cfg.generation = generation;
	int rc;
	if (ec->wan_encoded_len) {
		rc = encode_spliced(ec, msg_id, out, len);
	} else {
		Sdwan__Envelope env;
		ctl_msg_envelope_init(&env, msg_id);
		env.body_case = SDWAN__ENVELOPE__BODY_CONFIG;
		env.config = &ec->cfg;
		rc = ctl_msg_encode_alloc(&env, out, len);
	}
	ec->cfg.generation = 0;
	return rc;
}

int edgecfg_psk_store(void *arg, const char *tunnel, uint8_t psk[static EDGECFG_PSK_LEN])
{
	struct store *st = arg;
	_Static_assert(EDGECFG_PSK_LEN == STORE_PSK_LEN, "one PSK size");
	int rc = store_psk_get(st, tunnel, psk);
	if (rc != -ENOENT)
		return rc;
	if (RAND_priv_bytes(psk, EDGECFG_PSK_LEN) != 1)
		return -EIO;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rc = store_psk_put(st, tunnel, psk, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	if (rc != 0)
		OPENSSL_cleanse(psk, EDGECFG_PSK_LEN);
	return rc;
}
