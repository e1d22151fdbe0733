#include "common/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static struct diag *diag_slot(struct diag_list *l, enum diag_severity sev)
{
	if (sev == DIAG_ERROR)
		l->errors++;
	else
		l->warnings++;
	if (l->n >= DIAG_MAX)
		return NULL;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct diag *n = realloc(l->items, ncap * sizeof(*n));
		if (!n)
			return NULL;
		l->items = n;
		l->cap = ncap;
	}
	struct diag *d = &l->items[l->n];
	memset(d, 0, sizeof(*d));
	d->severity = sev;
	return d;
}

void diag_add(struct diag_list *l, enum diag_severity sev, struct src_pos pos, const char *fmt, ...)
{
	struct diag *d = diag_slot(l, sev);
	if (!d)
		return;
	va_list ap;
	va_start(ap, fmt);
	d->msg = vformat(fmt, ap);
	va_end(ap);
	if (!d->msg)
		return;
	d->pos = pos;
	l->n++;
}

void diag_add_note(struct diag_list *l, struct src_pos pos, struct src_pos note_pos,
		   const char *note, const char *fmt, ...)
{
	struct diag *d = diag_slot(l, DIAG_ERROR);
	if (!d)
		return;
	va_list ap;
	va_start(ap, fmt);
	d->msg = vformat(fmt, ap);
	va_end(ap);
	d->note = strdup(note);
	if (!d->msg || !d->note) {
		free(d->msg);
		free(d->note);
		return;
	}
	d->pos = pos;
	d->has_note = true;
	d->note_pos = note_pos;
	l->n++;
}

static int pos_cmp(const struct src_pos *a, const struct src_pos *b)
{
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void diag_sort(struct diag_list *l)
{
	/* Insertion sort: stable, and lists are capped at DIAG_MAX. */
	for (size_t i = 1; i < l->n; i++) {
		struct diag d = l->items[i];
		size_t j = i;
		while (j > 0 && pos_cmp(&l->items[j - 1].pos, &d.pos) > 0) {
			l->items[j] = l->items[j - 1];
			j--;
		}
		l->items[j] = d;
	}
}

static void print_one(const char *file, struct src_pos pos, const char *sev, const char *msg,
		      FILE *out)
{
	if (pos.line == 0)
		fprintf(out, "%s: %s: %s\n", file, sev, msg);
	else
		fprintf(out, "%s:%u:%u: %s: %s\n", file, pos.line, pos.col, sev, msg);
}

void diag_print(const struct diag_list *l, const char *file, FILE *out)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct diag *d = &l->items[i];
		print_one(file, d->pos, d->severity == DIAG_ERROR ? "error" : "warning", d->msg,
			  out);
		if (d->has_note)
			print_one(file, d->note_pos, "note", d->note, out);
	}
	size_t total = l->errors + l->warnings;
	if (total > l->n)
		fprintf(out,
			"%s: note: %zu more diagnostics not shown (fix the ones above first)\n",
			file, total - l->n);
}

void diag_list_free(struct diag_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].msg);
		free(l->items[i].note);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}
