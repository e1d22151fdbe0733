/*
 * libFuzzer target for the ZAP request parser (controller/zap.c). The input is a ROUTER message
 * as the handler receives it, spelled as frames of [length: 2 octets, network order][bytes], at
 * most ZSOCK_FRAMES_MAX of them (what zsock delivers); trailing bytes that do not make a whole
 * frame are ignored. Any input must parse or be refused without a memory error, and a parse must
 * keep its promises: every view inside a frame, the envelope ending in an empty delimiter, field
 * lengths within ZAP_FIELD_MAX, a CURVE key exactly when the mechanism is CURVE.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/rd.h"
#include "common/zsock.h"
#include "controller/zap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* A view is empty or lies inside one of the frames. */
static int inside(const struct zap_bytes *v, const struct zap_bytes *frames, size_t n)
{
	if (v->len == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (v->p >= frames[i].p && v->len <= frames[i].len &&
		    (size_t)(v->p - frames[i].p) <= frames[i].len - v->len)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zap_bytes frames[ZSOCK_FRAMES_MAX] = {{0}};
	struct zap_request req;
	struct rd r = rd_init(data, size);
	size_t n = 0;
	uint16_t len;
	while (n < ZSOCK_FRAMES_MAX && rd_u16(&r, &len) && rd_bytes(&r, len, &frames[n].p)) {
		frames[n].len = len;
		n++;
	}
	int rc = zap_request_parse(frames, n, &req);
	check(rc == 0 || rc == -EPROTO || rc == -EBADMSG || rc == -EPROTONOSUPPORT);
	if (rc == -EPROTO)
		check(!req.answerable);
	if (req.answerable) {
		check(req.envelope >= 2 && req.envelope + 2 <= n);
		check(frames[req.envelope - 1].len == 0);
		check(req.request_id.len <= ZAP_FIELD_MAX && inside(&req.request_id, frames, n));
	}
	if (rc != 0)
		return 0;
	check(req.answerable);
	const struct zap_bytes *fields[] = {&req.domain, &req.address, &req.identity,
					    &req.mechanism};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		check(fields[i]->len <= ZAP_FIELD_MAX && inside(fields[i], frames, n));
	check((req.mech == ZAP_MECH_CURVE) == (req.curve_key != NULL));
	if (req.curve_key) {
		struct zap_bytes k = {req.curve_key, ZAP_KEY_LEN};
		check(inside(&k, frames, n));
		check(req.mechanism.len == 5 && memcmp(req.mechanism.p, "CURVE", 5) == 0);
	}
	return 0;
}
