/*
 * Diagnostics with source positions, collected so a whole file can be reported at once in the
 * compiler form operators and editors understand:
 *
 *   topologies/acme.yaml:12:9: error: unknown key 'subnet' (did you mean 'subnets'?)
 *   topologies/acme.yaml:4:11: note: first defined here
 *
 * A list owns its messages. The number kept is capped (DIAG_MAX) so hostile input cannot make
 * the report itself unbounded; counts keep going. Control path only.
 */
#ifndef SDWAN_COMMON_DIAG_H
#define SDWAN_COMMON_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum diag_severity {
	DIAG_ERROR,
	DIAG_WARNING,
};

/* A position in a source file, 1-based; line 0 means "the file as a whole". */
struct src_pos {
	uint32_t line;
	uint32_t col;
};

struct diag {
	enum diag_severity severity;
	struct src_pos pos;
	char *msg;
	bool has_note;
	struct src_pos note_pos;
	char *note;
};

enum {
	DIAG_MAX = 500
};

struct diag_list {
	struct diag *items;
	size_t n;
	size_t cap;
	size_t errors;   /* all errors reported, including those past DIAG_MAX */
	size_t warnings; /* likewise */
};

/* Report a diagnostic at pos. */
void diag_add(struct diag_list *l, enum diag_severity sev, struct src_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Report an error at pos with a note pointing at a second position (e.g. the first definition). */
void diag_add_note(struct diag_list *l, struct src_pos pos, struct src_pos note_pos,
		   const char *note, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define diag_error(l, pos, ...) diag_add((l), DIAG_ERROR, (pos), __VA_ARGS__)
#define diag_warn(l, pos, ...)  diag_add((l), DIAG_WARNING, (pos), __VA_ARGS__)

/* Sort by position (stable), so the report reads top to bottom like the file. */
void diag_sort(struct diag_list *l);

/* Print every diagnostic as FILE:LINE:COL: severity: message, plus a closing count line when
 * any were dropped over the cap. */
void diag_print(const struct diag_list *l, const char *file, FILE *out);

/* Free every message; the list is empty and reusable afterwards. NULL-safe. */
void diag_list_free(struct diag_list *l);

#endif
