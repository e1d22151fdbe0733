/*
 * Topology loading: YAML file -> struct topo, with the schema enforced.
 *
 * Reports, all at once and with positions: malformed YAML, unknown keys (with the nearest known
 * key), missing required keys, wrong types, bad names, addresses, prefixes (host bits set),
 * durations and proposals (unknown, weak or unsupported algorithms). Semantic checks that need
 * the whole model (overlaps, hub references, lifetimes) are topo_check's.
 *
 * Control path only.
 */
#ifndef SDWAN_CONTROLLER_TOPO_LOAD_H
#define SDWAN_CONTROLLER_TOPO_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/topo.h"

/*
 * Load a topology from a file or a buffer. When the YAML itself parses, *out receives a model
 * (owned by the caller; topo_free) even if schema errors were found, so that the semantic checks
 * can still run and the operator sees every problem in one pass; values that failed their checks
 * are left at their defaults or omitted. Returns 0 when the YAML parsed (check diags->errors for
 * schema errors), or a negative errno with *out NULL when it did not.
 */
int topo_load_file(const char *path, struct topo **out, struct diag_list *diags)
	__attribute__((warn_unused_result));
int topo_load_buf(const uint8_t *buf, size_t len, struct topo **out, struct diag_list *diags)
	__attribute__((warn_unused_result));

#endif
