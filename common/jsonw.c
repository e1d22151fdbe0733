#include "common/jsonw.h"

#include <assert.h>
#include <inttypes.h>

void jsonw_init(struct jsonw *w, FILE *out, bool pretty)
{
	w->out = out;
	w->pretty = pretty;
	w->depth = 0;
	w->first[0] = true;
	w->after_key = false;
}

static void newline(struct jsonw *w)
{
	if (!w->pretty)
		return;
	fputc('\n', w->out);
	for (unsigned i = 0; i < w->depth; i++)
		fputs("  ", w->out);
}

/* Separator and indentation before a value or key at the current level. */
static void before_item(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (!w->first[w->depth])
			fputc(',', w->out);
		newline(w);
	}
	w->first[w->depth] = false;
}

static void level_open(struct jsonw *w, char c)
{
	before_item(w);
	fputc(c, w->out);
	assert(w->depth + 1 < JSONW_MAX_DEPTH);
	w->depth++;
	w->first[w->depth] = true;
}

static void level_close(struct jsonw *w, char c)
{
	assert(w->depth > 0);
	bool empty = w->first[w->depth];
	w->depth--;
	if (!empty)
		newline(w);
	fputc(c, w->out);
}

void jsonw_obj_begin(struct jsonw *w)
{
	level_open(w, '{');
}

void jsonw_obj_end(struct jsonw *w)
{
	level_close(w, '}');
}

void jsonw_arr_begin(struct jsonw *w)
{
	level_open(w, '[');
}

void jsonw_arr_end(struct jsonw *w)
{
	level_close(w, ']');
}

static void put_string(FILE *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			fputc('\\', out);
			fputc(*p, out);
		} else if (*p == '\n') {
			fputs("\\n", out);
		} else if (*p < 0x20) {
			fputs("\\u00", out);
			fputc(hex[*p >> 4], out);
			fputc(hex[*p & 15], out);
		} else {
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

void jsonw_key(struct jsonw *w, const char *key)
{
	before_item(w);
	put_string(w->out, key);
	fputs(w->pretty ? ": " : ":", w->out);
	w->after_key = true;
}

void jsonw_str(struct jsonw *w, const char *s)
{
	before_item(w);
	put_string(w->out, s);
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
	before_item(w);
	fprintf(w->out, "%" PRIu64, v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	before_item(w);
	fputs(v ? "true" : "false", w->out);
}

void jsonw_null(struct jsonw *w)
{
	before_item(w);
	fputs("null", w->out);
}

void jsonw_kstr(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_ku64(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_u64(w, v);
}

void jsonw_kbool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_finish(struct jsonw *w)
{
	assert(w->depth == 0);
	fputc('\n', w->out);
}
