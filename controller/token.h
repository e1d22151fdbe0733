/*
 * One-time enrollment tokens: `sdwanctl token create SITE --ttl 24h` makes one, prints it to the
 * operator once, and the edge of SITE presents it once to enroll.
 *
 * The token line, one copy-pasteable word (no character a shell or YAML treats specially):
 *
 *   sdwan1.<site>.<secret>.<controller-key>
 *
 *   sdwan1          format tag and version
 *   site            the site the token is bound to: 1-31 of [a-z0-9-], starting with a letter and
 *                   not ending with '-' (the topology's site names; they never contain '.')
 *   secret          32 random bytes, base64url (RFC 4648 section 5) without padding: exactly 43
 *                   characters of [A-Za-z0-9_-]; the last one carries 2 unused bits, which must be
 *                   zero (one canonical spelling per secret)
 *   controller-key  the controller's CURVE25519 public key, 64 lowercase hex digits: the edge
 *                   pins it as the ZeroMQ CURVE server key, so the token also tells the edge whom
 *                   to trust, and nobody else can answer its enrollment request
 *
 *   e.g. sdwan1.branch-1.Hk3Jx0Qe9yA2VtZLm8Rb7cFdWn1sPq4uEo6iKa5gTjY.5c0f...(64 hex)
 *
 * At most TOKEN_LINE_MAX - 1 characters. The parser accepts surrounding blanks and line ends
 * (a pasted line), nothing else: every field has one spelling, so parse then format gives the
 * input back.
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

#include "controller/store.h"

#define TOKEN_SECRET_LEN 32
#define TOKEN_KEY_LEN    STORE_KEY_LEN
/* Format tag at the start of every token line. */
#define TOKEN_PREFIX "sdwan1."
/* Longest token line with its NUL: tag, site, secret, key and three dots. */
#define TOKEN_LINE_MAX (sizeof(TOKEN_PREFIX) - 1 + STORE_SITE_MAX + 1 + 43 + 1 + 64 + 1)
/* Longest lifetime a token may be given: it is a bearer credential. */
#define TOKEN_TTL_MAX_MS (30ull * 24 * 3600 * 1000)

/* A parsed token line. Holds the secret: wipe with token_line_clear on every path. */
struct token_line {
	char site[STORE_SITE_MAX + 1];
	uint8_t secret[TOKEN_SECRET_LEN];
	uint8_t controller_key[TOKEN_KEY_LEN];
};

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

/*
 * Parse a token line of len bytes (need not be NUL-terminated; may contain anything). On success
 * *out holds the site, secret and controller key; on failure it is wiped. Returns 0 or -EINVAL.
 * Pure; any thread.
 */
int token_line_parse(const char *s, size_t len, struct token_line *out)
	__attribute__((warn_unused_result));

/* Write tl as a token line into line (NUL-terminated). Returns 0, or -EINVAL when tl->site is
 * not a valid site name. Pure; any thread. */
int token_line_format(const struct token_line *tl, char line[static TOKEN_LINE_MAX])
	__attribute__((warn_unused_result));

/* Wipe the secret (and the rest). NULL-safe. */
void token_line_clear(struct token_line *tl);

#endif
