/*
 * libFuzzer target for the whole topology compiler: YAML parsing with its limits, the schema,
 * the semantic checks and the planner, fed arbitrary bytes. Any crash, leak, overflow or
 * undefined behaviour is a bug; diagnostics are the expected outcome for garbage.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "controller/intent.h"
#include "controller/plan_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct intent in;
	struct diag_list diags = {0};
	int rc = intent_compile_buf(data, size, &in, &diags);
	if (rc == 0) {
		/* A valid plan must also serialise. */
		FILE *sink = fopen("/dev/null", "w");
		if (sink) {
			plan_json_write(in.plan, sink, false);
			fclose(sink);
		}
	} else if (diags.errors == 0 && rc == -22) {
		__builtin_trap(); /* invalid without saying why */
	}
	intent_free(&in);
	diag_list_free(&diags);
	return 0;
}
