/* The active-hub choice; see failover.h. */
#include "edge/failover.h"

/* Whether hub a is preferred over hub b (lower priority number, then lower index). */
static bool preferred(const struct failover_hub *hubs, size_t a, size_t b)
{
	return hubs[a].priority < hubs[b].priority ||
	       (a < b && hubs[a].priority == hubs[b].priority);
}

static int best_live(const struct failover_hub *hubs, size_t n)
{
	int best = -1;

	for (size_t i = 0; i < n; i++)
		if (hubs[i].live && (best < 0 || preferred(hubs, i, (size_t)best)))
			best = (int)i;
	return best;
}

int failover_choose(const struct failover_hub *hubs, size_t n, int current, uint64_t hold_down_ms,
		    uint64_t now_ms, enum failover_move *move, uint64_t *recheck_ms)
{
	uint64_t recheck = UINT64_MAX;
	int choice = current;

	if (current >= (int)n)
		current = -1;
	if (current < 0 || !hubs[current].live) {
		choice = best_live(hubs, n);
		*move = current < 0 ? (choice < 0 ? FAILOVER_STAY : FAILOVER_INITIAL)
				    : FAILOVER_AWAY;
		if (current >= 0 && choice == current)
			*move = FAILOVER_STAY;
	} else {
		/* The most preferred hub that has been live through the hold-down. */
		*move = FAILOVER_STAY;
		for (size_t i = 0; i < n; i++) {
			/* Equals never take traffic from each other: only a strictly better
			 * priority is worth a move. */
			if (!hubs[i].live || hubs[i].priority >= hubs[current].priority ||
			    !preferred(hubs, i, (size_t)choice))
				continue;
			uint64_t due = hubs[i].live_since_ms + hold_down_ms;
			if (now_ms >= due) {
				choice = (int)i;
				*move = FAILOVER_BACK;
			} else if (due < recheck) {
				recheck = due;
			}
		}
	}
	if (recheck_ms)
		*recheck_ms = recheck;
	return choice;
}
