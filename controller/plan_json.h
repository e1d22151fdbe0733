/*
 * The plan as JSON: the stable, documented form (docs/plan-json.md) that the controller, the lab
 * and the tests consume. Format "sdwan-plan/1"; fields are only ever added.
 *
 * Control path only.
 */
#ifndef SDWAN_CONTROLLER_PLAN_JSON_H
#define SDWAN_CONTROLLER_PLAN_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include "common/jsonw.h"
#include "controller/plan.h"

/* Write the whole plan (summary, sites, tunnels, edges) as one JSON document. */
void plan_json_write(const struct plan *p, FILE *out, bool pretty);

/* Write the prefixes site sends into its tunnel to peer (its own subnets, or transit) as a JSON
 * array value. */
void plan_json_prefixes(struct jsonw *w, const struct plan *p, uint32_t site, uint32_t peer);

/* Why the hub-to-hub tunnels exist, for outputs that explain the plan; NULL when there are none. */
const char *plan_hub_mesh_reason(const struct plan *p);

#endif
