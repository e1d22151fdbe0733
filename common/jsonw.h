/*
 * A streaming JSON writer: objects, arrays, strings (escaped), numbers and booleans, with commas
 * and indentation handled. Writes to a stdio stream; the caller owns the stream. Misuse (a value
 * where a key is expected, unbalanced ends) is a programmer error caught by assert. Control path
 * only.
 */
#ifndef SDWAN_COMMON_JSONW_H
#define SDWAN_COMMON_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
	JSONW_MAX_DEPTH = 32
};

struct jsonw {
	FILE *out;
	bool pretty;
	unsigned depth;
	bool first[JSONW_MAX_DEPTH]; /* no member written yet at this level */
	bool after_key;
};

/* Start writing to out; pretty adds newlines and two-space indentation. */
void jsonw_init(struct jsonw *w, FILE *out, bool pretty);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);

/* The key of the next object member. */
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* Key and value in one call. */
void jsonw_kstr(struct jsonw *w, const char *key, const char *s);
void jsonw_ku64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kbool(struct jsonw *w, const char *key, bool v);

/* End the document with a newline. */
void jsonw_finish(struct jsonw *w);

#endif
