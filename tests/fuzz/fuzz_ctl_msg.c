/*
 * libFuzzer target for the control-channel decoder (common/ctl_msg.c).
 *
 * Any input must be refused or decoded without a crash, a leak or unbounded allocation. What
 * decodes must encode again, and that encoding must be a fixed point: decoding and re-encoding
 * it gives the same bytes (unknown fields included). The prefix helper runs on every prefix a
 * decoded config carries. The seed corpus in tests/fuzz/corpus/ctl_msg/ holds one envelope of
 * each body type, written by the encoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl_msg.h"

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
