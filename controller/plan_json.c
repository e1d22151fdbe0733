#include "controller/plan_json.h"

#include <string.h>

#include "common/duration.h"

const char *plan_hub_mesh_reason(const struct plan *p)
{
	if (p->by_kind[PLAN_KIND_HUB_HUB] == 0)
		return NULL;
	if (p->topo->type == TOPO_HYBRID)
		return "hubs form a full-mesh backbone between regions: spokes of different hubs "
		       "reach each other hub to hub";
	return "hubs are meshed because spokes homed to different hubs, or failed over to "
	       "different hubs, reach each other through the hub-to-hub tunnel";
}

static void write_prefix_list(struct jsonw *w, const struct topo_site *s)
{
	char buf[PREFIX_STRLEN];
	for (size_t i = 0; i < s->n_subnets; i++)
		if (s->subnets[i].prefix.addr.family)
			jsonw_str(w, prefix_format(&s->subnets[i].prefix, buf));
}

void plan_json_prefixes(struct jsonw *w, const struct plan *p, uint32_t site, uint32_t peer)
{
	const struct topo *t = p->topo;
	jsonw_arr_begin(w);
	if (!plan_site_carries_transit(p, site)) {
		write_prefix_list(w, &t->sites[site]);
	} else {
		for (uint32_t i = 0; i < t->n_sites; i++)
			if (plan_carries_site(p, site, peer, i))
				write_prefix_list(w, &t->sites[i]);
	}
	jsonw_arr_end(w);
}

static void write_addresses(struct jsonw *w, const struct topo_site *s)
{
	char buf[IP_ADDR_STRLEN];
	jsonw_arr_begin(w);
	for (size_t i = 0; i < s->n_links; i++)
		if (!s->links[i].dynamic)
			jsonw_str(w, ip_addr_format(&s->links[i].addr, buf));
	jsonw_arr_end(w);
}

static void write_underlay(struct jsonw *w, const struct topo_site *s)
{
	char buf[IP_ADDR_STRLEN];
	jsonw_arr_begin(w);
	for (size_t i = 0; i < s->n_links; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", s->links[i].name ? s->links[i].name : "");
		jsonw_kstr(w, "address",
			   s->links[i].dynamic ? "dynamic"
					       : ip_addr_format(&s->links[i].addr, buf));
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void write_duration(struct jsonw *w, const char *key, uint64_t ms)
{
	char buf[DURATION_STRLEN];
	char kms[48];
	jsonw_kstr(w, key, duration_format(ms, buf));
	snprintf(kms, sizeof(kms), "%s_ms", key);
	jsonw_ku64(w, kms, ms);
}

/* The members every tunnel object carries: crypto, liveness, MTU. */
static void write_tunnel_settings(struct jsonw *w, const struct plan *p,
				  const struct plan_tunnel *tun)
{
	const struct plan_profile *pr = &p->profiles[tun->profile];
	char buf[PROPOSAL_STRLEN];
	jsonw_kstr(w, "ike", proposal_format(&pr->ike, PROPOSAL_IKE, buf));
	jsonw_kstr(w, "esp", proposal_format(&pr->esp, PROPOSAL_ESP, buf));
	write_duration(w, "ike_lifetime", pr->ike_lifetime_ms);
	write_duration(w, "esp_lifetime", pr->esp_lifetime_ms);
	jsonw_key(w, "dpd");
	jsonw_obj_begin(w);
	write_duration(w, "interval", pr->dpd_interval_ms);
	write_duration(w, "timeout", pr->dpd_timeout_ms);
	jsonw_kstr(w, "mode", topo_dpd_mode_name(pr->dpd_mode));
	jsonw_obj_end(w);
	jsonw_kstr(w, "auth", topo_auth_name(pr->auth));
	jsonw_ku64(w, "mtu", tun->mtu);
	jsonw_ku64(w, "mss_ipv4", tun->mss_v4);
	jsonw_ku64(w, "mss_ipv6", tun->mss_v6);
	jsonw_kstr(w, "underlay_family",
		   tun->families == (1u << IP_V4)   ? "ipv4"
		   : tun->families == (1u << IP_V6) ? "ipv6"
						    : "any");
}

static const char *tunnel_reason(const struct plan *p, const struct plan_tunnel *tun, char *buf,
				 size_t len)
{
	const struct topo *t = p->topo;
	const char *a = t->sites[tun->initiator].name, *b = t->sites[tun->responder].name;
	switch (tun->kind) {
	case PLAN_KIND_SPOKE_HUB: {
		uint32_t spoke = t->sites[tun->initiator].role == TOPO_ROLE_SPOKE ? tun->initiator
										  : tun->responder;
		snprintf(buf, len, "spoke %s is homed to hub %s (priority %u)",
			 t->sites[spoke].name, t->sites[plan_tunnel_peer(tun, spoke)].name,
			 tun->hub_priority);
		break;
	}
	case PLAN_KIND_HUB_HUB:
		snprintf(buf, len, "%s", plan_hub_mesh_reason(p));
		break;
	case PLAN_KIND_PEER_HUB:
		snprintf(buf, len, "peers reach every hub directly (%s, %s)", a, b);
		break;
	case PLAN_KIND_EXTERNAL:
		if (tun->hub_priority)
			snprintf(buf, len,
				 "external gateway %s is attached to hub %s (priority %u); spokes "
				 "reach it through the hub",
				 b, a, tun->hub_priority);
		else
			snprintf(buf, len, "full mesh: peer %s connects to external gateway %s", a,
				 b);
		break;
	default:
		snprintf(buf, len, "%s",
			 t->type == TOPO_FULL_MESH ? "full mesh: every pair of sites is connected"
						   : "peers are meshed with each other");
		break;
	}
	return buf;
}

static void write_tunnel(struct jsonw *w, const struct plan *p, const struct plan_tunnel *tun)
{
	const struct topo *t = p->topo;
	char name[80], reason[256];
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", plan_tunnel_name(p, tun, name, sizeof(name)));
	jsonw_kstr(w, "kind", plan_kind_name(tun->kind));
	jsonw_kstr(w, "reason", tunnel_reason(p, tun, reason, sizeof(reason)));
	jsonw_kstr(w, "initiator", t->sites[tun->initiator].name);
	jsonw_kstr(w, "responder", t->sites[tun->responder].name);
	jsonw_kstr(w, "initiator_reason", plan_initiator_reason_text(tun->init_reason));
	jsonw_key(w, "initiator_addresses");
	write_addresses(w, &t->sites[tun->initiator]);
	jsonw_key(w, "responder_addresses");
	write_addresses(w, &t->sites[tun->responder]);
	if (tun->kind == PLAN_KIND_SPOKE_HUB ||
	    (tun->kind == PLAN_KIND_EXTERNAL && tun->hub_priority))
		jsonw_ku64(w, "hub_priority", tun->hub_priority);
	write_tunnel_settings(w, p, tun);
	jsonw_key(w, "initiator_prefixes");
	plan_json_prefixes(w, p, tun->initiator, tun->responder);
	jsonw_key(w, "responder_prefixes");
	plan_json_prefixes(w, p, tun->responder, tun->initiator);
	jsonw_obj_end(w);
}

static void write_edge_tunnel(struct jsonw *w, const struct plan *p, uint32_t site,
			      const struct plan_tunnel *tun)
{
	const struct topo *t = p->topo;
	uint32_t peer = plan_tunnel_peer(tun, site);
	char name[80];
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", plan_tunnel_name(p, tun, name, sizeof(name)));
	jsonw_kstr(w, "kind", plan_kind_name(tun->kind));
	jsonw_kstr(w, "peer", t->sites[peer].name);
	jsonw_kstr(w, "peer_role", topo_role_name(t->sites[peer].role));
	jsonw_kbool(w, "initiate", tun->initiator == site);
	jsonw_key(w, "peer_addresses");
	write_addresses(w, &t->sites[peer]);
	jsonw_ku64(w, "priority", tun->hub_priority);
	write_tunnel_settings(w, p, tun);
	jsonw_key(w, "local_prefixes");
	plan_json_prefixes(w, p, site, peer);
	jsonw_key(w, "remote_prefixes");
	plan_json_prefixes(w, p, peer, site);
	jsonw_kbool(w, "remote_transit", plan_site_carries_transit(p, peer));
	jsonw_obj_end(w);
}

static void write_edge(struct jsonw *w, const struct plan *p, uint32_t site)
{
	const struct topo *t = p->topo;
	const struct topo_site *s = &t->sites[site];
	char buf[DURATION_STRLEN];
	jsonw_obj_begin(w);
	jsonw_kstr(w, "site", s->name);
	jsonw_kstr(w, "role", topo_role_name(s->role));
	jsonw_kbool(w, "managed", !topo_site_is_external(s));
	jsonw_kbool(w, "dynamic", topo_site_is_dynamic(s));
	jsonw_key(w, "underlay");
	write_underlay(w, s);
	jsonw_key(w, "subnets");
	jsonw_arr_begin(w);
	write_prefix_list(w, s);
	jsonw_arr_end(w);
	jsonw_key(w, "hubs");
	jsonw_arr_begin(w);
	for (size_t h = 0; h < s->n_hubs; h++)
		if (s->hubs[h].site != UINT32_MAX)
			jsonw_str(w, t->sites[s->hubs[h].site].name);
	jsonw_arr_end(w);
	jsonw_ku64(w, "underlay_mtu", s->effective.mtu);
	jsonw_kstr(w, "hold_down", duration_format(s->effective.hold_down_ms, buf));
	jsonw_ku64(w, "hold_down_ms", s->effective.hold_down_ms);
	jsonw_key(w, "tunnels");
	jsonw_arr_begin(w);
	const struct plan_edge *e = &p->edges[site];
	for (size_t i = 0; i < e->count; i++)
		write_edge_tunnel(w, p, site, &p->tunnels[p->edge_tunnels[e->first + i]]);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void write_summary(struct jsonw *w, const struct plan *p)
{
	const struct topo *t = p->topo;
	size_t roles[TOPO_ROLE_COUNT] = {0};
	for (size_t i = 0; i < t->n_sites; i++)
		roles[t->sites[i].role]++;
	jsonw_key(w, "summary");
	jsonw_obj_begin(w);
	jsonw_ku64(w, "sites", t->n_sites);
	jsonw_ku64(w, "hubs", roles[TOPO_ROLE_HUB]);
	jsonw_ku64(w, "spokes", roles[TOPO_ROLE_SPOKE]);
	jsonw_ku64(w, "peers", roles[TOPO_ROLE_PEER]);
	jsonw_ku64(w, "externals", roles[TOPO_ROLE_EXTERNAL]);
	jsonw_ku64(w, "tunnels", p->n_tunnels);
	jsonw_key(w, "tunnels_by_kind");
	jsonw_obj_begin(w);
	for (int k = 0; k < PLAN_KIND_COUNT; k++)
		jsonw_ku64(w, plan_kind_name(k), p->by_kind[k]);
	jsonw_obj_end(w);
	const char *why = plan_hub_mesh_reason(p);
	if (why)
		jsonw_kstr(w, "hub_mesh_reason", why);
	jsonw_obj_end(w);
}

void plan_json_write(const struct plan *p, FILE *out, bool pretty)
{
	const struct topo *t = p->topo;
	struct jsonw w;
	jsonw_init(&w, out, pretty);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "format", "sdwan-plan/1");
	jsonw_kstr(&w, "wan", t->wan ? t->wan : "");
	jsonw_kstr(&w, "type", topo_type_name(t->type));
	jsonw_key(&w, "controller");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "endpoint", t->controller_endpoint ? t->controller_endpoint : "");
	if (t->enroll_endpoint)
		jsonw_kstr(&w, "enroll_endpoint", t->enroll_endpoint);
	jsonw_obj_end(&w);
	write_summary(&w, p);
	jsonw_key(&w, "sites");
	jsonw_arr_begin(&w);
	for (uint32_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "name", s->name);
		jsonw_kstr(&w, "role", topo_role_name(s->role));
		jsonw_key(&w, "underlay");
		write_underlay(&w, s);
		jsonw_key(&w, "subnets");
		jsonw_arr_begin(&w);
		write_prefix_list(&w, s);
		jsonw_arr_end(&w);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_key(&w, "tunnels");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < p->n_tunnels; i++)
		write_tunnel(&w, p, &p->tunnels[i]);
	jsonw_arr_end(&w);
	jsonw_key(&w, "edges");
	jsonw_arr_begin(&w);
	for (uint32_t i = 0; i < t->n_sites; i++)
		write_edge(&w, p, i);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_finish(&w);
}
