/*
 * NAT traversal in the IKE engine (edge/ike/ike_natt.c, RFC 7296 §2.23, RFC 3948): the float to
 * port 4500 when a NAT is detected or when encapsulation is forced, what the SA and its Child SA
 * report about UDP encapsulation, NAT-keepalives, and a peer that moves behind its NAT.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ike_pair.h"

#include "edge/ike/ike_natt.h"

/* Site-a (side 0) behind a NAT at 203.0.113.7 (port p leaves as 10000 + p); site-b accepts any
 * address. Returns the world after IKE_SA_INIT: the IKE_AUTH request is queued. */
static struct w_world *natted(const struct ike_engine_config *ec, bool force_a, bool force_b,
			      bool nat)
{
	struct w_world *w = w_new(ec);
	struct ike_peer_config a, b;

	w_tunnels(w, &a, &b);
	b.remote.addr.family = 0;
	b.remote.port = 0;
	b.initiate = false;
	a.force_encap = force_a;
	b.force_encap = force_b;
	w_add(w, &a, &b);
	if (nat)
		w_nat(w, 0, "203.0.113.7", W_NAT_PORT_BASE);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_one(w);
	w_deliver_one(w);
	cr_assert_eq(w->nq, 1);
	return w;
}

static void expect_auth_on_4500(const struct w_world *w)
{
	const struct w_pkt *p = &w->q[0];

	cr_expect_eq(p->sent_local.port, IKE_NATT_PORT);
	cr_expect_eq(p->sent_remote.port, IKE_NATT_PORT);
	cr_expect(ike_send_needs_marker(&p->sent_local, &p->sent_remote, p->buf, p->len));
}

Test(ike_natt, float_on_detected_nat)
{
	struct w_world *w = natted(NULL, false, false, true);

	expect_auth_on_4500(w);
	w_deliver_all(w);
	w_expect_up(w);
	struct ike_sa_info a = w_only_sa(&w->s[0]), b = w_only_sa(&w->s[1]);
	cr_expect(a.nat_local && !a.nat_remote && a.natt && a.keepalives);
	cr_expect(!b.nat_local && b.nat_remote && b.natt && !b.keepalives);
	cr_expect_eq(a.local.port, IKE_NATT_PORT);
	cr_expect_eq(a.remote.port, IKE_NATT_PORT);
	cr_expect_eq(b.local.port, IKE_NATT_PORT);
	struct ike_endpoint pub = w_endpoint("203.0.113.7", W_NAT_PORT_BASE + IKE_NATT_PORT);
	cr_expect(w_ep_eq(&b.remote, &pub), "responder follows the NAT's 4500 mapping");
	/* The Child SA says where ESP-in-UDP goes. */
	const struct ike_child_keys *ka = &w->s[0].child[0], *kb = &w->s[1].child[0];
	cr_expect(ka->udp_encap && kb->udp_encap);
	cr_expect(w_ep_eq(&kb->remote, &pub));
	cr_expect_eq(ka->local.port, IKE_NATT_PORT);
	cr_expect(w_ep_eq(&b.esp_remote, &pub));
	/* Keepalives from the side behind the NAT only, every 20 s. */
	cr_expect_leq(ike_next_timer_ms(w->s[0].eng), w->now + 20000);
	w_advance(w, 19999);
	cr_expect_eq(w->s[0].keepalives, 0);
	w_advance(w, 1);
	cr_expect_eq(w->s[0].keepalives, 1);
	w_advance(w, 20000);
	cr_expect_eq(w->s[0].keepalives, 2);
	cr_expect_eq(w->s[1].keepalives, 0);
	cr_expect_eq(ike_engine_stats(w->s[0].eng)->natt_keepalives, 2);
	w_free(w);
}

Test(ike_natt, keepalive_interval_configurable)
{
	struct ike_engine_config ec = {.natt_keepalive_ms = 5000};
	struct w_world *w = natted(&ec, false, false, true);

	w_deliver_all(w);
	w_expect_up(w);
	for (int i = 0; i < 4; i++)
		w_advance(w, 5000);
	cr_expect_eq(w->s[0].keepalives, 4);
	w_free(w);
}

Test(ike_natt, forced_by_initiator)
{
	struct w_world *w = natted(NULL, true, false, false);

	expect_auth_on_4500(w);
	w_deliver_all(w);
	w_expect_up(w);
	struct ike_sa_info a = w_only_sa(&w->s[0]), b = w_only_sa(&w->s[1]);
	cr_expect(a.natt && !a.nat_local && !a.nat_remote);
	cr_expect(b.natt && b.nat_remote, "the fake NAT_DETECTION_SOURCE_IP made the peer float");
	cr_expect_eq(b.remote.port, IKE_NATT_PORT);
	cr_expect(w->s[0].child[0].udp_encap && w->s[1].child[0].udp_encap);
	w_advance(w, 60000);
	cr_expect_eq(w->s[0].keepalives + w->s[1].keepalives, 0, "nobody is behind a NAT");
	w_free(w);
}

Test(ike_natt, forced_by_responder)
{
	struct w_world *w = natted(NULL, false, true, false);

	expect_auth_on_4500(w);
	w_deliver_all(w);
	w_expect_up(w);
	struct ike_sa_info a = w_only_sa(&w->s[0]);
	cr_expect(a.natt && a.nat_remote);
	w_free(w);
}

Test(ike_natt, no_nat_no_float)
{
	struct w_world *w = natted(NULL, false, false, false);

	cr_expect_eq(w->q[0].sent_local.port, IKE_SA_PORT);
	cr_expect(!ike_send_needs_marker(&w->q[0].sent_local, &w->q[0].sent_remote, w->q[0].buf,
					 w->q[0].len));
	w_deliver_all(w);
	w_expect_up(w);
	struct ike_sa_info a = w_only_sa(&w->s[0]);
	cr_expect(!a.natt && a.local.port == IKE_SA_PORT);
	/* Our data plane still runs ESP in UDP on 4500. */
	cr_expect(!w->s[0].child[0].udp_encap);
	cr_expect_eq(w->s[0].child[0].remote.port, IKE_NATT_PORT);
	cr_expect_eq(a.esp_local.port, IKE_NATT_PORT);
	w_free(w);
}

/* The NAT in front of site-a changes its public address and port: the next authenticated
 * message moves the responder's SA there and reports it; a forged one does not. */
Test(ike_natt, peer_moves_behind_nat)
{
	struct w_world *w = natted(NULL, false, false, true);
	uint64_t h = w_only_sa(&w->s[0]).sa;

	w_deliver_all(w);
	w_expect_up(w);
	w_nat(w, 0, "203.0.113.99", 20000);
	cr_assert_eq(ike_sa_liveness_check(w->s[0].eng, h), 0);
	cr_assert_eq(w->nq, 1);
	/* First a forged copy from the new address: dropped, nothing moves. */
	struct w_pkt forged;
	w_take(w, 0, &forged);
	struct w_pkt copy = forged;
	copy.buf = malloc(forged.len);
	memcpy(copy.buf, forged.buf, forged.len);
	copy.buf[copy.len - 1] ^= 1;
	w_input(w, &copy);
	free(copy.buf);
	cr_expect_eq(w_count_events(&w->s[1], IKE_EVENT_PEER_MOVED), 0);
	cr_expect_eq(ike_engine_stats(w->s[1].eng)->drops[IKE_DROP_DECRYPT], 1);
	/* Then the genuine one. */
	w_input(w, &forged);
	free(forged.buf);
	w_deliver_all(w);
	struct ike_endpoint moved = w_endpoint("203.0.113.99", 20000 + IKE_NATT_PORT);
	const struct w_event *e = w_find_event(&w->s[1], IKE_EVENT_PEER_MOVED);
	cr_assert_not_null(e);
	cr_expect(w_ep_eq(&e->remote, &moved));
	struct ike_sa_info b = w_only_sa(&w->s[1]);
	cr_expect(w_ep_eq(&b.remote, &moved));
	cr_expect_eq(ike_engine_stats(w->s[1].eng)->peer_moved, 1);
	/* The answer reached site-a at its new mapping. */
	cr_expect(!w->s[0].eng->sas->req_pending);
	cr_expect_eq(w_count_events(&w->s[0], IKE_EVENT_FAILED), 0);
	w_free(w);
}

/* An initiator that floats without a NAT (strongSwan with MOBIKE does): the responder follows
 * its authenticated IKE_AUTH request to port 4500 and answers from there. */
Test(ike_natt, responder_follows_float_without_nat)
{
	struct w_world *w = natted(NULL, false, false, false);

	w->q[0].from.port = IKE_NATT_PORT;
	w->q[0].to.port = IKE_NATT_PORT;
	w_deliver_one(w);
	cr_assert_eq(w->nq, 1);
	cr_expect_eq(w->q[0].sent_local.port, IKE_NATT_PORT);
	cr_expect_eq(w->q[0].sent_remote.port, IKE_NATT_PORT);
	w_deliver_all(w);
	w_expect_up(w);
	struct ike_sa_info b = w_only_sa(&w->s[1]);
	cr_expect_eq(b.remote.port, IKE_NATT_PORT);
	cr_expect(!b.natt, "no NAT, nothing forced: ESP need not be encapsulated for the peer");
	cr_expect_eq(w_count_events(&w->s[1], IKE_EVENT_PEER_MOVED), 0, "a float, not a move");
	w_free(w);
}

/* Without NAT-T a message from another port is answered but does not move the SA. */
Test(ike_natt, no_move_without_nat)
{
	struct w_world *w = natted(NULL, false, false, false);
	uint64_t h = w_only_sa(&w->s[0]).sa;

	w_deliver_all(w);
	w_expect_up(w);
	cr_assert_eq(ike_sa_liveness_check(w->s[0].eng, h), 0);
	w->q[0].from = w_endpoint("192.0.2.1", 600);
	w_deliver_all(w);
	cr_expect_eq(w_count_events(&w->s[1], IKE_EVENT_PEER_MOVED), 0);
	struct ike_endpoint orig = w_endpoint("192.0.2.1", 500);
	struct ike_sa_info b = w_only_sa(&w->s[1]);
	cr_expect(w_ep_eq(&b.remote, &orig));
	w_free(w);
}

Test(ike_natt, marker_rule)
{
	struct ike_endpoint a500 = w_endpoint("192.0.2.1", 500),
			    b500 = w_endpoint("192.0.2.2", 500);
	struct ike_endpoint a4500 = w_endpoint("192.0.2.1", 4500);
	static const uint8_t ka = 0xff, ike[28] = {1};

	cr_expect(!ike_send_needs_marker(&a500, &b500, ike, sizeof(ike)));
	cr_expect(ike_send_needs_marker(&a4500, &b500, ike, sizeof(ike)));
	cr_expect(ike_send_needs_marker(&b500, &a4500, ike, sizeof(ike)));
	cr_expect(!ike_send_needs_marker(&a4500, &a4500, &ka, 1));
}

/* What an IKE SA rekey (ike_child.c) must carry over to the new SA. */
Test(ike_natt, rekeyed_sa_inherits)
{
	struct w_world *w = natted(NULL, false, false, true);

	w_deliver_all(w);
	w_expect_up(w);
	struct ike_ikesa *old = w->s[0].eng->sas, n = {.eng = old->eng};
	ike__natt_inherit(&n, old);
	cr_expect(n.natt && n.keepalive_at == old->keepalive_at);
	cr_expect_eq(n.peer_sig_hashes, old->peer_sig_hashes);
	struct ike_child_keys k;
	memset(&k, 0, sizeof(k));
	ike__natt_child_keys(old, &k);
	cr_expect(k.udp_encap && k.local.port == IKE_NATT_PORT);
	w_free(w);
}

/* The responder behind a port-preserving NAT (a static forward): it detects its own NAT and
 * sends the keepalives; the initiator sees the responder's NAT and floats all the same. */
Test(ike_natt, responder_behind_nat)
{
	struct w_world *w = w_new(NULL);
	struct ike_peer_config a, b;

	w_tunnels(w, &a, &b);
	a.remote = w_endpoint("203.0.113.50", IKE_SA_PORT);
	w_add(w, &a, &b);
	w_nat(w, 1, "203.0.113.50", 0);
	cr_assert_eq(ike_sa_initiate(w->s[0].eng, "to-site-b", NULL), 0);
	w_deliver_all(w);
	w_expect_up(w);
	struct ike_sa_info ia = w_only_sa(&w->s[0]), ib = w_only_sa(&w->s[1]);
	cr_expect(ia.natt && ia.nat_remote && !ia.nat_local && !ia.keepalives);
	cr_expect(ib.natt && ib.nat_local && ib.keepalives);
	cr_expect_eq(ia.remote.port, IKE_NATT_PORT);
	cr_expect_eq(ib.local.port, IKE_NATT_PORT);
	w_advance(w, 20000);
	cr_expect_eq(w->s[1].keepalives, 1);
	cr_expect_eq(w->s[0].keepalives, 0);
	w_free(w);
}
