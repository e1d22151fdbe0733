#include "controller/topo_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"

/* Sites sorted by name, for duplicate detection and O(log n) hub lookups at 10,000 sites. */
struct name_index {
	uint32_t *order; /* indices of named sites, by name */
	size_t n;
};

static int cmp_site_name(const void *a, const void *b, void *ctx)
{
	const struct topo *t = ctx;
	const struct topo_site *sa = &t->sites[*(const uint32_t *)a];
	const struct topo_site *sb = &t->sites[*(const uint32_t *)b];
	int c = strcmp(sa->name, sb->name);
	if (c)
		return c;
	return sa->pos.line < sb->pos.line ? -1 : (sa->pos.line > sb->pos.line);
}

static int name_index_build(const struct topo *t, struct name_index *ix)
{
	ix->n = 0;
	ix->order = malloc((t->n_sites ? t->n_sites : 1) * sizeof(*ix->order));
	if (!ix->order)
		return -1;
	for (size_t i = 0; i < t->n_sites; i++)
		if (t->sites[i].name)
			ix->order[ix->n++] = (uint32_t)i;
	qsort_r(ix->order, ix->n, sizeof(*ix->order), cmp_site_name, (void *)t);
	return 0;
}

static long name_index_find(const struct topo *t, const struct name_index *ix, const char *name)
{
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->sites[ix->order[mid]].name, name);
		if (c == 0)
			return ix->order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void check_duplicate_names(const struct topo *t, const struct name_index *ix,
				  struct diag_list *d)
{
	for (size_t i = 1; i < ix->n; i++) {
		const struct topo_site *prev = &t->sites[ix->order[i - 1]];
		const struct topo_site *cur = &t->sites[ix->order[i]];
		if (strcmp(prev->name, cur->name) == 0)
			diag_add_note(d, cur->pos, prev->pos, "first defined here",
				      "duplicate site name '%s'; every site needs its own name",
				      cur->name);
	}
}

static void check_roles(const struct topo *t, struct diag_list *d)
{
	size_t hubs = 0;
	for (size_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		if (s->role == TOPO_ROLE_HUB)
			hubs++;
		if (s->role_pos.line == 0)
			continue;
		if (t->type == TOPO_FULL_MESH && s->role != TOPO_ROLE_PEER &&
		    s->role != TOPO_ROLE_EXTERNAL)
			diag_error(d, s->role_pos,
				   "role '%s' does not exist in a full-mesh topology, where every "
				   "site is a peer; write role: peer, or use type: hybrid",
				   topo_role_name(s->role));
		if (t->type == TOPO_HUB_AND_SPOKE && s->role == TOPO_ROLE_PEER)
			diag_error(
				d, s->role_pos,
				"role 'peer' does not exist in a hub-and-spoke topology; write "
				"hub or spoke, or use type: hybrid for sites that mesh directly");
	}
	if (t->type != TOPO_FULL_MESH && hubs == 0 && t->n_sites > 0)
		diag_error(d, t->type_pos, "a %s topology needs at least one site with role: hub",
			   topo_type_name(t->type));
}

static void check_spoke_hubs(struct topo *t, const struct name_index *ix, struct topo_site *s,
			     struct diag_list *d)
{
	/* An external gateway may name the hubs it attaches to (first = preferred); without a
	 * list it attaches to every hub. */
	bool external = s->role == TOPO_ROLE_EXTERNAL;
	if (external && t->type == TOPO_FULL_MESH && (s->n_hubs || s->hubs_pos.line)) {
		diag_error(d, s->hubs_pos,
			   "a full-mesh WAN has no hubs; external site '%s' is connected to every "
			   "peer, so remove its hubs list",
			   s->name ? s->name : "?");
		return;
	}
	if (s->role != TOPO_ROLE_SPOKE && !external) {
		if (s->n_hubs || s->hubs_pos.line)
			diag_error(d, s->hubs_pos,
				   "only spokes and external sites list hubs; site '%s' is a %s",
				   s->name ? s->name : "?", topo_role_name(s->role));
		return;
	}
	if (external && s->n_hubs == 0) {
		if (s->hubs_pos.line)
			diag_error(d, s->hubs_pos,
				   "external site '%s' has an empty hubs list; name the hubs it "
				   "attaches to, or remove the list to attach it to every hub",
				   s->name ? s->name : "?");
		return;
	}
	if (s->n_hubs == 0) {
		diag_error(
			d, s->hubs_pos.line ? s->hubs_pos : s->pos,
			"spoke '%s' needs a hubs list (first = preferred), e.g. hubs: [hub1, hub2]",
			s->name ? s->name : "?");
		return;
	}
	for (size_t h = 0; h < s->n_hubs; h++) {
		struct topo_hub_ref *ref = &s->hubs[h];
		if (!ref->name)
			continue;
		long idx = name_index_find(t, ix, ref->name);
		if (idx < 0) {
			diag_error(d, ref->pos, "%s '%s' names hub '%s', but there is no such site",
				   topo_role_name(s->role), s->name ? s->name : "?", ref->name);
			continue;
		}
		const struct topo_site *hub = &t->sites[idx];
		if (hub->role == TOPO_ROLE_EXTERNAL) {
			/* A hub relays between our edges with our failover and routing; a
			 * gateway we do not run can do neither. */
			diag_add_note(
				d, ref->pos, hub->pos, "defined here",
				"site '%s' names external site '%s' as a hub, but an external "
				"gateway cannot be a hub; name one of our hubs (traffic "
				"reaches '%s' through the hubs it is attached to)",
				s->name ? s->name : "?", ref->name, ref->name);
			continue;
		}
		if (hub->role != TOPO_ROLE_HUB) {
			diag_add_note(d, ref->pos, hub->pos, "defined here",
				      "%s '%s' names '%s' as a hub, but '%s' has role %s",
				      topo_role_name(s->role), s->name ? s->name : "?", ref->name,
				      ref->name, topo_role_name(hub->role));
			continue;
		}
		for (size_t k = 0; k < h; k++) {
			if (s->hubs[k].site == (uint32_t)idx) {
				diag_add_note(d, ref->pos, s->hubs[k].pos, "first listed here",
					      "hub '%s' is listed twice for %s '%s'", ref->name,
					      topo_role_name(s->role), s->name ? s->name : "?");
				idx = -1;
				break;
			}
		}
		if (idx >= 0)
			ref->site = (uint32_t)idx;
	}
}

struct subnet_ref {
	const struct topo_subnet *subnet;
	uint32_t site;
};

static int cmp_subnet_ref(const void *a, const void *b)
{
	const struct subnet_ref *x = a, *y = b;
	return prefix_cmp(&x->subnet->prefix, &y->subnet->prefix);
}

static struct subnet_ref *collect_subnets(const struct topo *t, size_t *n_out)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_sites; i++)
		n += t->sites[i].n_subnets;
	struct subnet_ref *refs = malloc((n ? n : 1) * sizeof(*refs));
	if (!refs)
		return NULL;
	n = 0;
	for (size_t i = 0; i < t->n_sites; i++)
		for (size_t j = 0; j < t->sites[i].n_subnets; j++)
			if (t->sites[i].subnets[j].prefix.addr.family)
				refs[n++] =
					(struct subnet_ref){&t->sites[i].subnets[j], (uint32_t)i};
	qsort(refs, n, sizeof(*refs), cmp_subnet_ref);
	*n_out = n;
	return refs;
}

/* Report at whichever of the two subnets comes later in the file, with a note at the other. */
static void report_overlap(const struct topo *t, const struct subnet_ref *x,
			   const struct subnet_ref *y, struct diag_list *d)
{
	const struct subnet_ref *later = x, *earlier = y;
	if (x->subnet->pos.line < y->subnet->pos.line) {
		later = y;
		earlier = x;
	}
	char a[PREFIX_STRLEN], b[PREFIX_STRLEN];
	prefix_format(&later->subnet->prefix, a);
	prefix_format(&earlier->subnet->prefix, b);
	const char *sa = t->sites[later->site].name ? t->sites[later->site].name : "?";
	const char *sb = t->sites[earlier->site].name ? t->sites[earlier->site].name : "?";
	if (later->site == earlier->site)
		diag_add_note(
			d, later->subnet->pos, earlier->subnet->pos, "the other subnet is here",
			"subnets %s and %s of site '%s' overlap; list each address range once", a,
			b, sa);
	else
		diag_add_note(d, later->subnet->pos, earlier->subnet->pos,
			      "the other subnet is here",
			      "subnet %s of site '%s' overlaps %s of site '%s'; a destination must "
			      "belong to exactly one site",
			      a, sa, b, sb);
}

/*
 * Sorted by start address, a prefix overlaps an earlier one exactly when it starts at or before
 * the furthest end seen so far in its family; that earlier "cover" is the one to name.
 */
static bool check_overlaps(const struct topo *t, const struct subnet_ref *refs, size_t n,
			   struct diag_list *d)
{
	bool any = false;
	const struct subnet_ref *cover = NULL;
	struct ip_addr cover_end = {0};
	for (size_t i = 0; i < n; i++) {
		const struct subnet_ref *r = &refs[i];
		const struct prefix *p = &r->subnet->prefix;
		if (cover && cover->subnet->prefix.addr.family == p->addr.family &&
		    ip_addr_cmp(&p->addr, &cover_end) <= 0) {
			report_overlap(t, r, cover, d);
			any = true;
		}
		struct ip_addr end = prefix_last_addr(p);
		if (!cover || cover->subnet->prefix.addr.family != p->addr.family ||
		    ip_addr_cmp(&end, &cover_end) > 0) {
			cover = r;
			cover_end = end;
		}
	}
	return any;
}

/* The subnet containing a, if any: without overlaps, the last one starting at or before a;
 * with them (already reported), one of the few before it. */
static const struct subnet_ref *subnet_of(const struct subnet_ref *refs, size_t n,
					  const struct ip_addr *a, bool overlaps)
{
	size_t scan = overlaps ? 64 : 1;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_addr_cmp(&refs[mid].subnet->prefix.addr, a) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;) {
		if (prefix_contains_addr(&refs[i].subnet->prefix, a))
			return &refs[i];
		if (refs[i].subnet->prefix.addr.family != a->family)
			break;
		if (lo - i >= scan)
			break;
	}
	return NULL;
}

struct link_ref {
	const struct topo_link *link;
	uint32_t site;
};

static int cmp_link_ref(const void *a, const void *b)
{
	const struct link_ref *x = a, *y = b;
	int c = ip_addr_cmp(&x->link->addr, &y->link->addr);
	if (c)
		return c;
	return x->link->addr_pos.line < y->link->addr_pos.line
		       ? -1
		       : (x->link->addr_pos.line > y->link->addr_pos.line);
}

static void check_underlay(const struct topo *t, const struct subnet_ref *subnets, size_t n_sub,
			   bool overlaps, struct diag_list *d)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_sites; i++)
		n += t->sites[i].n_links;
	struct link_ref *refs = malloc((n ? n : 1) * sizeof(*refs));
	if (!refs)
		return;
	n = 0;
	for (size_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		for (size_t j = 0; j < s->n_links; j++) {
			for (size_t k = 0; k < j; k++)
				if (s->links[j].name && s->links[k].name &&
				    strcmp(s->links[j].name, s->links[k].name) == 0)
					diag_add_note(d, s->links[j].pos, s->links[k].pos,
						      "first defined here",
						      "site '%s' has two underlay links named '%s'",
						      s->name ? s->name : "?", s->links[j].name);
			if (!s->links[j].dynamic)
				refs[n++] = (struct link_ref){&s->links[j], (uint32_t)i};
		}
	}
	qsort(refs, n, sizeof(*refs), cmp_link_ref);
	char a[IP_ADDR_STRLEN], p[PREFIX_STRLEN];
	for (size_t i = 0; i < n; i++) {
		const struct topo_link *l = refs[i].link;
		if (i > 0 && ip_addr_cmp(&l->addr, &refs[i - 1].link->addr) == 0)
			diag_add_note(d, l->addr_pos, refs[i - 1].link->addr_pos, "first used here",
				      "underlay address %s is used twice; each link needs its own "
				      "address",
				      ip_addr_format(&l->addr, a));
		const struct subnet_ref *in = subnet_of(subnets, n_sub, &l->addr, overlaps);
		if (in)
			diag_add_note(d, l->addr_pos, in->subnet->pos, "the subnet is here",
				      "underlay address %s lies inside subnet %s of site '%s': "
				      "packets to the peer would be routed into the tunnel itself",
				      ip_addr_format(&l->addr, a),
				      prefix_format(&in->subnet->prefix, p),
				      t->sites[in->site].name ? t->sites[in->site].name : "?");
	}
	free(refs);
}

/* Report a settings problem at the most specific place one of the two values was written. */
static struct src_pos settings_pos(const struct topo_settings *s, enum topo_setting a,
				   enum topo_setting b, struct src_pos fallback)
{
	if (s->set & 1u << a)
		return s->pos[a];
	if (s->set & 1u << b)
		return s->pos[b];
	return fallback;
}

static void check_settings(const struct topo_settings *s, const char *where, struct src_pos at,
			   struct diag_list *d)
{
	const uint32_t lifetimes = 1u << TOPO_SET_IKE_LIFETIME | 1u << TOPO_SET_ESP_LIFETIME;
	const uint32_t dpd = 1u << TOPO_SET_DPD_INTERVAL | 1u << TOPO_SET_DPD_TIMEOUT;
	char e[DURATION_STRLEN], i[DURATION_STRLEN];
	if ((s->set & lifetimes) && s->esp_lifetime_ms >= s->ike_lifetime_ms)
		diag_error(d, settings_pos(s, TOPO_SET_ESP_LIFETIME, TOPO_SET_IKE_LIFETIME, at),
			   "%s: esp-lifetime (%s) must be shorter than ike-lifetime (%s), so Child "
			   "SAs rekey inside their IKE SA",
			   where, duration_format(s->esp_lifetime_ms, e),
			   duration_format(s->ike_lifetime_ms, i));
	if ((s->set & dpd) && s->dpd_mode != TOPO_DPD_OFF && s->dpd_timeout_ms < s->dpd_interval_ms)
		diag_error(d, settings_pos(s, TOPO_SET_DPD_TIMEOUT, TOPO_SET_DPD_INTERVAL, at),
			   "%s: dpd timeout (%s) is below its interval (%s); a peer would be "
			   "declared dead before the first probe is answered (e.g. interval 100ms, "
			   "timeout 300ms)",
			   where, duration_format(s->dpd_timeout_ms, e),
			   duration_format(s->dpd_interval_ms, i));
}

/* strongSwan counts DPD delays in whole seconds: an external gateway probes at the interval
 * rounded up, whatever our side does. Not an error (DPD is each end's own), but worth knowing. */
static void warn_external_dpd(const struct topo *t, const struct topo_site *s, struct diag_list *d)
{
	const struct topo_settings *e = &s->effective;
	if (s->role != TOPO_ROLE_EXTERNAL || !s->name || e->dpd_mode == TOPO_DPD_OFF ||
	    e->dpd_interval_ms % 1000 == 0)
		return;
	struct src_pos at = s->pos;
	if (s->overrides.set & 1u << TOPO_SET_DPD_INTERVAL)
		at = s->overrides.pos[TOPO_SET_DPD_INTERVAL];
	else if (t->defaults.set & 1u << TOPO_SET_DPD_INTERVAL)
		at = t->defaults.pos[TOPO_SET_DPD_INTERVAL];
	char iv[DURATION_STRLEN];
	diag_warn(d, at,
		  "external site '%s': dpd interval %s is not whole seconds; its strongSwan "
		  "configuration probes every %llus (our side keeps %s)",
		  s->name, duration_format(e->dpd_interval_ms, iv),
		  (unsigned long long)((e->dpd_interval_ms + 999) / 1000), iv);
}

size_t topo_check(struct topo *t, struct diag_list *diags)
{
	size_t before = diags->errors;
	struct name_index ix;
	if (name_index_build(t, &ix) != 0)
		return 1;
	check_duplicate_names(t, &ix, diags);
	check_roles(t, diags);
	for (size_t i = 0; i < t->n_sites; i++)
		check_spoke_hubs(t, &ix, &t->sites[i], diags);
	free(ix.order);

	size_t n_sub = 0;
	struct subnet_ref *subnets = collect_subnets(t, &n_sub);
	if (subnets) {
		bool overlaps = check_overlaps(t, subnets, n_sub, diags);
		check_underlay(t, subnets, n_sub, overlaps, diags);
		free(subnets);
	}

	struct src_pos file = {0, 0};
	check_settings(&t->defaults, "defaults", file, diags);
	for (size_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		if (s->overrides.set == 0)
			continue;
		char where[48];
		snprintf(where, sizeof(where), "site '%s'", s->name ? s->name : "?");
		check_settings(&s->effective, where, s->pos, diags);
	}
	if (t->n_sites == 1)
		diag_warn(diags, t->sites_pos, "a WAN with one site has no tunnels");
	for (size_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		if (s->n_subnets == 0 && s->role != TOPO_ROLE_HUB && s->name)
			diag_warn(
				diags, s->pos,
				"site '%s' lists no subnets, so its tunnels carry nothing from it",
				s->name);
		warn_external_dpd(t, s, diags);
	}
	return diags->errors - before;
}
