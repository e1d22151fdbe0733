#include "edge/ike/ike_keys.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

static const char *digest_name(enum ike_prf alg)
{
	switch (alg) {
	case IKE_PRF_HMAC_SHA1:
		return "SHA1";
	case IKE_PRF_HMAC_SHA2_256:
		return "SHA2-256";
	case IKE_PRF_HMAC_SHA2_384:
		return "SHA2-384";
	case IKE_PRF_HMAC_SHA2_512:
		return "SHA2-512";
	default:
		return NULL;
	}
}

size_t ike_prf_len(enum ike_prf alg)
{
	switch (alg) {
	case IKE_PRF_HMAC_SHA1:
		return 20;
	case IKE_PRF_HMAC_SHA2_256:
		return 32;
	case IKE_PRF_HMAC_SHA2_384:
		return 48;
	case IKE_PRF_HMAC_SHA2_512:
		return 64;
	default:
		return 0;
	}
}

/* An HMAC context for alg keyed with key, or NULL. */
static EVP_MAC_CTX *hmac_new(enum ike_prf alg, const uint8_t *key, size_t key_len)
{
	const char *md = digest_name(alg);
	if (!md || !key || key_len == 0)
		return NULL;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (ctx && EVP_MAC_init(ctx, key, key_len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* One HMAC over up to three pieces with a keyed context, so callers never concatenate secrets
 * into temporaries. */
static int hmac3_ctx(EVP_MAC_CTX *ctx, enum ike_prf alg, const uint8_t *d1, size_t l1,
		     const uint8_t *d2, size_t l2, const uint8_t *d3, size_t l3, uint8_t *out)
{
	size_t out_len = 0;
	if ((l1 && EVP_MAC_update(ctx, d1, l1) != 1) || (l2 && EVP_MAC_update(ctx, d2, l2) != 1) ||
	    (l3 && EVP_MAC_update(ctx, d3, l3) != 1))
		return -EIO;
	if (EVP_MAC_final(ctx, out, &out_len, IKE_PRF_MAX_LEN) != 1 || out_len != ike_prf_len(alg))
		return -EIO;
	return 0;
}

static int hmac3(enum ike_prf alg, const uint8_t *key, size_t key_len, const uint8_t *d1, size_t l1,
		 const uint8_t *d2, size_t l2, const uint8_t *d3, size_t l3, uint8_t *out)
{
	if (!digest_name(alg) || !key || key_len == 0)
		return -EINVAL;
	EVP_MAC_CTX *ctx = hmac_new(alg, key, key_len);
	int rc = ctx ? hmac3_ctx(ctx, alg, d1, l1, d2, l2, d3, l3, out) : -EIO;
	EVP_MAC_CTX_free(ctx);
	return rc;
}

int ike_prf(enum ike_prf alg, const uint8_t *key, size_t key_len, const uint8_t *data1, size_t len1,
	    const uint8_t *data2, size_t len2, uint8_t *out)
{
	return hmac3(alg, key, key_len, data1, len1, data2, data2 ? len2 : 0, NULL, 0, out);
}

int ike_prf_plus(enum ike_prf alg, const uint8_t *key, size_t key_len, const uint8_t *seed,
		 size_t seed_len, uint8_t *out, size_t out_len)
{
	size_t h = ike_prf_len(alg);
	if (h == 0 || out_len > IKE_PRF_PLUS_MAX_ITER * h)
		return -EINVAL;
	if (out_len == 0)
		return 0;
	if (!key || key_len == 0)
		return -EINVAL;
	/* One keyed context for every block: OpenSSL 3 would look the digest up again for each
	 * new one. EVP_MAC_init without a key restarts it with the same key. */
	EVP_MAC_CTX *ctx = hmac_new(alg, key, key_len);
	uint8_t t[IKE_PRF_MAX_LEN];
	size_t t_len = 0, done = 0;
	int rc = ctx ? 0 : -EIO;
	for (unsigned n = 1; rc == 0 && done < out_len; n++) {
		/* Tn = prf(K, Tn-1 | S | n), with T0 empty */
		uint8_t counter = (uint8_t)n;
		if (n > 1 && EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
			rc = -EIO;
		if (rc == 0)
			rc = hmac3_ctx(ctx, alg, t, t_len, seed, seed_len, &counter, 1, t);
		if (rc)
			break;
		t_len = h;
		size_t take = out_len - done < h ? out_len - done : h;
		memcpy(out + done, t, take);
		done += take;
	}
	EVP_MAC_CTX_free(ctx);
	OPENSSL_cleanse(t, sizeof(t));
	if (rc)
		OPENSSL_cleanse(out, out_len);
	return rc;
}

int ike_skeyseed(enum ike_prf alg, const struct ike_kdf_input *in, uint8_t *out)
{
	/* The key is Ni | Nr: build it in a wiped buffer (nonces are at most 256 bytes each). */
	uint8_t key[512];
	if (in->ni_len + in->nr_len > sizeof(key) || !in->shared)
		return -EINVAL;
	memcpy(key, in->ni, in->ni_len);
	memcpy(key + in->ni_len, in->nr, in->nr_len);
	int rc = ike_prf(alg, key, in->ni_len + in->nr_len, in->shared, in->shared_len, NULL, 0,
			 out);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int ike_skeyseed_rekey(enum ike_prf alg, const uint8_t *old_sk_d, const struct ike_kdf_input *in,
		       uint8_t *out)
{
	if (!in->shared)
		return -EINVAL;
	return hmac3(alg, old_sk_d, ike_prf_len(alg), in->shared, in->shared_len, in->ni,
		     in->ni_len, in->nr, in->nr_len, out);
}

int ike_sa_keys_derive(enum ike_prf alg, const uint8_t *skeyseed, const struct ike_kdf_input *in,
		       size_t enc_len, struct ike_sa_keys *out)
{
	size_t h = ike_prf_len(alg);
	uint8_t seed[512 + 16];
	uint8_t keymat[3 * IKE_PRF_MAX_LEN + 2 * IKE_SK_E_MAX_LEN];
	if (h == 0 || enc_len > IKE_SK_E_MAX_LEN || in->ni_len + in->nr_len > 512)
		return -EINVAL;
	/* S = Ni | Nr | SPIi | SPIr */
	size_t s = 0;
	memcpy(seed + s, in->ni, in->ni_len);
	s += in->ni_len;
	memcpy(seed + s, in->nr, in->nr_len);
	s += in->nr_len;
	memcpy(seed + s, in->spi_i, 8);
	s += 8;
	memcpy(seed + s, in->spi_r, 8);
	s += 8;
	size_t total = 3 * h + 2 * enc_len; /* SK_a* are empty with AEAD ciphers */
	int rc = ike_prf_plus(alg, skeyseed, h, seed, s, keymat, total);
	if (rc == 0) {
		memset(out, 0, sizeof(*out));
		out->prf_len = h;
		out->enc_len = enc_len;
		const uint8_t *p = keymat;
		memcpy(out->sk_d, p, h);
		p += h;
		memcpy(out->sk_ei, p, enc_len);
		p += enc_len;
		memcpy(out->sk_er, p, enc_len);
		p += enc_len;
		memcpy(out->sk_pi, p, h);
		p += h;
		memcpy(out->sk_pr, p, h);
	}
	OPENSSL_cleanse(keymat, sizeof(keymat));
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

int ike_child_keymat(enum ike_prf alg, const uint8_t *sk_d, const struct ike_kdf_input *in,
		     uint8_t *out, size_t out_len)
{
	/* S = [g^ir (new) |] Ni | Nr; a 521-bit DH value is the longest we could meet. */
	uint8_t seed[1024 + 512];
	size_t s = 0;
	size_t shared_len = in->shared ? in->shared_len : 0;
	if (shared_len > 1024 || in->ni_len + in->nr_len > 512)
		return -EINVAL;
	if (shared_len) {
		memcpy(seed, in->shared, shared_len);
		s = shared_len;
	}
	memcpy(seed + s, in->ni, in->ni_len);
	s += in->ni_len;
	memcpy(seed + s, in->nr, in->nr_len);
	s += in->nr_len;
	int rc = ike_prf_plus(alg, sk_d, ike_prf_len(alg), seed, s, out, out_len);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

void ike_sa_keys_wipe(struct ike_sa_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}
