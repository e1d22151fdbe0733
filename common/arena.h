/*
 * A bump allocator for data that lives and dies together (a parsed document, a topology model).
 * Allocation is a pointer bump inside 64 KiB chunks; arena_free() releases everything at once.
 * Control path only; not thread-safe. The arena owns every block it hands out.
 */
#ifndef SDWAN_COMMON_ARENA_H
#define SDWAN_COMMON_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t bytes; /* total bytes handed out, for limits and reports */
};

/* An empty arena needs no initialisation beyond zeroing: struct arena a = {0}. */

/* n bytes aligned for any type, zeroed; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n) __attribute__((warn_unused_result));

/* A NUL-terminated copy of s[0..n); NULL when out of memory. */
char *arena_strndup(struct arena *a, const char *s, size_t n) __attribute__((warn_unused_result));

/* Release every block; the arena is empty and reusable afterwards. NULL-safe. */
void arena_free(struct arena *a);

#endif
