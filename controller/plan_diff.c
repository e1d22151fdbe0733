#include "controller/plan_diff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/jsonw.h"

/* Site correspondence and per-site change flags, indexed by site in each plan. */
struct site_map {
	uint32_t *old_to_new;  /* UINT32_MAX: removed */
	uint32_t *new_to_old;  /* UINT32_MAX: added */
	bool *subnets_changed; /* by new index (added sites count as changed) */
	bool *addresses_changed;
	bool *site_changed;
	size_t subnet_changes; /* sites (old or new) whose subnets differ */
};

struct differ {
	const struct plan *o;
	const struct plan *n;
	struct site_map m;
	struct plan_diff *d;
	size_t cap;
	bool *edge_update; /* by new site */
	char (*edge_reason)[160];
	unsigned *edge_reasons;
};

static const char *sname(const struct plan *p, uint32_t i)
{
	return p->topo->sites[i].name ? p->topo->sites[i].name : "";
}

static int cmp_site_idx(const void *a, const void *b, void *ctx)
{
	const struct plan *p = ctx;
	return strcmp(sname(p, *(const uint32_t *)a), sname(p, *(const uint32_t *)b));
}

static uint32_t *sorted_sites(const struct plan *p)
{
	size_t n = p->topo->n_sites;
	uint32_t *ix = malloc((n ? n : 1) * sizeof(*ix));
	if (!ix)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ix[i] = (uint32_t)i;
	qsort_r(ix, n, sizeof(*ix), cmp_site_idx, (void *)p);
	return ix;
}

static int cmp_prefix_ptr(const void *a, const void *b)
{
	return prefix_cmp(&((const struct topo_subnet *)a)->prefix,
			  &((const struct topo_subnet *)b)->prefix);
}

/* Subnets compared as sets: reordering the list in the file is not a change. */
static bool subnets_equal(const struct topo_site *a, const struct topo_site *b)
{
	if (a->n_subnets != b->n_subnets)
		return false;
	if (a->n_subnets == 0)
		return true;
	if (a->n_subnets == 1) /* most sites: no copy to sort */
		return prefix_cmp(&a->subnets[0].prefix, &b->subnets[0].prefix) == 0;
	size_t n = a->n_subnets;
	struct topo_subnet *x = malloc(2 * n * sizeof(*x));
	if (!x)
		return false;
	memcpy(x, a->subnets, n * sizeof(*x));
	memcpy(x + n, b->subnets, n * sizeof(*x));
	qsort(x, n, sizeof(*x), cmp_prefix_ptr);
	qsort(x + n, n, sizeof(*x), cmp_prefix_ptr);
	bool eq = true;
	for (size_t i = 0; i < n && eq; i++)
		eq = prefix_cmp(&x[i].prefix, &x[n + i].prefix) == 0;
	free(x);
	return eq;
}

static bool links_equal(const struct topo_site *a, const struct topo_site *b, bool names_too)
{
	if (a->n_links != b->n_links)
		return false;
	for (size_t i = 0; i < a->n_links; i++) {
		const struct topo_link *x = &a->links[i], *y = &b->links[i];
		if (x->dynamic != y->dynamic || (!x->dynamic && ip_addr_cmp(&x->addr, &y->addr)))
			return false;
		if (names_too && strcmp(x->name ? x->name : "", y->name ? y->name : "") != 0)
			return false;
	}
	return true;
}

static bool hubs_equal(const struct topo *ta, const struct topo_site *a, const struct topo *tb,
		       const struct topo_site *b)
{
	if (a->n_hubs != b->n_hubs)
		return false;
	for (size_t i = 0; i < a->n_hubs; i++) {
		if (a->hubs[i].site == UINT32_MAX || b->hubs[i].site == UINT32_MAX)
			return false;
		if (strcmp(ta->sites[a->hubs[i].site].name, tb->sites[b->hubs[i].site].name) != 0)
			return false;
	}
	return true;
}

static int map_sites(struct differ *df)
{
	const struct topo *to = df->o->topo, *tn = df->n->topo;
	struct site_map *m = &df->m;
	size_t no = to->n_sites, nn = tn->n_sites;
	m->old_to_new = malloc((no ? no : 1) * sizeof(uint32_t));
	m->new_to_old = malloc((nn ? nn : 1) * sizeof(uint32_t));
	m->subnets_changed = calloc(nn ? nn : 1, sizeof(bool));
	m->addresses_changed = calloc(nn ? nn : 1, sizeof(bool));
	m->site_changed = calloc(nn ? nn : 1, sizeof(bool));
	/* An edit usually leaves every site where it was: then the map is the identity, found
	 * without sorting either plan's names. */
	bool same = no == nn;
	for (size_t i = 0; i < no && same; i++)
		same = strcmp(sname(df->o, (uint32_t)i), sname(df->n, (uint32_t)i)) == 0;
	uint32_t *so = same ? NULL : sorted_sites(df->o), *sn = same ? NULL : sorted_sites(df->n);
	int rc = -ENOMEM;
	if (!m->old_to_new || !m->new_to_old || !m->subnets_changed || !m->addresses_changed ||
	    !m->site_changed || (!same && (!so || !sn)))
		goto out;
	memset(m->old_to_new, 0xff, (no ? no : 1) * sizeof(uint32_t));
	memset(m->new_to_old, 0xff, (nn ? nn : 1) * sizeof(uint32_t));
	for (uint32_t i = 0; same && i < no; i++)
		m->old_to_new[i] = m->new_to_old[i] = i;
	for (size_t i = 0, j = 0; !same && i < no && j < nn;) {
		int c = strcmp(sname(df->o, so[i]), sname(df->n, sn[j]));
		if (c == 0) {
			m->old_to_new[so[i]] = sn[j];
			m->new_to_old[sn[j]] = so[i];
			i++;
			j++;
		} else if (c < 0) {
			i++;
		} else {
			j++;
		}
	}
	for (size_t i = 0; i < no; i++)
		if (m->old_to_new[i] == UINT32_MAX && to->sites[i].n_subnets)
			m->subnet_changes++;
	for (uint32_t j = 0; j < nn; j++) {
		const struct topo_site *b = &tn->sites[j];
		uint32_t i = m->new_to_old[j];
		if (i == UINT32_MAX) {
			m->subnets_changed[j] = b->n_subnets > 0;
			m->subnet_changes += b->n_subnets > 0;
			continue;
		}
		const struct topo_site *a = &to->sites[i];
		m->subnets_changed[j] = !subnets_equal(a, b);
		m->subnet_changes += m->subnets_changed[j];
		m->addresses_changed[j] = !links_equal(a, b, false);
		m->site_changed[j] = m->subnets_changed[j] || !links_equal(a, b, true) ||
				     a->role != b->role || !hubs_equal(to, a, tn, b) ||
				     a->effective.mtu != b->effective.mtu ||
				     a->effective.hold_down_ms != b->effective.hold_down_ms;
	}
	rc = 0;
out:
	free(so);
	free(sn);
	return rc;
}

static void site_map_free(struct site_map *m)
{
	free(m->old_to_new);
	free(m->new_to_old);
	free(m->subnets_changed);
	free(m->addresses_changed);
	free(m->site_changed);
}

/* Tunnel key: its two sites as indices of the new plan, lower first (UINT32_MAX for a site the
 * new plan no longer has), so that the two plans' tunnels pair by integer compare rather than
 * by name: at 10,000 sites the names made this a third of the diff. */
struct tkey {
	uint64_t ends;
	uint32_t idx;
};

static int cmp_tkey(const void *a, const void *b)
{
	const struct tkey *x = a, *y = b;
	if (x->ends != y->ends)
		return x->ends < y->ends ? -1 : 1;
	return 0;
}

/* map: old index -> new index for the old plan, NULL for the new plan. */
static struct tkey *tunnel_keys(const struct plan *p, const uint32_t *map)
{
	struct tkey *k = malloc((p->n_tunnels ? p->n_tunnels : 1) * sizeof(*k));
	if (!k)
		return NULL;
	for (size_t i = 0; i < p->n_tunnels; i++) {
		uint32_t a = p->tunnels[i].initiator, b = p->tunnels[i].responder;
		if (map) {
			a = map[a];
			b = map[b];
		}
		uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
		k[i] = (struct tkey){(uint64_t)lo << 32 | hi, (uint32_t)i};
	}
	qsort(k, p->n_tunnels, sizeof(*k), cmp_tkey);
	return k;
}

/* The diff lists tunnels by name (the two site names in lexical order). */
static int cmp_diff_tunnel(const void *a, const void *b)
{
	const struct plan_diff_tunnel *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* A growable "; "-separated list of changes. */
struct details {
	char *s;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void details_add(struct details *dt, const char *fmt,
							      ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t add = strlen(buf) + (dt->len ? 2 : 0);
	char *s = realloc(dt->s, dt->len + add + 1);
	if (!s)
		return;
	dt->s = s;
	snprintf(dt->s + dt->len, add + 1, "%s%s", dt->len ? "; " : "", buf);
	dt->len += add;
}

static void diff_proposal(struct details *dt, const char *what, const struct proposal *a,
			  const struct proposal *b, enum proposal_kind kind)
{
	if (proposal_equal(a, b))
		return;
	char x[PROPOSAL_STRLEN], y[PROPOSAL_STRLEN];
	details_add(dt, "%s: %s -> %s", what, proposal_format(a, kind, x),
		    proposal_format(b, kind, y));
}

static void diff_duration(struct details *dt, const char *what, uint64_t a, uint64_t b)
{
	if (a == b)
		return;
	char x[DURATION_STRLEN], y[DURATION_STRLEN];
	details_add(dt, "%s: %s -> %s", what, duration_format(a, x), duration_format(b, y));
}

static void diff_profiles(struct details *dt, const struct plan_profile *a,
			  const struct plan_profile *b)
{
	diff_proposal(dt, "ike", &a->ike, &b->ike, PROPOSAL_IKE);
	diff_proposal(dt, "esp", &a->esp, &b->esp, PROPOSAL_ESP);
	diff_duration(dt, "ike-lifetime", a->ike_lifetime_ms, b->ike_lifetime_ms);
	diff_duration(dt, "esp-lifetime", a->esp_lifetime_ms, b->esp_lifetime_ms);
	diff_duration(dt, "dpd interval", a->dpd_interval_ms, b->dpd_interval_ms);
	diff_duration(dt, "dpd timeout", a->dpd_timeout_ms, b->dpd_timeout_ms);
	if (a->dpd_mode != b->dpd_mode)
		details_add(dt, "dpd mode: %s -> %s", topo_dpd_mode_name(a->dpd_mode),
			    topo_dpd_mode_name(b->dpd_mode));
	if (a->auth != b->auth)
		details_add(dt, "auth: %s -> %s", topo_auth_name(a->auth), topo_auth_name(b->auth));
}

/* Whether what side `site` (new index) sends toward `peer` changed. */
static bool carried_changed(const struct differ *df, uint32_t site, uint32_t peer)
{
	const struct site_map *m = &df->m;
	bool was = plan_site_carries_transit(df->o, m->new_to_old[site]);
	bool is = plan_site_carries_transit(df->n, site);
	if (was != is)
		return true;
	if (!is)
		return m->subnets_changed[site];
	/* Transit: every WAN prefix but the peer's; changed if any other site's changed. */
	return m->subnet_changes > (m->subnets_changed[peer] ? 1u : 0u);
}

/* Which ends' configurations a tunnel change touches: bit 0 the initiator's, bit 1 the
 * responder's. */
enum {
	END_INITIATOR = 1,
	END_RESPONDER = 2
};

/* What changed in a tunnel present in both plans, into dt; returns the ends whose
 * configuration it changes (0 if nothing did). */
static unsigned diff_tunnel(const struct differ *df, const struct plan_tunnel *a,
			    const struct plan_tunnel *b, struct details *dt)
{
	const struct plan *o = df->o, *n = df->n;
	size_t before = dt->len;
	if (a->kind != b->kind)
		details_add(dt, "kind: %s -> %s", plan_kind_name(a->kind), plan_kind_name(b->kind));
	if (df->m.old_to_new[a->initiator] != b->initiator)
		details_add(dt, "initiator: %s -> %s", sname(o, a->initiator),
			    sname(n, b->initiator));
	diff_profiles(dt, &o->profiles[a->profile], &n->profiles[b->profile]);
	if (a->mtu != b->mtu)
		details_add(dt, "mtu: %u -> %u", a->mtu, b->mtu);
	uint32_t ends[2] = {b->initiator, b->responder};
	for (int i = 0; i < 2; i++) {
		if (df->m.addresses_changed[ends[i]])
			details_add(dt, "underlay addresses of %s changed", sname(n, ends[i]));
		if (carried_changed(df, ends[i], ends[1 - i]))
			details_add(dt, "prefixes carried from %s changed", sname(n, ends[i]));
	}
	unsigned touched = dt->len != before ? END_INITIATOR | END_RESPONDER : 0;
	if (a->hub_priority != b->hub_priority) {
		details_add(dt, "hub priority: %u -> %u", a->hub_priority, b->hub_priority);
		/* Only an end whose peer is a hub has a preference for it (edgecfg.c): a spoke
		 * reordering its hubs changes its own config, not the hubs'. */
		for (int i = 0; i < 2; i++)
			if (n->topo->sites[ends[1 - i]].role == TOPO_ROLE_HUB)
				touched |= i == 0 ? END_INITIATOR : END_RESPONDER;
	}
	return touched;
}

static int push_tunnel(struct differ *df, enum plan_change ch, const struct plan_tunnel *a,
		       const struct plan_tunnel *b, char *details)
{
	struct plan_diff *d = df->d;
	if (d->n_tunnels == df->cap) {
		size_t cap = df->cap ? df->cap * 2 : 16;
		struct plan_diff_tunnel *t = realloc(d->tunnels, cap * sizeof(*t));
		if (!t) {
			free(details);
			return -ENOMEM;
		}
		d->tunnels = t;
		df->cap = cap;
	}
	struct plan_diff_tunnel *e = &d->tunnels[d->n_tunnels++];
	e->change = ch;
	e->old_tunnel = a;
	e->new_tunnel = b;
	e->details = details;
	plan_tunnel_name(b ? df->n : df->o, b ? b : a, e->name, sizeof(e->name));
	if (ch == PLAN_CHANGE_ADDED)
		d->added++;
	else if (ch == PLAN_CHANGE_REMOVED)
		d->removed++;
	else
		d->changed++;
	return 0;
}

static void mark_edge(struct differ *df, uint32_t site, const char *tunnel, const char *verb)
{
	if (site == UINT32_MAX)
		return;
	if (df->edge_reasons[site]++ == 0)
		snprintf(df->edge_reason[site], sizeof(df->edge_reason[site]), "tunnel %s %s",
			 tunnel, verb);
	df->edge_update[site] = true;
}

static int diff_tunnels(struct differ *df)
{
	struct tkey *ko = tunnel_keys(df->o, df->m.old_to_new), *kn = tunnel_keys(df->n, NULL);
	int rc = -ENOMEM;
	if (!ko || !kn)
		goto out;
	size_t i = 0, j = 0, no = df->o->n_tunnels, nn = df->n->n_tunnels;
	rc = 0;
	while (rc == 0 && (i < no || j < nn)) {
		int c = i == no ? 1 : j == nn ? -1 : cmp_tkey(&ko[i], &kn[j]);
		const struct plan_tunnel *a = c <= 0 ? &df->o->tunnels[ko[i].idx] : NULL;
		const struct plan_tunnel *b = c >= 0 ? &df->n->tunnels[kn[j].idx] : NULL;
		char buf[80];
		if (c < 0) {
			rc = push_tunnel(df, PLAN_CHANGE_REMOVED, a, NULL, NULL);
			plan_tunnel_name(df->o, a, buf, sizeof(buf));
			mark_edge(df, df->m.old_to_new[a->initiator], buf, "removed");
			mark_edge(df, df->m.old_to_new[a->responder], buf, "removed");
			i++;
			continue;
		}
		if (c > 0) {
			plan_tunnel_name(df->n, b, buf, sizeof(buf));
			rc = push_tunnel(df, PLAN_CHANGE_ADDED, NULL, b, NULL);
			mark_edge(df, b->initiator, buf, "added");
			mark_edge(df, b->responder, buf, "added");
			j++;
			continue;
		}
		struct details dt = {NULL, 0};
		unsigned touched = diff_tunnel(df, a, b, &dt);
		if (dt.s) {
			plan_tunnel_name(df->n, b, buf, sizeof(buf));
			rc = push_tunnel(df, PLAN_CHANGE_CHANGED, a, b, dt.s);
			if (touched & END_INITIATOR)
				mark_edge(df, b->initiator, buf, "changed");
			if (touched & END_RESPONDER)
				mark_edge(df, b->responder, buf, "changed");
		}
		i++;
		j++;
	}
	if (rc == 0 && df->d->n_tunnels > 1)
		qsort(df->d->tunnels, df->d->n_tunnels, sizeof(*df->d->tunnels), cmp_diff_tunnel);
out:
	free(ko);
	free(kn);
	return rc;
}

static int collect_edges(struct differ *df)
{
	const struct topo *to = df->o->topo, *tn = df->n->topo;
	struct plan_diff *d = df->d;
	size_t max = to->n_sites + tn->n_sites;
	d->edges = calloc(max ? max : 1, sizeof(*d->edges));
	if (!d->edges)
		return -ENOMEM;
	for (uint32_t j = 0; j < tn->n_sites; j++) {
		struct plan_diff_edge *e = &d->edges[d->n_edges];
		e->site = sname(df->n, j);
		e->external = topo_site_is_external(&tn->sites[j]);
		if (df->m.new_to_old[j] == UINT32_MAX) {
			e->change = PLAN_EDGE_NEW;
			snprintf(e->reason, sizeof(e->reason),
				 e->external
					 ? "new external gateway: configure it with 'sdwanctl "
					   "export swanctl %s'"
					 : "new site: enroll it with 'sdwanctl token create %s'",
				 e->site);
		} else if (e->external && (df->m.site_changed[j] || df->edge_update[j])) {
			/* Nothing is pushed to a gateway we do not run: its operator re-exports. */
			e->change = PLAN_EDGE_UPDATE;
			snprintf(
				e->reason, sizeof(e->reason),
				"external gateway: its %s changed; re-export its configuration with "
				"'sdwanctl export swanctl %s'",
				df->m.site_changed[j] ? "settings" : "tunnels", e->site);
		} else if (df->m.site_changed[j] || df->edge_update[j]) {
			e->change = PLAN_EDGE_UPDATE;
			if (df->m.site_changed[j])
				snprintf(e->reason, sizeof(e->reason), "site settings changed%s",
					 df->edge_reasons[j] ? " and its tunnels with them" : "");
			else if (df->edge_reasons[j] > 1)
				snprintf(e->reason, sizeof(e->reason), "%s (+%u more)",
					 df->edge_reason[j], df->edge_reasons[j] - 1);
			else
				snprintf(e->reason, sizeof(e->reason), "%s", df->edge_reason[j]);
		} else {
			continue;
		}
		d->n_edges++;
	}
	for (uint32_t i = 0; i < to->n_sites; i++) {
		if (df->m.old_to_new[i] != UINT32_MAX)
			continue;
		struct plan_diff_edge *e = &d->edges[d->n_edges++];
		e->change = PLAN_EDGE_REMOVED;
		e->site = sname(df->o, i);
		e->external = topo_site_is_external(&to->sites[i]);
		snprintf(
			e->reason, sizeof(e->reason),
			"site removed: its key leaves the allowlist and its tunnels are torn down");
	}
	return 0;
}

int plan_diff_compute(const struct plan *old_plan, const struct plan *new_plan,
		      struct plan_diff *out)
{
	memset(out, 0, sizeof(*out));
	struct differ df = {.o = old_plan, .n = new_plan, .d = out};
	size_t nn = new_plan->topo->n_sites ? new_plan->topo->n_sites : 1;
	df.edge_update = calloc(nn, sizeof(*df.edge_update));
	df.edge_reason = calloc(nn, sizeof(*df.edge_reason));
	df.edge_reasons = calloc(nn, sizeof(*df.edge_reasons));
	int rc = -ENOMEM;
	if (df.edge_update && df.edge_reason && df.edge_reasons)
		rc = map_sites(&df);
	if (!rc)
		rc = diff_tunnels(&df);
	if (!rc)
		rc = collect_edges(&df);
	site_map_free(&df.m);
	free(df.edge_update);
	free(df.edge_reason);
	free(df.edge_reasons);
	if (rc)
		plan_diff_free(out);
	return rc;
}

bool plan_diff_empty(const struct plan_diff *d)
{
	return d->n_tunnels == 0 && d->n_edges == 0;
}

static const char *change_name(enum plan_change c)
{
	return c == PLAN_CHANGE_ADDED ? "added" : c == PLAN_CHANGE_REMOVED ? "removed" : "changed";
}

static const char *edge_change_name(enum plan_edge_change c)
{
	return c == PLAN_EDGE_NEW ? "new" : c == PLAN_EDGE_REMOVED ? "removed" : "update";
}

static void print_json(const struct plan_diff *d, FILE *out)
{
	struct jsonw w;
	jsonw_init(&w, out, true);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "format", "sdwan-plan-diff/1");
	jsonw_ku64(&w, "added", d->added);
	jsonw_ku64(&w, "removed", d->removed);
	jsonw_ku64(&w, "changed", d->changed);
	jsonw_key(&w, "tunnels");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < d->n_tunnels; i++) {
		const struct plan_diff_tunnel *t = &d->tunnels[i];
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "name", t->name);
		jsonw_kstr(&w, "change", change_name(t->change));
		if (t->details)
			jsonw_kstr(&w, "details", t->details);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_key(&w, "edges");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < d->n_edges; i++) {
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "site", d->edges[i].site);
		jsonw_kstr(&w, "change", edge_change_name(d->edges[i].change));
		jsonw_kstr(&w, "reason", d->edges[i].reason);
		if (d->edges[i].external)
			jsonw_kbool(&w, "external", true);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_finish(&w);
}

void plan_diff_print(const struct plan_diff *d, FILE *out, bool json)
{
	if (json) {
		print_json(d, out);
		return;
	}
	if (plan_diff_empty(d)) {
		fprintf(out, "no changes: the plans are identical\n");
		return;
	}
	fprintf(out, "tunnels: %zu added, %zu removed, %zu changed\n", d->added, d->removed,
		d->changed);
	static const char marks[] = {'+', '-', '~'};
	for (size_t i = 0; i < d->n_tunnels; i++) {
		const struct plan_diff_tunnel *t = &d->tunnels[i];
		fprintf(out, "  %c %-32s %s\n", marks[t->change], t->name,
			t->details ? t->details : change_name(t->change));
	}
	fprintf(out, "edges to update: %zu\n", d->n_edges);
	for (size_t i = 0; i < d->n_edges; i++)
		fprintf(out, "  %-20s %-8s %s\n", d->edges[i].site,
			edge_change_name(d->edges[i].change), d->edges[i].reason);
}

void plan_diff_free(struct plan_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_tunnels; i++)
		free(d->tunnels[i].details);
	free(d->tunnels);
	free(d->edges);
	memset(d, 0, sizeof(*d));
}
