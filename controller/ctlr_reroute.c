/*
 * Reachability for hubs, the controller's side of it: see ctlr_reroute.h and reroute.h.
 */
#include "controller/ctlr_reroute.h"

#include <inttypes.h>
#include <stdio.h>

#include <openssl/rand.h>

#include "common/ctl_msg.h"
#include "common/error.h"
#include "controller/reroute.h"

void ctlr__reroute_plan(struct ctlr *c)
{
	struct reroute *next = NULL;
	uint64_t epoch = 0;
	/* A fresh epoch per plan: lists of an earlier controller run or plan never look current. */
	while (epoch == 0)
		if (RAND_bytes((unsigned char *)&epoch, sizeof(epoch)) != 1)
			epoch = (uint64_t)ctlr__now_ms();
	int rc = reroute_new(c->in.plan, epoch, c->reroute, &next);
	if (rc != 0) {
		LOG_ERR(CTL, "reachability for hubs not updated to the new plan", "err=%s",
			sdw_strerror(rc));
		return;
	}
	reroute_free(c->reroute);
	c->reroute = next;
	c->reroute_stale = false;
}

void ctlr__reroute_health(struct ctlr *c, const struct ctlr_site *s, const Sdwan__HealthReport *h)
{
	if (c->reroute && !c->reroute_stale && s->topo >= 0)
		reroute_health(c->reroute, (uint32_t)s->topo, h);
}

void ctlr__reroute_event(struct ctlr *c, const struct ctlr_site *s, const Sdwan__Event *ev)
{
	if (c->reroute_stale)
		ctlr__reroute_plan(c);
	if (c->reroute && s->topo >= 0)
		reroute_event(c->reroute, (uint32_t)s->topo, ev);
}

void ctlr__reroute_tick(struct ctlr *c)
{
	if (c->reroute_stale)
		ctlr__reroute_plan(c);
	for (size_t i = 0; c->reroute && i < c->n_sites; i++) {
		const struct ctlr_site *s = c->sites[i];
		if (s->topo >= 0 && !s->connected &&
		    reroute_site_reports(c->reroute, (uint32_t)s->topo))
			reroute_session_lost(c->reroute, (uint32_t)s->topo);
	}
}

/* The list as text for events and logs; an empty one says what it means. */
static void list_text(const Sdwan__Reachability *msg, char *buf, size_t cap)
{
	if (msg->n_routes)
		(void)reroute_routes_text(msg->routes, msg->n_routes, buf, cap);
	else
		(void)snprintf(buf, cap, "none (the hub routes on its own)");
}

static bool send_list(void *arg, uint32_t site, const Sdwan__Reachability *msg)
{
	struct ctlr *c = arg;
	if (!c->in.topo || site >= c->in.topo->n_sites)
		return false;
	const char *name = c->in.topo->sites[site].name;
	struct ctlr_site *s = ctlr__site_find(c, name);
	if (!s || !s->connected || !s->rid_len)
		return false;
	Sdwan__Envelope env;
	ctl_msg_envelope_init(&env, 0);
	env.body_case = SDWAN__ENVELOPE__BODY_REACHABILITY;
	env.reachability = (Sdwan__Reachability *)msg;
	ctlr__send_env(c, &c->ctl, s->rid, s->rid_len, &env);
	char text[240], detail[300];
	list_text(msg, text, sizeof(text));
	(void)snprintf(detail, sizeof(detail), "seq %" PRIu64 ": %s", msg->seq, text);
	LOG_NOTICE(CTL, "routes sent to hub",
		   "site=%s epoch=%016" PRIx64 " seq=%" PRIu64 " routes=%zu", name, msg->epoch,
		   msg->seq, msg->n_routes);
	ctlr__event(c, name, NULL, "routes-sent", detail);
	return true;
}

void ctlr__reroute_flush(struct ctlr *c)
{
	if (c->reroute && !c->reroute_stale)
		(void)reroute_flush(c->reroute, ctlr__now_ms(), send_list, c);
}
