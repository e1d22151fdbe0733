/*
 * SK payload AEAD (RFC 7296 §3.14, RFC 5282, RFC 7634). The layout is drawn in ike_sk.h.
 */
#include "edge/ike/ike_sk.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/proposal.h"
#include "common/wr.h"

static const char *const verdict_names[IKE_SK_VERDICT_COUNT] = {
	[IKE_SK_OK] = "ok",   [IKE_SK_SHORT] = "short",       [IKE_SK_AUTH] = "auth",
	[IKE_SK_PAD] = "pad", [IKE_SK_INTERNAL] = "internal",
};

const char *ike_sk_verdict_name(enum ike_sk_verdict v)
{
	if ((unsigned)v >= IKE_SK_VERDICT_COUNT)
		return "unknown";
	return verdict_names[v];
}

/* OpenSSL's name and the key length of each cipher; NULL for an unknown one. */
static const char *cipher_evp_name(uint8_t encr, size_t *key_len)
{
	switch (encr) {
	case PROPOSAL_ENCR_AES128GCM16:
		*key_len = 16;
		return "AES-128-GCM";
	case PROPOSAL_ENCR_AES256GCM16:
		*key_len = 32;
		return "AES-256-GCM";
	case PROPOSAL_ENCR_CHACHA20POLY1305:
		*key_len = 32;
		return "ChaCha20-Poly1305";
	default:
		*key_len = 0;
		return NULL;
	}
}

size_t ike_sk_keymat_len(uint8_t encr)
{
	size_t key_len;

	if (!cipher_evp_name(encr, &key_len))
		return 0;
	return key_len + IKE_SK_SALT_LEN;
}

int ike_sk_init(struct ike_sk *sk, uint8_t encr, const uint8_t *keymat, size_t len)
{
	size_t key_len;

	if (!cipher_evp_name(encr, &key_len) || !keymat || len != key_len + IKE_SK_SALT_LEN)
		return -EINVAL;
	memset(sk, 0, sizeof(*sk));
	sk->encr = encr;
	sk->key_len = key_len;
	/* RFC 5282 §7.1, RFC 7634 §4: the salt is the last 4 octets of the keying material. */
	memcpy(sk->key, keymat, key_len);
	memcpy(sk->salt, keymat + key_len, IKE_SK_SALT_LEN);
	sk->iv_next = 0;
	return 0;
}

void ike_sk_wipe(struct ike_sk *sk)
{
	if (sk)
		OPENSSL_cleanse(sk, sizeof(*sk));
}

static void log_openssl(const char *what)
{
	char err[256];

	ERR_error_string_n(ERR_get_error(), err, sizeof(err));
	LOG_ERR(IKE, "SK cipher failure", "step=%s openssl=\"%s\"", what, err);
	ERR_clear_error();
}

/* A cipher context keyed for one message: nonce = salt | IV (RFC 5282 §4, RFC 7634 §2). */
static EVP_CIPHER_CTX *aead_ctx(const struct ike_sk *sk, const uint8_t iv[static IKE_SK_IV_LEN],
				bool enc)
{
	size_t key_len;
	const char *name = cipher_evp_name(sk->encr, &key_len);
	uint8_t nonce[IKE_SK_SALT_LEN + IKE_SK_IV_LEN];
	EVP_CIPHER *cipher = NULL;
	EVP_CIPHER_CTX *ctx = NULL;

	if (!name || key_len != sk->key_len)
		return NULL;
	memcpy(nonce, sk->salt, IKE_SK_SALT_LEN);
	memcpy(nonce + IKE_SK_SALT_LEN, iv, IKE_SK_IV_LEN);
	cipher = EVP_CIPHER_fetch(NULL, name, NULL);
	ctx = cipher ? EVP_CIPHER_CTX_new() : NULL;
	/* Both ciphers default to a 12-octet nonce, the length we use. */
	if (!ctx || EVP_CipherInit_ex2(ctx, cipher, sk->key, nonce, enc ? 1 : 0, NULL) != 1) {
		log_openssl("init");
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	EVP_CIPHER_free(cipher);
	return ctx;
}

int ike_sk_seal(struct ike_sk *sk, uint8_t *msg, size_t aad_len, size_t pt_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int outl, rc = -EIO;

	if (!msg || aad_len > INT_MAX || pt_len > INT_MAX || sk->key_len == 0)
		return -EINVAL;
	uint8_t *iv = msg + aad_len;
	uint8_t *data = iv + IKE_SK_IV_LEN;
	if (sk->iv_next == UINT64_MAX)
		return -EKEYEXPIRED;
	/* The IV is spent before anything can fail, so a failure never leads to its reuse. */
	uint64_t ctr = sk->iv_next++;
	for (int i = IKE_SK_IV_LEN - 1; i >= 0; i--, ctr >>= 8)
		iv[i] = (uint8_t)ctr;
	ctx = aead_ctx(sk, iv, true);
	if (!ctx)
		goto out;
	if (EVP_EncryptUpdate(ctx, NULL, &outl, msg, (int)aad_len) != 1 ||
	    EVP_EncryptUpdate(ctx, data, &outl, data, (int)pt_len) != 1 || (size_t)outl != pt_len ||
	    EVP_EncryptFinal_ex(ctx, data + pt_len, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, IKE_SK_ICV_LEN, data + pt_len) != 1) {
		log_openssl("encrypt");
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int ike_sk_encrypt(struct ike_sk *sk, const struct ike_hdr *hdr, uint8_t first,
		   const uint8_t *inner, size_t inner_len, uint8_t *out, size_t cap, size_t *len)
{
	struct wr w = wr_init(out, cap);
	struct ike_build b;
	size_t aad_len, total;
	int rc;

	if ((inner_len > 0 && !inner) || (inner_len > 0) != (first != IKE_PAYLOAD_NONE))
		return -EINVAL;
	ike_build_init(&b, &w, hdr);
	ike_build_sk_begin(&b, first);
	aad_len = wr_mark(&w);
	wr_zero(&w, IKE_SK_IV_LEN);
	wr_bytes(&w, inner, inner_len);
	wr_u8(&w, 0); /* Pad Length: no padding with a stream cipher */
	wr_zero(&w, IKE_SK_ICV_LEN);
	ike_build_end(&b);
	rc = ike_build_finish(&b, &total);
	if (rc != 0)
		return rc;
	rc = ike_sk_seal(sk, out, aad_len, inner_len + IKE_SK_PAD_LEN_LEN);
	if (rc != 0) {
		OPENSSL_cleanse(out, total);
		return rc;
	}
	*len = total;
	return 0;
}

enum ike_sk_verdict ike_sk_decrypt(const struct ike_sk *sk, const uint8_t *msg, size_t msg_len,
				   size_t body_off, size_t body_len, uint8_t *pt, size_t cap,
				   size_t *pt_len)
{
	enum ike_sk_verdict v = IKE_SK_INTERNAL;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tag[IKE_SK_ICV_LEN];
	size_t ct_len = 0;
	int outl;

	*pt_len = 0;
	if (!msg || body_off > msg_len || body_len > msg_len - body_off || body_off > INT_MAX)
		return IKE_SK_INTERNAL;
	if (body_len < IKE_SK_IV_LEN + IKE_SK_PAD_LEN_LEN + IKE_SK_ICV_LEN)
		return IKE_SK_SHORT;
	const uint8_t *iv = msg + body_off;
	const uint8_t *ct = iv + IKE_SK_IV_LEN;
	ct_len = body_len - IKE_SK_IV_LEN - IKE_SK_ICV_LEN;
	if (ct_len > cap || ct_len > INT_MAX || sk->key_len == 0)
		return IKE_SK_INTERNAL;
	memcpy(tag, ct + ct_len, IKE_SK_ICV_LEN);
	ctx = aead_ctx(sk, iv, false);
	if (!ctx)
		goto out;
	if (EVP_DecryptUpdate(ctx, NULL, &outl, msg, (int)body_off) != 1 ||
	    EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)ct_len) != 1 || (size_t)outl != ct_len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, IKE_SK_ICV_LEN, tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, pt + ct_len, &outl) != 1) {
		/* A tag mismatch is the peer's (or an attacker's) doing, not ours: no error log. */
		ERR_clear_error();
		v = IKE_SK_AUTH;
		goto out;
	}
	/* §3.14: the last octet is the Pad Length; the padding octets may hold any value. */
	size_t pad = pt[ct_len - 1];
	if (pad + IKE_SK_PAD_LEN_LEN > ct_len) {
		v = IKE_SK_PAD;
		goto out;
	}
	*pt_len = ct_len - pad - IKE_SK_PAD_LEN_LEN;
	v = IKE_SK_OK;
out:
	if (v != IKE_SK_OK && ct_len <= cap)
		OPENSSL_cleanse(pt, ct_len);
	EVP_CIPHER_CTX_free(ctx);
	return v;
}
