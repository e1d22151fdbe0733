/*
 * Plan differences: what changed between two topology files, and exactly which edges must be
 * updated.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "controller/plan_diff.h"
#include "tests/unit/controller/intent_helpers.h"

#define HEAD "wan: t\ncontroller: {endpoint: \"tcp://192.0.2.250:7800\"}\ntype: hub-and-spoke\n"

#define HUBS                                                                                       \
	"  - {name: h0, role: hub, underlay: [{name: i, address: 192.0.2.1}],"                     \
	" subnets: [10.0.0.0/24]}\n"                                                               \
	"  - {name: h1, role: hub, underlay: [{name: i, address: 192.0.2.2}],"                     \
	" subnets: [10.0.1.0/24]}\n"

#define S0                                                                                         \
	"  - {name: s0, role: spoke, hubs: [h0, h1], underlay: [{name: i, address: 192.0.2.10}], subnets: [10.1.0.0/24]}\n"
#define S0_SWAPPED                                                                                 \
	"  - {name: s0, role: spoke, hubs: [h1, h0], underlay: [{name: i, address: 192.0.2.10}], subnets: [10.1.0.0/24]}\n"
#define S1                                                                                         \
	"  - {name: s1, role: spoke, hubs: [h0, h1], underlay: [{name: i, address: 192.0.2.11}], subnets: [10.1.1.0/24]}\n"
#define S1_DYN                                                                                     \
	"  - {name: s1, role: spoke, hubs: [h0, h1], underlay: [{name: i, address: dynamic}], subnets: [10.1.1.0/24]}\n"
#define S2                                                                                         \
	"  - {name: s2, role: spoke, hubs: [h0, h1], underlay: [{name: i, address: 192.0.2.12}], subnets: [10.1.2.0/24]}\n"

struct pair {
	struct intent a, b;
	struct plan_diff d;
};

static void diff_of(const char *old_yaml, const char *new_yaml, struct pair *p)
{
	struct diag_list d = {0};
	cr_assert_eq(compile_text(old_yaml, &p->a, &d), 0);
	cr_assert_eq(compile_text(new_yaml, &p->b, &d), 0);
	diag_list_free(&d);
	cr_assert_eq(plan_diff_compute(p->a.plan, p->b.plan, &p->d), 0);
}

static void pair_free(struct pair *p)
{
	plan_diff_free(&p->d);
	intent_free(&p->a);
	intent_free(&p->b);
}

static const struct plan_diff_edge *edge(const struct plan_diff *d, const char *site)
{
	for (size_t i = 0; i < d->n_edges; i++)
		if (strcmp(d->edges[i].site, site) == 0)
			return &d->edges[i];
	return NULL;
}

static const struct plan_diff_tunnel *tunnel(const struct plan_diff *d, const char *name)
{
	for (size_t i = 0; i < d->n_tunnels; i++)
		if (strcmp(d->tunnels[i].name, name) == 0)
			return &d->tunnels[i];
	return NULL;
}

Test(plan_diff, identical_files_differ_in_nothing)
{
	struct pair p;
	diff_of(HEAD "sites:\n" HUBS S0 S1, HEAD "sites:\n" HUBS S0 S1, &p);
	cr_expect(plan_diff_empty(&p.d));
	pair_free(&p);
}

Test(plan_diff, reordering_sites_and_subnets_is_not_a_change)
{
	struct pair p;
	diff_of(HEAD "sites:\n" HUBS S0 S1, HEAD "sites:\n" S1 HUBS S0, &p);
	cr_expect(plan_diff_empty(&p.d));
	pair_free(&p);
}

/* Only the spoke's configuration holds its hub preferences (the hubs' side of the tunnel has
 * none): the two tunnels change, the hubs' configurations do not. */
Test(plan_diff, hub_order_change_reaches_only_that_spoke)
{
	struct pair p;
	diff_of(HEAD "sites:\n" HUBS S0 S1 S2, HEAD "sites:\n" HUBS S0_SWAPPED S1 S2, &p);
	cr_expect_eq(p.d.changed, 2);
	cr_expect_eq(p.d.added + p.d.removed, 0);
	const struct plan_diff_tunnel *t = tunnel(&p.d, "h0:s0");
	cr_assert_not_null(t);
	cr_expect_not_null(strstr(t->details, "hub priority: 1 -> 2"), "%s", t->details);
	cr_expect_not_null(edge(&p.d, "s0"));
	cr_expect_null(edge(&p.d, "h0"), "a hub's config has no preference for its spokes");
	cr_expect_null(edge(&p.d, "h1"));
	cr_expect_null(edge(&p.d, "s1"), "s1 is untouched");
	cr_expect_null(edge(&p.d, "s2"), "s2 is untouched");
	pair_free(&p);
}

Test(plan_diff, added_spoke)
{
	struct pair p;
	diff_of(HEAD "sites:\n" HUBS S0, HEAD "sites:\n" HUBS S0 S1, &p);
	cr_expect_eq(p.d.added, 2);
	cr_expect_not_null(tunnel(&p.d, "h0:s1"));
	cr_expect_not_null(tunnel(&p.d, "h1:s1"));
	const struct plan_diff_edge *e = edge(&p.d, "s1");
	cr_assert_not_null(e);
	cr_expect_eq(e->change, PLAN_EDGE_NEW);
	cr_expect_not_null(strstr(e->reason, "sdwanctl token create s1"));
	/* s0 learns the new prefix through its hubs' transit. */
	const struct plan_diff_tunnel *t = tunnel(&p.d, "h0:s0");
	cr_assert_not_null(t);
	cr_expect_not_null(strstr(t->details, "prefixes carried from h0 changed"), "%s",
			   t->details);
	cr_expect_not_null(edge(&p.d, "s0"));
	pair_free(&p);
}

Test(plan_diff, removed_spoke)
{
	struct pair p;
	diff_of(HEAD "sites:\n" HUBS S0 S1, HEAD "sites:\n" HUBS S0, &p);
	cr_expect_eq(p.d.removed, 2);
	const struct plan_diff_edge *e = edge(&p.d, "s1");
	cr_assert_not_null(e);
	cr_expect_eq(e->change, PLAN_EDGE_REMOVED);
	pair_free(&p);
}

Test(plan_diff, crypto_and_initiator_changes_are_named)
{
	struct pair p;
	diff_of(HEAD "sites:\n" HUBS S0 S1,
		HEAD "defaults: {esp: chacha20poly1305}\nsites:\n" HUBS S0 S1_DYN, &p);
	const struct plan_diff_tunnel *t = tunnel(&p.d, "h0:s0");
	cr_assert_not_null(t);
	cr_expect_not_null(strstr(t->details, "esp: aes256gcm16-x25519-esn -> "
					      "chacha20poly1305-esn"),
			   "%s", t->details);
	t = tunnel(&p.d, "h0:s1");
	cr_assert_not_null(t);
	cr_expect_not_null(strstr(t->details, "underlay addresses of s1 changed"), "%s",
			   t->details);
	cr_expect_eq(p.d.changed, 5);
	cr_expect_eq(p.d.n_edges, 4);
	pair_free(&p);
}
