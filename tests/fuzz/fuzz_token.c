/*
 * libFuzzer target for the enrollment token line parser (controller/token.c). Arbitrary bytes
 * must be refused or parsed without any memory error; a line that parses must format back to
 * exactly the input without its surrounding blanks (one spelling per token), and the formatted
 * line must parse to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "controller/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_line tl, again;
	char line[TOKEN_LINE_MAX];
	if (token_line_parse((const char *)data, size, &tl) != 0)
		return 0;
	while (size > 0 && blank(data[0])) {
		data++;
		size--;
	}
	while (size > 0 && blank(data[size - 1]))
		size--;
	if (token_line_format(&tl, line) != 0 || strlen(line) != size ||
	    memcmp(line, data, size) != 0)
		__builtin_trap();
	if (token_line_parse(line, strlen(line), &again) != 0 ||
	    memcmp(&again, &tl, sizeof(tl)) != 0)
		__builtin_trap();
	token_line_clear(&tl);
	token_line_clear(&again);
	return 0;
}
