#include "controller/token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "common/log.h"

/* What the stored hash covers before the secret: a tag for this use, so the hash of a token can
 * never be confused with a hash of the same bytes elsewhere. */
static const char hash_domain[] = "sdwan-token-v1"; /* hashed with its NUL */

/* The token line's fields are the store's: one site name rule, one key size. */
_Static_assert(TOKEN_SITE_MAX == STORE_SITE_MAX, "token and store site names differ");
_Static_assert(TOKEN_KEY_LEN == STORE_KEY_LEN, "token and store key sizes differ");

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
