/*
 * The difference between two plans: tunnels added, removed and changed (with what changed), and
 * the edges that must receive a new configuration. The controller pushes new generations to
 * exactly those edges; `sdwanctl plan OLD NEW` prints it.
 *
 * Tunnels are matched by name (the two site names), sites by name. An edge must be updated when
 * its own site changed (role, underlay, subnets, hubs, MTU, hold-down), when one of its tunnels
 * was added, removed or changed, including when the prefixes a tunnel carries changed because
 * another site's subnets changed (hub transit). Both plans are borrowed. Control path only.
 */
#ifndef SDWAN_CONTROLLER_PLAN_DIFF_H
#define SDWAN_CONTROLLER_PLAN_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "controller/plan.h"

enum plan_change {
	PLAN_CHANGE_ADDED,
	PLAN_CHANGE_REMOVED,
	PLAN_CHANGE_CHANGED,
};

struct plan_diff_tunnel {
	enum plan_change change;
	const struct plan_tunnel *old_tunnel; /* NULL when added */
	const struct plan_tunnel *new_tunnel; /* NULL when removed */
	char name[72];
	char *details; /* what changed, "; "-separated; owned; NULL unless changed */
};

enum plan_edge_change {
	PLAN_EDGE_NEW,
	PLAN_EDGE_REMOVED,
	PLAN_EDGE_UPDATE,
};

struct plan_diff_edge {
	enum plan_edge_change change;
	const char *site; /* borrowed from the plan it belongs to */
	bool external;    /* an external gateway: re-export its configuration, nothing is pushed */
	char reason[160];
};

struct plan_diff {
	struct plan_diff_tunnel *tunnels;
	size_t n_tunnels;
	size_t added, removed, changed;
	struct plan_diff_edge *edges;
	size_t n_edges;
};

/* Compute the difference old -> new into *out (caller frees with plan_diff_free).
 * Returns 0 or -ENOMEM. */
int plan_diff_compute(const struct plan *old_plan, const struct plan *new_plan,
		      struct plan_diff *out) __attribute__((warn_unused_result));

/* Whether the plans are the same (nothing to push). */
bool plan_diff_empty(const struct plan_diff *d);

/* Print as text for operators, or as JSON (documented in docs/plan-json.md). */
void plan_diff_print(const struct plan_diff *d, FILE *out, bool json);

/* Free what plan_diff_compute allocated. NULL-safe. */
void plan_diff_free(struct plan_diff *d);

#endif
