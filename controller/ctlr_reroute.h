/*
 * The controller's glue to controller/reroute: it feeds the reachability computation with what
 * edges report and sends hubs their lists over the control channel. Called from the few places
 * of ctlr.c and ctlr_edge.c that see those things happen; loop thread only. Not for other
 * modules.
 */
#ifndef SDWAN_CONTROLLER_CTLR_REROUTE_H
#define SDWAN_CONTROLLER_CTLR_REROUTE_H

#include "controller/ctlr_internal.h"

/* A plan was loaded (c->in.plan): start over from it, keeping what is known of the WAN. A load
 * only marks the reachability stale (c->reroute_stale); this rebuilds it, at the end of the
 * iteration or first thing in the calls below that need it. */
void ctlr__reroute_plan(struct ctlr *c);

/* Site s sent a health report (ignored while stale: the next one counts) / an event. */
void ctlr__reroute_health(struct ctlr *c, const struct ctlr_site *s, const Sdwan__HealthReport *h);
void ctlr__reroute_event(struct ctlr *c, const struct ctlr_site *s, const Sdwan__Event *ev);

/* Periodic: sites whose session ended no longer speak for their tunnels. */
void ctlr__reroute_tick(struct ctlr *c);

/* End of a loop iteration: send the hubs whose list changed their new list. */
void ctlr__reroute_flush(struct ctlr *c);

#endif
