/*
 * The planner: tunnel counts for every topology type at sizes 2..50, who initiates, hub
 * priority, MTU/MSS arithmetic, profile merging, and the prefixes each side carries.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>

#include "tests/unit/controller/intent_helpers.h"

struct text {
	char *s;
	size_t len;
	size_t cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		cr_assert_geq(n, 0);
		if (t->s && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n + 256;
		t->s = realloc(t->s, t->cap);
		cr_assert_not_null(t->s);
	}
}

static void head(struct text *t, const char *type)
{
	put(t, "wan: gen\ncontroller: {endpoint: \"tcp://192.0.2.250:7800\"}\ntype: %s\nsites:\n",
	    type);
}

/* Site i gets underlay 100.64.x.y and subnet 10.x.y.0/24. */
static void site(struct text *t, const char *name, const char *role, unsigned i)
{
	put(t, "  - name: %s\n    role: %s\n", name, role);
	put(t, "    underlay: [{name: inet, address: 100.64.%u.%u}]\n", i / 250, i % 250 + 1);
	put(t, "    subnets: [10.%u.%u.0/24]\n", i / 250, i % 250);
}

static struct plan *compile_ok(const char *yaml, struct intent *in)
{
	struct diag_list d = {0};
	int rc = compile_text(yaml, in, &d);
	if (rc != 0 || d.n)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	return in->plan;
}

static char *gen_full_mesh(unsigned n)
{
	struct text t = {0};
	head(&t, "full-mesh");
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%u", i);
		site(&t, name, "peer", i);
	}
	return t.s;
}

static char *gen_hubbed(const char *type, unsigned hubs, unsigned spokes, unsigned peers,
			unsigned homes)
{
	struct text t = {0};
	head(&t, type);
	unsigned idx = 0;
	for (unsigned h = 0; h < hubs; h++) {
		char name[16];
		snprintf(name, sizeof(name), "h%u", h);
		site(&t, name, "hub", idx++);
	}
	for (unsigned s = 0; s < spokes; s++) {
		char name[16];
		snprintf(name, sizeof(name), "s%u", s);
		site(&t, name, "spoke", idx++);
		put(&t, "    hubs: [");
		for (unsigned k = 0; k < homes; k++)
			put(&t, "%sh%u", k ? ", " : "", (s + k) % hubs);
		put(&t, "]\n");
	}
	for (unsigned p = 0; p < peers; p++) {
		char name[16];
		snprintf(name, sizeof(name), "p%u", p);
		site(&t, name, "peer", idx++);
	}
	return t.s;
}

Test(plan, full_mesh_counts_2_to_50)
{
	for (unsigned n = 2; n <= 50; n++) {
		char *yaml = gen_full_mesh(n);
		struct intent in;
		struct plan *p = compile_ok(yaml, &in);
		cr_expect_eq(p->n_tunnels, (size_t)n * (n - 1) / 2, "full mesh of %u", n);
		cr_expect_eq(p->by_kind[PLAN_KIND_PEER_PEER], p->n_tunnels);
		for (uint32_t s = 0; s < n; s++)
			cr_expect_eq(p->edges[s].count, n - 1, "every edge has N-1 tunnels");
		intent_free(&in);
		free(yaml);
	}
}

Test(plan, hub_and_spoke_counts_2_to_50)
{
	for (unsigned hubs = 1; hubs <= 4; hubs++) {
		for (unsigned spokes = 1; spokes + hubs <= 50; spokes += 3) {
			char *yaml = gen_hubbed("hub-and-spoke", hubs, spokes, 0, hubs);
			struct intent in;
			struct plan *p = compile_ok(yaml, &in);
			size_t hub_mesh = (size_t)hubs * (hubs - 1) / 2;
			cr_expect_eq(p->n_tunnels, (size_t)spokes * hubs + hub_mesh, "H=%u S=%u",
				     hubs, spokes);
			cr_expect_eq(p->by_kind[PLAN_KIND_SPOKE_HUB], (size_t)spokes * hubs);
			cr_expect_eq(p->by_kind[PLAN_KIND_HUB_HUB], hub_mesh);
			intent_free(&in);
			free(yaml);
		}
	}
}

Test(plan, hybrid_counts_2_to_50)
{
	for (unsigned hubs = 1; hubs <= 5; hubs++) {
		for (unsigned spokes = 0; spokes + hubs + 3 <= 50; spokes += 4) {
			unsigned peers = spokes % 3;
			unsigned homes = hubs < 2 ? hubs : 2;
			char *yaml = gen_hubbed("hybrid", hubs, spokes, peers, homes);
			struct intent in;
			struct plan *p = compile_ok(yaml, &in);
			size_t expect = (size_t)hubs * (hubs - 1) / 2 + (size_t)spokes * homes +
					(size_t)peers * (peers ? peers - 1 : 0) / 2 +
					(size_t)peers * hubs;
			cr_expect_eq(p->n_tunnels, expect, "H=%u S=%u P=%u", hubs, spokes, peers);
			intent_free(&in);
			free(yaml);
		}
	}
}

static const struct plan_tunnel *find(const struct plan *p, const char *name)
{
	char buf[80];
	for (size_t i = 0; i < p->n_tunnels; i++)
		if (strcmp(plan_tunnel_name(p, &p->tunnels[i], buf, sizeof(buf)), name) == 0)
			return &p->tunnels[i];
	cr_assert_fail("no tunnel %s", name);
	return NULL;
}

static const char *ini(const struct plan *p, const char *name)
{
	return p->topo->sites[find(p, name)->initiator].name;
}

Test(plan, initiator_rules)
{
	const char *yaml =
		"wan: t\ncontroller: {endpoint: \"tcp://192.0.2.250:1\"}\ntype: hybrid\nsites:\n"
		"  - {name: hub-b, role: hub, underlay: [{name: i, address: 192.0.2.1}]}\n"
		"  - {name: hub-a, role: hub, underlay: [{name: i, address: 192.0.2.2}]}\n"
		"  - {name: hub-dyn, role: hub, underlay: [{name: i, address: dynamic}]}\n"
		"  - {name: aaa-spoke, role: spoke, hubs: [hub-b, hub-dyn],\n"
		"     underlay: [{name: i, address: 192.0.2.3}], subnets: [10.3.0.0/24]}\n"
		"  - {name: zed, role: peer, underlay: [{name: i, address: 192.0.2.4}],\n"
		"     subnets: [10.4.0.0/24]}\n";
	struct intent in;
	struct plan *p = compile_ok(yaml, &in);
	/* Spoke initiates to its hub even though the hub's name sorts first. */
	cr_expect_str_eq(ini(p, "aaa-spoke:hub-b"), "aaa-spoke");
	cr_expect_eq(find(p, "aaa-spoke:hub-b")->init_reason, PLAN_INIT_SPOKE);
	/* A dynamic hub initiates even to a spoke. */
	cr_expect_str_eq(ini(p, "aaa-spoke:hub-dyn"), "hub-dyn");
	cr_expect_eq(find(p, "aaa-spoke:hub-dyn")->init_reason, PLAN_INIT_DYNAMIC);
	/* Between equals the lexically lower name initiates. */
	cr_expect_str_eq(ini(p, "hub-a:hub-b"), "hub-a");
	cr_expect_eq(find(p, "hub-a:hub-b")->init_reason, PLAN_INIT_LOWER_NAME);
	cr_expect_str_eq(ini(p, "hub-b:zed"), "hub-b");
	/* Spoke priorities follow the hubs list. */
	cr_expect_eq(find(p, "aaa-spoke:hub-b")->hub_priority, 1);
	cr_expect_eq(find(p, "aaa-spoke:hub-dyn")->hub_priority, 2);
	intent_free(&in);

	/* A dynamic peer initiates to everyone, whatever the names say. */
	const char *mesh =
		"wan: t\ncontroller: {endpoint: \"tcp://192.0.2.250:1\"}\ntype: full-mesh\nsites:\n"
		"  - {name: zed, role: peer, underlay: [{name: i, address: dynamic}]}\n"
		"  - {name: alpha, role: peer, underlay: [{name: i, address: 192.0.2.1}]}\n"
		"  - {name: beta, role: peer, underlay: [{name: i, address: 192.0.2.2}]}\n";
	p = compile_ok(mesh, &in);
	cr_expect_str_eq(ini(p, "alpha:zed"), "zed");
	cr_expect_str_eq(ini(p, "beta:zed"), "zed");
	cr_expect_str_eq(ini(p, "alpha:beta"), "alpha");
	intent_free(&in);
}

Test(plan, mtu_and_mss_arithmetic)
{
	/* 1500 - IPv4 20 - UDP 8 - ESP 8 - IV 8 - ICV 16 = 1440 for payload+2 (4-aligned). */
	struct proposal esp = {.encr = PROPOSAL_ENCR_AES256GCM16, .esn = true};
	uint16_t mtu, v4, v6;
	plan_mtu(1500, &esp, IP_V4, &mtu, &v4, &v6);
	cr_expect_eq(mtu, 1438);
	cr_expect_eq(v4, 1398);
	cr_expect_eq(v6, 1378);
	plan_mtu(1500, &esp, IP_V6, &mtu, &v4, &v6);
	cr_expect_eq(mtu, 1418);
	cr_expect_eq(v4, 1378);
	cr_expect_eq(v6, 1358);
	/* PPPoE 1492: avail 1432 -> 1430. Odd MTUs round down to the ESP 4-byte alignment. */
	plan_mtu(1492, &esp, IP_V4, &mtu, &v4, &v6);
	cr_expect_eq(mtu, 1430);
	plan_mtu(1491, &esp, IP_V4, &mtu, &v4, &v6);
	cr_expect_eq(mtu, 1426);
	plan_mtu(9000, &esp, IP_V4, &mtu, &v4, &v6);
	cr_expect_eq(mtu, 8938);
	struct proposal chacha = {.encr = PROPOSAL_ENCR_CHACHA20POLY1305};
	plan_mtu(1500, &chacha, IP_V4, &mtu, &v4, &v6);
	cr_expect_eq(mtu, 1438);
	/* Every result leaves the inner packet + trailer 4-byte aligned and fits the underlay. */
	for (uint32_t u = 576; u <= 9216; u++) {
		plan_mtu(u, &esp, IP_V6, &mtu, &v4, &v6);
		cr_assert_eq((mtu + 2) % 4, 0);
		cr_assert_leq(40 + 8 + 8 + 8 + mtu + 2 + 16, u);
		cr_assert_gt(40 + 8 + 8 + 8 + mtu + 2 + 4 + 16, u);
	}
}

Test(plan, tunnel_mtu_uses_smaller_end_and_worse_family)
{
	const char *yaml =
		"wan: t\ncontroller: {endpoint: \"tcp://192.0.2.250:1\"}\ntype: full-mesh\nsites:\n"
		"  - {name: a, role: peer, underlay: [{name: i, address: 192.0.2.1}], mtu: 1492}\n"
		"  - {name: b, role: peer, underlay: [{name: i, address: 192.0.2.2}]}\n"
		"  - {name: c, role: peer, underlay: [{name: i, address: \"2001:db8::3\"}],\n"
		"     subnets: [10.3.0.0/24]}\n"
		"  - {name: d, role: peer, underlay: [{name: i, address: dynamic}]}\n";
	struct intent in;
	struct diag_list d = {0};
	/* a, b (IPv4 only) and c (IPv6 only) cannot reach each other: reported, not guessed. */
	cr_assert_neq(compile_text(yaml, &in, &d), 0);
	cr_expect(has_error(&d, 7, 12, "share no address family"));
	intent_free(&in);
	diag_list_free(&d);

	const char *ok =
		"wan: t\ncontroller: {endpoint: \"tcp://192.0.2.250:1\"}\ntype: full-mesh\nsites:\n"
		"  - {name: a, role: peer, underlay: [{name: i, address: 192.0.2.1}], mtu: 1492}\n"
		"  - {name: b, role: peer, underlay: [{name: i, address: 192.0.2.2}]}\n"
		"  - {name: d, role: peer, underlay: [{name: i, address: dynamic}]}\n"
		"  - {name: e, role: peer, underlay: [{name: i, address: \"2001:db8::5\"},\n"
		"                                     {name: j, address: 192.0.2.5}]}\n";
	struct plan *p = compile_ok(ok, &in);
	cr_expect_eq(find(p, "a:b")->mtu, 1430, "the smaller underlay MTU wins");
	cr_expect_eq(find(p, "b:d")->mtu, 1438);
	cr_expect_eq(find(p, "b:e")->mtu, 1438, "b can only use IPv4 toward e");
	cr_expect_eq(find(p, "d:e")->mtu, 1418, "a dynamic end might use IPv6: worst case");
	intent_free(&in);
}

Test(plan, overrides_merge_into_shared_profiles)
{
	const char *yaml =
		"wan: t\ncontroller: {endpoint: \"tcp://192.0.2.250:1\"}\ntype: full-mesh\n"
		"defaults: {esp-lifetime: 30m}\nsites:\n"
		"  - {name: a, role: peer, underlay: [{name: i, address: 192.0.2.1}],\n"
		"     esp: chacha20poly1305}\n"
		"  - {name: b, role: peer, underlay: [{name: i, address: 192.0.2.2}],\n"
		"     dpd: {interval: 100ms, timeout: 300ms}}\n"
		"  - {name: c, role: peer, underlay: [{name: i, address: 192.0.2.3}]}\n";
	struct intent in;
	struct plan *p = compile_ok(yaml, &in);
	const struct plan_profile *ab = &p->profiles[find(p, "a:b")->profile];
	const struct plan_profile *ac = &p->profiles[find(p, "a:c")->profile];
	const struct plan_profile *bc = &p->profiles[find(p, "b:c")->profile];
	cr_expect_eq(ab->esp.encr, PROPOSAL_ENCR_CHACHA20POLY1305);
	cr_expect_eq(ab->dpd_interval_ms, 100);
	cr_expect_eq(ab->esp_lifetime_ms, 30 * 60 * 1000, "defaults apply under overrides");
	cr_expect_eq(ac->esp.encr, PROPOSAL_ENCR_CHACHA20POLY1305);
	cr_expect_eq(ac->dpd_interval_ms, 1000);
	cr_expect_eq(bc->esp.encr, PROPOSAL_ENCR_AES256GCM16);
	cr_expect_eq(bc->dpd_timeout_ms, 300);
	cr_expect_eq(p->n_profiles, 4, "defaults, a, b and the merged a+b");
	intent_free(&in);
}

Test(plan, hubs_carry_transit_and_others_their_own)
{
	char *yaml = gen_hubbed("hub-and-spoke", 2, 3, 0, 2);
	struct intent in;
	struct plan *p = compile_ok(yaml, &in);
	for (uint32_t i = 0; i < p->topo->n_sites; i++)
		cr_expect_eq(plan_site_carries_transit(p, i),
			     p->topo->sites[i].role == TOPO_ROLE_HUB);
	intent_free(&in);
	free(yaml);
	yaml = gen_full_mesh(3);
	p = compile_ok(yaml, &in);
	for (uint32_t i = 0; i < 3; i++)
		cr_expect(!plan_site_carries_transit(p, i));
	intent_free(&in);
	free(yaml);
}

Test(plan, deterministic)
{
	char *yaml = gen_hubbed("hybrid", 3, 20, 4, 2);
	struct intent a, b;
	struct plan *pa = compile_ok(yaml, &a);
	struct plan *pb = compile_ok(yaml, &b);
	cr_assert_eq(pa->n_tunnels, pb->n_tunnels);
	cr_expect_eq(memcmp(pa->tunnels, pb->tunnels, pa->n_tunnels * sizeof(*pa->tunnels)), 0);
	intent_free(&a);
	intent_free(&b);
	free(yaml);
}
