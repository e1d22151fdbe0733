/* Active hub choice (edge/failover.h): failover at once, failback after the hold-down. */
#include <criterion/criterion.h>

#include "edge/failover.h"

Test(failover, initial_choice_is_most_preferred_live)
{
	struct failover_hub h[3] = {{2, true, 0}, {1, false, 0}, {3, true, 0}};
	enum failover_move m;

	cr_assert_eq(failover_choose(h, 3, -1, 1000, 0, &m, NULL), 0);
	cr_assert_eq(m, FAILOVER_INITIAL);
	h[0].live = h[2].live = false;
	cr_assert_eq(failover_choose(h, 3, -1, 1000, 0, &m, NULL), -1);
	cr_assert_eq(m, FAILOVER_STAY);
}

Test(failover, death_moves_at_once_and_return_waits_for_hold_down)
{
	struct failover_hub h[2] = {{1, true, 0}, {2, true, 0}};
	enum failover_move m;
	uint64_t recheck;

	cr_assert_eq(failover_choose(h, 2, 0, 5000, 100, &m, &recheck), 0);
	cr_assert_eq(m, FAILOVER_STAY);
	cr_assert_eq(recheck, UINT64_MAX);
	h[0].live = false; /* the preferred hub died */
	cr_assert_eq(failover_choose(h, 2, 0, 5000, 200, &m, NULL), 1);
	cr_assert_eq(m, FAILOVER_AWAY);
	h[0] = (struct failover_hub){1, true, 10000}; /* back at t = 10 s */
	cr_assert_eq(failover_choose(h, 2, 1, 5000, 12000, &m, &recheck), 1);
	cr_assert_eq(m, FAILOVER_STAY);
	cr_assert_eq(recheck, 15000);
	cr_assert_eq(failover_choose(h, 2, 1, 5000, 15000, &m, &recheck), 0);
	cr_assert_eq(m, FAILOVER_BACK);
	cr_assert_eq(recheck, UINT64_MAX);
}

Test(failover, flapping_hub_restarts_its_hold_down)
{
	struct failover_hub h[2] = {{1, true, 1000}, {2, true, 0}};
	enum failover_move m;

	cr_assert_eq(failover_choose(h, 2, 1, 3000, 3500, &m, NULL), 1);
	h[0].live = false;
	cr_assert_eq(failover_choose(h, 2, 1, 3000, 3600, &m, NULL), 1);
	h[0] = (struct failover_hub){1, true, 3700};
	cr_assert_eq(failover_choose(h, 2, 1, 3000, 4100, &m, NULL), 1, "hold-down restarted");
	cr_assert_eq(failover_choose(h, 2, 1, 3000, 6700, &m, NULL), 0);
	cr_assert_eq(m, FAILOVER_BACK);
}

Test(failover, last_hub_dying_leaves_none)
{
	struct failover_hub h[2] = {{1, false, 0}, {2, false, 0}};
	enum failover_move m;

	cr_assert_eq(failover_choose(h, 2, 1, 0, 10, &m, NULL), -1);
	cr_assert_eq(m, FAILOVER_AWAY);
}

Test(failover, equal_priorities_keep_configuration_order)
{
	struct failover_hub h[3] = {{1, true, 0}, {1, true, 0}, {1, true, 0}};
	enum failover_move m;

	cr_assert_eq(failover_choose(h, 3, -1, 0, 10, &m, NULL), 0);
	/* No failback between equals. */
	cr_assert_eq(failover_choose(h, 3, 2, 0, 10, &m, NULL), 2);
	cr_assert_eq(m, FAILOVER_STAY);
}
