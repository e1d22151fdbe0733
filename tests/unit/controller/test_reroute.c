/*
 * Reachability for hubs (controller/reroute.h): which hub reaches a site a hub lost, when none
 * does, when the controller must not guess, and that only hubs whose list changed hear of it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller/reroute.h"
#include "intent_helpers.h"

/* Three hubs; s1 and s2 dual-homed on ha/hb, s3 homed on hc only; p1 a hybrid peer. */
static const char *const wan3 =
	"wan: t\n"
	"controller: {endpoint: tcp://192.0.2.100:7800}\n"
	"type: hybrid\n"
	"defaults: {auth: psk}\n"
	"sites:\n"
	"  - {name: ha, role: hub, underlay: [{name: i, address: 192.0.2.1}],"
	" subnets: [10.0.1.0/24]}\n"
	"  - {name: hb, role: hub, underlay: [{name: i, address: 192.0.2.2}],"
	" subnets: [10.0.2.0/24]}\n"
	"  - {name: hc, role: hub, underlay: [{name: i, address: 192.0.2.3}],"
	" subnets: [10.0.3.0/24]}\n"
	"  - {name: s1, role: spoke, hubs: [ha, hb], underlay: [{name: i,"
	" address: 192.0.2.11}], subnets: [10.1.1.0/24]}\n"
	"  - {name: s2, role: spoke, hubs: [hb, ha], underlay: [{name: i,"
	" address: 192.0.2.12}], subnets: [10.1.2.0/24]}\n"
	"  - {name: s3, role: spoke, hubs: [hc], underlay: [{name: i,"
	" address: 192.0.2.13}], subnets: [10.1.3.0/24]}\n"
	"  - {name: p1, role: peer, underlay: [{name: i, address: 192.0.2.21}],"
	" subnets: [10.2.1.0/24]}\n";

struct world {
	struct intent in;
	struct reroute *r;
	bool connected[16];
	char sent[16][512]; /* the last list each hub got, as text */
	unsigned n_sent[16];
	uint64_t epoch_sent[16], seq_sent[16];
};

static long site_no(const struct world *w, const char *name)
{
	long i = topo_find_site(w->in.topo, name);
	cr_assert(i >= 0, "no site %s", name);
	return i;
}

static void list_text(const Sdwan__Reachability *m, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < m->n_routes; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s %s%s", i ? ", " : "",
					m->routes[i]->site, m->routes[i]->via_hub[0] ? "via " : "-",
					m->routes[i]->via_hub);
}

static bool fake_send(void *arg, uint32_t site, const Sdwan__Reachability *msg)
{
	struct world *w = arg;
	if (!w->connected[site])
		return false;
	list_text(msg, w->sent[site], sizeof(w->sent[site]));
	w->n_sent[site]++;
	w->epoch_sent[site] = msg->epoch;
	w->seq_sent[site] = msg->seq;
	return true;
}

static void world_init(struct world *w, const char *yaml)
{
	struct diag_list d = {0};
	memset(w, 0, sizeof(*w));
	if (compile_text(yaml, &w->in, &d) != 0)
		dump_diags(&d);
	cr_assert_not_null(w->in.plan);
	diag_list_free(&d);
	cr_assert_eq(reroute_new(w->in.plan, 0x1111, NULL, &w->r), 0);
	for (int i = 0; i < 16; i++)
		w->connected[i] = true;
}

static void world_free(struct world *w)
{
	reroute_free(w->r);
	intent_free(&w->in);
}

/* A health report from `site`: tunnels "name=up|down" separated by spaces, its active hub, and
 * the list it runs. */
static void report(struct world *w, const char *site, const char *tunnels, const char *active,
		   uint64_t epoch, uint64_t seq)
{
	Sdwan__HealthReport h = SDWAN__HEALTH_REPORT__INIT;
	Sdwan__TunnelHealth th[16], *thp[16];
	char names[16][64];
	char buf[512];
	size_t n = 0;
	snprintf(buf, sizeof(buf), "%s", tunnels);
	for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		cr_assert_not_null(eq);
		*eq = '\0';
		sdwan__tunnel_health__init(&th[n]);
		snprintf(names[n], sizeof(names[n]), "%s", tok);
		th[n].name = names[n];
		th[n].ike_state = strcmp(eq + 1, "up") == 0
					  ? SDWAN__IKE_STATE__IKE_STATE_ESTABLISHED
					  : SDWAN__IKE_STATE__IKE_STATE_CONNECTING;
		thp[n] = &th[n];
		n++;
	}
	h.tunnels = thp;
	h.n_tunnels = n;
	h.active_hub = (char *)(active ? active : "");
	h.reachability_epoch = epoch;
	h.reachability_seq = seq;
	reroute_health(w->r, (uint32_t)site_no(w, site), &h);
}

static void event(struct world *w, const char *site, const char *tunnel, bool up)
{
	Sdwan__Event ev = SDWAN__EVENT__INIT;
	ev.type = up ? SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_UP
		     : SDWAN__EVENT_TYPE__EVENT_TYPE_TUNNEL_DOWN;
	ev.tunnel = (char *)tunnel;
	reroute_event(w->r, (uint32_t)site_no(w, site), &ev);
}

/* Hub's current list as text ("" when empty). */
static const char *list_of(struct world *w, const char *hub, char *buf, size_t cap)
{
	Sdwan__Reachability m;
	cr_assert_eq(reroute_list(w->r, (uint32_t)site_no(w, hub), &m), 0);
	list_text(&m, buf, cap);
	reroute_msg_clear(&m);
	return buf;
}

#define EXPECT_LIST(w, hub, want)                                                                  \
	do {                                                                                       \
		char b_[512];                                                                      \
		list_of(w, hub, b_, sizeof(b_));                                                   \
		cr_expect_str_eq(b_, want, "%s: got \"%s\"", hub, b_);                             \
	} while (0)

/* A hub's report names the list it last got. */
static void hub_report(struct world *w, const char *hub, const char *tunnels)
{
	long i = site_no(w, hub);
	report(w, hub, tunnels, NULL, w->epoch_sent[i], w->seq_sent[i]);
}

/* Every edge reports every tunnel up; s1 on ha, s2 on hb, s3 on hc. Called again after a flush,
 * it is the next round of reports, in which the hubs confirm the lists they got. */
static void all_up(struct world *w)
{
	hub_report(w, "ha", "ha:hb=up ha:hc=up ha:s1=up ha:s2=up ha:p1=up");
	hub_report(w, "hb", "ha:hb=up hb:hc=up hb:s1=up hb:s2=up hb:p1=up");
	hub_report(w, "hc", "ha:hc=up hb:hc=up hc:s3=up hc:p1=up");
	report(w, "s1", "ha:s1=up hb:s1=up", "ha", 0, 0);
	report(w, "s2", "ha:s2=up hb:s2=up", "hb", 0, 0);
	report(w, "s3", "hc:s3=up", "hc", 0, 0);
	report(w, "p1", "ha:p1=up hb:p1=up hc:p1=up", NULL, 0, 0);
}

Test(reroute, all_up_names_the_hubs_of_sites_a_hub_is_not_attached_to)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	cr_assert_eq(reroute_flush(w.r, 1000, fake_send, &w), 3);
	EXPECT_LIST(&w, "ha", "s3 via hc");
	EXPECT_LIST(&w, "hb", "s3 via hc");
	/* the active hub first: s1 is on ha, s2 on hb */
	EXPECT_LIST(&w, "hc", "s1 via ha, s2 via hb");
	cr_expect_str_eq(w.sent[site_no(&w, "hc")], "s1 via ha, s2 via hb");
	cr_expect_eq(w.epoch_sent[site_no(&w, "ha")], 0x1111);
	cr_expect_eq(w.seq_sent[site_no(&w, "ha")], 1);
	all_up(&w);
	cr_expect_eq(reroute_flush(w.r, 5000, fake_send, &w), 0, "nothing new: nothing sent");
	world_free(&w);
}

Test(reroute, partial_failure_tells_only_the_hub_that_lost_the_spoke)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	all_up(&w);
	unsigned before[16];
	memcpy(before, w.n_sent, sizeof(before));
	/* The path s2 <-> ha breaks: both ends say so; s2 stays on hb. */
	event(&w, "ha", "ha:s2", false);
	event(&w, "s2", "ha:s2", false);
	cr_assert_eq(reroute_flush(w.r, 2000, fake_send, &w), 1);
	EXPECT_LIST(&w, "ha", "s2 via hb, s3 via hc");
	cr_expect_eq(w.n_sent[site_no(&w, "ha")], before[site_no(&w, "ha")] + 1);
	cr_expect_eq(w.n_sent[site_no(&w, "hb")], before[site_no(&w, "hb")], "hb unchanged");
	cr_expect_eq(w.n_sent[site_no(&w, "hc")], before[site_no(&w, "hc")], "hc unchanged");
	cr_expect_eq(w.seq_sent[site_no(&w, "ha")], 2);
	/* It comes back: the entry goes. */
	event(&w, "ha", "ha:s2", true);
	event(&w, "s2", "ha:s2", true);
	cr_assert_eq(reroute_flush(w.r, 3000, fake_send, &w), 1);
	EXPECT_LIST(&w, "ha", "s3 via hc");
	world_free(&w);
}

Test(reroute, a_spoke_every_hub_lost_is_unreachable_everywhere)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	all_up(&w);
	hub_report(&w, "ha", "ha:hb=up ha:hc=up ha:s1=down ha:s2=up ha:p1=up");
	hub_report(&w, "hb", "ha:hb=up hb:hc=up hb:s1=down hb:s2=up hb:p1=up");
	cr_assert_eq(reroute_flush(w.r, 2000, fake_send, &w), 3);
	EXPECT_LIST(&w, "ha", "s1 -, s3 via hc");
	EXPECT_LIST(&w, "hb", "s1 -, s3 via hc");
	EXPECT_LIST(&w, "hc", "s1 -, s2 via hb");
	world_free(&w);
}

Test(reroute, the_spokes_active_hub_goes_first_then_its_order)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	all_up(&w);
	EXPECT_LIST(&w, "hc", "s1 via ha, s2 via hb");
	report(&w, "s1", "ha:s1=up hb:s1=up", "hb", 0, 0); /* s1 moved to hb */
	cr_assert_eq(reroute_flush(w.r, 2000, fake_send, &w), 1, "only hc's list changes");
	EXPECT_LIST(&w, "hc", "s1 via hb, s2 via hb");
	report(&w, "s1", "ha:s1=up hb:s1=up", "", 0, 0); /* no active hub: s1's order */
	(void)reroute_flush(w.r, 3000, fake_send, &w);
	EXPECT_LIST(&w, "hc", "s1 via ha, s2 via hb");
	world_free(&w);
}

Test(reroute, a_hub_whose_backbone_to_the_other_hub_is_down_cannot_use_it)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	all_up(&w);
	event(&w, "ha", "ha:hb", false);
	event(&w, "hb", "ha:hb", false);
	(void)reroute_flush(w.r, 2000, fake_send, &w);
	EXPECT_LIST(&w, "ha", "s3 via hc");
	event(&w, "ha", "ha:s1", false);
	(void)reroute_flush(w.r, 3000, fake_send, &w);
	EXPECT_LIST(&w, "ha", "s1 -, s3 via hc");
	world_free(&w);
}

Test(reroute, what_is_not_known_is_not_called_unreachable)
{
	struct world w;
	world_init(&w, wan3);
	/* Only ha reports so far, and it lost s1: hb may still reach s1. */
	report(&w, "ha", "ha:hb=up ha:hc=up ha:s1=down ha:s2=up ha:p1=up", NULL, 0, 0);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	EXPECT_LIST(&w, "ha", "");
	EXPECT_LIST(&w, "hb", "");
	/* hc itself has not reported, but ha's word on their backbone and on s2 is enough. */
	EXPECT_LIST(&w, "hc", "s2 via ha");
	/* s1 says its tunnel to hb is up, but hb has not said anything about ha:hb: ha's own
	 * word that the backbone is up is enough. */
	report(&w, "s1", "ha:s1=down hb:s1=up", "hb", 0, 0);
	(void)reroute_flush(w.r, 2000, fake_send, &w);
	EXPECT_LIST(&w, "ha", "s1 via hb");
	world_free(&w);
}

Test(reroute, a_site_without_a_session_no_longer_speaks_for_its_tunnels)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	all_up(&w);
	/* s1 says ha:s1 is down, then its session ends; ha says the tunnel is up. */
	report(&w, "s1", "ha:s1=down hb:s1=up", "ha", 0, 0);
	(void)reroute_flush(w.r, 2000, fake_send, &w);
	EXPECT_LIST(&w, "hc", "s1 via hb, s2 via hb");
	reroute_session_lost(w.r, (uint32_t)site_no(&w, "s1"));
	cr_assert_not(reroute_site_reports(w.r, (uint32_t)site_no(&w, "s1")));
	(void)reroute_flush(w.r, 3000, fake_send, &w);
	EXPECT_LIST(&w, "hc", "s1 via ha, s2 via hb");
	/* An event from a site that does not report yet is not believed on its own. */
	event(&w, "s1", "hb:s1", false);
	(void)reroute_flush(w.r, 4000, fake_send, &w);
	EXPECT_LIST(&w, "hc", "s1 via ha, s2 via hb");
	world_free(&w);
}

Test(reroute, a_hub_that_runs_another_list_gets_it_again_at_most_once_a_second)
{
	struct world w;
	world_init(&w, wan3);
	long ha = site_no(&w, "ha");
	w.connected[ha] = false;
	all_up(&w);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	all_up(&w);
	cr_assert_eq(w.n_sent[ha], 0, "not connected: nothing sent");
	/* It connects; its first report says it runs nothing. */
	w.connected[ha] = true;
	report(&w, "ha", "ha:hb=up ha:hc=up ha:s1=up ha:s2=up ha:p1=up", NULL, 0, 0);
	cr_assert_eq(reroute_flush(w.r, 1100, fake_send, &w), 1);
	cr_assert_eq(w.n_sent[ha], 1);
	/* A report sent before the list arrived does not cause a second send at once ... */
	report(&w, "ha", "ha:hb=up ha:hc=up ha:s1=up ha:s2=up ha:p1=up", NULL, 0, 0);
	cr_assert_eq(reroute_flush(w.r, 1200, fake_send, &w), 0);
	/* ... but one a second later does; a report of the current list stops it. */
	report(&w, "ha", "ha:hb=up ha:hc=up ha:s1=up ha:s2=up ha:p1=up", NULL, 0, 0);
	cr_assert_eq(reroute_flush(w.r, 2200, fake_send, &w), 1);
	report(&w, "ha", "ha:hb=up ha:hc=up ha:s1=up ha:s2=up ha:p1=up", NULL, 0x1111,
	       w.seq_sent[ha]);
	cr_assert_eq(reroute_flush(w.r, 5000, fake_send, &w), 0);
	/* A hub still holding a list of an earlier controller run gets the current one, even
	 * when that is empty. */
	long hb = site_no(&w, "hb");
	report(&w, "hb", "ha:hb=up hb:hc=up hb:s1=up hb:s2=up hb:p1=up", NULL, 0x9999, 7);
	unsigned n = w.n_sent[hb];
	cr_assert_eq(reroute_flush(w.r, 6000, fake_send, &w), 1);
	cr_assert_eq(w.n_sent[hb], n + 1);
	cr_assert_eq(w.epoch_sent[hb], 0x1111);
	world_free(&w);
}

Test(reroute, a_new_plan_keeps_what_was_learnt_under_a_new_epoch)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	event(&w, "ha", "ha:s2", false);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	EXPECT_LIST(&w, "ha", "s2 via hb, s3 via hc");
	struct reroute *next = NULL;
	cr_assert_eq(reroute_new(w.in.plan, 0x2222, w.r, &next), 0);
	reroute_free(w.r);
	w.r = next;
	cr_assert_eq(reroute_flush(w.r, 2000, fake_send, &w), 3, "every hub hears of the epoch");
	EXPECT_LIST(&w, "ha", "s2 via hb, s3 via hc");
	cr_expect_eq(w.epoch_sent[site_no(&w, "ha")], 0x2222);
	world_free(&w);
}

Test(reroute, hubs_and_unknown_names_are_never_listed)
{
	struct world w;
	world_init(&w, wan3);
	all_up(&w);
	report(&w, "ha", "ha:hb=down nosuch:tunnel=down ha:hc=up", NULL, 0, 0);
	(void)reroute_flush(w.r, 1000, fake_send, &w);
	/* hb is a hub: reached over the backbone, never a list entry, even with it down. */
	EXPECT_LIST(&w, "ha", "s3 via hc");
	Sdwan__Reachability m;
	cr_assert_eq(reroute_list(w.r, (uint32_t)site_no(&w, "s1"), &m), -EINVAL, "not a hub");
	world_free(&w);
}

Test(reroute, routes_text_names_each_route_and_stops_at_the_buffer)
{
	Sdwan__SiteRoute a = SDWAN__SITE_ROUTE__INIT, b = SDWAN__SITE_ROUTE__INIT;
	a.site = (char *)"branch1";
	a.via_hub = (char *)"hub-west";
	b.site = (char *)"branch3";
	b.via_hub = (char *)"";
	Sdwan__SiteRoute *routes[] = {&a, &b};
	char buf[64];
	cr_assert_str_eq(reroute_routes_text(routes, 2, buf, sizeof(buf)),
			 "branch1 via hub-west, branch3 unreachable");
	cr_assert_str_eq(reroute_routes_text(routes, 0, buf, sizeof(buf)), "");
	char small[12];
	cr_assert_str_eq(reroute_routes_text(routes, 2, small, sizeof(small)), "branch1 via");
}
