/*
 * IKEv2 key derivation, RFC 7296 sections 2.13 to 2.18, with HMAC PRFs through OpenSSL EVP_MAC.
 *
 *   prf+ (K, S)   = T1 | T2 | ...,  T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n)
 *   SKEYSEED      = prf(Ni | Nr, g^ir)                                   (2.14)
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *                 = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)                 (2.14)
 *   KEYMAT        = prf+(SK_d, [g^ir (new) |] Ni | Nr)                    (2.17)
 *   SKEYSEED'     = prf(SK_d (old), g^ir (new) | Ni | Nr)                 (2.18)
 *
 * With the AEAD ciphers used here SK_ai/SK_ar are empty and SK_e includes the salt (RFC 5282,
 * RFC 7634). Every output buffer is the caller's; these functions keep nothing. Secrets they
 * create internally are wiped before returning. Pure functions; any thread.
 */
#ifndef SDWAN_EDGE_IKE_IKE_KEYS_H
#define SDWAN_EDGE_IKE_IKE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "edge/ike/ike_wire.h"

/* PRFs are named by their IANA transform IDs (enum ike_prf in ike_wire.h). HMAC-SHA-1 is
 * accepted so the derivation can be checked against the published NIST CAVS vectors; proposals
 * never select it (common/proposal refuses it as weak). */
enum {
	IKE_PRF_MAX_LEN = 64,        /* longest PRF output (SHA-512) */
	IKE_SK_E_MAX_LEN = 36,       /* longest encryption key + salt (AES-256-GCM, ChaCha20) */
	IKE_PRF_PLUS_MAX_ITER = 255, /* prf+ output is limited to 255 blocks (2.13) */
};

/* The PRF's output length in bytes (also the length of SK_d, SK_pi, SK_pr). */
size_t ike_prf_len(enum ike_prf alg);

/* out = prf(key, data1 | data2); data2 may be NULL. out holds ike_prf_len(alg) bytes. */
int ike_prf(enum ike_prf alg, const uint8_t *key, size_t key_len, const uint8_t *data1, size_t len1,
	    const uint8_t *data2, size_t len2, uint8_t *out) __attribute__((warn_unused_result));

/* out[0..out_len) = prf+(key, seed). -EINVAL if out_len exceeds 255 PRF blocks. */
int ike_prf_plus(enum ike_prf alg, const uint8_t *key, size_t key_len, const uint8_t *seed,
		 size_t seed_len, uint8_t *out, size_t out_len) __attribute__((warn_unused_result));

/* The keys of one IKE SA. Wipe with ike_sa_keys_wipe(). */
struct ike_sa_keys {
	size_t prf_len; /* length of sk_d, sk_pi, sk_pr */
	size_t enc_len; /* length of sk_ei, sk_er: key + salt */
	uint8_t sk_d[IKE_PRF_MAX_LEN];
	uint8_t sk_ei[IKE_SK_E_MAX_LEN];
	uint8_t sk_er[IKE_SK_E_MAX_LEN];
	uint8_t sk_pi[IKE_PRF_MAX_LEN];
	uint8_t sk_pr[IKE_PRF_MAX_LEN];
};

/* The values both sides contribute to an IKE SA's keys. Borrowed. */
struct ike_kdf_input {
	const uint8_t *ni, *nr; /* nonces */
	size_t ni_len, nr_len;
	const uint8_t *spi_i, *spi_r; /* 8 bytes each */
	const uint8_t *shared;        /* g^ir */
	size_t shared_len;
};

/* SKEYSEED = prf(Ni | Nr, g^ir); out holds ike_prf_len(alg) bytes. */
int ike_skeyseed(enum ike_prf alg, const struct ike_kdf_input *in, uint8_t *out)
	__attribute__((warn_unused_result));

/* SKEYSEED for a rekeyed IKE SA: prf(SK_d (old), g^ir (new) | Ni | Nr). */
int ike_skeyseed_rekey(enum ike_prf alg, const uint8_t *old_sk_d, const struct ike_kdf_input *in,
		       uint8_t *out) __attribute__((warn_unused_result));

/* Derive an IKE SA's keys from SKEYSEED; enc_len is the cipher's key + salt length. */
int ike_sa_keys_derive(enum ike_prf alg, const uint8_t *skeyseed, const struct ike_kdf_input *in,
		       size_t enc_len, struct ike_sa_keys *out) __attribute__((warn_unused_result));

/* KEYMAT for a Child SA: prf+(SK_d, [g^ir |] Ni | Nr); in->shared NULL without PFS. The caller
 * splits it: initiator-to-responder key first, then the other direction (2.17). */
int ike_child_keymat(enum ike_prf alg, const uint8_t *sk_d, const struct ike_kdf_input *in,
		     uint8_t *out, size_t out_len) __attribute__((warn_unused_result));

/* Wipe every key. NULL-safe. */
void ike_sa_keys_wipe(struct ike_sa_keys *k);

#endif
