#include "edge/ike/ike_kex.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

struct ike_kex {
	uint16_t group;
	EVP_PKEY *key;
};

/* Coordinate size and OpenSSL group name of the ECP groups; NULL name for x25519. */
static const char *ecp_curve(uint16_t group, size_t *coord)
{
	switch (group) {
	case 19:
		*coord = 32;
		return "P-256";
	case 20:
		*coord = 48;
		return "P-384";
	default:
		*coord = 0;
		return NULL;
	}
}

size_t ike_kex_public_len(uint16_t group)
{
	size_t coord;
	if (group == 31)
		return 32;
	return ecp_curve(group, &coord) ? 2 * coord : 0;
}

size_t ike_kex_shared_len(uint16_t group)
{
	size_t coord;
	if (group == 31)
		return 32;
	return ecp_curve(group, &coord) ? coord : 0;
}

static int wrap(uint16_t group, EVP_PKEY *key, struct ike_kex **out)
{
	struct ike_kex *dh = calloc(1, sizeof(*dh));
	if (!dh) {
		EVP_PKEY_free(key);
		return -ENOMEM;
	}
	dh->group = group;
	dh->key = key;
	*out = dh;
	return 0;
}

int ike_kex_new(uint16_t group, struct ike_kex **out)
{
	return ike_kex_new_gen(NULL, group, out);
}

enum {
	KEX_GEN_GROUPS = 3
}; /* 19, 20, 31 */

struct ike_kex_gen {
	EVP_PKEY_CTX *ctx[KEX_GEN_GROUPS];
};

struct ike_kex_gen *ike_kex_gen_new(void)
{
	return calloc(1, sizeof(struct ike_kex_gen));
}

void ike_kex_gen_free(struct ike_kex_gen *gen)
{
	if (!gen)
		return;
	for (int i = 0; i < KEX_GEN_GROUPS; i++)
		EVP_PKEY_CTX_free(gen->ctx[i]);
	free(gen);
}

/* gen's key generation context for a group (set up now if need be), or NULL. */
static EVP_PKEY_CTX *gen_ctx(struct ike_kex_gen *gen, uint16_t group, const char *curve)
{
	int i = group == 31 ? 2 : group == 20 ? 1 : 0;
	EVP_PKEY_CTX *ctx = gen->ctx[i];

	if (ctx)
		return ctx;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, group == 31 ? "X25519" : "EC", NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
	    (curve && EVP_PKEY_CTX_set_group_name(ctx, curve) != 1)) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	gen->ctx[i] = ctx;
	return ctx;
}

int ike_kex_new_gen(struct ike_kex_gen *gen, uint16_t group, struct ike_kex **out)
{
	*out = NULL;
	size_t coord;
	const char *curve = ecp_curve(group, &coord);
	EVP_PKEY *key = NULL;
	if (group != 31 && !curve)
		return -ENOTSUP;
	if (gen) {
		EVP_PKEY_CTX *ctx = gen_ctx(gen, group, curve);
		if (ctx && EVP_PKEY_generate(ctx, &key) != 1)
			key = NULL;
	} else if (group == 31) {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	} else {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	}
	if (!key)
		return -EIO;
	return wrap(group, key, out);
}

/* An EC key from its curve and an uncompressed point (0x04 | x | y), optionally a private key. */
static EVP_PKEY *ec_key(const char *curve, const uint8_t *point, size_t point_len,
			const uint8_t *priv, size_t priv_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *d = priv ? BN_bin2bn(priv, (int)priv_len, NULL) : NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	if (!bld || !ctx || (priv && !d))
		goto out;
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) ||
	    (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!params || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

int ike_kex_from_private(uint16_t group, const uint8_t *priv, size_t priv_len, const uint8_t *pub,
			 size_t pub_len, struct ike_kex **out)
{
	*out = NULL;
	size_t coord;
	const char *curve = ecp_curve(group, &coord);
	EVP_PKEY *key = NULL;
	if (group == 31) {
		key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, priv_len);
	} else if (curve) {
		uint8_t point[1 + IKE_KEX_MAX_PUBLIC];
		if (pub_len != 2 * coord)
			return -EINVAL;
		point[0] = 0x04;
		memcpy(point + 1, pub, pub_len);
		key = ec_key(curve, point, 1 + pub_len, priv, priv_len);
	} else {
		return -ENOTSUP;
	}
	if (!key)
		return -EINVAL;
	return wrap(group, key, out);
}

int ike_kex_public(const struct ike_kex *dh, uint8_t *out, size_t cap, size_t *len)
{
	size_t need = ike_kex_public_len(dh->group);
	if (cap < need)
		return -ENOSPC;
	if (dh->group == 31) {
		size_t n = cap;
		if (EVP_PKEY_get_raw_public_key(dh->key, out, &n) != 1 || n != need)
			return -EIO;
		*len = n;
		return 0;
	}
	uint8_t point[1 + IKE_KEX_MAX_PUBLIC];
	size_t n = 0;
	if (EVP_PKEY_get_octet_string_param(dh->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					    sizeof(point), &n) != 1 ||
	    n != 1 + need || point[0] != 0x04)
		return -EIO;
	memcpy(out, point + 1, need); /* RFC 5903: x | y, no point format octet */
	*len = need;
	return 0;
}

static EVP_PKEY *peer_key(uint16_t group, const uint8_t *peer, size_t peer_len)
{
	size_t coord;
	const char *curve = ecp_curve(group, &coord);
	if (group == 31)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, peer_len);
	uint8_t point[1 + IKE_KEX_MAX_PUBLIC];
	point[0] = 0x04;
	memcpy(point + 1, peer, peer_len);
	return ec_key(curve, point, 1 + peer_len, NULL, 0);
}

int ike_kex_shared(const struct ike_kex *dh, const uint8_t *peer, size_t peer_len, uint8_t *out,
		   size_t cap, size_t *len)
{
	size_t need = ike_kex_shared_len(dh->group);
	if (peer_len != ike_kex_public_len(dh->group))
		return -EBADMSG;
	if (cap < need)
		return -ENOSPC;
	EVP_PKEY *pk = peer_key(dh->group, peer, peer_len);
	EVP_PKEY_CTX *ctx = pk ? EVP_PKEY_CTX_new_from_pkey(NULL, dh->key, NULL) : NULL;
	EVP_PKEY_CTX *check = pk ? EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL) : NULL;
	int rc = -EBADMSG;
	size_t n = cap;
	if (!pk || !ctx || !check)
		goto out;
	/* Off-curve ECP points are the classic invalid-curve attack: refuse before deriving. */
	if (dh->group != 31 && EVP_PKEY_public_check(check) != 1)
		goto out;
	if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, pk) != 1 ||
	    EVP_PKEY_derive(ctx, out, &n) != 1 || n != need)
		goto out;
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= out[i];
	if (acc == 0) {
		OPENSSL_cleanse(out, n);
		goto out;
	}
	*len = n;
	rc = 0;
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return rc;
}

uint16_t ike_kex_group(const struct ike_kex *dh)
{
	return dh->group;
}

void ike_kex_free(struct ike_kex *dh)
{
	if (!dh)
		return;
	EVP_PKEY_free(dh->key);
	free(dh);
}
