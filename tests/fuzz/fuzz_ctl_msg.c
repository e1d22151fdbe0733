/*
 * libFuzzer target for the control-channel decoder (common/ctl_msg.c).
 *
 * Any input must be refused or decoded without a crash, a leak or unbounded allocation. What
 * decodes must encode again, and that encoding must be a fixed point: decoding and re-encoding
 * it gives the same bytes (unknown fields included). The prefix helper runs on every prefix a
 * decoded config carries, and a config goes where an edge sends it next: the tunnel manager's
 * plan builder (edge/tplan.c), which accepts it (and then derives its routes, selectors and
 * anti-spoofing tables) or refuses it with a reason. The seed corpus in tests/fuzz/corpus/ctl_msg/
 * holds one envelope of each body type, written by the encoder, and a spoke's config with a
 * summarised WAN table (config_summary.bin, from topologies/retail.yaml).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl_msg.h"
#include "edge/tplan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_prefixes(const struct Sdwan__Envelope *env)
{
	if (env->body_case != SDWAN__ENVELOPE__BODY_CONFIG || !env->config)
		return;
	const struct Sdwan__EdgeConfig *c = env->config;
	struct prefix p;
	for (size_t i = 0; i < c->n_local_subnets; i++)
		(void)!ctl_msg_prefix_get(c->local_subnets[i], &p);
	for (size_t t = 0; t < c->n_tunnels; t++)
		for (size_t i = 0; i < c->tunnels[t]->n_remote_prefixes; i++)
			(void)!ctl_msg_prefix_get(c->tunnels[t]->remote_prefixes[i], &p);
	for (size_t i = 0; i < c->n_wan_summary; i++)
		(void)!ctl_msg_prefix_get(c->wan_summary[i], &p);
}

/* The edge's next step with a config: build the plan, or refuse it saying why. */
static void build_plan(const struct Sdwan__Envelope *env)
{
	if (env->body_case != SDWAN__ENVELOPE__BODY_CONFIG || !env->config)
		return;
	struct tplan *p = NULL;
	struct tplan_error err;
	int rc = tplan_build(env->config, true, &p, &err);
	if (rc == -EINVAL && !err.reason[0])
		abort(); /* refused without a reason */
	if (rc != 0)
		return;
	uint32_t *ids = calloc(p->n_tunnels + 1, sizeof(*ids));
	if (!ids)
		abort();
	struct lpm *l = NULL;
	if (tplan_routes(p, ids, &l) == 0)
		lpm_free(l);
	for (size_t i = 0; i < p->n_tunnels; i++) {
		struct prefix ts[TPLAN_PREFIX_MAX];
		size_t n = 0;
		(void)!tplan_traffic_selectors(p, &p->tunnels[i], true, ts, &n);
		if (n > TPLAN_PREFIX_MAX)
			abort();
		if (tplan_allowed(p, &p->tunnels[i], &l) == 0)
			lpm_free(l);
	}
	free(ids);
	tplan_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct Sdwan__Envelope *env = NULL, *again = NULL;
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	if (ctl_msg_decode(data, size, CTL_MSG_MAX_SIZE, &env, NULL) != 0)
		return 0;
	(void)ctl_msg_body_name(env);
	touch_prefixes(env);
	build_plan(env);
	if (ctl_msg_encode_alloc(env, &a, &alen) != 0)
		abort(); /* a decoded envelope must be encodable */
	if (ctl_msg_decode(a, alen, CTL_MSG_MAX_SIZE, &again, NULL) != 0)
		abort(); /* and what we encode must decode */
	if (ctl_msg_encode_alloc(again, &b, &blen) != 0)
		abort();
	if (alen != blen || memcmp(a, b, alen) != 0)
		abort(); /* re-encoding is not stable */
	ctl_msg_buf_free(a, alen);
	ctl_msg_buf_free(b, blen);
	ctl_msg_free(again);
	ctl_msg_free(env);
	return 0;
}
