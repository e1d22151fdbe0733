#include "common/token_line.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <string.h>

#include "common/x509id.h"

/* Characters of the encoded secret and key. */
#define SECRET_CHARS 43 /* ceil(32 * 8 / 6) */
#define KEY_CHARS    64

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
	const char *dot = memchr(s, '.', len < TOKEN_SITE_MAX + 1 ? len : TOKEN_SITE_MAX + 1);
	if (!dot)
		return -EINVAL;
	size_t slen = (size_t)(dot - s);
	if (len != slen + 1 + SECRET_CHARS + 1 + KEY_CHARS || s[slen + 1 + SECRET_CHARS] != '.')
		return -EINVAL;
	memcpy(out->site, s, slen);
	out->site[slen] = '\0';
	const char *secret = s + slen + 1, *key = secret + SECRET_CHARS + 1;
	/* strlen: a NUL inside the site field would otherwise pass as a shorter name. */
	if (strlen(out->site) != slen || !x509id_name_valid(out->site) ||
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
	if (!x509id_name_valid(tl->site))
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
