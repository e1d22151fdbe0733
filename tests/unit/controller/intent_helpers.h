/* Shared helpers for the controller's unit tests: compile YAML text and look for diagnostics. */
#ifndef SDWAN_TESTS_INTENT_HELPERS_H
#define SDWAN_TESTS_INTENT_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "controller/intent.h"

/* Compile text; returns the intent_compile_buf status. */
static inline int compile_text(const char *yaml, struct intent *in, struct diag_list *d)
{
	return intent_compile_buf((const uint8_t *)yaml, strlen(yaml), in, d);
}

/* Whether an error at line:col containing `needle` was reported (col 0: any column). */
static inline bool has_error(const struct diag_list *d, uint32_t line, uint32_t col,
			     const char *needle)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *x = &d->items[i];
		if (x->severity == DIAG_ERROR && x->pos.line == line &&
		    (col == 0 || x->pos.col == col) && strstr(x->msg, needle))
			return true;
	}
	return false;
}

/* Print all diagnostics, for failing tests. */
static inline void dump_diags(const struct diag_list *d)
{
	diag_print(d, "<test>", stderr);
}

#endif
