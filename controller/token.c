#include "controller/token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "common/log.h"

/* Characters of the encoded secret and key. */
#define SECRET_CHARS 43 /* ceil(32 * 8 / 6) */
#define KEY_CHARS    64

/* What the stored hash covers before the secret: a tag for this use, so the hash of a token can
 * never be confused with a hash of the same bytes elsewhere. */
static const char hash_domain[] = "sdwan-token-v1"; /* hashed with its NUL */

/*
 * Base64url without table lookups: the secret's characters must not steer memory accesses, so
 * both directions are arithmetic on masks. For v < 256, ((k - v) >> 8) is all ones exactly when
 * v > k (unsigned wrap), and for -256 < a, b < 256, ((a & b) >> 8) is all ones exactly when both
 * are negative.
 */
static char b64url_char(unsigned v)
{
	unsigned c = v + 'A';        /* 0..25  -> 'A'..'Z' */
	c += ((25u - v) >> 8) & 6u;  /* 26..51 -> 'a'..'z' */
	c -= ((51u - v) >> 8) & 75u; /* 52..61 -> '0'..'9' */
	c -= ((61u - v) >> 8) & 13u; /* 62     -> '-' */
	c += ((62u - v) >> 8) & 49u; /* 63     -> '_' */
	return (char)c;
}

/* The 6-bit value of c, or -1 when c is not in the alphabet. */
static int b64url_value(unsigned char ch)
{
	int c = ch, v = -1;
	v += (((64 - c) & (c - 91)) >> 8) & (c - 64);  /* 'A'..'Z' -> 0..25, plus one */
	v += (((96 - c) & (c - 123)) >> 8) & (c - 70); /* 'a'..'z' -> 26..51 */
	v += (((47 - c) & (c - 58)) >> 8) & (c + 5);   /* '0'..'9' -> 52..61 */
	v += (((44 - c) & (c - 46)) >> 8) & 63;        /* '-' -> 62 */
	v += (((94 - c) & (c - 96)) >> 8) & 64;        /* '_' -> 63 */
	return v;
}

static void secret_encode(const uint8_t in[static TOKEN_SECRET_LEN], char out[static SECRET_CHARS])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < TOKEN_SECRET_LEN; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url_char((acc >> bits) & 63u);
		}
	}
	/* 256 = 42 * 6 + 4: the last character carries 4 bits and 2 zero bits. */
	out[o] = b64url_char((acc << (6 - bits)) & 63u);
	OPENSSL_cleanse(&acc, sizeof(acc));
}

/* Decode exactly SECRET_CHARS characters; false on a character outside the alphabet or
 * non-zero unused bits. The verdict is reached without branching on any character. */
static bool secret_decode(const char in[static SECRET_CHARS], uint8_t out[static TOKEN_SECRET_LEN])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	int bad = 0;
	size_t o = 0;
	for (size_t i = 0; i < SECRET_CHARS; i++) {
		int v = b64url_value((unsigned char)in[i]);
		bad |= v;
		acc = ((acc << 6) | ((unsigned)v & 63u)) & 0xfffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	bad |= -(int)(acc & ((1u << bits) - 1u)); /* the 2 unused bits must be zero */
	OPENSSL_cleanse(&acc, sizeof(acc));
	return bad >= 0;
}

static void key_encode(const uint8_t in[static TOKEN_KEY_LEN], char out[static KEY_CHARS])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < TOKEN_KEY_LEN; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* uppercase too: one spelling per key */
}

static bool key_decode(const char in[static KEY_CHARS], uint8_t out[static TOKEN_KEY_LEN])
{
	for (size_t i = 0; i < TOKEN_KEY_LEN; i++) {
		int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void token_line_clear(struct token_line *tl)
{
	if (tl)
		OPENSSL_cleanse(tl, sizeof(*tl));
}

int token_line_parse(const char *s, size_t len, struct token_line *out)
{
	const size_t plen = sizeof(TOKEN_PREFIX) - 1;
	memset(out, 0, sizeof(*out));
	while (len > 0 && is_blank(s[0])) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len < plen || memcmp(s, TOKEN_PREFIX, plen) != 0)
		return -EINVAL;
	s += plen;
	len -= plen;
	/*   <site> "." <43 secret chars> "." <64 hex digits>   */
	const char *dot = memchr(s, '.', len < STORE_SITE_MAX + 1 ? len : STORE_SITE_MAX + 1);
	if (!dot)
		return -EINVAL;
	size_t slen = (size_t)(dot - s);
	if (len != slen + 1 + SECRET_CHARS + 1 + KEY_CHARS || s[slen + 1 + SECRET_CHARS] != '.')
		return -EINVAL;
	memcpy(out->site, s, slen);
	out->site[slen] = '\0';
	const char *secret = s + slen + 1, *key = secret + SECRET_CHARS + 1;
	/* strlen: a NUL inside the site field would otherwise pass as a shorter name. */
	if (strlen(out->site) != slen || !store_site_name_valid(out->site) ||
	    !secret_decode(secret, out->secret) || !key_decode(key, out->controller_key)) {
		token_line_clear(out);
		return -EINVAL;
	}
	return 0;
}

int token_line_format(const struct token_line *tl, char line[static TOKEN_LINE_MAX])
{
	const size_t plen = sizeof(TOKEN_PREFIX) - 1;
	line[0] = '\0';
	if (!store_site_name_valid(tl->site))
		return -EINVAL;
	size_t slen = strlen(tl->site), o = 0;
	memcpy(line, TOKEN_PREFIX, plen);
	o += plen;
	memcpy(line + o, tl->site, slen);
	o += slen;
	line[o++] = '.';
	secret_encode(tl->secret, line + o);
	o += SECRET_CHARS;
	line[o++] = '.';
	key_encode(tl->controller_key, line + o);
	o += KEY_CHARS;
	line[o] = '\0';
	return 0;
}

/* The stored form: SHA-256(domain || NUL || secret). */
static int token_hash(const uint8_t secret[static TOKEN_SECRET_LEN],
		      uint8_t hash[static STORE_HASH_LEN])
{
	unsigned int n = 0;
	int rc = -EIO;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, hash_domain, sizeof(hash_domain)) != 1 ||
	    EVP_DigestUpdate(ctx, secret, TOKEN_SECRET_LEN) != 1 ||
	    EVP_DigestFinal_ex(ctx, hash, &n) != 1 || n != STORE_HASH_LEN)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		char err[160];
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		LOG_ERR(CA, "token: SHA-256 failed", "err=\"%s\"", err);
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* First 4 bytes of the hash: names a token in logs without revealing anything usable. */
#define HASH_ID_FMT     "%02x%02x%02x%02x"
#define HASH_ID_ARGS(h) (h)[0], (h)[1], (h)[2], (h)[3]

int token_create(struct store *st, const char *site, uint64_t ttl_ms, int64_t now_ms,
		 const uint8_t controller_key[static TOKEN_KEY_LEN],
		 char line[static TOKEN_LINE_MAX])
{
	struct token_line tl = {0};
	uint8_t hash[STORE_HASH_LEN];
	int rc = -EINVAL;
	line[0] = '\0';
	if (!store_site_name_valid(site) || ttl_ms == 0 || ttl_ms > TOKEN_TTL_MAX_MS ||
	    now_ms < 0 || now_ms > INT64_MAX - (int64_t)ttl_ms)
		return -EINVAL;
	memcpy(tl.site, site, strlen(site) + 1);
	memcpy(tl.controller_key, controller_key, TOKEN_KEY_LEN);
	if (RAND_bytes(tl.secret, sizeof(tl.secret)) != 1) {
		char err[160];
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		LOG_ERR(CA, "token: no randomness from the CSPRNG", "err=\"%s\"", err);
		rc = -EIO;
		goto out;
	}
	rc = token_hash(tl.secret, hash);
	if (rc == 0)
		rc = store_token_add(st, hash, site, now_ms, now_ms + (int64_t)ttl_ms);
	if (rc == 0)
		rc = token_line_format(&tl, line);
	if (rc == 0)
		LOG_NOTICE(CA, "token created", "site=%s token=" HASH_ID_FMT " expires_ms=%lld",
			   site, HASH_ID_ARGS(hash), (long long)(now_ms + (int64_t)ttl_ms));
out:
	token_line_clear(&tl);
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

int token_redeem(struct store *st, const struct token_line *tl, int64_t now_ms,
		 enum store_token_status *status)
{
	uint8_t hash[STORE_HASH_LEN];
	*status = STORE_TOKEN_UNKNOWN;
	int rc = token_hash(tl->secret, hash);
	if (rc == 0)
		rc = store_token_consume(st, hash, tl->site, now_ms, status);
	/* Failures are the presenting edge's doing: debug only. A consumed token is a state
	 * change the operator wants to see. */
	if (rc == 0 && *status == STORE_TOKEN_OK)
		LOG_NOTICE(CA, "token consumed", "site=%s token=" HASH_ID_FMT, tl->site,
			   HASH_ID_ARGS(hash));
	else if (rc == 0)
		LOG_DEBUG(CA, "token refused", "site=%s token=" HASH_ID_FMT " reason=%s", tl->site,
			  HASH_ID_ARGS(hash), store_token_status_name(*status));
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}
