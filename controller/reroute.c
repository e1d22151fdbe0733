/*
 * Controller-driven reachability for hubs: state and computation. See reroute.h.
 */
#include "controller/reroute.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One end's word on a tunnel. */
enum rr_view {
	RR_UNKNOWN,
	RR_UP,
	RR_DOWN,
};

/* A tunnel's state from both ends' words. */
enum rr_state {
	ST_ABSENT, /* no such tunnel in the plan */
	ST_UNKNOWN,
	ST_UP,
	ST_DOWN,
};

/* A hub's entry for one site (struct rr_hub.route): none, unreachable, or the via hub's site. */
enum {
	ENTRY_NONE = -1,
	ENTRY_UNREACHABLE = -2,
};

struct rr_tunnel {
	char *name;
	uint32_t end[2]; /* site indices */
	uint8_t view[2]; /* enum rr_view, what end[i] says */
};

/* A site's attachment to one of its hubs, in the site's order of preference. */
struct rr_att {
	uint32_t site, hub, tunnel;
	uint32_t prio; /* hub_priority, UINT32_MAX when none */
	size_t order;  /* plan order */
};

struct rr_site {
	char *name;
	uint8_t role;     /* enum topo_role */
	long hub_no;      /* index in reroute.hubs, -1 if not a hub */
	bool reports;     /* it reported since its session began: its word counts */
	long active_hub;  /* site index of the hub carrying its traffic, -1 */
	size_t first_att; /* into reroute.att */
	size_t n_att;
	bool dirty; /* its entry on every hub needs recomputing (in reroute.dirty_sites) */
};

struct rr_hub {
	uint32_t site;
	int32_t *route; /* per site: ENTRY_NONE, ENTRY_UNREACHABLE, or the via hub's site */
	uint64_t seq;   /* of the current list; 0: empty and never changed */
	bool changed;   /* the list changed since seq was given */
	bool pending;   /* the current list is not on its way yet */
	bool all_dirty; /* every entry needs recomputing */
	bool reported;  /* its health report said which list it runs: */
	uint64_t reported_epoch, reported_seq;
	int64_t sent_at;
};

struct reroute {
	uint64_t epoch;
	struct rr_site *sites;
	size_t n_sites;
	struct rr_tunnel *tunnels;
	size_t n_tunnels;
	struct rr_att *att;
	size_t n_att;
	struct rr_hub *hubs;
	size_t n_hubs;
	long *backbone;         /* n_hubs x n_hubs: the tunnel between two hubs, -1 none */
	uint32_t *tunnel_index; /* open addressing by name: tunnel + 1, 0 empty */
	size_t tunnel_cap;
	uint32_t *site_index; /* open addressing by name: site + 1, 0 empty */
	size_t site_cap;
	uint32_t *dirty_sites;
	size_t n_dirty;
	bool work; /* something to recompute or send */
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c *= 2;
	return c;
}

/* Insert name -> value + 1 into an open-addressing index of capacity cap (a power of two). */
static void index_put(uint32_t *index, size_t cap, const char *name, uint32_t value)
{
	size_t h = (size_t)name_hash(name) & (cap - 1);
	while (index[h])
		h = (h + 1) & (cap - 1);
	index[h] = value + 1;
}

static long tunnel_find(const struct reroute *r, const char *name)
{
	size_t h = (size_t)name_hash(name) & (r->tunnel_cap - 1);
	for (; r->tunnel_index[h]; h = (h + 1) & (r->tunnel_cap - 1))
		if (strcmp(r->tunnels[r->tunnel_index[h] - 1].name, name) == 0)
			return (long)r->tunnel_index[h] - 1;
	return -1;
}

static long site_find(const struct reroute *r, const char *name)
{
	size_t h = (size_t)name_hash(name) & (r->site_cap - 1);
	for (; r->site_index[h]; h = (h + 1) & (r->site_cap - 1))
		if (strcmp(r->sites[r->site_index[h] - 1].name, name) == 0)
			return (long)r->site_index[h] - 1;
	return -1;
}

/* ---- building ------------------------------------------------------------------------------ */

static int att_cmp(const void *a, const void *b)
{
	const struct rr_att *x = a, *y = b;
	if (x->site != y->site)
		return x->site < y->site ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static bool is_attached_role(uint8_t role)
{
	return role == TOPO_ROLE_SPOKE || role == TOPO_ROLE_PEER;
}

static int build_sites(struct reroute *r, const struct plan *p)
{
	const struct topo *t = p->topo;
	r->sites = calloc(t->n_sites ? t->n_sites : 1, sizeof(*r->sites));
	r->hubs = calloc(t->n_sites ? t->n_sites : 1, sizeof(*r->hubs));
	r->site_cap = pow2_at_least(2 * t->n_sites);
	r->site_index = calloc(r->site_cap, sizeof(*r->site_index));
	r->dirty_sites = calloc(t->n_sites ? t->n_sites : 1, sizeof(*r->dirty_sites));
	if (!r->sites || !r->hubs || !r->site_index || !r->dirty_sites)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_sites; i++) {
		struct rr_site *s = &r->sites[i];
		s->name = strdup(t->sites[i].name);
		if (!s->name)
			return -ENOMEM;
		r->n_sites = i + 1;
		s->role = (uint8_t)t->sites[i].role;
		s->active_hub = -1;
		s->hub_no = -1;
		index_put(r->site_index, r->site_cap, s->name, (uint32_t)i);
		if (s->role != TOPO_ROLE_HUB)
			continue;
		struct rr_hub *h = &r->hubs[r->n_hubs];
		h->route = malloc(t->n_sites * sizeof(*h->route) + 1);
		if (!h->route)
			return -ENOMEM;
		for (size_t k = 0; k < t->n_sites; k++)
			h->route[k] = ENTRY_NONE;
		h->site = (uint32_t)i;
		s->hub_no = (long)r->n_hubs++;
	}
	return 0;
}

/* The tunnels that matter (hub<->spoke, hub<->peer, hub<->hub) and the sites' attachments. */
static int build_tunnels(struct reroute *r, const struct plan *p)
{
	r->tunnels = calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(*r->tunnels));
	r->att = calloc(p->n_tunnels ? p->n_tunnels : 1, sizeof(*r->att));
	r->tunnel_cap = pow2_at_least(2 * p->n_tunnels);
	r->tunnel_index = calloc(r->tunnel_cap, sizeof(*r->tunnel_index));
	r->backbone = malloc((r->n_hubs ? r->n_hubs * r->n_hubs : 1) * sizeof(*r->backbone));
	if (!r->tunnels || !r->att || !r->tunnel_index || !r->backbone)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_hubs * r->n_hubs; i++)
		r->backbone[i] = -1;
	for (size_t i = 0; i < p->n_tunnels; i++) {
		const struct plan_tunnel *pt = &p->tunnels[i];
		if (pt->kind != PLAN_KIND_SPOKE_HUB && pt->kind != PLAN_KIND_PEER_HUB &&
		    pt->kind != PLAN_KIND_HUB_HUB)
			continue;
		char name[2 * 64 + 2];
		struct rr_tunnel *tn = &r->tunnels[r->n_tunnels];
		tn->name = strdup(plan_tunnel_name(p, pt, name, sizeof(name)));
		if (!tn->name)
			return -ENOMEM;
		uint32_t idx = (uint32_t)r->n_tunnels++;
		tn->end[0] = pt->initiator;
		tn->end[1] = pt->responder;
		index_put(r->tunnel_index, r->tunnel_cap, tn->name, idx);
		const struct rr_site *a = &r->sites[pt->initiator], *b = &r->sites[pt->responder];
		if (a->hub_no >= 0 && b->hub_no >= 0) {
			r->backbone[a->hub_no * (long)r->n_hubs + b->hub_no] = idx;
			r->backbone[b->hub_no * (long)r->n_hubs + a->hub_no] = idx;
			continue;
		}
		uint32_t hub = a->hub_no >= 0 ? pt->initiator : pt->responder;
		r->att[r->n_att++] =
			(struct rr_att){.site = plan_tunnel_peer(pt, hub),
					.hub = hub,
					.tunnel = idx,
					.prio = pt->hub_priority ? pt->hub_priority : UINT32_MAX,
					.order = i};
	}
	qsort(r->att, r->n_att, sizeof(*r->att), att_cmp);
	for (size_t i = 0; i < r->n_att; i++) {
		struct rr_site *s = &r->sites[r->att[i].site];
		if (!s->n_att)
			s->first_att = i;
		s->n_att++;
	}
	return 0;
}

static bool same_name(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* What old knew of sites and tunnels that keep their names. */
static void carry_over(struct reroute *r, const struct reroute *old)
{
	for (size_t i = 0; i < r->n_sites; i++) {
		long o = site_find(old, r->sites[i].name);
		if (o < 0)
			continue;
		r->sites[i].reports = old->sites[o].reports;
		if (old->sites[o].active_hub >= 0)
			r->sites[i].active_hub =
				site_find(r, old->sites[old->sites[o].active_hub].name);
	}
	for (size_t i = 0; i < r->n_tunnels; i++) {
		struct rr_tunnel *tn = &r->tunnels[i];
		long o = tunnel_find(old, tn->name);
		if (o < 0)
			continue;
		const struct rr_tunnel *ot = &old->tunnels[o];
		for (int e = 0; e < 2; e++)
			for (int f = 0; f < 2; f++)
				if (same_name(r->sites[tn->end[e]].name,
					      old->sites[ot->end[f]].name))
					tn->view[e] = ot->view[f];
	}
}

int reroute_new(const struct plan *p, uint64_t epoch, const struct reroute *old,
		struct reroute **out)
{
	struct reroute *r = calloc(1, sizeof(*r));
	int rc = r ? 0 : -ENOMEM;

	*out = NULL;
	if (!rc)
		rc = build_sites(r, p);
	if (!rc)
		rc = build_tunnels(r, p);
	if (rc) {
		reroute_free(r);
		return rc;
	}
	r->epoch = epoch;
	if (old)
		carry_over(r, old);
	/* Everything is new: compute every list; each hub learns of the new epoch. */
	for (size_t h = 0; h < r->n_hubs; h++)
		r->hubs[h].all_dirty = true;
	r->work = true;
	*out = r;
	return 0;
}

void reroute_free(struct reroute *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_sites; i++)
		free(r->sites[i].name);
	for (size_t i = 0; i < r->n_tunnels; i++)
		free(r->tunnels[i].name);
	for (size_t h = 0; h < r->n_hubs; h++)
		free(r->hubs[h].route);
	free(r->sites);
	free(r->tunnels);
	free(r->att);
	free(r->hubs);
	free(r->backbone);
	free(r->tunnel_index);
	free(r->site_index);
	free(r->dirty_sites);
	free(r);
}

/* ---- what edges say ------------------------------------------------------------------------ */

static void site_dirty(struct reroute *r, uint32_t s)
{
	if (!r->sites[s].dirty) {
		r->sites[s].dirty = true;
		r->dirty_sites[r->n_dirty++] = s;
	}
	r->work = true;
}

/* A tunnel's state may have changed: recompute the entries that depend on it. */
static void tunnel_touched(struct reroute *r, const struct rr_tunnel *tn)
{
	const struct rr_site *a = &r->sites[tn->end[0]], *b = &r->sites[tn->end[1]];
	if (a->hub_no >= 0 && b->hub_no >= 0) {
		r->hubs[a->hub_no].all_dirty = true;
		r->hubs[b->hub_no].all_dirty = true;
		r->work = true;
		return;
	}
	site_dirty(r, a->hub_no >= 0 ? tn->end[1] : tn->end[0]);
}

/* Whether a site's word counts changed: everything its tunnels touch is recomputed. */
static void reports_changed(struct reroute *r, uint32_t site)
{
	const struct rr_site *s = &r->sites[site];
	if (s->hub_no >= 0) {
		/* Rare (a hub's session): recompute every list. */
		for (size_t h = 0; h < r->n_hubs; h++)
			r->hubs[h].all_dirty = true;
		r->work = true;
		return;
	}
	site_dirty(r, site);
}

static void view_set(struct reroute *r, long t, uint32_t site, enum rr_view v)
{
	if (t < 0)
		return;
	struct rr_tunnel *tn = &r->tunnels[t];
	int e = tn->end[0] == site ? 0 : tn->end[1] == site ? 1 : -1;
	if (e < 0 || tn->view[e] == v)
		return;
	tn->view[e] = (uint8_t)v;
	tunnel_touched(r, tn);
}

void reroute_health(struct reroute *r, uint32_t site, const Sdwan__HealthReport *h)
{
	if (site >= r->n_sites)
		return;
	struct rr_site *s = &r->sites[site];
	if (!s->reports) {
		s->reports = true;
		reports_changed(r, site);
	}
	for (size_t i = 0; i < h->n_tunnels; i++) {
		const Sdwan__TunnelHealth *th = h->tunnels[i];
		bool up = th->ike_state == SDWAN__IKE_STATE__IKE_STATE_ESTABLISHED ||
			  th->ike_state == SDWAN__IKE_STATE__IKE_STATE_REKEYING;
		view_set(r, th->name ? tunnel_find(r, th->name) : -1, site, up ? RR_UP : RR_DOWN);
	}
	long active = h->active_hub && h->active_hub[0] ? site_find(r, h->active_hub) : -1;
	if (active != s->active_hub) {
		s->active_hub = active;
		if (s->n_att)
			site_dirty(r, site);
	}
	if (s->hub_no >= 0) {
		struct rr_hub *hub = &r->hubs[s->hub_no];
		hub->reported = true;
		hub->reported_epoch = h->reachability_epoch;
		hub->reported_seq = h->reachability_seq;
		if (hub->reported_epoch != r->epoch || hub->reported_seq != hub->seq)
			r->work = true;
	}
}

void reroute_event(struct reroute *r, uint32_t site, const Sdwan__Event *ev)
{
	if (site >= r->n_sites || !ev->tunnel || !r->sites[site].reports)
		return;
	if (ev->type == SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_UP)
		view_set(r, tunnel_find(r, ev->tunnel), site, RR_UP);
	else if (ev->type == SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN)
		view_set(r, tunnel_find(r, ev->tunnel), site, RR_DOWN);
}

void reroute_session_lost(struct reroute *r, uint32_t site)
{
	if (site >= r->n_sites || !r->sites[site].reports)
		return;
	r->sites[site].reports = false;
	reports_changed(r, site);
}

bool reroute_site_reports(const struct reroute *r, uint32_t site)
{
	return site < r->n_sites && r->sites[site].reports;
}

/* ---- the computation ----------------------------------------------------------------------- */

static enum rr_state tunnel_state(const struct reroute *r, long t)
{
	if (t < 0)
		return ST_ABSENT;
	const struct rr_tunnel *tn = &r->tunnels[t];
	bool up = false, down = false;
	for (int e = 0; e < 2; e++) {
		if (!r->sites[tn->end[e]].reports)
			continue;
		up = up || tn->view[e] == RR_UP;
		down = down || tn->view[e] == RR_DOWN;
	}
	return down ? ST_DOWN : up ? ST_UP : ST_UNKNOWN;
}

/* The tunnel between hub `hub` and attached site `s`, -1 if none. */
static long att_tunnel(const struct reroute *r, uint32_t s, uint32_t hub)
{
	const struct rr_site *ss = &r->sites[s];
	for (size_t i = ss->first_att; i < ss->first_att + ss->n_att; i++)
		if (r->att[i].hub == hub)
			return (long)r->att[i].tunnel;
	return -1;
}

static long backbone_tunnel(const struct reroute *r, uint32_t a, uint32_t b)
{
	return r->backbone[r->sites[a].hub_no * (long)r->n_hubs + r->sites[b].hub_no];
}

/* Whether hub g, seen from hub h, reaches s: 1 yes, 0 no, -1 not known. */
static int via_usable(const struct reroute *r, uint32_t h, uint32_t g, uint32_t s)
{
	enum rr_state gs = tunnel_state(r, att_tunnel(r, s, g));
	enum rr_state hg = tunnel_state(r, backbone_tunnel(r, h, g));
	if (gs == ST_UP && hg == ST_UP)
		return 1;
	if (gs == ST_DOWN || gs == ST_ABSENT || hg == ST_DOWN || hg == ST_ABSENT)
		return 0;
	return -1;
}

/* Hub h's entry for site s (see reroute.h). */
static int32_t entry(const struct reroute *r, uint32_t h, uint32_t s)
{
	const struct rr_site *ss = &r->sites[s];
	if (s == h || !is_attached_role(ss->role) || !ss->n_att)
		return ENTRY_NONE;
	enum rr_state direct = tunnel_state(r, att_tunnel(r, s, h));
	/* Up: the hub delivers itself. Unknown: neither end reports; the hub decides. */
	if (direct == ST_UP || direct == ST_UNKNOWN)
		return ENTRY_NONE;
	bool maybe = false;
	/* The site's active hub first: traffic both ways then takes the same hubs. */
	long act = ss->active_hub;
	if (act >= 0 && (uint32_t)act != h && att_tunnel(r, s, (uint32_t)act) >= 0) {
		int u = via_usable(r, h, (uint32_t)act, s);
		if (u == 1)
			return (int32_t)act;
		maybe = maybe || u < 0;
	}
	for (size_t i = ss->first_att; i < ss->first_att + ss->n_att; i++) {
		uint32_t g = r->att[i].hub;
		if (g == h || (long)g == act)
			continue;
		int u = via_usable(r, h, g, s);
		if (u == 1)
			return (int32_t)g;
		maybe = maybe || u < 0;
	}
	return maybe ? ENTRY_NONE : ENTRY_UNREACHABLE;
}

static void entry_update(struct reroute *r, struct rr_hub *hub, uint32_t s)
{
	int32_t v = entry(r, hub->site, s);
	if (hub->route[s] != v) {
		hub->route[s] = v;
		hub->changed = true;
	}
}

static void recompute(struct reroute *r)
{
	for (size_t h = 0; h < r->n_hubs; h++) {
		struct rr_hub *hub = &r->hubs[h];
		if (!hub->all_dirty)
			continue;
		hub->all_dirty = false;
		for (uint32_t s = 0; s < r->n_sites; s++)
			entry_update(r, hub, s);
	}
	for (size_t i = 0; i < r->n_dirty; i++) {
		uint32_t s = r->dirty_sites[i];
		r->sites[s].dirty = false;
		for (size_t h = 0; h < r->n_hubs; h++)
			entry_update(r, &r->hubs[h], s);
	}
	r->n_dirty = 0;
	for (size_t h = 0; h < r->n_hubs; h++) {
		if (r->hubs[h].changed) {
			r->hubs[h].changed = false;
			r->hubs[h].seq++;
			r->hubs[h].pending = true;
		}
	}
}

static int list_of(const struct reroute *r, const struct rr_hub *hub, Sdwan__Reachability *msg)
{
	size_t n = 0;

	sdwan__reachability__init(msg);
	msg->epoch = r->epoch;
	msg->seq = hub->seq;
	for (size_t s = 0; s < r->n_sites; s++)
		n += hub->route[s] != ENTRY_NONE;
	if (!n)
		return 0;
	Sdwan__SiteRoute *items = calloc(n, sizeof(*items));
	msg->routes = calloc(n, sizeof(Sdwan__SiteRoute *));
	if (!items || !msg->routes) {
		free(items);
		free(msg->routes);
		msg->routes = NULL;
		return -ENOMEM;
	}
	for (size_t s = 0; s < r->n_sites; s++) {
		int32_t v = hub->route[s];
		if (v == ENTRY_NONE)
			continue;
		Sdwan__SiteRoute *it = &items[msg->n_routes];
		sdwan__site_route__init(it);
		it->site = r->sites[s].name;
		it->via_hub = v >= 0 ? r->sites[v].name : (char *)"";
		msg->routes[msg->n_routes++] = it;
	}
	return 0;
}

void reroute_msg_clear(Sdwan__Reachability *msg)
{
	if (msg->n_routes)
		free(msg->routes[0]); /* the items are one array */
	free(msg->routes);
	msg->routes = NULL;
	msg->n_routes = 0;
}

int reroute_list(const struct reroute *r, uint32_t site, Sdwan__Reachability *msg)
{
	if (site >= r->n_sites || r->sites[site].hub_no < 0)
		return -EINVAL;
	return list_of(r, &r->hubs[r->sites[site].hub_no], msg);
}

size_t reroute_flush(struct reroute *r, int64_t now_ms, reroute_send_fn *send, void *arg)
{
	size_t sent = 0;

	if (!r->work)
		return 0;
	r->work = false;
	recompute(r);
	for (size_t h = 0; h < r->n_hubs; h++) {
		struct rr_hub *hub = &r->hubs[h];
		/* (0, 0): the hub holds no list, as it should while its list is empty. */
		bool holds_none = hub->reported_epoch == 0 && hub->reported_seq == 0;
		bool behind = hub->reported && !(holds_none && hub->seq == 0) &&
			      (hub->reported_epoch != r->epoch || hub->reported_seq != hub->seq);
		/* A hub behind gets its list again, unless it is still on its way (the next
		 * health report tells). */
		if (!hub->pending && !(behind && now_ms - hub->sent_at >= REROUTE_RESEND_MS))
			continue;
		Sdwan__Reachability msg;
		if (list_of(r, hub, &msg) != 0) {
			r->work = true; /* out of memory: try again */
			continue;
		}
		if (send(arg, hub->site, &msg)) {
			hub->pending = false;
			hub->sent_at = now_ms;
			sent++;
		}
		reroute_msg_clear(&msg);
	}
	return sent;
}

const char *reroute_routes_text(Sdwan__SiteRoute *const *routes, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++) {
		int k = snprintf(buf + len, cap - len, "%s%s %s%s", i ? ", " : "", routes[i]->site,
				 routes[i]->via_hub[0] ? "via " : "unreachable",
				 routes[i]->via_hub);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	return buf;
}
