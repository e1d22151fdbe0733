/* DPD decisions (edge/dpd.h) over an injected clock, sub-second timers included. */
#include <criterion/criterion.h>

#include "edge/dpd.h"

Test(dpd, on_idle_probes_then_declares_death_at_timeout)
{
	struct dpd d;

	dpd_start(&d, DPD_ON_IDLE, 100, 300, 1000);
	cr_assert_eq(dpd_next_ms(&d), 1100);
	cr_assert_eq(dpd_poll(&d, 1099), DPD_NONE);
	cr_assert_eq(dpd_poll(&d, 1100), DPD_PROBE);
	dpd_on_probe(&d, 1100);
	/* While the probe waits: one probe per interval, death at last alive + timeout. */
	cr_assert_eq(dpd_next_ms(&d), 1200);
	cr_assert_eq(dpd_poll(&d, 1150), DPD_NONE);
	cr_assert_eq(dpd_poll(&d, 1200), DPD_PROBE);
	dpd_on_probe(&d, 1200);
	cr_assert_eq(dpd_next_ms(&d), 1300);
	cr_assert_eq(dpd_poll(&d, 1299), DPD_NONE);
	/* Death wins over the next probe due at the same moment. */
	cr_assert_eq(dpd_poll(&d, 1300), DPD_DEAD);
	/* Dead is reported once. */
	cr_assert_eq(dpd_poll(&d, 1400), DPD_NONE);
	cr_assert_eq(dpd_next_ms(&d), UINT64_MAX);
}

Test(dpd, proof_of_life_moves_every_deadline)
{
	struct dpd d;

	dpd_start(&d, DPD_ON_IDLE, 100, 300, 0);
	cr_assert_eq(dpd_poll(&d, 100), DPD_PROBE);
	dpd_on_probe(&d, 100);
	dpd_on_alive(&d, 150); /* the answer, or an ESP packet */
	cr_assert_eq(dpd_next_ms(&d), 250);
	cr_assert_eq(dpd_poll(&d, 249), DPD_NONE);
	/* Older proof changes nothing. */
	dpd_on_alive(&d, 120);
	cr_assert_eq(d.last_alive_ms, 150);
	/* Steady traffic: never a probe, never dead. */
	for (uint64_t t = 160; t < 5000; t += 50) {
		dpd_on_alive(&d, t);
		cr_assert_eq(dpd_poll(&d, t + 10), DPD_NONE);
	}
}

Test(dpd, never_dead_without_having_asked)
{
	struct dpd d;

	dpd_start(&d, DPD_ON_IDLE, 100, 300, 0);
	/* The timer fired late (loaded machine): first a probe, not a verdict. */
	cr_assert_eq(dpd_poll(&d, 10000), DPD_PROBE);
	dpd_on_probe(&d, 10000);
	cr_assert_eq(dpd_poll(&d, 10001), DPD_DEAD);
}

Test(dpd, on_demand_probes_only_after_own_traffic)
{
	struct dpd d;

	dpd_start(&d, DPD_ON_DEMAND, 100, 300, 0);
	cr_assert_eq(dpd_next_ms(&d), UINT64_MAX);
	cr_assert_eq(dpd_poll(&d, 5000), DPD_NONE);
	dpd_on_tx(&d, 10); /* we sent since the last proof of life */
	cr_assert_eq(dpd_poll(&d, 5000), DPD_PROBE);
	dpd_on_probe(&d, 5000);
	dpd_on_alive(&d, 5010);
	/* Answered, and nothing sent since: quiet again. */
	cr_assert_eq(dpd_poll(&d, 9000), DPD_NONE);
	dpd_on_tx(&d, 11);
	cr_assert_eq(dpd_poll(&d, 9000), DPD_PROBE);
	dpd_on_probe(&d, 9000);
	cr_assert_eq(dpd_poll(&d, 9100), DPD_DEAD);
}

Test(dpd, off_never_acts)
{
	struct dpd d;

	dpd_start(&d, DPD_OFF, 100, 300, 0);
	dpd_on_tx(&d, 100);
	cr_assert_eq(dpd_poll(&d, 1000000), DPD_NONE);
	cr_assert_eq(dpd_next_ms(&d), UINT64_MAX);
}
