/*
 * libFuzzer target for the edge's bootstrap file parser (edge/bootstrap.c). Arbitrary bytes must
 * be refused or parsed without any memory error; a file that parses has a valid controller
 * endpoint and token line, and a controller key (when given) of 64 hex digits.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edge/bootstrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bootstrap b;
	struct diag_list diags = {0};
	struct token_line tl;
	uint8_t key[ZCURVE_KEY_LEN];
	if (bootstrap_parse(data, size, &b, &diags) == 0) {
		if (!identity_endpoint_valid(b.controller) ||
		    token_line_parse(b.token, strlen(b.token), &tl) != 0)
			__builtin_trap();
		if (b.controller_key[0] &&
		    zcurve_hex_decode(b.controller_key, strlen(b.controller_key), key) != 0)
			__builtin_trap();
		if (b.enroll_endpoint[0] && !identity_endpoint_valid(b.enroll_endpoint))
			__builtin_trap();
		token_line_clear(&tl);
	} else if (diags.errors == 0) {
		__builtin_trap(); /* a refusal always says why */
	}
	bootstrap_clear(&b);
	diag_list_free(&diags);
	return 0;
}
