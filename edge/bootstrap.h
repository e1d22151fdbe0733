/*
 * The bootstrap file of a first start, `sdwan-edge --bootstrap FILE --state DIR`: the same three
 * things as the command line, for zero-touch provisioning tools that drop a file on the box.
 * A YAML mapping (read through common/ydoc.h):
 *
 *   controller: tcp://192.0.2.1:7800           # control endpoint (required)
 *   token: sdwan1.branch-1.<secret>.<key hex>   # one-time enrollment token (required, secret)
 *   controller-key: <64 hex digits>            # optional; must equal the token's key
 *   enroll-endpoint: tcp://192.0.2.1:7801      # optional; default: controller port + 1
 *
 * Unknown keys are errors (a typo must not silently drop the pinned key). Values are checked
 * here as far as their form goes (endpoint characters, token line, hex key); whether the key
 * matches the token is the agent's check (agent_new).
 *
 * Pure parsing; no state; any thread. The token is never logged or put in a diagnostic.
 */
#ifndef SDWAN_EDGE_BOOTSTRAP_H
#define SDWAN_EDGE_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/token_line.h"
#include "common/zcurve.h"
#include "edge/identity.h"

/* Largest bootstrap file. */
#define BOOTSTRAP_MAX_BYTES 4096

/* What a bootstrap file says. Holds the token: bootstrap_clear on every path. */
struct bootstrap {
	char controller[IDENTITY_ENDPOINT_MAX];
	char enroll_endpoint[IDENTITY_ENDPOINT_MAX]; /* "" when not given */
	char token[TOKEN_LINE_MAX];
	char controller_key[ZCURVE_HEX_LEN + 1]; /* "" when not given */
};

/*
 * Parse buf[0..len) into *out (zeroed first). Returns 0, or -EINVAL with the reasons in diags
 * (and *out wiped).
 */
int bootstrap_parse(const uint8_t *buf, size_t len, struct bootstrap *out, struct diag_list *diags)
	__attribute__((warn_unused_result));

/* Read path (at most BOOTSTRAP_MAX_BYTES) and parse it. Same contract; I/O errors go to diags. */
int bootstrap_load(const char *path, struct bootstrap *out, struct diag_list *diags)
	__attribute__((warn_unused_result));

/* Wipe *b. NULL-safe. */
void bootstrap_clear(struct bootstrap *b);

#endif
