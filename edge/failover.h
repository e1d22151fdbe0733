/*
 * A spoke's choice of active hub, as a pure function over an injected clock: which of its hub
 * tunnels carries the traffic (the data plane's route group points at it).
 *
 *   * The active hub stays while it is live, unless a more preferred hub (lower priority
 *     number) has been live for the whole hold-down: then traffic fails back to it.
 *   * When the active hub is not live (or none is active), the most preferred live hub takes
 *     over at once: failover never waits.
 *   * Ties in priority go to the lower index (the configuration's order) when choosing anew;
 *     traffic never moves back between hubs of equal priority.
 *
 * Values only; the caller owns the arrays.
 */
#ifndef SDWAN_EDGE_FAILOVER_H
#define SDWAN_EDGE_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One hub tunnel as the chooser sees it. */
struct failover_hub {
	uint32_t priority;      /* 1 = most preferred */
	bool live;              /* IKE and Child SA up, DPD satisfied */
	uint64_t live_since_ms; /* when it last became live */
};

/* What changed. */
enum failover_move {
	FAILOVER_STAY,    /* keep the current choice */
	FAILOVER_INITIAL, /* nothing was active, now something is */
	FAILOVER_AWAY,    /* moved to a less preferred hub (or to none): the active one died */
	FAILOVER_BACK,    /* returned to a more preferred hub after the hold-down */
};

/*
 * Choose among hubs[0, n) at now. current is the index active so far, or -1. Returns the index
 * to use (-1: no hub is live) and sets *move; *recheck_ms (may be NULL) receives the time at
 * which a pending failback would become due, or UINT64_MAX.
 */
int failover_choose(const struct failover_hub *hubs, size_t n, int current, uint64_t hold_down_ms,
		    uint64_t now_ms, enum failover_move *move, uint64_t *recheck_ms);

#endif
