/*
 * Small string helpers shared by the parsers' error messages. Pure functions; any thread.
 */
#ifndef SDWAN_COMMON_STRUTIL_H
#define SDWAN_COMMON_STRUTIL_H

#include <stddef.h>

/* Levenshtein distance between a and b, capped at `cap` (returns cap when larger). */
size_t str_distance(const char *a, const char *b, size_t cap);

/* The candidate closest to word if it is close enough to be a plausible typo (distance at most
 * 2, and at most a third of the word's length plus one), else NULL. */
const char *str_nearest(const char *word, const char *const *candidates, size_t n);

#endif
