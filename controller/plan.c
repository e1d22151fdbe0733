#include "controller/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"

/* Settings both ends must agree on; mtu and hold-down are each edge's own. */
static const uint32_t shared_settings = 1u << TOPO_SET_IKE | 1u << TOPO_SET_ESP |
					1u << TOPO_SET_IKE_LIFETIME | 1u << TOPO_SET_ESP_LIFETIME |
					1u << TOPO_SET_DPD_INTERVAL | 1u << TOPO_SET_DPD_TIMEOUT |
					1u << TOPO_SET_DPD_MODE | 1u << TOPO_SET_AUTH;

enum {
	IPV6_MIN_MTU = 1280
};

struct planner {
	const struct topo *t;
	struct plan *p;
	struct diag_list *d;
	uint32_t *site_profile;   /* interned profile of each site's effective settings */
	uint8_t *static_families; /* families of each site's static links */
	uint8_t *all_families;    /* ... plus both families for a dynamic link */
	uint8_t *has_v6_subnet;
	uint8_t *mtu_reported;
	bool wan_has_v6;
	uint32_t *slots; /* open-addressing intern table of profile indices + 1 */
	size_t n_slots;
	size_t cap_tunnels;
};

static const char *site_name(const struct topo *t, uint32_t i)
{
	return t->sites[i].name ? t->sites[i].name : "";
}

static struct plan_profile profile_of(const struct topo_settings *s)
{
	struct plan_profile pr;
	memset(&pr, 0, sizeof(pr));
	pr.ike = s->ike;
	pr.esp = s->esp;
	pr.ike_lifetime_ms = s->ike_lifetime_ms;
	pr.esp_lifetime_ms = s->esp_lifetime_ms;
	pr.dpd_interval_ms = s->dpd_interval_ms;
	pr.dpd_timeout_ms = s->dpd_timeout_ms;
	pr.dpd_mode = s->dpd_mode;
	pr.auth = s->auth;
	return pr;
}

static bool profile_equal(const struct plan_profile *a, const struct plan_profile *b)
{
	return proposal_equal(&a->ike, &b->ike) && proposal_equal(&a->esp, &b->esp) &&
	       a->ike_lifetime_ms == b->ike_lifetime_ms &&
	       a->esp_lifetime_ms == b->esp_lifetime_ms &&
	       a->dpd_interval_ms == b->dpd_interval_ms && a->dpd_timeout_ms == b->dpd_timeout_ms &&
	       a->dpd_mode == b->dpd_mode && a->auth == b->auth;
}

static uint64_t profile_hash(const struct plan_profile *pr)
{
	uint64_t v[] = {
		(uint64_t)pr->ike.encr << 40 | (uint64_t)pr->ike.prf << 32 | pr->ike.group,
		(uint64_t)pr->esp.encr << 40 | (uint64_t)pr->esp.esn << 32 | pr->esp.group,
		pr->ike_lifetime_ms,
		pr->esp_lifetime_ms,
		pr->dpd_interval_ms,
		pr->dpd_timeout_ms,
		(uint64_t)pr->dpd_mode << 8 | pr->auth,
	};
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		h ^= v[i];
		h *= 1099511628211ull;
		h ^= h >> 29;
	}
	return h;
}

static int intern_grow(struct planner *pl)
{
	size_t n = pl->n_slots ? pl->n_slots * 2 : 64;
	uint32_t *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < pl->p->n_profiles; i++) {
		size_t at = profile_hash(&pl->p->profiles[i]) & (n - 1);
		while (slots[at])
			at = (at + 1) & (n - 1);
		slots[at] = (uint32_t)i + 1;
	}
	free(pl->slots);
	pl->slots = slots;
	pl->n_slots = n;
	return 0;
}

/* Index of an equal profile, adding it if new; UINT32_MAX when out of memory. */
static uint32_t intern(struct planner *pl, const struct plan_profile *pr)
{
	struct plan *p = pl->p;
	if ((p->n_profiles + 1) * 2 > pl->n_slots && intern_grow(pl) != 0)
		return UINT32_MAX;
	size_t at = profile_hash(pr) & (pl->n_slots - 1);
	while (pl->slots[at]) {
		if (profile_equal(&p->profiles[pl->slots[at] - 1], pr))
			return pl->slots[at] - 1;
		at = (at + 1) & (pl->n_slots - 1);
	}
	if (p->n_profiles == p->cap_profiles) {
		size_t cap = p->cap_profiles ? p->cap_profiles * 2 : 16;
		struct plan_profile *np = realloc(p->profiles, cap * sizeof(*np));
		if (!np)
			return UINT32_MAX;
		p->profiles = np;
		p->cap_profiles = cap;
	}
	p->profiles[p->n_profiles] = *pr;
	pl->slots[at] = (uint32_t)++p->n_profiles;
	return (uint32_t)p->n_profiles - 1;
}

static bool setting_equal(const struct topo_settings *a, const struct topo_settings *b,
			  enum topo_setting which)
{
	switch (which) {
	case TOPO_SET_IKE:
		return proposal_equal(&a->ike, &b->ike);
	case TOPO_SET_ESP:
		return proposal_equal(&a->esp, &b->esp);
	case TOPO_SET_IKE_LIFETIME:
		return a->ike_lifetime_ms == b->ike_lifetime_ms;
	case TOPO_SET_ESP_LIFETIME:
		return a->esp_lifetime_ms == b->esp_lifetime_ms;
	case TOPO_SET_DPD_INTERVAL:
		return a->dpd_interval_ms == b->dpd_interval_ms;
	case TOPO_SET_DPD_TIMEOUT:
		return a->dpd_timeout_ms == b->dpd_timeout_ms;
	case TOPO_SET_DPD_MODE:
		return a->dpd_mode == b->dpd_mode;
	case TOPO_SET_AUTH:
		return a->auth == b->auth;
	default:
		return true;
	}
}

static void report_pair(struct planner *pl, uint32_t a, uint32_t b, struct src_pos pa,
			struct src_pos pb, const char *fmt_tail)
{
	/* Point at whichever site comes later in the file, note the other. */
	const struct topo *t = pl->t;
	bool a_later = pa.line > pb.line || (pa.line == pb.line && pa.col >= pb.col);
	uint32_t later = a_later ? a : b, earlier = a_later ? b : a;
	char note[96];
	snprintf(note, sizeof(note), "'%s' is defined here", site_name(t, earlier));
	diag_add_note(pl->d, a_later ? pa : pb, a_later ? pb : pa, note,
		      "sites '%s' and '%s' must be connected, but %s", site_name(t, later),
		      site_name(t, earlier), fmt_tail);
}

/* The profile of the tunnel a-b: defaults, then both ends' overrides, which must not differ. */
static uint32_t pair_profile(struct planner *pl, uint32_t a, uint32_t b)
{
	const struct topo_site *sa = &pl->t->sites[a], *sb = &pl->t->sites[b];
	uint32_t ma = sa->overrides.set & shared_settings;
	uint32_t mb = sb->overrides.set & shared_settings;
	if (!ma)
		return pl->site_profile[b];
	if (!mb)
		return pl->site_profile[a];
	uint32_t both = ma & mb;
	for (int f = 0; f < TOPO_SET_COUNT; f++) {
		if (!(both & 1u << f) || setting_equal(&sa->overrides, &sb->overrides, f))
			continue;
		char tail[200];
		snprintf(tail, sizeof(tail),
			 "they set %s to different values and a tunnel can only have one; make "
			 "them agree or set it once under defaults:",
			 topo_setting_key(f));
		report_pair(pl, a, b, sa->overrides.pos[f], sb->overrides.pos[f], tail);
	}
	struct topo_settings merged = sa->effective;
	topo_settings_apply(&merged, &sb->overrides, mb);
	struct plan_profile pr = profile_of(&merged);
	return intern(pl, &pr);
}

void plan_mtu(uint32_t underlay_mtu, const struct proposal *esp, uint8_t family, uint16_t *mtu,
	      uint16_t *mss_v4, uint16_t *mss_v6)
{
	/* outer IP + UDP (RFC 3948) + ESP header, IV, ICV; then the inner packet plus pad length
	 * and next header must end on a 4-byte boundary (RFC 4303 section 2.4). */
	unsigned outer = (family == IP_V6 ? 40u : 20u) + 8u;
	unsigned fixed = outer + proposal_esp_overhead(esp) - 2u;
	unsigned avail = underlay_mtu > fixed ? underlay_mtu - fixed : 0;
	unsigned m = (avail & ~3u) >= 2 ? (avail & ~3u) - 2u : 0;
	*mtu = (uint16_t)m;
	*mss_v4 = (uint16_t)(m > 40 ? m - 40 : 0);
	*mss_v6 = (uint16_t)(m > 60 ? m - 60 : 0);
}

static bool pair_reachability(struct planner *pl, uint32_t *ini, uint32_t *resp, uint8_t *why,
			      uint8_t *families)
{
	const struct topo *t = pl->t;
	uint32_t a = *ini, b = *resp;
	bool a_dyn = pl->static_families[a] == 0, b_dyn = pl->static_families[b] == 0;
	if (a_dyn && b_dyn) {
		report_pair(pl, a, b, t->sites[a].pos, t->sites[b].pos,
			    "both are dynamic, so neither can reach the other; give one of them a "
			    "static underlay address");
		return false;
	}
	if (b_dyn) {
		*ini = b;
		*resp = a;
		*why = PLAN_INIT_DYNAMIC;
	} else if (a_dyn) {
		*why = PLAN_INIT_DYNAMIC;
	}
	*families = pl->all_families[*ini] & pl->static_families[*resp];
	if (*families == 0) {
		report_pair(pl, *ini, *resp, t->sites[*ini].pos, t->sites[*resp].pos,
			    "their underlay addresses share no address family (one is IPv4-only, "
			    "the other IPv6-only); give one of them an address of the other's "
			    "family");
		return false;
	}
	return true;
}

static void check_ipv6_mtu(struct planner *pl, const struct plan_tunnel *tun)
{
	const struct topo *t = pl->t;
	uint32_t ends[2] = {tun->initiator, tun->responder};
	bool carries_v6 = pl->has_v6_subnet[ends[0]] || pl->has_v6_subnet[ends[1]] ||
			  ((plan_site_carries_transit(pl->p, ends[0]) ||
			    plan_site_carries_transit(pl->p, ends[1])) &&
			   pl->wan_has_v6);
	if (tun->mtu >= IPV6_MIN_MTU || !carries_v6)
		return;
	/* Blame the end with the smaller underlay MTU, once per site. */
	uint32_t s = t->sites[ends[0]].effective.mtu <= t->sites[ends[1]].effective.mtu ? ends[0]
											: ends[1];
	if (pl->mtu_reported[s])
		return;
	pl->mtu_reported[s] = 1;
	const struct topo_settings *e = &t->sites[s].effective;
	struct src_pos at = e->pos[TOPO_SET_MTU].line ? e->pos[TOPO_SET_MTU] : t->sites[s].pos;
	diag_error(pl->d, at,
		   "underlay mtu %u of site '%s' leaves its tunnels an MTU of %u, below the %u "
		   "bytes IPv6 requires; raise mtu to at least %u",
		   e->mtu, site_name(t, s), tun->mtu, IPV6_MIN_MTU,
		   e->mtu + IPV6_MIN_MTU - tun->mtu);
}

/* Plan the tunnel between a and b (for spoke-hub: a the spoke, b the hub; for external: a ours,
 * b the gateway). */
static int add_tunnel(struct planner *pl, uint32_t a, uint32_t b, enum plan_kind kind,
		      unsigned priority)
{
	const struct topo *t = pl->t;
	struct plan_tunnel tun;
	memset(&tun, 0, sizeof(tun));
	tun.kind = (uint8_t)kind;
	tun.hub_priority = (uint8_t)(priority > 255 ? 255 : priority);
	uint32_t ini = a, resp = b;
	uint8_t why = kind == PLAN_KIND_EXTERNAL ? PLAN_INIT_EXTERNAL : PLAN_INIT_SPOKE;
	if (kind != PLAN_KIND_SPOKE_HUB && kind != PLAN_KIND_EXTERNAL) {
		why = PLAN_INIT_LOWER_NAME;
		if (strcmp(site_name(t, a), site_name(t, b)) > 0) {
			ini = b;
			resp = a;
		}
	}
	uint8_t families = 0;
	if (!pair_reachability(pl, &ini, &resp, &why, &families))
		return 0;
	tun.initiator = ini;
	tun.responder = resp;
	tun.init_reason = why;
	tun.families = families;
	tun.profile = pair_profile(pl, a, b);
	if (tun.profile == UINT32_MAX)
		return -ENOMEM;
	uint32_t mtu_a = t->sites[a].effective.mtu, mtu_b = t->sites[b].effective.mtu;
	plan_mtu(mtu_a < mtu_b ? mtu_a : mtu_b, &pl->p->profiles[tun.profile].esp,
		 families & 1u << IP_V6 ? IP_V6 : IP_V4, &tun.mtu, &tun.mss_v4, &tun.mss_v6);
	check_ipv6_mtu(pl, &tun);
	struct plan *p = pl->p;
	if (p->n_tunnels == pl->cap_tunnels) {
		size_t cap = pl->cap_tunnels ? pl->cap_tunnels * 2 : 64;
		struct plan_tunnel *nt = realloc(p->tunnels, cap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		p->tunnels = nt;
		pl->cap_tunnels = cap;
	}
	p->tunnels[p->n_tunnels++] = tun;
	p->by_kind[kind]++;
	return 0;
}

static int prepare(struct planner *pl)
{
	const struct topo *t = pl->t;
	size_t n = t->n_sites ? t->n_sites : 1;
	pl->site_profile = calloc(n, sizeof(*pl->site_profile));
	pl->static_families = calloc(n, 1);
	pl->all_families = calloc(n, 1);
	pl->has_v6_subnet = calloc(n, 1);
	pl->mtu_reported = calloc(n, 1);
	if (!pl->site_profile || !pl->static_families || !pl->all_families || !pl->has_v6_subnet ||
	    !pl->mtu_reported)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		struct plan_profile pr = profile_of(&s->effective);
		pl->site_profile[i] = intern(pl, &pr);
		if (pl->site_profile[i] == UINT32_MAX)
			return -ENOMEM;
		for (size_t j = 0; j < s->n_links; j++) {
			uint8_t fam = s->links[j].dynamic
					      ? (1u << IP_V4 | 1u << IP_V6)
					      : (uint8_t)(1u << s->links[j].addr.family);
			pl->all_families[i] |= fam;
			if (!s->links[j].dynamic)
				pl->static_families[i] |= fam;
		}
		for (size_t j = 0; j < s->n_subnets; j++)
			if (s->subnets[j].prefix.addr.family == IP_V6)
				pl->has_v6_subnet[i] = 1;
		if (pl->has_v6_subnet[i])
			pl->wan_has_v6 = true;
	}
	return 0;
}

/* Sites with usable names in file order, by role. */
static bool usable(const struct topo_site *s)
{
	return s->name != NULL;
}

/* Whether site i takes part in pairing by role (any_role: every site but external gateways). */
static bool pairs_with(const struct topo_site *s, enum topo_role r, bool any_role)
{
	if (!usable(s))
		return false;
	return any_role ? s->role != TOPO_ROLE_EXTERNAL : s->role == r;
}

static int plan_pairs_of_role(struct planner *pl, enum topo_role ra, enum topo_role rb,
			      enum plan_kind kind, bool any_role)
{
	const struct topo *t = pl->t;
	for (uint32_t i = 0; i < t->n_sites; i++) {
		if (!pairs_with(&t->sites[i], ra, any_role))
			continue;
		uint32_t start = ra == rb || any_role ? i + 1 : 0;
		for (uint32_t j = start; j < t->n_sites; j++) {
			if (!pairs_with(&t->sites[j], rb, any_role))
				continue;
			int rc = add_tunnel(pl, i, j, kind, 0);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int plan_spokes(struct planner *pl)
{
	const struct topo *t = pl->t;
	for (uint32_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		if (!usable(s) || s->role != TOPO_ROLE_SPOKE)
			continue;
		unsigned prio = 0;
		for (size_t h = 0; h < s->n_hubs; h++) {
			if (s->hubs[h].site == UINT32_MAX)
				continue;
			int rc = add_tunnel(pl, i, s->hubs[h].site, PLAN_KIND_SPOKE_HUB, ++prio);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Tunnels to external gateways: from the hubs each names (in its order, 1 = preferred), from
 * every hub in file order when it names none, or in a full mesh from every peer. */
static int plan_externals(struct planner *pl)
{
	const struct topo *t = pl->t;
	enum topo_role from = t->type == TOPO_FULL_MESH ? TOPO_ROLE_PEER : TOPO_ROLE_HUB;
	for (uint32_t x = 0; x < t->n_sites; x++) {
		const struct topo_site *s = &t->sites[x];
		if (!usable(s) || s->role != TOPO_ROLE_EXTERNAL)
			continue;
		unsigned prio = 0;
		int rc = 0;
		for (size_t h = 0; h < s->n_hubs && !rc; h++)
			if (s->hubs[h].site != UINT32_MAX)
				rc = add_tunnel(pl, s->hubs[h].site, x, PLAN_KIND_EXTERNAL, ++prio);
		for (uint32_t i = 0; i < t->n_sites && s->n_hubs == 0 && !rc; i++)
			if (usable(&t->sites[i]) && t->sites[i].role == from)
				rc = add_tunnel(pl, i, x, PLAN_KIND_EXTERNAL,
						from == TOPO_ROLE_HUB ? ++prio : 0);
		if (rc)
			return rc;
	}
	return 0;
}

static int build_edges(struct plan *p)
{
	size_t n = p->topo->n_sites;
	p->edges = calloc(n ? n : 1, sizeof(*p->edges));
	p->edge_tunnels = malloc((p->n_tunnels ? p->n_tunnels * 2 : 1) * sizeof(*p->edge_tunnels));
	if (!p->edges || !p->edge_tunnels)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_tunnels; i++) {
		p->edges[p->tunnels[i].initiator].count++;
		p->edges[p->tunnels[i].responder].count++;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		p->edges[i].first = off;
		off += p->edges[i].count;
		p->edges[i].count = 0;
	}
	for (size_t i = 0; i < p->n_tunnels; i++) {
		struct plan_edge *ei = &p->edges[p->tunnels[i].initiator];
		struct plan_edge *er = &p->edges[p->tunnels[i].responder];
		p->edge_tunnels[ei->first + ei->count++] = (uint32_t)i;
		p->edge_tunnels[er->first + er->count++] = (uint32_t)i;
	}
	return 0;
}

static int plan_all(struct planner *pl)
{
	const struct topo *t = pl->t;
	int rc;
	if (t->type == TOPO_FULL_MESH) {
		rc = plan_pairs_of_role(pl, TOPO_ROLE_PEER, TOPO_ROLE_PEER, PLAN_KIND_PEER_PEER,
					true);
		return rc ? rc : plan_externals(pl);
	}
	rc = plan_pairs_of_role(pl, TOPO_ROLE_HUB, TOPO_ROLE_HUB, PLAN_KIND_HUB_HUB, false);
	if (!rc)
		rc = plan_spokes(pl);
	if (!rc && t->type == TOPO_HYBRID)
		rc = plan_pairs_of_role(pl, TOPO_ROLE_PEER, TOPO_ROLE_PEER, PLAN_KIND_PEER_PEER,
					false);
	if (!rc && t->type == TOPO_HYBRID)
		rc = plan_pairs_of_role(pl, TOPO_ROLE_PEER, TOPO_ROLE_HUB, PLAN_KIND_PEER_HUB,
					false);
	if (!rc)
		rc = plan_externals(pl);
	return rc;
}

static size_t expected_tunnels(const struct topo *t)
{
	size_t hubs = 0, peers = 0, attach = 0, ext = 0, ext_listed = 0, ext_all = 0;
	for (size_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		hubs += s->role == TOPO_ROLE_HUB;
		peers += s->role == TOPO_ROLE_PEER;
		if (s->role == TOPO_ROLE_SPOKE)
			attach += s->n_hubs;
		if (s->role == TOPO_ROLE_EXTERNAL) {
			ext++;
			ext_listed += s->n_hubs;
			ext_all += s->n_hubs == 0;
		}
	}
	size_t n = t->n_sites - ext;
	if (t->type == TOPO_FULL_MESH)
		return n * (n - (n > 0)) / 2 + ext * peers;
	size_t e = hubs * (hubs - (hubs > 0)) / 2 + attach + ext_listed + ext_all * hubs;
	if (t->type == TOPO_HYBRID)
		e += peers * (peers - (peers > 0)) / 2 + peers * hubs;
	return e;
}

int plan_build(const struct topo *t, struct plan **out, struct diag_list *diags)
{
	*out = NULL;
	struct plan *p = calloc(1, sizeof(*p));
	struct planner pl = {.t = t, .p = p, .d = diags};
	int rc = -ENOMEM;
	if (!p)
		goto out;
	p->topo = t;
	/* Sized up front: a 2,000-site mesh must not pay for doubling 2 M tunnels. */
	pl.cap_tunnels = expected_tunnels(t);
	if (pl.cap_tunnels) {
		p->tunnels = malloc(pl.cap_tunnels * sizeof(*p->tunnels));
		if (!p->tunnels)
			goto out;
	}
	rc = prepare(&pl);
	if (!rc)
		rc = plan_all(&pl);
	if (!rc)
		rc = build_edges(p);
out:
	free(pl.site_profile);
	free(pl.static_families);
	free(pl.all_families);
	free(pl.has_v6_subnet);
	free(pl.mtu_reported);
	free(pl.slots);
	if (rc) {
		plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	free(p->tunnels);
	free(p->profiles);
	free(p->edge_tunnels);
	free(p->edges);
	free(p);
}

char *plan_tunnel_name(const struct plan *p, const struct plan_tunnel *tun, char *buf, size_t len)
{
	const char *a = site_name(p->topo, tun->initiator);
	const char *b = site_name(p->topo, tun->responder);
	if (strcmp(a, b) > 0) {
		const char *tmp = a;
		a = b;
		b = tmp;
	}
	snprintf(buf, len, "%s:%s", a, b);
	return buf;
}

uint32_t plan_tunnel_peer(const struct plan_tunnel *tun, uint32_t site)
{
	return tun->initiator == site ? tun->responder : tun->initiator;
}

bool plan_site_carries_transit(const struct plan *p, uint32_t site)
{
	return p->topo->type != TOPO_FULL_MESH && p->topo->sites[site].role == TOPO_ROLE_HUB;
}

bool plan_carries_site(const struct plan *p, uint32_t site, uint32_t peer, uint32_t from)
{
	if (from == site)
		return true;
	return from != peer && plan_site_carries_transit(p, site);
}

const char *plan_kind_name(enum plan_kind k)
{
	static const char *const names[PLAN_KIND_COUNT] = {"peer-peer", "spoke-hub", "hub-hub",
							   "peer-hub", "external"};
	return (unsigned)k < PLAN_KIND_COUNT ? names[k] : "?";
}

const char *plan_initiator_reason_text(enum plan_initiator_reason r)
{
	switch (r) {
	case PLAN_INIT_DYNAMIC:
		return "its underlay address is dynamic, so only it can open the tunnel";
	case PLAN_INIT_SPOKE:
		return "spokes initiate to their hubs";
	case PLAN_INIT_EXTERNAL:
		return "our edge opens (and re-opens) every tunnel to an external gateway";
	default:
		return "between equals the lexically lower name initiates";
	}
}
