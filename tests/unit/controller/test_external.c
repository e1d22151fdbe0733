/*
 * External sites (role: external, an IPsec gateway we do not run): what the loader and checker
 * refuse, with line and column, and what the planner makes of them: which of our sites connect,
 * who initiates, hub priority, the prefixes each side carries, the JSON and the diff.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller/plan_diff.h"
#include "controller/plan_json.h"
#include "tests/unit/controller/intent_helpers.h"

/* Lines 1-4; sites start on line 5. */
#define HEAD(type)                                                                                 \
	"wan: t\n"                                                                                 \
	"controller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"                                     \
	"type: " type "\n"                                                                         \
	"sites:\n"

/* Lines 5-12: two hubs. */
#define HUBS                                                                                       \
	"  - name: hub1\n"                                                                         \
	"    role: hub\n"                                                                          \
	"    underlay: [{name: inet, address: 192.0.2.1}]\n"                                       \
	"    subnets: [10.0.0.0/24]\n"                                                             \
	"  - name: hub2\n"                                                                         \
	"    role: hub\n"                                                                          \
	"    underlay: [{name: inet, address: 192.0.2.2}]\n"                                       \
	"    subnets: [10.0.1.0/24]\n"

/* Lines 13-17: a spoke homed to both hubs. */
#define SPOKE                                                                                      \
	"  - name: b1\n"                                                                           \
	"    role: spoke\n"                                                                        \
	"    hubs: [hub1, hub2]\n"                                                                 \
	"    underlay: [{name: lte, address: dynamic}]\n"                                          \
	"    subnets: [10.10.1.0/24]\n"

struct vcase {
	const char *name;
	const char *yaml;
	uint32_t line, col;
	const char *needle;
};

static const struct vcase cases[] = {
	{"external with a dynamic address",
	 HEAD("hub-and-spoke") HUBS "  - name: gw\n    role: external\n"
				    "    underlay: [{name: inet, address: dynamic}]\n",
	 15, 38, "external site 'gw' needs a static underlay address"},
	{"external with hold-down",
	 HEAD("hub-and-spoke") HUBS "  - name: gw\n    role: external\n"
				    "    underlay: [{name: inet, address: 203.0.113.5}]\n"
				    "    subnets: [172.16.0.0/16]\n"
				    "    hold-down: 5s\n",
	 17, 16, "hold-down is the failback timer of our own edges"},
	{"external as a spoke's hub",
	 HEAD("hub-and-spoke") HUBS "  - name: b1\n    role: spoke\n    hubs: [hub1, gw]\n"
				    "    underlay: [{name: a, address: 192.0.2.11}]\n"
				    "  - name: gw\n    role: external\n"
				    "    underlay: [{name: inet, address: 203.0.113.5}]\n",
	 15, 18, "names external site 'gw' as a hub, but an external gateway cannot be a hub"},
	{"external naming a spoke as hub",
	 HEAD("hub-and-spoke") HUBS SPOKE "  - name: gw\n    role: external\n"
					  "    hubs: [b1]\n"
					  "    underlay: [{name: inet, address: 203.0.113.5}]\n",
	 20, 12, "external 'gw' names 'b1' as a hub, but 'b1' has role spoke"},
	{"external naming an unknown hub",
	 HEAD("hub-and-spoke") HUBS "  - name: gw\n    role: external\n"
				    "    hubs: [hub1, hub9]\n"
				    "    underlay: [{name: inet, address: 203.0.113.5}]\n",
	 15, 18, "external 'gw' names hub 'hub9', but there is no such site"},
	{"external listing a hub twice",
	 HEAD("hub-and-spoke") HUBS "  - name: gw\n    role: external\n"
				    "    hubs: [hub1, hub1]\n"
				    "    underlay: [{name: inet, address: 203.0.113.5}]\n",
	 15, 18, "hub 'hub1' is listed twice for external 'gw'"},
	{"external with an empty hubs list",
	 HEAD("hub-and-spoke") HUBS "  - name: gw\n    role: external\n"
				    "    hubs: []\n"
				    "    underlay: [{name: inet, address: 203.0.113.5}]\n",
	 15, 11, "external site 'gw' has an empty hubs list"},
	{"external with hubs in a full mesh",
	 HEAD("full-mesh") "  - name: p1\n    role: peer\n"
			   "    underlay: [{name: inet, address: 192.0.2.1}]\n"
			   "  - name: gw\n    role: external\n"
			   "    hubs: [p1]\n"
			   "    underlay: [{name: inet, address: 203.0.113.5}]\n",
	 10, 11, "a full-mesh WAN has no hubs; external site 'gw' is connected to every peer"},
	{"peer listing hubs",
	 HEAD("hybrid") HUBS "  - name: p1\n    role: peer\n    hubs: [hub1]\n"
			     "    underlay: [{name: inet, address: 192.0.2.9}]\n",
	 15, 11, "only spokes and external sites list hubs; site 'p1' is a peer"},
	{"external subnet overlapping ours",
	 HEAD("hub-and-spoke") HUBS "  - name: gw\n    role: external\n"
				    "    underlay: [{name: inet, address: 203.0.113.5}]\n"
				    "    subnets: [10.0.0.0/16]\n",
	 16, 15, "subnet 10.0.0.0/16 of site 'gw' overlaps 10.0.0.0/24 of site 'hub1'"},
	{"external and our hub share no address family",
	 HEAD("hub-and-spoke") "  - name: hub1\n    role: hub\n"
			       "    underlay: [{name: inet, address: 192.0.2.1}]\n"
			       "  - name: gw\n    role: external\n"
			       "    underlay: [{name: inet, address: \"2001:db8::5\"}]\n",
	 8, 11, "share no address family"},
};

Test(external, errors_have_their_position_and_message)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct intent in;
		struct diag_list d = {0};
		int rc = compile_text(cases[i].yaml, &in, &d);
		bool found = has_error(&d, cases[i].line, cases[i].col, cases[i].needle);
		if (!found)
			dump_diags(&d);
		cr_expect(rc != 0, "case '%s' must fail", cases[i].name);
		cr_expect(found, "case '%s': expected error at %u:%u containing \"%s\"",
			  cases[i].name, cases[i].line, cases[i].col, cases[i].needle);
		cr_expect(in.plan == NULL, "case '%s': no plan", cases[i].name);
		intent_free(&in);
		diag_list_free(&d);
	}
}

static struct plan *compile_ok(const char *yaml, struct intent *in)
{
	struct diag_list d = {0};
	int rc = compile_text(yaml, in, &d);
	if (rc != 0 || d.errors)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	return in->plan;
}

static const struct plan_tunnel *find(const struct plan *p, const char *name)
{
	char buf[80];
	for (size_t i = 0; i < p->n_tunnels; i++)
		if (strcmp(plan_tunnel_name(p, &p->tunnels[i], buf, sizeof(buf)), name) == 0)
			return &p->tunnels[i];
	return NULL;
}

static const char *site_of(const struct plan *p, uint32_t i)
{
	return p->topo->sites[i].name;
}

#define GW_LISTED                                                                                  \
	"  - name: gw\n    role: external\n    hubs: [hub2, hub1]\n"                               \
	"    underlay: [{name: inet, address: 203.0.113.5}]\n"                                     \
	"    subnets: [172.16.0.0/16]\n"                                                           \
	"  - name: gx\n    role: external\n"                                                       \
	"    underlay: [{name: inet, address: 203.0.113.6}]\n"                                     \
	"    subnets: [172.17.0.0/16]\n"

Test(external, hub_and_spoke_tunnels_from_hubs_in_order_our_side_initiates)
{
	struct intent in;
	struct plan *p = compile_ok(HEAD("hub-and-spoke") HUBS SPOKE GW_LISTED, &in);
	/* 1 hub-hub + 2 spoke-hub + gw to its 2 listed hubs + gx (no list) to both hubs. */
	cr_assert_eq(p->n_tunnels, 7);
	cr_expect_eq(p->by_kind[PLAN_KIND_EXTERNAL], 4);
	const struct plan_tunnel *t = find(p, "gw:hub2");
	cr_assert_not_null(t);
	cr_expect_eq(t->kind, PLAN_KIND_EXTERNAL);
	cr_expect_str_eq(site_of(p, t->initiator), "hub2");
	cr_expect_eq(t->init_reason, PLAN_INIT_EXTERNAL);
	cr_expect_eq(t->hub_priority, 1, "gw lists hub2 first");
	t = find(p, "gw:hub1");
	cr_assert_not_null(t);
	cr_expect_eq(t->hub_priority, 2);
	t = find(p, "gx:hub1");
	cr_assert_not_null(t);
	cr_expect_eq(t->hub_priority, 1, "without a list: every hub in file order");
	cr_expect_null(find(p, "gw:gx"), "external gateways are never connected to each other");
	cr_expect_null(find(p, "b1:gw"), "spokes reach gateways through the hubs");
	intent_free(&in);
}

Test(external, prefixes_hub_transit_toward_gateways_and_their_own_back)
{
	struct intent in;
	struct plan *p = compile_ok(HEAD("hub-and-spoke") HUBS SPOKE GW_LISTED, &in);
	const struct topo *topo = p->topo;
	long hub1 = topo_find_site(topo, "hub1"), b1 = topo_find_site(topo, "b1");
	long gw = topo_find_site(topo, "gw"), gx = topo_find_site(topo, "gx");
	cr_assert(hub1 >= 0 && b1 >= 0 && gw >= 0 && gx >= 0);
	/* hub1 -> gw: transit, every WAN prefix but gw's own (the rule our edges expand). */
	cr_expect(plan_carries_site(p, hub1, gw, b1));
	cr_expect(plan_carries_site(p, hub1, gw, hub1));
	cr_expect(plan_carries_site(p, hub1, gw, gx));
	cr_expect_not(plan_carries_site(p, hub1, gw, gw));
	/* gw -> hub1: only its own. */
	cr_expect(plan_carries_site(p, gw, hub1, gw));
	cr_expect_not(plan_carries_site(p, gw, hub1, gx));
	/* hub1 -> b1: the gateways' subnets too, so spokes reach them through the hub. */
	cr_expect(plan_carries_site(p, hub1, b1, gw));
	cr_expect(plan_carries_site(p, hub1, b1, gx));
	intent_free(&in);
}

Test(external, full_mesh_every_peer_connects_and_initiates)
{
	struct intent in;
	struct plan *p =
		compile_ok(HEAD("full-mesh") "  - name: zz\n    role: peer\n"
					     "    underlay: [{name: a, address: 192.0.2.1}]\n"
					     "    subnets: [10.1.0.0/24]\n"
					     "  - name: p2\n    role: peer\n"
					     "    underlay: [{name: a, address: dynamic}]\n"
					     "    subnets: [10.2.0.0/24]\n"
					     "  - name: aa\n    role: external\n"
					     "    underlay: [{name: a, address: 192.0.2.9}]\n"
					     "    subnets: [10.9.0.0/24]\n",
			   &in);
	cr_assert_eq(p->n_tunnels, 3);
	const struct plan_tunnel *t = find(p, "aa:zz");
	cr_assert_not_null(t);
	/* "aa" is the lower name, but our side opens tunnels to gateways. */
	cr_expect_str_eq(site_of(p, t->initiator), "zz");
	cr_expect_eq(t->hub_priority, 0);
	t = find(p, "aa:p2");
	cr_assert_not_null(t);
	cr_expect_str_eq(site_of(p, t->initiator), "p2");
	intent_free(&in);
}

Test(external, hybrid_gateway_attaches_to_hubs_only)
{
	struct intent in;
	struct plan *p =
		compile_ok(HEAD("hybrid") HUBS "  - name: dc\n    role: peer\n"
					       "    underlay: [{name: a, address: 192.0.2.30}]\n"
					       "    subnets: [10.30.0.0/16]\n" GW_LISTED,
			   &in);
	/* 1 hub-hub + 2 peer-hub + 2 + 2 external. */
	cr_expect_eq(p->n_tunnels, 7);
	cr_expect_null(find(p, "dc:gw"));
	cr_expect_not_null(find(p, "gw:hub1"));
	intent_free(&in);
}

Test(external, json_marks_gateways_unmanaged_and_counts_them)
{
	struct intent in;
	struct plan *p = compile_ok(HEAD("hub-and-spoke") HUBS SPOKE GW_LISTED, &in);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	plan_json_write(p, f, false);
	fclose(f);
	cr_expect_not_null(strstr(buf, "\"externals\":2"), "%s", buf);
	cr_expect_not_null(strstr(buf, "\"external\":4"));
	cr_expect_not_null(strstr(buf, "\"site\":\"gw\",\"role\":\"external\",\"managed\":false"));
	cr_expect_not_null(strstr(buf, "\"site\":\"hub1\",\"role\":\"hub\",\"managed\":true"));
	cr_expect_not_null(strstr(buf, "\"kind\":\"external\""));
	free(buf);
	intent_free(&in);
}

Test(external, diff_tells_to_re_export_a_gateway)
{
	struct intent a, b;
	compile_ok(HEAD("hub-and-spoke") HUBS SPOKE GW_LISTED, &a);
	compile_ok(HEAD("hub-and-spoke") HUBS SPOKE
		   "  - name: gw\n    role: external\n    hubs: [hub2, hub1]\n"
		   "    underlay: [{name: inet, address: 203.0.113.5}]\n"
		   "    subnets: [172.16.0.0/16]\n"
		   "    esp: chacha20poly1305\n"
		   "  - name: gx\n    role: external\n"
		   "    underlay: [{name: inet, address: 203.0.113.6}]\n"
		   "    subnets: [172.17.0.0/16]\n",
		   &b);
	struct plan_diff d;
	cr_assert_eq(plan_diff_compute(a.plan, b.plan, &d), 0);
	cr_expect_eq(d.changed, 2, "both of gw's tunnels change");
	bool gw_seen = false;
	for (size_t i = 0; i < d.n_edges; i++) {
		if (strcmp(d.edges[i].site, "gw") != 0)
			continue;
		gw_seen = true;
		cr_expect(d.edges[i].external);
		cr_expect_not_null(strstr(d.edges[i].reason, "sdwanctl export swanctl gw"), "%s",
				   d.edges[i].reason);
	}
	cr_expect(gw_seen);
	plan_diff_free(&d);
	intent_free(&a);
	intent_free(&b);
}

Test(external, shipped_example_plans)
{
	const char *src = getenv("SDWAN_SOURCE_DIR");
	cr_assert_not_null(src);
	char path[512];
	snprintf(path, sizeof(path), "%s/topologies/external-gateway.yaml", src);
	struct intent in;
	struct diag_list d = {0};
	int rc = intent_compile_file(path, &in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	cr_expect_eq(in.plan->by_kind[PLAN_KIND_EXTERNAL], 3);
	const struct plan_tunnel *t = find(in.plan, "cloud-vpc:hub-east");
	cr_assert_not_null(t);
	cr_expect_eq(in.plan->profiles[t->profile].auth, TOPO_AUTH_PSK);
	diag_list_free(&d);
	intent_free(&in);
}

Test(external, sub_second_dpd_is_a_warning_at_its_position)
{
	struct intent in;
	struct diag_list d = {0};
	int rc = compile_text("wan: t\n"
			      "controller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"
			      "type: full-mesh\n"
			      "defaults:\n"
			      "  dpd: {interval: 100ms, timeout: 300ms}\n"
			      "sites:\n"
			      "  - name: p1\n    role: peer\n"
			      "    underlay: [{name: inet, address: 192.0.2.1}]\n"
			      "    subnets: [10.1.0.0/24]\n"
			      "  - name: gw\n    role: external\n"
			      "    underlay: [{name: inet, address: 203.0.113.5}]\n"
			      "    subnets: [172.16.0.0/16]\n",
			      &in, &d);
	cr_expect_eq(rc, 0, "a warning only");
	cr_expect_not_null(in.plan);
	bool found = false;
	for (size_t i = 0; i < d.n; i++)
		found |= d.items[i].severity == DIAG_WARNING && d.items[i].pos.line == 5 &&
			 d.items[i].pos.col == 19 && strstr(d.items[i].msg, "probes every 1s");
	if (!found)
		dump_diags(&d);
	cr_expect(found);
	intent_free(&in);
	diag_list_free(&d);
}
