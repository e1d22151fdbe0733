/*
 * Controller-driven reachability for hubs (proto/control.proto, Reachability).
 *
 * A hub reaches the sites attached to it (spokes, hybrid peers) over its own tunnels, and its
 * data plane moves a dead tunnel's traffic to the hub backbone on its own, in milliseconds. What
 * no single hub can know is which other hub still reaches a site, or that none does. This module
 * knows it from what every edge reports, and works out for each hub the list of sites it does
 * not reach over a live tunnel of its own, each with the hub that does reach it, or with none:
 *
 *   for hub H and site S (spoke or hybrid peer, S attached to at least one hub):
 *     H's tunnel to S is up, or neither end says            -> no entry (H decides itself)
 *     some hub G != H with G<->S up and H<->G up             -> "S via G": S's active hub
 *                                                               first, then S's hub order
 *     every such path is known to be down                    -> "S unreachable": H drops S's
 *                                                               traffic instead of handing it
 *                                                               to a hub that lost S too
 *     otherwise (some state not known yet)                   -> no entry: H's own routing
 *
 * A tunnel's state combines what both ends say, counting only ends that report now (a session
 * and a health report since it began): down if either says down, up if one says up and neither
 * says down, unknown if neither reports. Health reports give the full picture every few seconds;
 * tunnel-up/down events move it at once. Only a two-hop path (hub, hub, site) is ever named: the
 * hubs' data planes never relay one hub's transit to another hub (split horizon).
 *
 * Each hub's list carries (epoch, seq): seq grows with every change of that hub's list; the epoch
 * is drawn anew for each plan, so a restarted controller or a new topology never collides with
 * what hubs hold. A hub whose health report names another (epoch, seq) than its current list gets
 * it again. Only hubs whose list changed are sent anything: a spoke failing over touches the
 * entries of that spoke only.
 *
 * Pure: no sockets, no clock (the caller passes the time), no globals; fed by the controller's
 * glue (controller/ctlr_reroute.c). Cost: a report is O(its tunnels) with a hash lookup each; a
 * change of a hub<->site tunnel recomputes that site's entry on every hub, a change of a hub
 * backbone tunnel recomputes its two hubs' lists.
 */
#ifndef SDWAN_CONTROLLER_REROUTE_H
#define SDWAN_CONTROLLER_REROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/plan.h"
#include "proto/control.pb-c.h"

struct reroute;

/* How long a hub's list may stay unconfirmed by its health reports before it is sent again. */
#define REROUTE_RESEND_MS 1000

/* Hand hub `site` (topology index) its list msg (borrowed for the call). Return true when it is
 * on its way, false when the hub cannot be reached now (it is then sent again later). */
typedef bool reroute_send_fn(void *arg, uint32_t site, const Sdwan__Reachability *msg);

/*
 * A new, empty state for plan p (borrowed for the call: names are copied), with `epoch` for the
 * lists it will send (random, non-zero; each plan gets its own). Returns 0 and *out (owned by the
 * caller: reroute_free), or -ENOMEM. With `old` (may be NULL), what old learnt of sites and
 * tunnels of the same names is carried over, so a new topology does not forget the WAN's state.
 */
int reroute_new(const struct plan *p, uint64_t epoch, const struct reroute *old,
		struct reroute **out) __attribute__((warn_unused_result));

/* Free. NULL-safe. */
void reroute_free(struct reroute *r);

/* Site `site` (topology index) sent health report h: its tunnels' states, its active hub, and
 * for a hub which list it runs. */
void reroute_health(struct reroute *r, uint32_t site, const Sdwan__HealthReport *h);

/* Site `site` sent event ev: tunnel up and down events move the state at once. */
void reroute_event(struct reroute *r, uint32_t site, const Sdwan__Event *ev);

/* Site `site`'s control session ended: it no longer speaks for its tunnels until its next health
 * report. */
void reroute_session_lost(struct reroute *r, uint32_t site);

/* Whether site `site` speaks for its tunnels now (it reported since its session began). */
bool reroute_site_reports(const struct reroute *r, uint32_t site);

/*
 * Bring every hub's list up to date with what was learnt since the last call, and send (through
 * send) each list that changed, and each that a hub's report shows it does not run (at most once
 * per REROUTE_RESEND_MS). Cheap when nothing happened. Returns the number of lists sent.
 */
size_t reroute_flush(struct reroute *r, int64_t now_ms, reroute_send_fn *send, void *arg);

/* The current list of hub `site` into msg (routes allocated; free with reroute_msg_clear).
 * Returns 0, -EINVAL (not a hub) or -ENOMEM. For tests and `sdwanctl`. */
int reroute_list(const struct reroute *r, uint32_t site, Sdwan__Reachability *msg)
	__attribute__((warn_unused_result));

/* Free what reroute_list put into msg. */
void reroute_msg_clear(Sdwan__Reachability *msg);

/* routes as "branch1 via hub-west, branch3 unreachable" into buf (as much as fits; "" for none).
 * Returns buf. For logs, events and `sdwanctl edge show`. */
const char *reroute_routes_text(Sdwan__SiteRoute *const *routes, size_t n, char *buf, size_t cap);

#endif
