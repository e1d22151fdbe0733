/*
 * The controller's queue of unanswered operator commands: order per site, answers matched on
 * site and msg_id, limits, removal by site and type, expiry, and the token wiped on removal.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller/cmdq.h"

/* NOLINTBEGIN(readability-function-size): Criterion's assertion macros nest deeply. */

#define T0 1700000000000ll

struct seen_list {
	uint64_t ids[16];
	size_t n;
};

static void remember(const struct cmdq_entry *e, void *arg)
{
	struct seen_list *s = arg;
	if (s->n < 16)
		s->ids[s->n++] = e->msg_id;
}

Test(cmdq, keeps_the_order_per_site_and_matches_answers_on_site_and_id)
{
	struct cmdq q;
	cmdq_init(&q);
	cr_assert_eq(cmdq_add(&q, "b1", 10, 1, "b1:hub", NULL, T0, T0, NULL), 0);
	cr_assert_eq(cmdq_add(&q, "b2", 11, 2, NULL, NULL, T0, T0, NULL), 0);
	cr_assert_eq(cmdq_add(&q, "b1", 12, 3, NULL, "sdwan1.b1.x.y", T0, T0, NULL), 0);
	cr_assert_eq(cmdq_add(&q, "b1", 12, 1, NULL, NULL, T0, T0, NULL), -EEXIST);
	cr_assert_eq(cmdq_count_site(&q, "b1"), 2);
	const struct cmdq_entry *e = cmdq_next_for_site(&q, "b1", NULL);
	cr_assert_eq(e->msg_id, 10);
	cr_assert_str_eq(e->tunnel, "b1:hub");
	e = cmdq_next_for_site(&q, "b1", e);
	cr_assert_eq(e->msg_id, 12);
	cr_assert_str_eq(e->token, "sdwan1.b1.x.y");
	cr_assert_null(cmdq_next_for_site(&q, "b1", e));
	/* Another site's edge cannot answer b1's command; a repeat answer finds nothing. */
	cr_assert_not(cmdq_answer(&q, "b2", 10, NULL));
	int type = 0;
	cr_assert(cmdq_answer(&q, "b1", 10, &type));
	cr_assert_eq(type, 1);
	cr_assert_not(cmdq_answer(&q, "b1", 10, NULL));
	cr_assert_not(cmdq_answer(&q, "b1", 0, NULL));
	cr_assert_eq(q.n, 2);
	/* The tail stays right after removals: a new entry is reachable. */
	cr_assert(cmdq_answer(&q, "b1", 12, NULL));
	cr_assert_eq(cmdq_add(&q, "b1", 13, 1, NULL, NULL, T0, T0, NULL), 0);
	cr_assert_eq(cmdq_next_for_site(&q, "b1", NULL)->msg_id, 13);
	cr_assert_eq(q.tail->msg_id, 13);
	cmdq_clear(&q);
	cr_assert_eq(q.n, 0);
	cr_assert_null(q.head);
}

Test(cmdq, refuses_past_its_limits_and_bad_arguments)
{
	struct cmdq q;
	cmdq_init(&q);
	for (uint64_t i = 1; i <= CMDQ_SITE_MAX; i++)
		cr_assert_eq(cmdq_add(&q, "b1", i, 1, NULL, NULL, T0, T0, NULL), 0);
	cr_assert_eq(cmdq_add(&q, "b1", 100, 1, NULL, NULL, T0, T0, NULL), -ENOSPC);
	cr_assert_eq(cmdq_add(&q, "b2", 100, 1, NULL, NULL, T0, T0, NULL), 0,
		     "other sites still can");
	cr_assert_eq(cmdq_add(&q, "b2", 0, 1, NULL, NULL, T0, T0, NULL), -EINVAL);
	char long_name[STORE_SITE_MAX + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	cr_assert_eq(cmdq_add(&q, long_name, 200, 1, NULL, NULL, T0, T0, NULL), -EINVAL);
	char long_token[TOKEN_LINE_MAX + 1];
	memset(long_token, 't', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	cr_assert_eq(cmdq_add(&q, "b3", 201, 3, NULL, long_token, T0, T0, NULL), -EINVAL);
	cmdq_clear(&q);
	for (uint64_t i = 1; i <= CMDQ_TOTAL_MAX; i++) {
		char site[16];
		(void)snprintf(site, sizeof(site), "s%llu", (unsigned long long)i);
		cr_assert_eq(cmdq_add(&q, site, i, 1, NULL, NULL, T0, T0, NULL), 0);
	}
	cr_assert_eq(cmdq_add(&q, "last", CMDQ_TOTAL_MAX + 1, 1, NULL, NULL, T0, T0, NULL),
		     -ENOSPC);
	cmdq_clear(&q);
}

Test(cmdq, removes_a_sites_commands_by_type_and_expires_old_ones)
{
	struct cmdq q;
	cmdq_init(&q);
	cr_assert_eq(cmdq_add(&q, "b1", 1, 1, NULL, NULL, T0, T0, NULL), 0);
	cr_assert_eq(cmdq_add(&q, "b1", 2, 3, NULL, "sdwan1.b1.s.k", T0, T0, NULL), 0);
	cr_assert_eq(cmdq_add(&q, "b2", 3, 3, NULL, "sdwan1.b2.s.k", T0 + 5000, T0 + 5000, NULL),
		     0);
	cr_assert_eq(cmdq_add(&q, "b1", 4, 2, NULL, NULL, T0 + 9000, T0 + 9000, NULL), 0);
	struct seen_list gone = {0};
	cr_assert_eq(cmdq_remove_site(&q, "b1", 3, remember, &gone), 1);
	cr_assert_eq(gone.n, 1);
	cr_assert_eq(gone.ids[0], 2);
	cr_assert_eq(cmdq_count_site(&q, "b1"), 2);
	cr_assert_eq(cmdq_count_site(&q, "b2"), 1, "b2's re-enrollment is not b1's");
	/* At T0 + 10 s with a 6 s limit only what was given before T0 + 4 s goes. */
	struct seen_list expired = {0};
	cr_assert_eq(cmdq_expire(&q, T0 + 10000, 6000, remember, &expired), 1);
	cr_assert_eq(expired.ids[0], 1);
	cr_assert_eq(cmdq_expire(&q, T0 + 20000, 6000, remember, &expired), 2);
	cr_assert_eq(expired.ids[1], 3);
	cr_assert_eq(expired.ids[2], 4);
	cr_assert_eq(q.n, 0);
	cr_assert_null(q.head);
	cr_assert_null(q.tail);
	cr_assert_eq(cmdq_add(&q, "b1", 5, 1, NULL, NULL, T0, T0, NULL), 0);
	cr_assert_eq(cmdq_remove_site(&q, "b1", -1, NULL, NULL), 1);
	cr_assert_eq(q.n, 0);
}

/* Expiry counts on the monotonic clock: a step of the wall clock neither drops a command given
 * a moment ago nor keeps one given long before. */
Test(cmdq, expires_on_the_monotonic_clock_whatever_the_wall_clock_does)
{
	struct cmdq q;
	cmdq_init(&q);
	cr_assert_eq(cmdq_add(&q, "b1", 1, 1, NULL, NULL, T0 + 3600000, 100, NULL), 0);
	cr_assert_eq(cmdq_expire(&q, 200, 1000, NULL, NULL), 0, "a wall-clock hour is not an age");
	cr_assert_eq(q.head->given_at_ms, T0 + 3600000, "the wall clock is kept to be shown");
	cr_assert_eq(cmdq_expire(&q, 1200, 1000, NULL, NULL), 1);
	cmdq_clear(&q);
}

/* What a removed entry leaves in its memory: gone() sees the token, nobody after. */
static void check_token(const struct cmdq_entry *e, void *arg)
{
	cr_assert_str_eq(e->token, "sdwan1.b1.secret.key");
	*(bool *)arg = true;
}

Test(cmdq, hands_the_token_out_until_the_entry_goes)
{
	struct cmdq q;
	cmdq_init(&q);
	struct cmdq_entry *e = NULL;
	cr_assert_eq(cmdq_add(&q, "b1", 7, 3, NULL, "sdwan1.b1.secret.key", T0, T0, &e), 0);
	cr_assert_eq(e, q.head);
	cr_assert_eq(e->type, 3);
	cr_assert_eq(e->given_at_ms, T0);
	cr_assert_eq(e->sends, 0);
	bool called = false;
	cr_assert_eq(cmdq_remove_site(&q, "b1", 3, check_token, &called), 1);
	cr_assert(called);
}

/* NOLINTEND(readability-function-size) */
