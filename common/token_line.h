/*
 * The enrollment token line, as the operator copies it from `sdwanctl token create` to the edge:
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
 * input back. The controller issues and redeems tokens (controller/token.h); the edge only parses
 * the line it was given, so the line's format lives here, shared by both.
 *
 * Pure functions, no state: any thread. The secret is never logged.
 */
#ifndef SDWAN_COMMON_TOKEN_LINE_H
#define SDWAN_COMMON_TOKEN_LINE_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_SECRET_LEN 32
/* The controller's CURVE public key. */
#define TOKEN_KEY_LEN 32
/* Longest site name, without its NUL (the topology's rule, x509id_name_valid). */
#define TOKEN_SITE_MAX 31
/* Format tag at the start of every token line. */
#define TOKEN_PREFIX "sdwan1."
/* Longest token line with its NUL: tag, site, secret, key and three dots. */
#define TOKEN_LINE_MAX (sizeof(TOKEN_PREFIX) - 1 + TOKEN_SITE_MAX + 1 + 43 + 1 + 64 + 1)

/* A parsed token line. Holds the secret: wipe with token_line_clear on every path. */
struct token_line {
	char site[TOKEN_SITE_MAX + 1];
	uint8_t secret[TOKEN_SECRET_LEN];
	uint8_t controller_key[TOKEN_KEY_LEN];
};

/*
 * Parse a token line of len bytes (need not be NUL-terminated; may contain anything). On success
 * *out holds the site, secret and controller key; on failure it is wiped. Returns 0 or -EINVAL.
 */
int token_line_parse(const char *s, size_t len, struct token_line *out)
	__attribute__((warn_unused_result));

/* Write tl as a token line into line (NUL-terminated). Returns 0, or -EINVAL when tl->site is
 * not a valid site name. */
int token_line_format(const struct token_line *tl, char line[static TOKEN_LINE_MAX])
	__attribute__((warn_unused_result));

/* Wipe the secret (and the rest). NULL-safe. */
void token_line_clear(struct token_line *tl);

#endif
