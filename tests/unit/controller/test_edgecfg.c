/*
 * Edge configurations from the plan: per topology type the tunnels each site gets (kinds,
 * initiators, hub priorities, transit flags, peer identities and addresses, prefixes), PSKs from
 * the store (equal at both ends of a tunnel, distinct per tunnel, the same after a restart), and
 * digests that change exactly when a site's configuration does.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl_msg.h"
#include "common/prefix_set.h"
#include "controller/edgecfg.h"
#include "controller/plan_diff.h"
#include "controller/store.h"
#include "intent_helpers.h"

/* NOLINTBEGIN(readability-function-size): Criterion assertion macros nest deeply. */

static char *slurp(const char *name)
{
	char path[1024];
	// NOLINTNEXTLINE(concurrency-mt-unsafe): test process, one thread
	const char *src = getenv("SDWAN_SOURCE_DIR");
	(void)snprintf(path, sizeof(path), "%s/topologies/%s", src ? src : ".", name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strdup(buf);
}

struct fixture {
	struct intent in;
	struct edgecfg_wan *wan;
	struct edgecfg *cfg[16];
	size_t n;
};

/* A PSK source for certificate topologies: must never be called. */
static int no_psk(void *arg, const char *tunnel, uint8_t psk[static EDGECFG_PSK_LEN])
{
	(void)arg;
	(void)tunnel;
	(void)psk;
	cr_assert_fail("PSK asked for a certificate tunnel");
	return -EINVAL;
}

/* A PSK source for tests not about storage: a key derived from the tunnel name. */
static int name_psk(void *arg, const char *tunnel, uint8_t psk[static EDGECFG_PSK_LEN])
{
	(void)arg;
	memset(psk, 0, EDGECFG_PSK_LEN);
	(void)snprintf((char *)psk, EDGECFG_PSK_LEN, "%s", tunnel);
	return 0;
}

static void build(struct fixture *fx, const char *yaml, edgecfg_psk_fn *psk, void *arg)
{
	struct diag_list d = {0};
	memset(fx, 0, sizeof(*fx));
	int rc = compile_text(yaml, &fx->in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	static const uint8_t ca[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	cr_assert_eq(edgecfg_wan_new(fx->in.plan, ca, sizeof(ca), 0, &fx->wan), 0);
	fx->n = fx->in.topo->n_sites;
	cr_assert_leq(fx->n, 16);
	for (size_t i = 0; i < fx->n; i++)
		cr_assert_eq(edgecfg_build(fx->wan, (uint32_t)i, psk, arg, &fx->cfg[i]), 0);
}

static void teardown_fx(struct fixture *fx)
{
	for (size_t i = 0; i < fx->n; i++)
		edgecfg_free(fx->cfg[i]);
	edgecfg_wan_free(fx->wan);
	intent_free(&fx->in);
}

static const Sdwan__EdgeConfig *cfg_of(const struct fixture *fx, const char *site)
{
	for (size_t i = 0; i < fx->n; i++)
		if (strcmp(fx->cfg[i]->cfg.site, site) == 0)
			return &fx->cfg[i]->cfg;
	cr_assert_fail("no config for %s", site);
	return NULL;
}

static const Sdwan__Tunnel *tunnel_of(const Sdwan__EdgeConfig *c, const char *name)
{
	for (size_t i = 0; i < c->n_tunnels; i++)
		if (strcmp(c->tunnels[i]->name, name) == 0)
			return c->tunnels[i];
	return NULL;
}

/* Every tunnel appears at both of its ends, mirrored: one initiator, each names the other. */
static void check_mirrored(const struct fixture *fx)
{
	for (size_t i = 0; i < fx->n; i++) {
		const Sdwan__EdgeConfig *c = &fx->cfg[i]->cfg;
		for (size_t k = 0; k < c->n_tunnels; k++) {
			const Sdwan__Tunnel *t = c->tunnels[k];
			const Sdwan__Tunnel *o = tunnel_of(cfg_of(fx, t->peer_site), t->name);
			cr_assert_not_null(o, "%s missing at %s", t->name, t->peer_site);
			if (!o)
				continue;
			cr_expect_str_eq(o->peer_site, c->site);
			cr_expect_str_eq(t->peer_identity, t->peer_site);
			cr_expect_neq(t->initiator, o->initiator, "%s: exactly one initiator",
				      t->name);
			cr_expect_str_eq(t->ike_proposal, o->ike_proposal);
			cr_expect_eq(t->mtu, o->mtu);
			cr_expect_gt(t->mtu, 1200);
			cr_expect_eq(t->local_transit, o->remote_transit);
			cr_expect_eq(t->n_local_prefixes, o->n_remote_prefixes);
			cr_expect_gt(t->ike_lifetime_ms, 0);
			cr_expect_gt(t->dpd_interval_ms, 0);
		}
	}
}

Test(edgecfg, full_mesh)
{
	struct fixture fx;
	char *y = slurp("full-mesh.yaml");
	build(&fx, y, name_psk, NULL);
	for (size_t i = 0; i < fx.n; i++) {
		const Sdwan__EdgeConfig *c = &fx.cfg[i]->cfg;
		cr_expect_eq(c->n_tunnels, fx.n - 1, "%s: one tunnel per other site", c->site);
		cr_expect_eq(c->role, SDWAN__SITE_ROLE__SITE_ROLE_PEER);
		cr_expect_eq(c->n_wan_prefixes, 0, "a full mesh carries no transit table");
		cr_expect_gt(c->n_links, 0);
		cr_expect_eq(c->ca_certificate_der.len, 5);
		cr_expect_eq(c->health_interval_ms, EDGECFG_HEALTH_INTERVAL_DEFAULT_MS);
		for (size_t k = 0; k < c->n_tunnels; k++) {
			cr_expect_eq(c->tunnels[k]->kind,
				     SDWAN__TUNNEL_KIND__TUNNEL_KIND_PEER_PEER);
			/* full-mesh.yaml says auth: psk */
			cr_expect_eq(c->tunnels[k]->auth, SDWAN__AUTH_METHOD__AUTH_METHOD_PSK);
			cr_expect_eq(c->tunnels[k]->psk.len, EDGECFG_PSK_LEN);
			cr_expect_str_eq((const char *)c->tunnels[k]->psk.data,
					 c->tunnels[k]->name);
			cr_expect_not(c->tunnels[k]->local_transit);
		}
	}
	check_mirrored(&fx);
	teardown_fx(&fx);
	free(y);
}

Test(edgecfg, hub_and_spoke)
{
	struct fixture fx;
	char *y = slurp("hub-spoke.yaml");
	build(&fx, y, no_psk, NULL);
	const Sdwan__EdgeConfig *b2 = cfg_of(&fx, "branch2"), *he = cfg_of(&fx, "hub-east");
	cr_assert_eq(b2->n_tunnels, 2);
	cr_expect_eq(b2->role, SDWAN__SITE_ROLE__SITE_ROLE_SPOKE);
	/* branch2 lists hub-west first: priority follows the spoke's order. */
	const Sdwan__Tunnel *w = tunnel_of(b2, "branch2:hub-west"),
			    *e = tunnel_of(b2, "branch2:hub-east");
	cr_assert(w && e);
	cr_expect_eq(w->hub_priority, 1);
	cr_expect_eq(e->hub_priority, 2);
	cr_expect_eq(w->kind, SDWAN__TUNNEL_KIND__TUNNEL_KIND_SPOKE_HUB);
	cr_expect(w->initiator, "spokes initiate to hubs");
	cr_expect(w->remote_transit && !w->local_transit);
	cr_expect_eq(w->n_peer_addresses, 1);
	cr_expect_eq(b2->n_wan_prefixes, fx.n, "transit needs the WAN table");
	cr_expect_eq(he->n_tunnels, 4);
	const Sdwan__Tunnel *hh = tunnel_of(he, "hub-east:hub-west");
	cr_assert_not_null(hh);
	cr_expect_eq(hh->kind, SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_HUB);
	cr_expect(hh->initiator, "lower name initiates between hubs");
	const Sdwan__Tunnel *hs = tunnel_of(he, "branch3:hub-east");
	cr_assert_not_null(hs);
	cr_expect_eq(hs->kind, SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_SPOKE);
	cr_expect_not(hs->initiator, "the dynamic spoke initiates");
	cr_expect_eq(hs->n_peer_addresses, 0, "a dynamic peer has no address to reach");
	cr_expect(hs->local_transit);
	cr_expect_eq(hs->hub_priority, 0, "a hub's spokes are not hubs to it");
	const Sdwan__Tunnel *h2 = tunnel_of(he, "branch2:hub-east");
	cr_assert_not_null(h2);
	cr_expect_eq(h2->hub_priority, 0);
	check_mirrored(&fx);
	teardown_fx(&fx);
	free(y);
}

Test(edgecfg, hybrid)
{
	struct fixture fx;
	char *y = slurp("hybrid.yaml");
	build(&fx, y, no_psk, NULL);
	const Sdwan__EdgeConfig *dc = cfg_of(&fx, "dc-frankfurt");
	cr_expect_eq(dc->role, SDWAN__SITE_ROLE__SITE_ROLE_PEER);
	const Sdwan__Tunnel *t = tunnel_of(dc, "dc-frankfurt:hub-amer");
	cr_assert_not_null(t);
	cr_expect_eq(t->kind, SDWAN__TUNNEL_KIND__TUNNEL_KIND_PEER_HUB);
	const Sdwan__Tunnel *o = tunnel_of(cfg_of(&fx, "hub-amer"), "dc-frankfurt:hub-amer");
	cr_assert_not_null(o);
	cr_expect_eq(o->kind, SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_PEER);
	check_mirrored(&fx);
	teardown_fx(&fx);
	free(y);
}

static char *psk_yaml(void)
{
	char *y = slurp("hub-spoke.yaml");
	char *p = strstr(y, "auth: certificate");
	cr_assert_not_null(p);
	memcpy(p, "auth: psk        ", strlen("auth: certificate"));
	return y;
}

static void tmp_state(char *dir, size_t len)
{
	(void)snprintf(dir, len, "/tmp/test_edgecfg.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void rm_state(const char *dir)
{
	char cmd[512];
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0); // NOLINT(cert-env33-c): test cleanup
}

Test(edgecfg, psk_per_tunnel_equal_at_both_ends_and_kept_across_restarts)
{
	char dir[64];
	tmp_state(dir, sizeof(dir));
	struct store *st = NULL;
	cr_assert_eq(store_new(dir, NULL, &st), 0);
	struct fixture fx;
	char *y = psk_yaml();
	build(&fx, y, edgecfg_psk_store, st);
	/* Equal at both ends, 32 bytes, distinct per tunnel. */
	uint8_t seen[16][EDGECFG_PSK_LEN];
	size_t n_seen = 0;
	for (size_t i = 0; i < fx.n; i++) {
		const Sdwan__EdgeConfig *c = &fx.cfg[i]->cfg;
		for (size_t k = 0; k < c->n_tunnels; k++) {
			const Sdwan__Tunnel *t = c->tunnels[k];
			cr_assert_eq(t->auth, SDWAN__AUTH_METHOD__AUTH_METHOD_PSK);
			cr_assert_eq(t->psk.len, EDGECFG_PSK_LEN);
			const Sdwan__Tunnel *o = tunnel_of(cfg_of(&fx, t->peer_site), t->name);
			cr_assert_not_null(o);
			if (!o)
				continue;
			cr_expect_eq(memcmp(t->psk.data, o->psk.data, EDGECFG_PSK_LEN), 0,
				     "%s: both ends get one key", t->name);
			bool dup = false;
			for (size_t s = 0; s < n_seen; s++)
				dup = dup || memcmp(seen[s], t->psk.data, EDGECFG_PSK_LEN) == 0;
			if (!t->initiator)
				continue; /* count each tunnel once */
			cr_expect_not(dup, "%s shares a key with another tunnel", t->name);
			memcpy(seen[n_seen++], t->psk.data, EDGECFG_PSK_LEN);
		}
	}
	cr_expect_eq(n_seen, fx.in.plan->n_tunnels);
	/* Restart: the store is reopened, the plan compiled again: same keys, same digests. */
	uint8_t digests[16][EDGECFG_DIGEST_LEN];
	for (size_t i = 0; i < fx.n; i++)
		memcpy(digests[i], fx.cfg[i]->digest, EDGECFG_DIGEST_LEN);
	teardown_fx(&fx);
	store_free(st);
	cr_assert_eq(store_new(dir, NULL, &st), 0);
	build(&fx, y, edgecfg_psk_store, st);
	for (size_t i = 0; i < fx.n; i++)
		cr_expect_eq(memcmp(digests[i], fx.cfg[i]->digest, EDGECFG_DIGEST_LEN), 0,
			     "%s: config changed across a restart", fx.cfg[i]->cfg.site);
	teardown_fx(&fx);
	store_free(st);
	free(y);
	rm_state(dir);
}

Test(edgecfg, digest_changes_only_for_affected_sites)
{
	struct fixture a, b;
	char *y = slurp("hub-spoke.yaml");
	build(&a, y, no_psk, NULL);
	/* branch2's underlay address: branch2 and the hubs that reach it change, nobody else. */
	char *p = strstr(y, "198.51.100.12");
	cr_assert_not_null(p);
	p[strlen("198.51.100.1")] = '3';
	build(&b, y, no_psk, NULL);
	for (size_t i = 0; i < a.n; i++) {
		const char *site = a.cfg[i]->cfg.site;
		bool changed = memcmp(a.cfg[i]->digest, b.cfg[i]->digest, EDGECFG_DIGEST_LEN) != 0;
		bool expect = strcmp(site, "branch2") == 0 || strncmp(site, "hub-", 4) == 0;
		cr_expect_eq(changed, expect, "%s: changed=%d", site, changed);
	}
	teardown_fx(&a);
	teardown_fx(&b);
	free(y);
}

Test(edgecfg, encode_carries_generation_and_decodes)
{
	struct fixture fx;
	char *y = slurp("hub-spoke.yaml");
	build(&fx, y, no_psk, NULL);
	uint8_t *buf = NULL;
	size_t len = 0;
	cr_assert_eq(edgecfg_encode(fx.cfg[0], 42, 7, &buf, &len), 0);
	struct Sdwan__Envelope *env = NULL;
	cr_assert_eq(ctl_msg_decode(buf, len, CTL_MSG_MAX_SIZE, &env, NULL), 0);
	cr_assert_eq(env->body_case, SDWAN__ENVELOPE__BODY_CONFIG);
	cr_expect_eq(env->config->generation, 42);
	cr_expect_eq(env->msg_id, 7);
	cr_expect_str_eq(env->config->site, fx.cfg[0]->cfg.site);
	cr_expect_str_eq(env->config->wan_name, "acme");
	cr_expect_eq(env->config->n_tunnels, fx.cfg[0]->cfg.n_tunnels);
	/* The generation is not part of the digest: re-encoding with another one is the same
	 * configuration. */
	cr_expect_eq(fx.cfg[0]->cfg.generation, 0);
	ctl_msg_free(env);
	ctl_msg_buf_free(buf, len);
	cr_expect_eq(edgecfg_build(fx.wan, (uint32_t)fx.n, no_psk, NULL, &fx.cfg[15]), -EINVAL);
	teardown_fx(&fx);
	free(y);
}

static size_t site_index(const struct fixture *fx, const char *site)
{
	for (size_t i = 0; i < fx->n; i++)
		if (strcmp(fx->in.topo->sites[i].name, site) == 0)
			return i;
	cr_assert_fail("no site %s", site);
	return 0;
}

/* A revoked site is cut off: its peers' configs lose their tunnels to it (and so their digests
 * change), nobody else's does; putting it back restores exactly the configs of before. */
Test(edgecfg, cut_off_site_leaves_its_peers_tunnels_out)
{
	struct fixture fx;
	char *y = slurp("hub-spoke.yaml");
	build(&fx, y, no_psk, NULL);
	size_t b2 = site_index(&fx, "branch2");
	cr_assert_eq(edgecfg_wan_cut_off(fx.wan, (uint32_t)b2, true), 0);
	cr_assert_eq(edgecfg_wan_cut_off(fx.wan, (uint32_t)fx.n, true), -EINVAL);
	for (size_t i = 0; i < fx.n; i++) {
		const char *site = fx.cfg[i]->cfg.site;
		struct edgecfg *cut = NULL, *back = NULL;
		cr_assert_eq(edgecfg_build(fx.wan, (uint32_t)i, no_psk, NULL, &cut), 0);
		bool is_hub = strncmp(site, "hub-", 4) == 0;
		bool changed = memcmp(cut->digest, fx.cfg[i]->digest, EDGECFG_DIGEST_LEN) != 0;
		cr_expect_eq(changed, is_hub, "%s: changed=%d", site, changed);
		if (is_hub) {
			cr_expect_eq(cut->cfg.n_tunnels, fx.cfg[i]->cfg.n_tunnels - 1, "%s", site);
			char name[64];
			(void)snprintf(name, sizeof(name), "branch2:%s", site);
			cr_expect_null(tunnel_of(&cut->cfg, name), "%s still has %s", site, name);
		}
		cr_assert_eq(edgecfg_wan_cut_off(fx.wan, (uint32_t)b2, false), 0);
		cr_assert_eq(edgecfg_build(fx.wan, (uint32_t)i, no_psk, NULL, &back), 0);
		cr_expect_eq(memcmp(back->digest, fx.cfg[i]->digest, EDGECFG_DIGEST_LEN), 0,
			     "%s: not restored", site);
		cr_assert_eq(edgecfg_wan_cut_off(fx.wan, (uint32_t)b2, true), 0);
		edgecfg_free(cut);
		edgecfg_free(back);
	}
	teardown_fx(&fx);
	free(y);
}

/* The controller builds only the configs of the edges the plan diff names (the rest in a later
 * pass that counts any miss): for every kind of edit, each site whose config digest changes
 * must be among them. */
static void check_diff_covers(const char *base, const char *from, const char *to)
{
	char *y = strdup(base);
	cr_assert_not_null(y);
	char *at = strstr(y, from);
	cr_assert_not_null(at, "no '%s' in the topology", from);
	size_t tail = strlen(at + strlen(from));
	char *m = malloc(strlen(y) + strlen(to) + 1);
	cr_assert_not_null(m);
	(void)snprintf(m, (size_t)(at - y) + 1, "%s", y);
	strcat(m, to);
	strcat(m, at + strlen(from));
	cr_assert_eq(strlen(m), (size_t)(at - y) + strlen(to) + tail);
	struct fixture a, b;
	build(&a, y, name_psk, NULL);
	build(&b, m, name_psk, NULL);
	struct plan_diff d;
	cr_assert_eq(plan_diff_compute(a.in.plan, b.in.plan, &d), 0);
	size_t changed = 0;
	for (size_t i = 0; i < b.n; i++) {
		const char *site = b.cfg[i]->cfg.site;
		const struct edgecfg *old = NULL;
		for (size_t k = 0; k < a.n; k++)
			if (strcmp(a.cfg[k]->cfg.site, site) == 0)
				old = a.cfg[k];
		if (old && memcmp(old->digest, b.cfg[i]->digest, EDGECFG_DIGEST_LEN) == 0)
			continue;
		changed++;
		bool named = false;
		for (size_t k = 0; k < d.n_edges; k++)
			named = named || (d.edges[k].change != PLAN_EDGE_REMOVED &&
					  strcmp(d.edges[k].site, site) == 0);
		cr_expect(named,
			  "'%s' -> '%s': %s's config changed, the plan diff does not name it", from,
			  to, site);
	}
	cr_expect_gt(changed, 0, "'%s' -> '%s' changed no config: not a test", from, to);
	plan_diff_free(&d);
	teardown_fx(&a);
	teardown_fx(&b);
	free(m);
	free(y);
}

Test(edgecfg, plan_diff_names_every_changed_config)
{
	char *y = slurp("hub-spoke.yaml");
	static const char *const edits[][2] = {
		{"address: 198.51.100.12", "address: 198.51.100.13"},
		{"subnets: [10.10.2.0/24]", "subnets: [10.10.2.0/24, 10.10.20.0/24]"},
		{"subnets: [10.0.1.0/24,", "subnets: [10.0.9.0/24,"},
		{"hold-down: 10s", "hold-down: 12s"},
		{"interval: 100ms", "interval: 200ms"},
		{"timeout: 300ms", "timeout: 400ms"},
		{"mode: on-idle", "mode: on-demand"},
		{"ike-lifetime: 24h", "ike-lifetime: 12h"},
		{"esp-lifetime: 1h", "esp-lifetime: 2h"},
		{"esp: aes256gcm16-x25519", "esp: aes128gcm16-x25519"},
		{"ike: aes256gcm16-prfsha384-x25519", "ike: aes128gcm16-prfsha256-x25519"},
		{"auth: certificate", "auth: psk"},
		{"mtu: 1500", "mtu: 1400"},
		{"hubs: [hub-west, hub-east]", "hubs: [hub-east, hub-west]"},
		{"  - name: branch3\n", "  - name: branch9\n"},
		{"  - name: branch3\n", "  - name: branch4\n    role: spoke\n    hubs: [hub-west]\n"
					"    underlay: [{name: inet, address: 192.0.2.14}]\n"
					"    subnets: [10.10.4.0/24]\n\n  - name: branch3\n"},
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
		check_diff_covers(y, edits[i][0], edits[i][1]);
	free(y);
}

/* The WAN table is appended to the config from its cached encoding: what an edge decodes must
 * be exactly the config, table included, for every site (spokes carry it, hubs do not). */
Test(edgecfg, encode_with_cached_table_decodes_as_the_whole_config)
{
	struct fixture fx;
	char *y = slurp("hub-spoke.yaml");
	build(&fx, y, no_psk, NULL);
	size_t spliced = 0;
	for (size_t i = 0; i < fx.n; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		cr_assert_eq(edgecfg_encode(fx.cfg[i], 9, 3, &buf, &len), 0);
		struct Sdwan__Envelope *env = NULL;
		cr_assert_eq(ctl_msg_decode(buf, len, CTL_MSG_MAX_SIZE, &env, NULL), 0);
		cr_assert_eq(env->body_case, SDWAN__ENVELOPE__BODY_CONFIG);
		cr_expect_eq(env->base.n_unknown_fields, 0);
		cr_expect_eq(env->config->n_wan_prefixes, fx.cfg[i]->cfg.n_wan_prefixes);
		spliced += fx.cfg[i]->cfg.n_wan_prefixes ? 1 : 0;
		/* Canonical re-encoding of what was decoded == packing the original whole. */
		Sdwan__Envelope whole;
		ctl_msg_envelope_init(&whole, 3);
		whole.body_case = SDWAN__ENVELOPE__BODY_CONFIG;
		whole.config = &fx.cfg[i]->cfg;
		fx.cfg[i]->cfg.generation = 9;
		uint8_t *want = NULL, *got = NULL;
		size_t want_len = 0, got_len = 0;
		cr_assert_eq(ctl_msg_encode_alloc(&whole, &want, &want_len), 0);
		fx.cfg[i]->cfg.generation = 0;
		cr_assert_eq(ctl_msg_encode_alloc(env, &got, &got_len), 0);
		cr_expect_eq(got_len, want_len, "%s", fx.cfg[i]->cfg.site);
		cr_expect(got_len == want_len && memcmp(got, want, got_len) == 0, "%s",
			  fx.cfg[i]->cfg.site);
		ctl_msg_buf_free(want, want_len);
		ctl_msg_buf_free(got, got_len);
		ctl_msg_free(env);
		ctl_msg_buf_free(buf, len);
	}
	cr_expect_gt(spliced, 0, "the spokes of a hub-and-spoke WAN carry the table");
	teardown_fx(&fx);
	free(y);
}

/* Hubs h0 and h1 (172.16.0-1.0/24); spokes s0..s99 at 10.0.0-99.0/24, dual-homed; spoke v6 with
 * an IPv4 and an IPv6 subnet. */
static char *large_yaml(void)
{
	size_t cap = 64 * 1024, len = 0;
	char *y = malloc(cap);
	cr_assert_not_null(y);
	len += (size_t)snprintf(y + len, cap - len,
				"wan: large\ncontroller: {endpoint: \"tcp://192.0.2.10:7800\"}\n"
				"type: hub-and-spoke\nsites:\n"
				"  - name: h0\n    role: hub\n"
				"    underlay: [{name: inet, address: 192.0.2.1}]\n"
				"    subnets: [172.16.0.0/24]\n"
				"  - name: h1\n    role: hub\n"
				"    underlay: [{name: inet, address: 192.0.2.2}]\n"
				"    subnets: [172.16.1.0/24]\n"
				"  - name: v6\n    role: spoke\n    hubs: [h0, h1]\n"
				"    underlay: [{name: inet, address: dynamic}]\n"
				"    subnets: [10.200.0.0/24, 2001:db8:1::/48]\n");
	for (unsigned i = 0; i < 100; i++)
		len += (size_t)snprintf(y + len, cap - len,
					"  - name: s%u\n    role: spoke\n    hubs: [h%u, h%u]\n"
					"    underlay: [{name: inet, address: dynamic}]\n"
					"    subnets: [10.0.%u.0/24]\n",
					i, i & 1, !(i & 1), i);
	cr_assert_lt(len, cap);
	return y;
}

/* Append the prefixes of c's WAN table (listed sites and summary) to set. */
static size_t table_prefixes(const Sdwan__EdgeConfig *c, struct prefix *set, size_t n)
{
	for (size_t k = 0; k < c->n_wan_prefixes; k++)
		for (size_t j = 0; j < c->wan_prefixes[k]->n_prefixes; j++)
			cr_assert_eq(ctl_msg_prefix_get(c->wan_prefixes[k]->prefixes[j], &set[n++]),
				     0);
	for (size_t j = 0; j < c->n_wan_summary; j++)
		cr_assert_eq(ctl_msg_prefix_get(c->wan_summary[j], &set[n++]), 0);
	return n;
}

/* A spoke of a large WAN lists its own site and its hubs; every other site is in a summary
 * holding exactly their addresses in a handful of prefixes. Hubs keep the whole table. */
Test(edgecfg, spokes_of_a_large_wan_carry_a_summary_of_the_other_sites)
{
	struct diag_list d = {0};
	struct intent in;
	struct edgecfg_wan *w = NULL;
	char *y = large_yaml();
	int rc = compile_text(y, &in, &d);
	if (rc)
		dump_diags(&d);
	cr_assert_eq(rc, 0);
	diag_list_free(&d);
	cr_assert_eq(edgecfg_wan_new(in.plan, NULL, 0, 0, &w), 0);
	const struct topo *t = in.topo;
	/* Every site's prefixes, aggregated: what each table must cover, exactly. */
	struct prefix all[128], got[160];
	size_t n_all = 0;
	for (size_t i = 0; i < t->n_sites; i++)
		for (size_t j = 0; j < t->sites[i].n_subnets; j++)
			all[n_all++] = t->sites[i].subnets[j].prefix;
	n_all = prefix_set_aggregate(all, n_all);
	for (uint32_t i = 0; i < t->n_sites; i++) {
		struct edgecfg *ec = NULL;
		/* An edge that did not announce summaries gets the whole table. */
		cr_assert_eq(edgecfg_build(w, i, no_psk, NULL, &ec), 0);
		cr_expect_eq(ec->cfg.n_wan_summary, 0, "%s", ec->cfg.site);
		cr_expect_eq(ec->cfg.n_wan_prefixes, t->n_sites, "%s", ec->cfg.site);
		edgecfg_free(ec);
		cr_assert_eq(edgecfg_wan_features(w, i, CTL_FEATURES_EDGE), 0);
		cr_assert_eq(edgecfg_build(w, i, no_psk, NULL, &ec), 0);
		const Sdwan__EdgeConfig *c = &ec->cfg;
		if (t->sites[i].role == TOPO_ROLE_HUB) {
			cr_expect_eq(c->n_wan_summary, 0, "%s", c->site);
			cr_expect_eq(c->n_wan_prefixes, t->n_sites, "a hub keeps the whole table");
			edgecfg_free(ec);
			continue;
		}
		cr_assert_eq(c->n_wan_prefixes, 3, "%s: itself and its two hubs", c->site);
		for (size_t k = 0; k < 3; k++) {
			const char *s = c->wan_prefixes[k]->site;
			cr_expect(strcmp(s, c->site) == 0 || strcmp(s, "h0") == 0 ||
					  strcmp(s, "h1") == 0,
				  "%s lists %s", c->site, s);
		}
		cr_expect_gt(c->n_wan_summary, 0);
		cr_expect_leq(c->n_wan_summary, 16, "%s: %zu summary prefixes for 101 sites",
			      c->site, c->n_wan_summary);
		size_t n = table_prefixes(c, got, 0);
		for (size_t a = 0; a < n; a++)
			for (size_t b = a + 1; b < n; b++)
				cr_expect(!prefix_overlaps(&got[a], &got[b]),
					  "%s: entries %zu and %zu overlap", c->site, a, b);
		n = prefix_set_aggregate(got, n);
		cr_expect_eq(n, n_all, "%s: not the WAN's addresses", c->site);
		for (size_t k = 0; k < n && k < n_all; k++)
			cr_expect_eq(prefix_cmp(&got[k], &all[k]), 0, "%s: entry %zu", c->site, k);
		/* It reaches the edge as built: encoded whole, not with the shared table. */
		uint8_t *buf = NULL;
		size_t len = 0;
		cr_assert_eq(edgecfg_encode(ec, 4, 1, &buf, &len), 0);
		cr_expect_lt(len, 2048, "%s: %zu bytes", c->site, len);
		struct Sdwan__Envelope *env = NULL;
		cr_assert_eq(ctl_msg_decode(buf, len, CTL_MSG_MAX_SIZE, &env, NULL), 0);
		cr_expect_eq(env->config->n_wan_summary, c->n_wan_summary);
		cr_expect_eq(env->config->n_wan_prefixes, 3);
		ctl_msg_free(env);
		ctl_msg_buf_free(buf, len);
		edgecfg_free(ec);
	}
	edgecfg_wan_free(w);
	intent_free(&in);
	free(y);
}

/* NOLINTEND(readability-function-size) */
