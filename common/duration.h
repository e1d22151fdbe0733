/*
 * Durations as operators write them: "200ms", "30s", "5m", "24h", "1d", or combined "1h30m".
 * Stored as milliseconds. Pure functions; any thread.
 */
#ifndef SDWAN_COMMON_DURATION_H
#define SDWAN_COMMON_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest formatted duration, with its NUL. */
#define DURATION_STRLEN 48

/*
 * Parse s into *ms. Returns 0, -EINVAL when malformed (a bare number without unit, unknown unit,
 * empty) or -ERANGE when the value exceeds 100 years.
 */
int duration_parse(const char *s, uint64_t *ms) __attribute__((warn_unused_result));

/* Format ms in the shortest exact form ("24h", "1h30m", "250ms") into buf; returns buf. */
char *duration_format(uint64_t ms, char buf[static DURATION_STRLEN]);

#endif
