/*
 * Intent: a topology file compiled all the way to a plan, the one entry point that sdwanctl,
 * the controller, the tests and the benchmarks share: load (YAML and schema) -> check
 * (semantics) -> plan (pairs). Every stage runs even after errors in an earlier one, so a
 * single pass reports everything; the plan is only kept when no errors were found.
 *
 * Control path only.
 */
#ifndef SDWAN_CONTROLLER_INTENT_H
#define SDWAN_CONTROLLER_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/topo.h"
#include "controller/plan.h"

struct intent {
	struct topo *topo; /* owned; NULL when the YAML did not parse */
	struct plan *plan; /* owned; NULL when any error was found */
};

/* Compile a file or buffer. Returns 0 when valid (warnings allowed), -EINVAL when diags holds
 * errors, -ENOMEM. Diagnostics come sorted by position. Free with intent_free either way. */
int intent_compile_file(const char *path, struct intent *out, struct diag_list *diags)
	__attribute__((warn_unused_result));
int intent_compile_buf(const uint8_t *buf, size_t len, struct intent *out, struct diag_list *diags)
	__attribute__((warn_unused_result));

/* Free the topology and plan. NULL-safe on both. */
void intent_free(struct intent *in);

#endif
