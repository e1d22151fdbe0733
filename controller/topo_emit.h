/*
 * The topology model written back as canonical YAML: every default spelled out, proposals and
 * durations in canonical form, per-site overrides only where the file had them. Loading the
 * output gives the same model and the same plan (the schema round trip the tests hold us to).
 * Comments and layout of the original are not kept. Control path only.
 */
#ifndef SDWAN_CONTROLLER_TOPO_EMIT_H
#define SDWAN_CONTROLLER_TOPO_EMIT_H

#include <stdio.h>

#include "common/topo.h"

/* Write t (a model without errors) as YAML to out. */
void topo_emit_yaml(const struct topo *t, FILE *out);

#endif
