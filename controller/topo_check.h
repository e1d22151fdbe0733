/*
 * Semantic checks of a loaded topology: everything that needs the whole model at once.
 *
 * Duplicate site names; roles that do not exist in the topology type; hub-and-spoke or hybrid
 * without a hub; spokes without hubs, naming unknown sites or sites that are not hubs; hubs
 * listed twice; overlapping subnets (across sites, naming both, or inside one site); duplicate
 * underlay addresses and underlay addresses inside an overlay subnet; ESP lifetime not below
 * the IKE lifetime; DPD timeout below its interval. Also resolves each spoke's hub names to
 * site indices (topo_hub_ref.site). Pair checks (both ends dynamic, no common address family,
 * conflicting overrides) happen in the planner, which enumerates the pairs anyway.
 *
 * Control path only.
 */
#ifndef SDWAN_CONTROLLER_TOPO_CHECK_H
#define SDWAN_CONTROLLER_TOPO_CHECK_H

#include "common/diag.h"
#include "common/topo.h"

/* Check t, resolving hub references in place, and report into diags. Returns the number of
 * errors added. */
size_t topo_check(struct topo *t, struct diag_list *diags);

#endif
