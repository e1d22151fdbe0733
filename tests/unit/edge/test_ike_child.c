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
