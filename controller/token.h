/*
 * One-time enrollment tokens: `sdwanctl token create SITE --ttl 24h` makes one, prints it to the
 * operator once, and the edge of SITE presents it once to enroll.
 *
 * The token line (common/token_line.h), one copy-pasteable word:
 *
 *   sdwan1.<site>.<secret>.<controller-key>
 *
 * The controller stores only SHA-256("sdwan-token-v1" || 0x00 || secret) with the site, the
 * creation and expiry times and when it was used: the database cannot be turned back into a
 * token. Consuming is one transaction (see store_token_consume), so two edges racing with one
 * token produce exactly one enrollment. The secret is never logged; logs name a token by the
 * first 4 bytes of its hash (`token=1a2b3c4d`).
 *
 * Time is passed in (now_ms, milliseconds since the Unix epoch). Control path; the functions
 * taking a store follow store.h's threading rule, the others are pure and thread-safe.
 */
#ifndef SDWAN_CONTROLLER_TOKEN_H
#define SDWAN_CONTROLLER_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/token_line.h"
#include "controller/store.h"

/* Longest lifetime a token may be given: it is a bearer credential. */
#define TOKEN_TTL_MAX_MS (30ull * 24 * 3600 * 1000)

/*
 * Create a token for site, valid for ttl_ms from now_ms (1 ms to TOKEN_TTL_MAX_MS): draw the
 * secret from the CSPRNG, store its hash, and write the token line into `line` (NUL-terminated).
 * `line` then holds the secret: show it once, then wipe it (OPENSSL_cleanse). Whether site is in
 * the topology is the caller's check. Returns 0, -EINVAL (bad site name or ttl), -EIO (no
 * randomness), or a store error.
 */
int token_create(struct store *st, const char *site, uint64_t ttl_ms, int64_t now_ms,
		 const uint8_t controller_key[static TOKEN_KEY_LEN],
		 char line[static TOKEN_LINE_MAX]) __attribute__((warn_unused_result));

/*
 * Check and consume the token tl for the site it names, atomically (one transaction; when the
 * caller has one open, e.g. to add the edge in the same commit, this joins it). *status tells
 * the outcome: STORE_TOKEN_OK (consumed now), _UNKNOWN (forged, mistyped or purged), _WRONG_SITE
 * (a token for another site), _USED, _EXPIRED. Returns 0 with *status set, or a store error
 * (then *status is STORE_TOKEN_UNKNOWN and nothing was consumed). tl is borrowed.
 */
int token_redeem(struct store *st, const struct token_line *tl, int64_t now_ms,
		 enum store_token_status *status) __attribute__((warn_unused_result));

#endif
