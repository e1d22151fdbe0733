/*
 * CREATE_CHILD_SA and INFORMATIONAL Delete (edge/ike/ike_child.c, ike_info.c) between two
 * engines in one process (ike_world.h): more Child SAs, Child SA and IKE SA rekeying in both
 * directions, PFS and INVALID_KE_PAYLOAD, refusals with their reasons, Deletes both ways,
 * retransmission and the response cache, simultaneous rekeys in every nonce order with and
 * without delayed responses, a Delete crossing a rekey, TEMPORARY_FAILURE, message ID and
 * lifetime driven rekeying. The nonces each side draws are queued by the tests, so they decide
 * which exchange holds the lowest one (§2.8).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>

#include "common/log.h"
#include "ike_world.h"

static void quiet(void)
{
	log_configure(LOG_LEVEL_WARN, LOG_FORMAT_TEXT, NULL);
}

TestSuite(ike_child, .init = quiet);

/* The IKE SA handle of side i's established SA. */
static uint64_t handle_of(const struct w_world *w, int i)
{
	struct ike_ikesa *sa = w_sa_in(&w->s[i], IKE_STATE_ESTABLISHED);

	cr_assert_not_null(sa);
	return ike__sa_handle(sa);
}

/* Keys of both IKE SAs of one exchange agree across the two sides. */
static void expect_ike_keys_match(const struct ike_ikesa *a, const struct ike_ikesa *b)
{
	cr_assert_eq(a->spi_i, b->spi_i);
	cr_assert_eq(a->spi_r, b->spi_r);
	cr_assert_neq(a->initiator, b->initiator);
	cr_assert_eq(a->keys.prf_len, b->keys.prf_len);
	cr_assert_eq(memcmp(a->keys.sk_d, b->keys.sk_d, a->keys.prf_len), 0);
	cr_assert_eq(memcmp(a->keys.sk_ei, b->keys.sk_ei, a->keys.enc_len), 0);
	cr_assert_eq(memcmp(a->keys.sk_er, b->keys.sk_er, a->keys.enc_len), 0);
}

/* ---- new Child SAs ---- */

ParameterizedTestParameters(ike_child, additional_child_sa)
{
	static int by[] = {0, 1};
	return cr_make_param_array(int, by, 2);
}

ParameterizedTest(int *by, ike_child, additional_child_sa)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_create(w.s[*by].eng, handle_of(&w, *by)), 0);
	w_deliver_all(&w);
	cr_assert_eq(w.s[0].n_child, 2);
	cr_assert_eq(w.s[1].n_child, 2);
	cr_assert_eq(w_live(&w.s[0]), 2);
	w_expect_mirror(&w.s[0].child[1].k, &w.s[1].child[1].k);
	cr_assert_neq(memcmp(w.s[0].child[0].k.keymat_in, w.s[0].child[1].k.keymat_in, 32), 0,
		      "the new pair reuses the first pair's keys");
	cr_assert_eq(w.s[0].child[1].k.local_ts.n, 1);
	cr_assert(!w.s[0].child[1].k.rekey);
	struct ike_sa_info info;
	cr_assert_eq(ike_engine_sa_get(w.s[*by].eng, handle_of(&w, *by), &info), 0);
	cr_assert_eq(info.n_children, 2);
	w_free(&w);
}

/* ---- Child SA rekey ---- */

ParameterizedTestParameters(ike_child, child_rekey_make_before_break)
{
	static int by[] = {0, 1};
	return cr_make_param_array(int, by, 2);
}

ParameterizedTest(int *by, ike_child, child_rekey_make_before_break)
{
	struct w_world w;
	int me = *by, peer = 1 - *by;

	w_init(&w);
	w_establish(&w, 0);
	uint32_t old_in = w.s[me].child[0].k.spi_in;
	cr_assert_eq(ike_child_rekey(w.s[me].eng, handle_of(&w, me), old_in), 0);
	cr_assert_eq(ike_child_rekey(w.s[me].eng, handle_of(&w, me), old_in), -EALREADY);
	w_deliver_one(&w); /* request */
	/* The responder installed the new pair and still has the old one. */
	cr_assert_eq(w.s[peer].n_child, 2);
	cr_assert_eq(w.s[peer].n_down, 0);
	w_deliver_one(&w); /* response */
	cr_assert_eq(w.s[me].n_child, 2);
	cr_assert_eq(w.s[me].n_down, 0, "old pair gone before its Delete was answered");
	w_deliver_all(&w); /* Delete of the old pair, and its answer */
	for (int i = 0; i < 2; i++) {
		struct w_side *s = &w.s[i];
		cr_assert_eq(s->n_down, 1);
		cr_assert(s->child[0].down);
		cr_assert_eq(s->child[0].why, IKE_CHILD_DOWN_REKEYED);
		cr_assert_lt(s->child[1].up_seq, s->child[0].down_seq, "break before make");
		cr_assert(s->child[1].k.rekey);
		cr_assert_eq(s->child[1].k.rekeyed_spi_in, s->child[0].k.spi_in);
		cr_assert_eq(w_count_events(s, IKE_EVENT_CHILD_REKEYED), 1);
		cr_assert_eq(w_count_events(s, IKE_EVENT_CHILD_DELETED), 1);
		cr_assert_eq(ike_engine_stats(s->eng)->child_rekeys, 1);
		cr_assert_neq(memcmp(s->child[0].k.keymat_in, s->child[1].k.keymat_in,
				     s->child[0].k.keymat_len),
			      0, "rekeyed pair has the old keys");
	}
	w_expect_mirror(&w.s[0].child[1].k, &w.s[1].child[1].k);
	struct ike_sa_info info;
	cr_assert_eq(ike_engine_sa_get(w.s[0].eng, handle_of(&w, 0), &info), 0);
	cr_assert_eq(info.n_children, 1, "old pair still listed");
	w_free(&w);
}

/* ---- IKE SA rekey ---- */

ParameterizedTestParameters(ike_child, ike_rekey_moves_children)
{
	static int by[] = {0, 1};
	return cr_make_param_array(int, by, 2);
}

ParameterizedTest(int *by, ike_child, ike_rekey_moves_children)
{
	struct w_world w;
	int me = *by, peer = 1 - *by;

	w_init(&w);
	w_establish(&w, 0);
	struct ike_ikesa *old[2] = {w_sa_in(&w.s[0], IKE_STATE_ESTABLISHED),
				    w_sa_in(&w.s[1], IKE_STATE_ESTABLISHED)};
	uint64_t old_h = ike__sa_handle(old[me]);
	uint8_t old_sk_d[IKE_PRF_MAX_LEN];
	memcpy(old_sk_d, old[0]->keys.sk_d, sizeof(old_sk_d));
	cr_assert_eq(ike_sa_rekey(w.s[me].eng, old_h), 0);
	cr_assert_eq(ike_sa_rekey(w.s[me].eng, old_h), -EALREADY);
	w_deliver_all(&w);
	struct ike_ikesa *n[2] = {w_sa_in(&w.s[0], IKE_STATE_ESTABLISHED),
				  w_sa_in(&w.s[1], IKE_STATE_ESTABLISHED)};
	cr_assert_not_null(n[0]);
	cr_assert_not_null(n[1]);
	cr_assert_neq(n[0], old[0]);
	expect_ike_keys_match(n[0], n[1]);
	cr_assert(n[me]->initiator, "the rekey's initiator is the new SA's initiator");
	cr_assert(!n[peer]->initiator);
	cr_assert_neq(n[0]->spi_i, old[0]->spi_i);
	cr_assert_neq(n[0]->spi_r, old[0]->spi_r);
	cr_assert_neq(memcmp(n[0]->keys.sk_d, old_sk_d, n[0]->keys.prf_len), 0);
	cr_assert_eq(n[0]->msgid_next, 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_CLOSED), 1, "old SA not closed");
		cr_assert_eq(w.s[i].n_down, 0, "an IKE SA rekey touched the data plane");
		cr_assert_not_null(n[i]->children);
		const struct w_event *e = w_find_event(&w.s[i], IKE_EVENT_IKE_REKEYED);
		cr_assert_not_null(e);
		cr_assert_eq(e->new_sa, ike__sa_handle(n[i]));
		cr_assert_eq(w_count_events(&w.s[i], IKE_EVENT_IKE_DELETED), 1);
	}
	/* The new SA works: liveness, a Child SA rekey on it, and then a Delete of it all. */
	cr_assert_eq(ike_sa_liveness_check(w.s[peer].eng, ike__sa_handle(n[peer])), 0);
	cr_assert_eq(w_deliver_all(&w), 2);
	cr_assert_eq(ike_child_rekey(w.s[peer].eng, ike__sa_handle(n[peer]),
				     w.s[peer].child[0].k.spi_in),
		     0);
	w_deliver_all(&w);
	cr_assert_eq(w.s[me].n_child, 2);
	cr_assert_eq(w.s[me].child[1].k.sa, ike__sa_handle(n[me]));
	w_expect_mirror(&w.s[0].child[1].k, &w.s[1].child[1].k);
	w_advance(&w, 31000);
	cr_assert_eq(ike_engine_sa_count(w.s[0].eng), 1, "closed SA not reaped");
	w_free(&w);
}

/* ---- Delete ---- */

ParameterizedTestParameters(ike_child, delete_child_sa)
{
	static int by[] = {0, 1};
	return cr_make_param_array(int, by, 2);
}

ParameterizedTest(int *by, ike_child, delete_child_sa)
{
	struct w_world w;
	int me = *by, peer = 1 - *by;

	w_init(&w);
	w_establish(&w, 0);
	uint64_t h = handle_of(&w, me);
	uint32_t spi = w.s[me].child[0].k.spi_in;
	cr_assert_eq(ike_child_delete(w.s[me].eng, h, spi), 0);
	cr_assert_eq(ike_child_delete(w.s[me].eng, h, spi), -EALREADY);
	cr_assert_eq(ike_child_delete(w.s[me].eng, h, 12345), -ENOENT);
	w_deliver_one(&w);
	cr_assert_eq(w.s[peer].n_down, 1, "responder keeps the pair");
	cr_assert_eq(w.s[peer].child[0].why, IKE_CHILD_DOWN_PEER_DELETED);
	cr_assert_eq(w.s[me].n_down, 0);
	w_deliver_one(&w);
	cr_assert_eq(w.s[me].n_down, 1);
	cr_assert_eq(w.s[me].child[0].why, IKE_CHILD_DOWN_DELETED);
	cr_assert_eq(ike_engine_stats(w.s[me].eng)->deletes_sent, 1);
	cr_assert_eq(ike_engine_stats(w.s[peer].eng)->deletes_received, 1);
	cr_assert_eq(w_count_sas(&w.s[0], IKE_STATE_ESTABLISHED), 1, "IKE SA survives");
	w_free(&w);
}

ParameterizedTestParameters(ike_child, delete_ike_sa)
{
	static int by[] = {0, 1};
	return cr_make_param_array(int, by, 2);
}

ParameterizedTest(int *by, ike_child, delete_ike_sa)
{
	struct w_world w;
	int me = *by, peer = 1 - *by;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, handle_of(&w, 0)), 0);
	w_deliver_all(&w);
	uint64_t h = handle_of(&w, me);
	cr_assert_eq(ike_sa_delete(w.s[me].eng, h), 0);
	cr_assert_eq(ike_sa_delete(w.s[me].eng, h), -EALREADY);
	w_deliver_all(&w);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w.s[i].n_down, 2);
		cr_assert_eq(w.s[i].child[0].why, IKE_CHILD_DOWN_IKE_GONE);
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_CLOSED), 1);
		const struct w_event *e = w_find_event(&w.s[i], IKE_EVENT_IKE_DELETED);
		cr_assert_not_null(e);
		cr_assert_str_eq(e->reason, i == me ? "deleted by us" : "deleted by the peer");
	}
	(void)peer;
	w_advance(&w, 31000);
	cr_assert_eq(ike_engine_sa_count(w.s[0].eng), 0);
	cr_assert_eq(ike_engine_sa_count(w.s[1].eng), 0);
	w_free(&w);
}

/* ---- simultaneous rekeys (§2.8) ---- */

/* One collision scenario: which of the four nonces is lowest (0: A's Ni, 1: B's Nr in A's
 * exchange, 2: B's Ni, 3: A's Nr in B's exchange), and whether A's answer to B's request is
 * held back until everything else has been delivered (B then sees A's Delete first). */
struct collision {
	int lowest;
	bool delayed;
};

static struct collision collisions[] = {
	{0, false}, {1, false}, {2, false}, {3, false}, {0, true}, {1, true}, {2, true}, {3, true},
};

/* Queue the four nonces, in the order each side draws them: its own Ni, then its Nr. */
static void queue_collision_nonces(struct w_world *w, int lowest)
{
	uint8_t v[4];

	for (int i = 0; i < 4; i++)
		v[i] = lowest == i ? 0x10 : (uint8_t)(0x80 + 0x10 * i);
	w_nonce(w, 0, v[0]);
	w_nonce(w, 1, v[2]);
	w_nonce(w, 1, v[1]);
	w_nonce(w, 0, v[3]);
}

/* Both requests cross; then the answers, one of them possibly held back. */
static void run_collision(struct w_world *w, bool delayed)
{
	struct w_pkt held;

	cr_assert_eq(w->nq, 2);
	w_deliver_one(w); /* A's request, answered by B */
	w_deliver_one(w); /* B's request, answered by A */
	cr_assert_eq(w->nq, 2);
	if (delayed) {
		w_take(w, 1, &held); /* A's answer to B */
		w_deliver_all(w);
		w_input(w, &held);
	}
	w_run_until(w, w->now + 120000);
}

ParameterizedTestParameters(ike_child, child_rekey_collision)
{
	return cr_make_param_array(struct collision, collisions,
				   sizeof(collisions) / sizeof(collisions[0]));
}

ParameterizedTest(struct collision *c, ike_child, child_rekey_collision)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	queue_collision_nonces(&w, c->lowest);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	cr_assert_eq(ike_child_rekey(w.s[1].eng, handle_of(&w, 1), w.s[1].child[0].k.spi_in), 0);
	run_collision(&w, c->delayed);
	/* The pair of the exchange without the lowest nonce survives, on both sides. */
	bool a_lost = c->lowest <= 1;
	size_t survivor[2] = {a_lost ? 1 : 2, a_lost ? 2 : 1};
	for (int i = 0; i < 2; i++) {
		struct w_side *s = &w.s[i];
		cr_assert_eq(s->n_child, 3, "side %d: %zu pairs", i, s->n_child);
		cr_assert_eq(w_live(s), 1, "side %d: %zu live pairs", i, w_live(s));
		cr_assert(!s->child[survivor[i]].down, "side %d kept the wrong pair", i);
		cr_assert_eq(s->child[0].why, IKE_CHILD_DOWN_REKEYED);
		cr_assert_geq(ike_engine_stats(s->eng)->rekey_collisions, 1);
		struct ike_sa_info info;
		cr_assert_eq(ike_engine_sa_get(s->eng, handle_of(&w, i), &info), 0);
		cr_assert_eq(info.n_children, 1);
	}
	/* The loser deleted its own redundant pair. */
	const struct w_side *loser = &w.s[a_lost ? 0 : 1];
	cr_assert_eq(loser->child[2].why, IKE_CHILD_DOWN_REDUNDANT);
	w_expect_mirror(&w.s[0].child[survivor[0]].k, &w.s[1].child[survivor[1]].k);
	w_free(&w);
}

ParameterizedTestParameters(ike_child, ike_rekey_collision)
{
	return cr_make_param_array(struct collision, collisions,
				   sizeof(collisions) / sizeof(collisions[0]));
}

ParameterizedTest(struct collision *c, ike_child, ike_rekey_collision)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	queue_collision_nonces(&w, c->lowest);
	cr_assert_eq(ike_sa_rekey(w.s[0].eng, handle_of(&w, 0)), 0);
	cr_assert_eq(ike_sa_rekey(w.s[1].eng, handle_of(&w, 1)), 0);
	run_collision(&w, c->delayed);
	struct ike_ikesa *n[2];
	for (int i = 0; i < 2; i++) {
		n[i] = w_sa_in(&w.s[i], IKE_STATE_ESTABLISHED);
		cr_assert_not_null(n[i], "side %d: no established SA", i);
		cr_assert_not_null(n[i]->children, "side %d: children not moved", i);
		cr_assert_null(n[i]->children->next);
		cr_assert_eq(w.s[i].n_down, 0, "side %d: the data plane lost a pair", i);
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_FAILED), 0);
		cr_assert_geq(ike_engine_stats(w.s[i].eng)->rekey_collisions, c->delayed ? 0 : 1);
	}
	expect_ike_keys_match(n[0], n[1]);
	/* The survivor was made by the exchange without the lowest nonce. */
	cr_assert_eq(n[0]->initiator, c->lowest >= 2);
	/* And it works. */
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, ike__sa_handle(n[0])), 0);
	cr_assert_eq(w_deliver_all(&w), 2);
	/* Delayed: the side that never got its answer dropped its half-made SA; the other side's
	 * Delete of that SA goes unanswered, which is all the retransmissions may be for. */
	if (!c->delayed)
		cr_assert_eq(ike_engine_stats(w.s[0].eng)->retransmits +
				     ike_engine_stats(w.s[1].eng)->retransmits,
			     0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_FAILED), 0);
	w_free(&w);
}

/* Both sides rekey at once, but B's request is delayed until A has finished its own rekey
 * and deleted the old pair (strongSwan's "collision_delayed_request"): A never sees a
 * collision and answers B's late request TEMPORARY_FAILURE; A's pair stays, whatever the
 * nonces, because B's exchange never completes. Same for the IKE SA. */
ParameterizedTestParameters(ike_child, collision_with_delayed_request)
{
	static int ike[] = {0, 1};
	return cr_make_param_array(int, ike, 2);
}

ParameterizedTest(int *ike, ike_child, collision_with_delayed_request)
{
	struct w_world w;
	struct w_pkt late;

	w_init(&w);
	w_establish(&w, 0);
	queue_collision_nonces(&w, 0); /* A's exchange holds the lowest nonce */
	if (*ike) {
		cr_assert_eq(ike_sa_rekey(w.s[0].eng, handle_of(&w, 0)), 0);
		cr_assert_eq(ike_sa_rekey(w.s[1].eng, handle_of(&w, 1)), 0);
	} else {
		cr_assert_eq(
			ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
		cr_assert_eq(
			ike_child_rekey(w.s[1].eng, handle_of(&w, 1), w.s[1].child[0].k.spi_in), 0);
	}
	w_take(&w, 1, &late); /* B's request */
	w_deliver_one(&w);    /* A's request: B sees the collision and answers */
	w_deliver_one(&w);    /* B's answer: A is done and deletes the old SA */
	w_input(&w, &late);
	w_run_until(&w, w.now + 120000);
	cr_assert_eq(ike_engine_stats(w.s[0].eng)->temporary_failures_sent, 1);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_ESTABLISHED), 1);
		cr_assert_eq(w_live(&w.s[i]), 1);
	}
	expect_ike_keys_match(w_est(&w.s[0]), w_est(&w.s[1]));
	cr_assert(w_est(&w.s[0])->initiator == (*ike != 0) || !*ike);
	w_expect_mirror(&w_only_live(&w.s[0])->k, &w_only_live(&w.s[1])->k);
	if (!*ike)
		cr_assert_eq(w_only_live(&w.s[0])->k.spi_in, w.s[0].child[1].k.spi_in,
			     "A's own pair should have stayed");
	w_free(&w);
}

/* A Delete of a pair crosses the peer's rekey of it: the pair goes, nothing is retried. */
ParameterizedTestParameters(ike_child, delete_crossing_rekey)
{
	static int delete_first[] = {0, 1};
	return cr_make_param_array(int, delete_first, 2);
}

ParameterizedTest(int *delete_first, ike_child, delete_crossing_rekey)
{
	struct w_world w;
	struct w_pkt p;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	cr_assert_eq(ike_child_delete(w.s[1].eng, handle_of(&w, 1), w.s[1].child[0].k.spi_in), 0);
	if (*delete_first) {
		w_take(&w, 1, &p);
		w_input(&w, &p);
	}
	w_run_until(&w, w.now + 60000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w.s[i].n_child, 1, "side %d: a pair was made", i);
		cr_assert_eq(w.s[i].n_down, 1);
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_ESTABLISHED), 1);
	}
	cr_assert_eq(w.s[0].child[0].why, IKE_CHILD_DOWN_PEER_DELETED);
	cr_assert_eq(w.s[1].child[0].why, IKE_CHILD_DOWN_DELETED);
	cr_assert_eq(ike_engine_stats(w.s[1].eng)->temporary_failures_sent, 1);
	cr_assert_eq(ike_engine_stats(w.s[0].eng)->child_rekeys, 0);
	w_free(&w);
}

/* Each side's request meets the other's: a Child SA rekey against an IKE SA rekey. Both answer
 * TEMPORARY_FAILURE (§2.25), both retry after a random delay, and both rekeys get done. */
Test(ike_child, temporary_failure_then_retry)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	cr_assert_eq(ike_sa_rekey(w.s[1].eng, handle_of(&w, 1)), 0);
	w_deliver_all(&w);
	w_advance(&w, 1); /* reap B's abandoned new IKE SA */
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(ike_engine_stats(w.s[i].eng)->temporary_failures_sent, 1);
		cr_assert_eq(ike_engine_stats(w.s[i].eng)->temporary_failures_received, 1);
		uint64_t t = ike_next_timer_ms(w.s[i].eng);
		cr_assert(t >= w.now + 999 && t <= w.now + 5000, "retry timer %llu",
			  (unsigned long long)(t - w.now));
	}
	w_run_until(&w, w.now + 10000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(ike_engine_stats(w.s[i].eng)->child_rekeys, 1);
		cr_assert_eq(ike_engine_stats(w.s[i].eng)->ike_rekeys, 1);
		cr_assert_eq(w_live(&w.s[i]), 1);
		cr_assert_not_null(w_sa_in(&w.s[i], IKE_STATE_ESTABLISHED));
	}
	w_expect_mirror(&w_only_live(&w.s[0])->k, &w_only_live(&w.s[1])->k);
	w_free(&w);
}

/* ---- loss ---- */

Test(ike_child, lost_response_answered_from_cache)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, handle_of(&w, 0)), 0);
	w_deliver_one(&w);
	cr_assert_eq(w.s[1].n_child, 2);
	w_drop_one(&w); /* the response */
	w_advance(&w, 600);
	cr_assert_eq(ike_engine_stats(w.s[0].eng)->retransmits, 1);
	w_deliver_all(&w);
	cr_assert_eq(ike_engine_stats(w.s[1].eng)->cached_responses, 1);
	cr_assert_eq(w.s[1].n_child, 2, "a retransmission made a second pair");
	cr_assert_eq(w.s[0].n_child, 2);
	w_expect_mirror(&w.s[0].child[1].k, &w.s[1].child[1].k);
	w_free(&w);
}

Test(ike_child, lost_request_retransmitted)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	w_drop_one(&w);
	cr_assert_eq(w.s[1].n_child, 1);
	cr_assert_eq(ike_next_timer_ms(w.s[0].eng), w.now + 500);
	w_advance(&w, 500);
	w_deliver_all(&w);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w.s[i].n_child, 2);
		cr_assert_eq(w_live(&w.s[i]), 1);
	}
	w_expect_mirror(&w_only_live(&w.s[0])->k, &w_only_live(&w.s[1])->k);
	w_free(&w);
}

/* A Child SA request that never gets an answer fails the IKE SA; every pair goes down. */
Test(ike_child, unanswered_rekey_fails_the_ike_sa)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	for (int i = 0; i < 8; i++) {
		w.nq = 0;
		w_advance(&w, 20000);
	}
	cr_assert_eq(w.s[0].n_down, 1);
	cr_assert_eq(w.s[0].child[0].why, IKE_CHILD_DOWN_IKE_GONE);
	cr_assert_eq(w_count_sas(&w.s[0], IKE_STATE_ESTABLISHED), 0);
	w_free(&w);
}

/* ---- PFS and key exchange groups ---- */

/* The request's size with and without PFS. */
static size_t rekey_request_len(const char *esp)
{
	struct w_world w;

	w_init2(&w, esp, esp);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	size_t len = w.q[0].len;
	w_run_until(&w, w.now + 1000);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(w_live(&w.s[i]), 1);
	w_expect_mirror(&w_only_live(&w.s[0])->k, &w_only_live(&w.s[1])->k);
	cr_assert(w_only_live(&w.s[0])->k.rekey);
	w_free(&w);
	return len;
}

Test(ike_child, pfs_rekey_carries_a_ke)
{
	size_t plain = rekey_request_len("aes256gcm16");
	size_t pfs = rekey_request_len("aes256gcm16-x25519");

	/* KE payload: 4 + 4 + 32 octets, DH transform: 8. */
	cr_assert_eq(pfs, plain + 40 + 8);
}

/* A prefers ecp256 for PFS, B x25519 (the IKE group, A's fallback): B answers
 * INVALID_KE_PAYLOAD and A repeats with x25519. */
Test(ike_child, invalid_ke_retried_with_the_asked_group)
{
	struct w_world w;

	w_init2(&w, "aes256gcm16-ecp256", "aes256gcm16-x25519");
	w_establish(&w, 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, handle_of(&w, 0)), 0);
	w_deliver_all(&w);
	cr_assert_eq(ike_engine_stats(w.s[1].eng)->invalid_ke_sent, 1);
	cr_assert_eq(w.s[0].n_child, 2);
	cr_assert_eq(w.s[1].n_child, 2);
	w_expect_mirror(&w.s[0].child[1].k, &w.s[1].child[1].k);
	/* The other way round B offers only x25519, which A's ESP proposal does not allow. */
	cr_assert_eq(ike_child_create(w.s[1].eng, handle_of(&w, 1)), 0);
	w_deliver_all(&w);
	cr_assert_eq(w.s[0].n_child, 2);
	const struct w_event *e = w_find_event(&w.s[0], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(e);
	cr_assert_eq(e->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	cr_assert(strstr(e->reason, "PFS with ecp256") != NULL, "%s", e->reason);
	cr_assert_eq(w_count_events(&w.s[1], IKE_EVENT_CHILD_FAILED), 1, "INVALID_KE reported");
	e = w_find_event(&w.s[1], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(e);
	cr_assert(strstr(e->reason, "NO_PROPOSAL_CHOSEN") != NULL, "%s", e->reason);
	cr_assert_eq(w_count_sas(&w.s[1], IKE_STATE_ESTABLISHED), 1);
	w_free(&w);
}

Test(ike_child, ike_rekey_with_another_group_names_both)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	w.s[1].eng->peers->cfg.ike.group = PROPOSAL_GROUP_ECP256;
	cr_assert_eq(ike_sa_rekey(w.s[0].eng, handle_of(&w, 0)), 0);
	w_deliver_all(&w);
	const struct w_event *e = w_find_event(&w.s[0], IKE_EVENT_REKEY_FAILED);
	cr_assert_not_null(e);
	cr_assert(strstr(e->reason, "NO_PROPOSAL_CHOSEN") != NULL, "%s", e->reason);
	e = w_find_event(&w.s[1], IKE_EVENT_REKEY_FAILED);
	cr_assert_not_null(e);
	cr_assert(strstr(e->reason, "ecp256") && strstr(e->reason, "x25519"), "%s", e->reason);
	/* The old SA goes on, and our abandoned new one is gone after the next tick. */
	w_advance(&w, 1);
	cr_assert_eq(ike_engine_sa_count(w.s[0].eng), 1);
	cr_assert_eq(w_count_sas(&w.s[0], IKE_STATE_ESTABLISHED), 1);
	cr_assert_eq(w.s[0].n_down, 0);
	w_free(&w);
}

/* ---- refusals name what disagreed ---- */

Test(ike_child, ts_unacceptable_names_the_selectors)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	w.s[1].eng->peers->cfg.remote_ts[0] = w_pfx("10.9.0.0/16");
	cr_assert_eq(ike_child_create(w.s[0].eng, handle_of(&w, 0)), 0);
	w_deliver_all(&w);
	const struct w_event *e = w_find_event(&w.s[1], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(e);
	cr_assert_eq(e->notify, IKE_N_TS_UNACCEPTABLE);
	cr_assert(strstr(e->reason, "10.1.0.0") && strstr(e->reason, "10.9.0.0"), "%s", e->reason);
	e = w_find_event(&w.s[0], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(e);
	cr_assert(strstr(e->reason, "TS_UNACCEPTABLE") && strstr(e->reason, "10.1.0.0"), "%s",
		  e->reason);
	cr_assert_eq(w.s[0].n_child, 1);
	w_free(&w);
}

Test(ike_child, esp_mismatch_names_the_cipher)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_rekey(w.s[1].eng, handle_of(&w, 1), w.s[1].child[0].k.spi_in), 0);
	w.s[0].eng->peers->cfg.esp = w_prop("aes128gcm16", PROPOSAL_ESP);
	w_deliver_all(&w);
	const struct w_event *e = w_find_event(&w.s[0], IKE_EVENT_REKEY_FAILED);
	cr_assert_not_null(e);
	cr_assert(strstr(e->reason, "aes128gcm16") && strstr(e->reason, "aes256gcm16"), "%s",
		  e->reason);
	e = w_find_event(&w.s[1], IKE_EVENT_REKEY_FAILED);
	cr_assert_not_null(e);
	cr_assert_eq(e->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	/* The old pair stays in use, and the rekey is tried again later. */
	cr_assert_eq(w.s[1].n_down, 0);
	cr_assert_leq(ike_next_timer_ms(w.s[1].eng), w.now + 30000);
	w_free(&w);
}

Test(ike_child, rekey_of_a_pair_the_peer_lacks)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	/* B forgets the pair without telling anyone (a restarted data plane, a bug). */
	struct ike_ikesa *b = w_est(&w.s[1]);
	ike__child_spi_release(w.s[1].eng, b->children->spi_in);
	free(b->children);
	b->children = NULL;
	cr_assert_eq(ike_child_rekey(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	w_deliver_all(&w);
	/* CHILD_SA_NOT_FOUND: A drops its half and negotiates a replacement. */
	cr_assert_eq(w.s[0].child[0].why, IKE_CHILD_DOWN_PEER_DELETED);
	cr_assert_eq(w.s[0].n_child, 2);
	cr_assert_eq(w.s[1].n_child, 2);
	w_expect_mirror(&w.s[0].child[1].k, &w.s[1].child[1].k);
	w_free(&w);
}

/* ---- automatic rekeying ---- */

Test(ike_child, message_ids_near_the_end_rekey_the_ike_sa)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	struct ike_ikesa *a = w_est(&w.s[0]);
	struct ike_ikesa *b = w_est(&w.s[1]);
	a->msgid_next = IKE_MSGID_END - 17;
	b->msgid_peer_next = IKE_MSGID_END - 17;
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, ike__sa_handle(a)), 0);
	w_run_until(&w, w.now + 60000);
	struct ike_ikesa *n[2] = {w_sa_in(&w.s[0], IKE_STATE_ESTABLISHED),
				  w_sa_in(&w.s[1], IKE_STATE_ESTABLISHED)};
	cr_assert_not_null(n[0]);
	cr_assert_not_null(n[1]);
	cr_assert_lt(n[0]->msgid_next, 8);
	expect_ike_keys_match(n[0], n[1]);
	cr_assert_not_null(n[0]->children);
	cr_assert_eq(w.s[0].n_down, 0);
	w_free(&w);
}

Test(ike_child, lifetimes_rekey_children_and_ike_sa)
{
	struct w_world w;

	w_init(&w);
	for (int i = 0; i < 2; i++) {
		w.s[i].eng->peers->cfg.child_lifetime_s = 300;
		w.s[i].eng->peers->cfg.ike_lifetime_s = 600;
	}
	w_establish(&w, 0);
	uint64_t t0 = w.now;
	uint64_t next = ike_next_timer_ms(w.s[0].eng);
	cr_assert(next >= t0 + 255000 && next <= t0 + 270000, "child soft lifetime %llu",
		  (unsigned long long)(next - t0));
	cr_assert_gt(ike_next_timer_ms(w.s[1].eng), next, "the IKE responder rekeys first");
	w_run_until(&w, t0 + 1000 * 1000);
	for (int i = 0; i < 2; i++) {
		const struct ike_stats *st = ike_engine_stats(w.s[i].eng);
		cr_assert_geq(st->child_rekeys, 3, "side %d: %llu child rekeys", i,
			      (unsigned long long)st->child_rekeys);
		cr_assert_geq(st->ike_rekeys, 1);
		cr_assert_eq(st->rekey_collisions, 0);
		cr_assert_eq(w_live(&w.s[i]), 1);
		for (size_t k = 0; k + 1 < w.s[i].n_child; k++)
			cr_assert_eq(w.s[i].child[k].why, IKE_CHILD_DOWN_REKEYED);
	}
	w_expect_mirror(&w_only_live(&w.s[0])->k, &w_only_live(&w.s[1])->k);
	w_free(&w);
}

/* A pair that is never rekeyed (the peer refuses) is deleted at its hard lifetime. */
Test(ike_child, hard_lifetime_deletes_the_pair)
{
	struct w_world w;

	w_init(&w);
	for (int i = 0; i < 2; i++)
		w.s[i].eng->peers->cfg.child_lifetime_s = 100;
	w_establish(&w, 0);
	uint64_t t0 = w.now;
	w.s[1].eng->peers->cfg.esp = w_prop("chacha20poly1305", PROPOSAL_ESP);
	w.s[0].eng->peers->cfg.esp = w_prop("aes128gcm16", PROPOSAL_ESP);
	w_run_until(&w, t0 + 101 * 1000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w.s[i].n_down, 1);
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_ESTABLISHED), 1);
	}
	cr_assert_eq(w.s[0].child[0].why, IKE_CHILD_DOWN_DELETED);
	w_free(&w);
}

/* A Delete of the IKE SA crosses the peer's rekey of it: both end with no SA and every pair
 * down, and neither side fails or leaves a half-made IKE SA behind. */
ParameterizedTestParameters(ike_child, ike_delete_crossing_ike_rekey)
{
	static int delete_first[] = {0, 1};
	return cr_make_param_array(int, delete_first, 2);
}

ParameterizedTest(int *delete_first, ike_child, ike_delete_crossing_ike_rekey)
{
	struct w_world w;
	struct w_pkt p;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_sa_rekey(w.s[0].eng, handle_of(&w, 0)), 0);
	cr_assert_eq(ike_sa_delete(w.s[1].eng, handle_of(&w, 1)), 0);
	if (*delete_first) {
		w_take(&w, 1, &p);
		w_input(&w, &p);
	}
	w_run_until(&w, w.now + 120000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(ike_engine_sa_count(w.s[i].eng), 0, "side %d keeps an SA", i);
		cr_assert_eq(w.s[i].n_down, 1);
		cr_assert_eq(w.s[i].child[0].why, IKE_CHILD_DOWN_IKE_GONE);
		cr_assert_eq(w_count_events(&w.s[i], IKE_EVENT_FAILED), 0);
		cr_assert_eq(w_count_events(&w.s[i], IKE_EVENT_IKE_DELETED), 1);
	}
	w_free(&w);
}

/* Work asked for while a request is outstanding waits for the window, then runs in order. */
Test(ike_child, queued_requests_run_one_at_a_time)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	uint64_t h = handle_of(&w, 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, h), 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, h), 0);
	cr_assert_eq(ike_child_rekey(w.s[0].eng, h, w.s[0].child[0].k.spi_in), 0);
	cr_assert_eq(w.nq, 1, "more than one request in flight");
	w_deliver_all(&w);
	/* The first create went out at once; of the queued work the rekey goes before the second
	 * create (order: deletes, IKE rekey, Child rekeys, new Child SAs). */
	cr_assert_eq(w.s[0].n_child, 4);
	cr_assert(!w.s[0].child[1].k.rekey);
	cr_assert(w.s[0].child[2].k.rekey);
	cr_assert(!w.s[0].child[3].k.rekey);
	cr_assert_eq(w_live(&w.s[0]), 3);
	cr_assert_eq(w_live(&w.s[1]), 3);
	cr_assert_eq(ike_sa_delete(w.s[0].eng, h), 0);
	w_deliver_all(&w);
	cr_assert_eq(w_live(&w.s[0]), 0);
	cr_assert_eq(w_live(&w.s[1]), 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, h), -EAGAIN, "created on a closed SA");
	w_free(&w);
}

/* A rekey the peer refuses is asked again only after a pause, even when message IDs demand one
 * (the refusal must not turn into a request storm or a spinning timer). */
Test(ike_child, refused_message_id_rekey_waits_before_asking_again)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	w.s[1].eng->peers->cfg.ike.group = PROPOSAL_GROUP_ECP256;
	struct ike_ikesa *a = w_est(&w.s[0]);
	a->msgid_next = IKE_MSGID_END - 17;
	w_est(&w.s[1])->msgid_peer_next = IKE_MSGID_END - 17;
	cr_assert_eq(ike_sa_liveness_check(w.s[0].eng, ike__sa_handle(a)), 0);
	w_run_until(&w, w.now + 10000);
	cr_assert_eq(ike_engine_stats(w.s[1].eng)->no_proposal_sent, 1);
	w_run_until(&w, w.now + 25000);
	cr_assert_eq(ike_engine_stats(w.s[1].eng)->no_proposal_sent, 2);
	cr_assert_eq(w_count_sas(&w.s[0], IKE_STATE_ESTABLISHED), 1);
	cr_assert_eq(w.s[0].n_down, 0);
	w_free(&w);
}

/* IKE SA rekey collision that B wins while A's answer is still on its way: B moves the pair
 * to its new IKE SA and rekeys it there at once. A has not settled the collision yet (the
 * pair is still on A's old IKE SA), so it answers TEMPORARY_FAILURE rather than
 * CHILD_SA_NOT_FOUND; B retries once A has caught up. */
Test(ike_child, child_rekey_on_the_winner_before_the_loser_settles)
{
	struct w_world w;
	struct w_pkt held, req;

	w_init(&w);
	w_establish(&w, 0);
	queue_collision_nonces(&w, 0); /* A's exchange holds the lowest nonce: B wins */
	cr_assert_eq(ike_sa_rekey(w.s[0].eng, handle_of(&w, 0)), 0);
	cr_assert_eq(ike_sa_rekey(w.s[1].eng, handle_of(&w, 1)), 0);
	w_deliver_one(&w);
	w_deliver_one(&w);
	w_take(&w, 0, &held); /* B's answer to A */
	w_deliver_one(&w);    /* A's answer to B: B wins, moves the pair, deletes the old SA */
	struct ike_ikesa *nb = w_est(&w.s[1]);
	cr_assert_not_null(nb->children);
	cr_assert_eq(ike_child_rekey(w.s[1].eng, ike__sa_handle(nb), nb->children->spi_in), 0);
	cr_assert_eq(w.nq, 2);
	w_take(&w, 1, &req);
	w_input(&w, &req);
	cr_assert_eq(ike_engine_stats(w.s[0].eng)->temporary_failures_sent, 1);
	w_input(&w, &held);
	w_run_until(&w, w.now + 60000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(ike_engine_stats(w.s[i].eng)->child_rekeys, 1);
		cr_assert_eq(w_live(&w.s[i]), 1);
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_ESTABLISHED), 1);
		cr_assert_eq(w.s[i].child[0].why, IKE_CHILD_DOWN_REKEYED);
	}
	expect_ike_keys_match(w_est(&w.s[0]), w_est(&w.s[1]));
	w_expect_mirror(&w_only_live(&w.s[0])->k, &w_only_live(&w.s[1])->k);
	w_free(&w);
}

/* §2.17 by hand: with the nonces the test chose, a rekeyed pair's KEYMAT is prf+(SK_d, Ni |
 * Nr), the initiator-to-responder key first; with PFS it differs from that. */
ParameterizedTestParameters(ike_child, rekeyed_keymat_follows_2_17)
{
	static int pfs[] = {0, 1};
	return cr_make_param_array(int, pfs, 2);
}

ParameterizedTest(int *pfs, ike_child, rekeyed_keymat_follows_2_17)
{
	struct w_world w;
	uint8_t ni[IKE_NONCE_LEN], nr[IKE_NONCE_LEN], keymat[2 * IKE_CHILD_KEYMAT_MAX];
	const char *esp = *pfs ? "aes256gcm16-x25519" : "aes256gcm16";

	w_init2(&w, esp, esp);
	w_establish(&w, 0);
	w_nonce(&w, 1, 0x42); /* B initiates: its Ni */
	w_nonce(&w, 0, 0x24); /* A answers: its Nr */
	memset(ni, 0x42, sizeof(ni));
	memset(nr, 0x24, sizeof(nr));
	cr_assert_eq(ike_child_rekey(w.s[1].eng, handle_of(&w, 1), w.s[1].child[0].k.spi_in), 0);
	w_deliver_all(&w);
	const struct ike_ikesa *a = w_est(&w.s[0]);
	const struct ike_child_keys *ka = &w.s[0].child[1].k, *kb = &w.s[1].child[1].k;
	size_t klen = ka->keymat_len;
	struct ike_kdf_input in = {.ni = ni, .nr = nr, .ni_len = sizeof(ni), .nr_len = sizeof(nr)};
	cr_assert_eq(ike_child_keymat(a->prf, a->keys.sk_d, &in, keymat, 2 * klen), 0);
	/* B initiated: B's outbound (i->r) key comes first. */
	bool plain = memcmp(kb->keymat_out, keymat, klen) == 0 &&
		     memcmp(kb->keymat_in, keymat + klen, klen) == 0;
	cr_assert_eq(plain, !*pfs, "KEYMAT %s prf+(SK_d, Ni | Nr)",
		     *pfs ? "equals" : "differs from");
	w_expect_mirror(ka, kb);
	w_free(&w);
}

/* Both ends delete the same pair at once (§1.4.1): each drops it once and leaves it out of
 * its answer. */
Test(ike_child, crossing_child_deletes)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_child_delete(w.s[0].eng, handle_of(&w, 0), w.s[0].child[0].k.spi_in), 0);
	cr_assert_eq(ike_child_delete(w.s[1].eng, handle_of(&w, 1), w.s[1].child[0].k.spi_in), 0);
	cr_assert_eq(w.nq, 2);
	size_t req_len = w.q[0].len;
	w_deliver_one(&w);
	w_deliver_one(&w);
	cr_assert_eq(w.nq, 2);
	cr_assert_lt(w.q[0].len, req_len, "an answer lists the pair again");
	w_deliver_all(&w);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w.s[i].n_down, 1);
		cr_assert_eq(w_count_sas(&w.s[i], IKE_STATE_ESTABLISHED), 1);
		struct ike_sa_info info;
		cr_assert_eq(ike_engine_sa_get(w.s[i].eng, handle_of(&w, i), &info), 0);
		cr_assert_eq(info.n_children, 0);
	}
	w_free(&w);
}

Test(ike_child, crossing_ike_deletes)
{
	struct w_world w;

	w_init(&w);
	w_establish(&w, 0);
	cr_assert_eq(ike_sa_delete(w.s[0].eng, handle_of(&w, 0)), 0);
	cr_assert_eq(ike_sa_delete(w.s[1].eng, handle_of(&w, 1)), 0);
	w_run_until(&w, w.now + 60000);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(w.s[i].n_down, 1);
		cr_assert_eq(w_count_events(&w.s[i], IKE_EVENT_IKE_DELETED), 1);
		cr_assert_eq(w_count_events(&w.s[i], IKE_EVENT_FAILED), 0);
		cr_assert_eq(ike_engine_sa_count(w.s[i].eng), 0);
	}
	w_free(&w);
}

/* PFS on one side only: the side without a group refuses, saying so. */
Test(ike_child, pfs_on_one_side_only_is_named)
{
	struct w_world w;

	w_init2(&w, "aes256gcm16-x25519", "aes256gcm16");
	w_establish(&w, 0);
	cr_assert_eq(ike_child_create(w.s[0].eng, handle_of(&w, 0)), 0);
	w_deliver_all(&w);
	const struct w_event *e = w_find_event(&w.s[1], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(e);
	cr_assert_eq(e->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	cr_assert(strstr(e->reason, "requires PFS") != NULL, "%s", e->reason);
	e = w_find_event(&w.s[0], IKE_EVENT_CHILD_FAILED);
	cr_assert_not_null(e);
	cr_assert(strstr(e->reason, "with PFS") != NULL, "%s", e->reason);
	cr_assert_eq(w.s[0].n_child, 1);
	w_free(&w);
}
