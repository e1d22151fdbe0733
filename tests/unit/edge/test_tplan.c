/*
 * The tunnel manager's pure half (edge/tplan.h): validation with the reasons a ConfigNack
 * carries, effective (transit) prefixes, per-tunnel diffing, and the derived tables: data-plane
 * routes with the hub group, anti-spoofing, kernel routes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "edge/dp/dp.h"
#include "edge/tplan.h"

/* A configuration built from static storage, one spoke "s" with hubs "h1" and "h2". */
struct fixture {
	Sdwan__EdgeConfig cfg;
	Sdwan__Tunnel tun[3], *tunp[3];
	Sdwan__Endpoint ep[3], *epp[3][1];
	Sdwan__Prefix pfx[64], *pfxp[64];
	size_t n_pfx;
	Sdwan__Prefix *subnets[2];
	Sdwan__SitePrefixes wan[48], *wanp[48];
	char names[48][8];
	uint8_t addr[64][4];
	uint8_t peer[3][4];
	uint8_t psk[32];
};

static Sdwan__Prefix **pfx(struct fixture *f, const char *a, unsigned len, size_t *n_out,
			   Sdwan__Prefix ***arr)
{
	struct prefix p;
	bool host;
	char s[32];

	snprintf(s, sizeof(s), "%s/%u", a, len);
	cr_assert_eq(prefix_parse(s, &p, &host), 0);
	size_t i = f->n_pfx++;
	sdwan__prefix__init(&f->pfx[i]);
	memcpy(f->addr[i], p.addr.bytes, 4);
	f->pfx[i].addr = (ProtobufCBinaryData){4, f->addr[i]};
	f->pfx[i].len = len;
	f->pfxp[i] = &f->pfx[i];
	if (arr && !*arr)
		*arr = &f->pfxp[i];
	if (n_out)
		(*n_out)++;
	return &f->pfxp[i];
}

static void tunnel(struct fixture *f, int i, const char *name, const char *peer, uint32_t prio,
		   const char *remote)
{
	Sdwan__Tunnel *t = &f->tun[i];

	sdwan__tunnel__init(t);
	t->name = (char *)name;
	t->peer_site = (char *)peer;
	t->initiator = true;
	t->hub_priority = prio;
	t->kind = SDWAN__TUNNEL_KIND__TUNNEL_KIND_SPOKE_HUB;
	t->ike_proposal = "aes256gcm16-prfsha384-x25519";
	t->esp_proposal = "aes256gcm16";
	t->auth = SDWAN__AUTH_METHOD__AUTH_METHOD_PSK;
	t->psk = (ProtobufCBinaryData){sizeof(f->psk), f->psk};
	t->dpd_interval_ms = 100;
	t->dpd_timeout_ms = 300;
	t->remote_transit = true;
	sdwan__endpoint__init(&f->ep[i]);
	f->peer[i][0] = 192;
	f->peer[i][1] = 0;
	f->peer[i][2] = 2;
	f->peer[i][3] = (uint8_t)(1 + i);
	f->ep[i].addr = (ProtobufCBinaryData){4, f->peer[i]};
	f->epp[i][0] = &f->ep[i];
	t->peer_addresses = f->epp[i];
	t->n_peer_addresses = 1;
	t->local_prefixes = pfx(f, "10.1.0.0", 24, &t->n_local_prefixes, NULL);
	t->remote_prefixes = pfx(f, remote, 24, &t->n_remote_prefixes, NULL);
	f->tunp[i] = t;
}

static void wan(struct fixture *f, int i, const char *site, const char *a)
{
	sdwan__site_prefixes__init(&f->wan[i]);
	f->wan[i].site = (char *)site;
	f->wan[i].prefixes = pfx(f, a, 24, &f->wan[i].n_prefixes, NULL);
	f->wanp[i] = &f->wan[i];
}

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	memset(f->psk, 0x5a, sizeof(f->psk));
	sdwan__edge_config__init(&f->cfg);
	f->cfg.site = "s";
	f->cfg.generation = 7;
	f->cfg.role = SDWAN__SITE_ROLE__SITE_ROLE_SPOKE;
	f->subnets[0] = *pfx(f, "10.1.0.0", 24, NULL, NULL);
	f->cfg.local_subnets = f->subnets;
	f->cfg.n_local_subnets = 1;
	tunnel(f, 0, "h1:s", "h1", 1, "10.91.0.0");
	tunnel(f, 1, "h2:s", "h2", 2, "10.92.0.0");
	f->cfg.tunnels = f->tunp;
	f->cfg.n_tunnels = 2;
	wan(f, 0, "s", "10.1.0.0");
	wan(f, 1, "h1", "10.91.0.0");
	wan(f, 2, "h2", "10.92.0.0");
	wan(f, 3, "dc", "10.9.0.0");
	f->cfg.wan_prefixes = f->wanp;
	f->cfg.n_wan_prefixes = 4;
}

static struct prefix P(const char *s) {
	struct prefix p;
	bool host;
	cr_assert_eq(prefix_parse(s, &p, &host), 0);
	return p;
}

static bool
prefix_is(const struct prefix *a, const char *s)
{
	struct prefix b = P(s);
	return prefix_cmp(a, &b) == 0;
}

static struct ip_addr A(const char *s) {
	struct ip_addr a;
	cr_assert_eq(ip_addr_parse(s, &a), 0);
	return a;
}

Test(tplan, valid_config_with_defaults_and_transit)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;

	fixture_init(&f);
	f.tun[1].dpd_interval_ms = 0;
	f.tun[1].dpd_timeout_ms = 0;
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0, "%s", err.reason);
	cr_assert_eq(p->n_tunnels, 2);
	const struct tplan_tunnel *t = tplan_find(p, "h1:s");
	cr_assert_not_null(t);
	cr_assert_eq(t->mtu, TPLAN_MTU_DEFAULT);
	cr_assert_eq(t->peer_ike_port, 500);
	cr_assert_eq(t->peer_esp_port, 4500);
	cr_assert_str_eq(t->local_id, "s");
	/* remote: its own subnet, and as transit every WAN prefix but ours */
	cr_assert_eq(t->n_remote, 1);
	cr_assert(t->remote_transit);
	struct prefix *eff = NULL;
	size_t n_eff = 0;
	cr_assert_eq(tplan_effective(p, t, true, &eff, &n_eff), 0);
	struct prefix want[] = {P("10.9.0.0/24"), P("10.91.0.0/24"), P("10.92.0.0/24")};
	cr_assert_eq(n_eff, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(prefix_cmp(&eff[i], &want[i]), 0, "effective remote[%zu]", i);
	free(eff);
	/* A small WAN: IKE negotiates exactly these. */
	struct prefix ts[TPLAN_PREFIX_MAX];
	size_t n_ts = 0;
	cr_assert_not(t->wide_ts);
	cr_assert_eq(tplan_traffic_selectors(p, t, true, ts, &n_ts), 0);
	cr_assert_eq(n_ts, 3);
	cr_assert_eq(tplan_traffic_selectors(p, t, false, ts, &n_ts), 0);
	cr_assert_eq(n_ts, 1, "we send only our own subnet");
	cr_assert(prefix_is(&ts[0], "10.1.0.0/24"));
	const struct tplan_tunnel *t2 = tplan_find(p, "h2:s");
	cr_assert_eq(t2->dpd_interval_ms, TPLAN_DPD_INTERVAL_DEFAULT_MS);
	cr_assert_eq(t2->dpd_timeout_ms, 3 * TPLAN_DPD_INTERVAL_DEFAULT_MS);
	tplan_free(p);
}

struct bad_case {
	const char *what;
	void (*mutate)(struct fixture *f);
	uint32_t code;
	const char *tunnel;
	const char *reason_has;
};

static void bad_ike(struct fixture *f)
{
	f->tun[1].ike_proposal = "3des-md5-modp1024";
}
static void no_psk(struct fixture *f)
{
	f->tun[0].psk.len = 0;
}
static void initiator_no_addr(struct fixture *f)
{
	f->tun[0].n_peer_addresses = 0;
}
static void dpd_timeout_short(struct fixture *f)
{
	f->tun[0].dpd_timeout_ms = 100;
}
static void dup_name(struct fixture *f)
{
	f->tun[1].name = "h1:s";
}
static void host_bits(struct fixture *f)
{
	f->tun[0].remote_prefixes[0]->addr.data[3] = 7;
}
static void cert_auth(struct fixture *f)
{
	f->tun[0].auth = SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE;
}
static void own_subnet_remote(struct fixture *f)
{
	f->tun[1].remote_prefixes[0]->addr.data[1] = 1;
	f->tun[1].remote_prefixes[0]->addr.data[2] = 0;
}
static void small_mtu(struct fixture *f)
{
	f->tun[0].mtu = 300;
}
static void no_site(struct fixture *f)
{
	f->cfg.site = "";
}

static const struct bad_case bad[] = {
	{"weak proposal", bad_ike, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h2:s",
	 "ike_proposal"},
	{"no psk", no_psk, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h1:s", "psk"},
	{"initiator without address", initiator_no_addr, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID,
	 "h1:s", "peer_addresses"},
	{"dpd", dpd_timeout_short, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h1:s",
	 "dpd_timeout_ms"},
	{"duplicate", dup_name, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h1:s", "unique"},
	{"host bits", host_bits, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h1:s",
	 "remote_prefixes[0]"},
	{"certificate", cert_auth, SDWAN__CONFIG_ERROR__CONFIG_ERROR_UNSUPPORTED, "h1:s",
	 "certificate"},
	{"own subnet", own_subnet_remote, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h2:s",
	 "local_subnets"},
	{"mtu", small_mtu, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "h1:s", "mtu"},
	{"site", no_site, SDWAN__CONFIG_ERROR__CONFIG_ERROR_INVALID, "", "site"},
};

Test(tplan, every_refusal_names_tunnel_field_and_code)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fixture f;
		struct tplan *p = (struct tplan *)1;
		struct tplan_error err;
		fixture_init(&f);
		bad[i].mutate(&f);
		cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), -EINVAL, "%s", bad[i].what);
		cr_assert_null(p);
		cr_assert_eq(err.code, bad[i].code, "%s: code %u", bad[i].what, err.code);
		cr_assert_str_eq(err.tunnel, bad[i].tunnel, "%s", bad[i].what);
		cr_assert_not_null(strstr(err.reason, bad[i].reason_has), "%s: %s", bad[i].what,
				   err.reason);
	}
}

Test(tplan, diff_touches_only_what_changed)
{
	struct fixture f;
	struct tplan *a, *b;
	struct tplan_error err;

	fixture_init(&f);
	cr_assert_eq(tplan_build(&f.cfg, false, &a, &err), 0);
	f.cfg.generation = 8;
	f.cfg.failback_hold_down_ms = 1234; /* edge-wide: no tunnel changes */
	cr_assert_eq(tplan_build(&f.cfg, false, &b, &err), 0);
	for (size_t i = 0; i < 2; i++)
		cr_assert(tplan_tunnel_equal(&a->tunnels[i], &b->tunnels[i]));
	tplan_free(b);
	/* A new PSK on one tunnel changes that tunnel only. */
	uint8_t other[32];
	memset(other, 0x11, sizeof(other));
	f.tun[1].psk.data = other;
	cr_assert_eq(tplan_build(&f.cfg, false, &b, &err), 0);
	cr_assert(tplan_tunnel_equal(tplan_find(a, "h1:s"), tplan_find(b, "h1:s")));
	cr_assert_not(tplan_tunnel_equal(tplan_find(a, "h2:s"), tplan_find(b, "h2:s")));
	tplan_free(b);
	/* A new WAN prefix reaches transit tunnels only. */
	f.tun[1].psk.data = f.psk;
	f.tun[1].remote_transit = false;
	tplan_free(a);
	cr_assert_eq(tplan_build(&f.cfg, false, &a, &err), 0);
	f.wan[3].prefixes[0]->addr.data[1] = 8; /* dc moves to 10.8.0.0/24 */
	cr_assert_eq(tplan_build(&f.cfg, false, &b, &err), 0);
	cr_assert_not(tplan_tunnel_equal(tplan_find(a, "h1:s"), tplan_find(b, "h1:s")));
	cr_assert(tplan_tunnel_equal(tplan_find(a, "h2:s"), tplan_find(b, "h2:s")));
	tplan_free(a);
	tplan_free(b);
}

Test(tplan, routes_direct_group_and_own_subnets)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;
	struct lpm *r;
	uint32_t ids[2] = {5, 9}, v = 0;

	fixture_init(&f);
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0);
	cr_assert_eq(tplan_routes(p, ids, &r), 0);
	struct ip_addr h1 = A("10.91.0.7"), h2 = A("10.92.0.7"), dc = A("10.9.0.2"),
		       own = A("10.1.0.9");
	cr_assert(lpm_lookup(r, &h1, &v));
	cr_assert_eq(v, 5, "a hub's own subnet goes straight to it");
	cr_assert(lpm_lookup(r, &h2, &v));
	cr_assert_eq(v, 9);
	cr_assert(lpm_lookup(r, &dc, &v));
	cr_assert_eq(v, DP_ROUTE_GROUP(TPLAN_HUB_GROUP), "transit goes to the active hub");
	cr_assert_not(lpm_lookup(r, &own, &v), "our own subnet never routes into the TUN");
	lpm_free(r);

	struct tplan_kroute *kr = NULL;
	size_t n = 0;
	f.tun[1].mtu = 1300;
	tplan_free(p);
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0);
	cr_assert_eq(tplan_kernel_routes(p, &kr, &n), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		char b[PREFIX_STRLEN];
		prefix_format(&kr[i].dst, b);
		unsigned want = strcmp(b, "10.91.0.0/24") == 0 ? 1400 : 1300;
		cr_assert_eq(kr[i].mtu, want, "%s mtu %u", b, kr[i].mtu);
	}
	free(kr);
	cr_assert_eq(tplan_link_mtu(p), 1400);
	tplan_free(p);
}

Test(tplan, transit_without_hub_group_prefers_priority_then_order)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;
	struct lpm *r;
	uint32_t ids[2] = {3, 4}, v = 0;

	fixture_init(&f);
	f.tun[0].hub_priority = 0; /* hub-to-hub style transit tunnels */
	f.tun[1].hub_priority = 0;
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0);
	cr_assert_eq(tplan_routes(p, ids, &r), 0);
	struct ip_addr dc = A("10.9.0.2"), h2 = A("10.92.0.1");
	cr_assert(lpm_lookup(r, &dc, &v));
	cr_assert_eq(v, 3, "ties go to the first configured");
	cr_assert(lpm_lookup(r, &h2, &v));
	cr_assert_eq(v, 4, "a direct prefix beats transit");
	lpm_free(r);
	tplan_free(p);
}

Test(tplan, anti_spoofing_allows_remote_and_denies_own)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;
	struct lpm *a;

	fixture_init(&f);
	/* h1 may send all of 10.0.0.0/8 ... */
	f.tun[0].remote_prefixes[0]->addr.data[1] = 0;
	f.tun[0].remote_prefixes[0]->len = 8;
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0, "%s", err.reason);
	cr_assert_eq(tplan_allowed(p, tplan_find(p, "h1:s"), &a), 0);
	struct ip_addr in = A("10.200.0.1"), own = A("10.1.0.5"), out = A("172.16.0.1");
	cr_assert(lpm_match(a, &in, DP_SRC_ALLOW));
	cr_assert(lpm_match(a, &own, DP_SRC_DENY), "... but never our own subnet");
	cr_assert_not(lpm_contains(a, &out));
	lpm_free(a);
	tplan_free(p);
}

Test(tplan, certificate_auth_when_the_edge_has_an_identity)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;

	fixture_init(&f);
	f.tun[0].auth = SDWAN__AUTH_METHOD__AUTH_METHOD_CERTIFICATE;
	f.tun[0].psk = (ProtobufCBinaryData){0, NULL};
	cr_assert_eq(tplan_build(&f.cfg, true, &p, &err), 0, "%s", err.reason);
	const struct tplan_tunnel *t = tplan_find(p, "h1:s");
	cr_assert(t->cert_auth);
	cr_assert_eq(t->psk_len, 0, "a certificate tunnel carries no PSK");
	cr_assert_not(tplan_find(p, "h2:s")->cert_auth);
	tplan_free(p);
}

Test(tplan, routes_avoid_dead_tunnels)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;
	struct lpm *r;
	uint32_t ids[2] = {5, 9}, v = 0;
	struct ip_addr h1 = A("10.91.0.7"), dc = A("10.9.0.2");

	fixture_init(&f);
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0);
	/* h1 is down: its own subnet goes to the hub group (h2 carries it as transit). */
	bool live[2] = {false, true};
	cr_assert_eq(tplan_routes_live(p, ids, live, &r), 0);
	cr_assert(lpm_lookup(r, &h1, &v));
	cr_expect_eq(v, DP_ROUTE_GROUP(TPLAN_HUB_GROUP));
	cr_assert(lpm_lookup(r, &dc, &v));
	cr_expect_eq(v, DP_ROUTE_GROUP(TPLAN_HUB_GROUP), "the group follows liveness itself");
	lpm_free(r);
	tplan_free(p);

	/* Nobody else carries it: it stays on the dead tunnel. */
	f.tun[1].remote_transit = false;
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0);
	cr_assert_eq(tplan_routes_live(p, ids, live, &r), 0);
	cr_assert(lpm_lookup(r, &h1, &v));
	cr_expect_eq(v, 5);
	lpm_free(r);
	/* Every tunnel up: as tplan_routes. */
	live[0] = true;
	cr_assert_eq(tplan_routes_live(p, ids, live, &r), 0);
	cr_assert(lpm_lookup(r, &h1, &v));
	cr_expect_eq(v, 5);
	lpm_free(r);
	tplan_free(p);
}

/* A WAN of n extra sites x00.. (10.100+i.0.0/24 each) besides the fixture's four. */
static void big_wan(struct fixture *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char a[16];
		snprintf(f->names[i], sizeof(f->names[i]), "x%02zu", i);
		snprintf(a, sizeof(a), "10.%zu.0.0", 100 + i);
		wan(f, (int)(4 + i), f->names[i], a);
	}
	f->cfg.n_wan_prefixes = 4 + n;
}

Test(tplan, big_wan_negotiates_whole_families_but_routes_and_filters_exactly)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;
	struct lpm *r, *a;
	uint32_t ids[2] = {5, 9}, v = 0;

	fixture_init(&f);
	big_wan(&f, 30); /* 34 prefixes: more selectors than IKE may carry */
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0, "%s", err.reason);
	const struct tplan_tunnel *t = tplan_find(p, "h1:s");
	cr_assert(t->wide_ts);
	struct prefix ts[TPLAN_PREFIX_MAX];
	size_t n_ts = 0;
	cr_assert_eq(tplan_traffic_selectors(p, t, true, ts, &n_ts), 0);
	cr_assert_eq(n_ts, 1);
	cr_assert(prefix_is(&ts[0], "0.0.0.0/0"), "route-based: any");
	cr_assert_eq(tplan_traffic_selectors(p, t, false, ts, &n_ts), 0);
	cr_assert_eq(n_ts, 1);
	/* ... while the routes and the anti-spoofing table keep every exact prefix. */
	cr_assert_eq(tplan_routes(p, ids, &r), 0);
	struct ip_addr far = A("10.129.0.1"), none = A("10.200.0.1"), own = A("10.1.0.1");
	cr_assert(lpm_lookup(r, &far, &v));
	cr_assert_eq(v, DP_ROUTE_GROUP(TPLAN_HUB_GROUP));
	cr_assert_not(lpm_lookup(r, &none, &v), "a prefix of no site has no route");
	lpm_free(r);
	cr_assert_eq(tplan_allowed(p, t, &a), 0);
	cr_assert(lpm_match(a, &far, DP_SRC_ALLOW));
	cr_assert_not(lpm_contains(a, &none), "a source of no site is refused");
	cr_assert(lpm_match(a, &own, DP_SRC_DENY));
	lpm_free(a);
	struct tplan_kroute *kr = NULL;
	size_t n = 0;
	cr_assert_eq(tplan_kernel_routes(p, &kr, &n), 0);
	cr_assert_eq(n, 33, "every remote prefix, ours left out");
	free(kr);
	/* A tunnel without transit keeps exact selectors whatever the WAN's size. */
	tplan_free(p);
	f.tun[1].remote_transit = false;
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0, "%s", err.reason);
	cr_assert_not(tplan_find(p, "h2:s")->wide_ts);
	cr_assert_eq(tplan_traffic_selectors(p, tplan_find(p, "h2:s"), true, ts, &n_ts), 0);
	cr_assert_eq(n_ts, 1);
	cr_assert(prefix_is(&ts[0], "10.92.0.0/24"));
	tplan_free(p);
}

Test(tplan, both_ends_of_a_transit_tunnel_choose_the_same_selectors)
{
	/* The spoke's tunnel to h1 (remote_transit) and h1's tunnel to the spoke (local_transit)
	 * must agree on wide or exact selectors: each sees the same table. */
	for (size_t extra = 0; extra < 20; extra++) {
		struct fixture f;
		struct tplan *spoke, *hub;
		struct tplan_error err;
		fixture_init(&f);
		big_wan(&f, extra);
		cr_assert_eq(tplan_build(&f.cfg, false, &spoke, &err), 0, "%s", err.reason);
		f.cfg.site = "h1";
		f.cfg.role = SDWAN__SITE_ROLE__SITE_ROLE_HUB;
		f.subnets[0] = f.wan[1].prefixes[0];
		f.tun[0].peer_site = "s";
		f.tun[0].kind = SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_SPOKE;
		f.tun[0].hub_priority = 0;
		Sdwan__Prefix **l = f.tun[0].local_prefixes;
		f.tun[0].local_prefixes = f.tun[0].remote_prefixes;
		f.tun[0].remote_prefixes = l;
		f.tun[0].local_transit = true;
		f.tun[0].remote_transit = false;
		f.cfg.n_tunnels = 1;
		cr_assert_eq(tplan_build(&f.cfg, false, &hub, &err), 0, "%s", err.reason);
		const struct tplan_tunnel *a = tplan_find(spoke, "h1:s"),
					  *b = tplan_find(hub, "h1:s");
		cr_assert_eq(a->wide_ts, b->wide_ts, "%zu extra sites", extra);
		struct prefix ta[TPLAN_PREFIX_MAX], tb[TPLAN_PREFIX_MAX];
		size_t na = 0, nb = 0;
		cr_assert_eq(tplan_traffic_selectors(spoke, a, true, ta, &na), 0);
		cr_assert_eq(tplan_traffic_selectors(hub, b, false, tb, &nb), 0);
		cr_assert_eq(na, nb, "%zu extra sites", extra);
		for (size_t i = 0; i < na; i++)
			cr_assert_eq(prefix_cmp(&ta[i], &tb[i]), 0);
		tplan_free(spoke);
		tplan_free(hub);
	}
}

/* Hub hA: spoke b1 attached (b1:hA), hubs hB and hC over the backbone; spoke b2 lives behind
 * other hubs only. */
static void hub_fixture(struct fixture *f)
{
	fixture_init(f);
	f->cfg.site = "hA";
	f->cfg.role = SDWAN__SITE_ROLE__SITE_ROLE_HUB;
	tunnel(f, 0, "b1:hA", "b1", 0, "10.91.0.0");
	tunnel(f, 1, "hA:hB", "hB", 0, "10.92.0.0");
	tunnel(f, 2, "hA:hC", "hC", 0, "10.93.0.0");
	f->tun[0].kind = SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_SPOKE;
	f->tun[0].remote_transit = false;
	f->tun[0].local_transit = true;
	for (int i = 1; i < 3; i++) {
		f->tun[i].kind = SDWAN__TUNNEL_KIND__TUNNEL_KIND_HUB_HUB;
		f->tun[i].local_transit = true;
	}
	f->cfg.n_tunnels = 3;
	wan(f, 0, "hA", "10.1.0.0");
	wan(f, 1, "b1", "10.91.0.0");
	wan(f, 2, "hB", "10.92.0.0");
	wan(f, 3, "hC", "10.93.0.0");
	wan(f, 4, "b2", "10.9.0.0");
	f->cfg.n_wan_prefixes = 5;
}

struct reach_case {
	const char *what;
	bool live[3];        /* b1:hA, hA:hB, hA:hC */
	const char *b1, *b2; /* the controller's word: NULL none, "" unreachable, else via */
	uint32_t want_b1, want_b2;
};

#define UNREACH DP_ROUTE_UNREACHABLE
static const struct reach_case reach_cases[] = {
	{"no word, all up: direct, and b2 over the first backbone tunnel",
	 {true, true, true},
	 NULL,
	 NULL,
	 10,
	 20},
	{"b1 lost, no word yet: the local fast path moves it to the backbone",
	 {false, true, true},
	 NULL,
	 NULL,
	 20,
	 20},
	{"b1 lost, the controller names hC: its word beats the local choice",
	 {false, true, true},
	 "hC",
	 NULL,
	 30,
	 20},
	{"b1 lost by every hub: unreachable, never bounced to another hub",
	 {false, true, true},
	 "",
	 NULL,
	 UNREACH,
	 20},
	{"b1's tunnel is up again before the controller knows: first-hand wins",
	 {true, true, true},
	 "",
	 NULL,
	 10,
	 20},
	{"the controller names hC but our tunnel to hC is down: local choice",
	 {false, true, false},
	 "hC",
	 NULL,
	 20,
	 20},
	{"b2, not attached here, lives behind hC", {true, true, true}, NULL, "hC", 10, 30},
	{"b2 unreachable", {true, true, true}, NULL, "", 10, UNREACH},
};

Test(tplan, controller_reachability_refines_hub_routes)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;
	uint32_t ids[3] = {10, 20, 30};
	struct ip_addr b1 = A("10.91.0.9"), b2 = A("10.9.0.9"), own = A("10.1.0.9");

	hub_fixture(&f);
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), 0, "%s", err.reason);
	long i_b1 = tplan_site_index(p, "b1"), i_b2 = tplan_site_index(p, "b2");
	cr_assert(i_b1 >= 0 && i_b2 >= 0);
	cr_assert_eq(tplan_site_index(p, "nowhere"), -1);
	for (size_t c = 0; c < sizeof(reach_cases) / sizeof(reach_cases[0]); c++) {
		const struct reach_case *rc = &reach_cases[c];
		struct tplan_reach reach[5];
		memset(reach, 0, sizeof(reach));
		const char *word[2] = {rc->b1, rc->b2};
		long idx[2] = {i_b1, i_b2};
		for (int k = 0; k < 2; k++) {
			if (!word[k])
				continue;
			reach[idx[k]].kind = word[k][0] ? TPLAN_REACH_VIA : TPLAN_REACH_UNREACHABLE;
			reach[idx[k]].via = word[k];
		}
		/* Our own site said unreachable must not route our subnet into the TUN. */
		reach[p->own_site].kind = TPLAN_REACH_UNREACHABLE;
		struct lpm *r;
		uint32_t v = 0;
		cr_assert_eq(tplan_routes_reach(p, ids, rc->live, reach, &r), 0);
		cr_assert(lpm_lookup(r, &b1, &v), "%s", rc->what);
		cr_expect_eq(v, rc->want_b1, "%s: b1 -> %u", rc->what, v);
		cr_assert(lpm_lookup(r, &b2, &v), "%s", rc->what);
		cr_expect_eq(v, rc->want_b2, "%s: b2 -> %u", rc->what, v);
		cr_expect_not(lpm_lookup(r, &own, &v), "%s: own subnet", rc->what);
		lpm_free(r);
	}
	tplan_free(p);
}

Test(tplan, wan_table_refusals)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;

	fixture_init(&f);
	f.wan[3].site = "h1"; /* listed twice */
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), -EINVAL);
	cr_assert_not_null(strstr(err.reason, "listed twice"), "%s", err.reason);
	fixture_init(&f);
	f.wan[3].prefixes[0]->addr.data[3] = 1; /* host bits */
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), -EINVAL);
	cr_assert_not_null(strstr(err.reason, "wan_prefixes[3]"), "%s", err.reason);
	fixture_init(&f);
	f.wan[3].prefixes[0]->addr.data[1] = 1; /* dc claims our subnet */
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), -EINVAL);
	cr_assert_str_eq(err.tunnel, "h1:s");
	cr_assert_not_null(strstr(err.reason, "site dc"), "%s", err.reason);
}

/* The fixture's spoke in a WAN of dc and 32 sites at 10.128.0-31.0/24, with the whole table or
 * (summarised) only s, h1 and h2 listed and the rest as the controller summarises it. */
static void summary_wan(struct fixture *f, bool summarised)
{
	fixture_init(f);
	for (size_t i = 0; i < 32; i++) {
		char a[16];
		snprintf(f->names[i], sizeof(f->names[i]), "x%02zu", i);
		snprintf(a, sizeof(a), "10.128.%zu.0", i);
		wan(f, (int)(4 + i), f->names[i], a);
	}
	f->cfg.n_wan_prefixes = 36;
	if (summarised) {
		f->cfg.n_wan_prefixes = 3; /* s, h1, h2 */
		pfx(f, "10.9.0.0", 24, &f->cfg.n_wan_summary, &f->cfg.wan_summary);
		pfx(f, "10.128.0.0", 19, &f->cfg.n_wan_summary, &f->cfg.wan_summary);
	}
}

/* Where addr goes (or whether it is allowed): the value, or UINT32_MAX for no entry. */
static uint32_t lookup(const struct lpm *l, const char *addr)
{
	struct ip_addr a = A(addr);
	uint32_t v = 0;
	return lpm_lookup(l, &a, &v) ? v : UINT32_MAX;
}

Test(tplan, summarised_table_routes_and_filters_as_the_whole_table)
{
	static const char *const probes[] = {
		"10.91.0.7",   "10.92.0.7",     "10.9.0.2",    "10.1.0.9",       "10.128.0.1",
		"10.128.17.5", "10.128.31.255", "10.128.32.1", "10.127.255.255", "10.200.0.1"};
	struct fixture whole, summary;
	struct tplan *pw, *ps;
	struct tplan_error err;
	uint32_t ids[2] = {5, 9};

	summary_wan(&whole, false);
	summary_wan(&summary, true);
	cr_assert_eq(tplan_build(&whole.cfg, false, &pw, &err), 0, "%s", err.reason);
	cr_assert_eq(tplan_build(&summary.cfg, false, &ps, &err), 0, "%s", err.reason);
	cr_assert(ps->wan_summarised);
	cr_assert_eq(ps->n_wan, 5, "3 listed sites and 2 summary prefixes, not 36");
	for (size_t i = 0; i < 2; i++) {
		/* The whole table is too large for exact selectors: both ends route-based. */
		cr_expect(pw->tunnels[i].wide_ts);
		cr_expect(ps->tunnels[i].wide_ts, "a summary makes the transit tunnel route-based");
	}
	bool lives[][2] = {{true, true}, {false, true}, {true, false}};
	for (size_t l = 0; l < 3; l++) {
		struct lpm *rw, *rs;
		cr_assert_eq(tplan_routes_live(pw, ids, lives[l], &rw), 0);
		cr_assert_eq(tplan_routes_live(ps, ids, lives[l], &rs), 0);
		for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++)
			cr_expect_eq(lookup(rs, probes[k]), lookup(rw, probes[k]),
				     "route to %s with tunnels up %d/%d", probes[k], lives[l][0],
				     lives[l][1]);
		lpm_free(rw);
		lpm_free(rs);
	}
	for (size_t i = 0; i < 2; i++) {
		struct lpm *aw, *as;
		cr_assert_eq(tplan_allowed(pw, &pw->tunnels[i], &aw), 0);
		cr_assert_eq(tplan_allowed(ps, &ps->tunnels[i], &as), 0);
		for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++)
			cr_expect_eq(lookup(as, probes[k]), lookup(aw, probes[k]),
				     "source %s on tunnel %zu", probes[k], i);
		lpm_free(aw);
		lpm_free(as);
	}
	tplan_free(pw);
	tplan_free(ps);
}

Test(tplan, summary_refusals)
{
	struct fixture f;
	struct tplan *p;
	struct tplan_error err;

	summary_wan(&f, true);
	f.cfg.wan_summary[1]->addr.data[3] = 1; /* host bits */
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), -EINVAL);
	cr_assert_not_null(strstr(err.reason, "wan_summary[1]"), "%s", err.reason);
	summary_wan(&f, true);
	f.cfg.wan_summary[0]->len = 8; /* 10.0.0.0/8 holds our own 10.1.0.0/24 */
	f.cfg.wan_summary[0]->addr.data[1] = 0;
	cr_assert_eq(tplan_build(&f.cfg, false, &p, &err), -EINVAL);
	cr_assert_not_null(strstr(err.reason, "overlaps local subnet 10.1.0.0/24"), "%s",
			   err.reason);
}
