/*
 * Private to edge/ike: certificate authentication for IKE_AUTH (RFC 7296 §2.15, §3.6, §3.7;
 * RFC 7427). ike_auth.c decides when; this module knows the objects and the octets:
 *
 *   AUTH data (method 14, RFC 7427 §3):
 *     +--------+------------------------------+-------------------------+
 *     | len(1) | AlgorithmIdentifier (DER)    | signature value         |
 *     +--------+------------------------------+-------------------------+
 *   signed over <SignedOctets> of §2.15 (IKE_SA_INIT message | peer's nonce | prf(SK_p, ID)).
 *
 *   We sign with our key's natural algorithm: ecdsa-with-SHA256/384/512 for P-256/P-384/P-521,
 *   Ed25519 (RFC 8420), RSASSA-PSS with SHA-256 and a 32-octet salt for RSA. We verify ECDSA
 *   with SHA-2, Ed25519, RSASSA-PSS (SHA-2, MGF1 with SHA-2) and RSASSA-PKCS1-v1_5 with SHA-2;
 *   SHA-1 is refused.
 *
 *   CERT (§3.6): encoding 4 (X.509 signature), DER; the first is the end entity, the rest are
 *   intermediates. CERTREQ (§3.7): encoding 4, SHA-1 hashes of trust anchors' SPKI.
 *
 * OpenSSL objects passed in are borrowed; any returned through `**out` is owned by the caller.
 * Runs on the engine's thread; allocates (control path).
 */
#ifndef SDWAN_EDGE_IKE_IKE_CERT_H
#define SDWAN_EDGE_IKE_IKE_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sa.h"

enum ike_cert_limit {
	IKE_CERT_CHAIN_MAX = 4,    /* intermediates accepted from a peer */
	IKE_CERT_AUTH_MAX = 1280,  /* AUTH data: 1 + AlgorithmIdentifier + RSA-8192 signature */
	IKE_CERT_REASON_MAX = 640, /* a reason this module writes, with its NUL */
	IKE_CERT_SITE_MAX = IKE_PEER_SITE_MAX, /* a site name, with its NUL */
	IKE_CERT_HASH_BITS_MAX = 8,            /* hash IDs 1..7 fit a bit each */
};

/* Whether the certificate part of a tunnel configuration is usable; if not, why (static text
 * or, for identity mismatches, written to buf). */
bool ike__cert_config_ok(const struct ike_peer_config *c, char *buf, size_t cap);

/* Take the engine's references to the OpenSSL objects of a copied configuration (add_peer),
 * and drop them (engine free). Both do nothing with a PSK. */
int ike__cert_config_ref(struct ike_peer_config *c) __attribute__((warn_unused_result));
void ike__cert_config_unref(struct ike_peer_config *c);

/* The RFC 7427 §4 hash ID our key signs with (IKE_HASH_SHA2_256, ..., IKE_HASH_IDENTITY for
 * EdDSA), or 0 for a key we cannot sign with. */
uint16_t ike__cert_key_hash(EVP_PKEY *key);

/* The bit mask of hash IDs in a SIGNATURE_HASH_ALGORITHMS notify's data (bit n: ID n). */
uint8_t ike__cert_hash_mask(const uint8_t *data, size_t len);

/* AUTH data (see above) signing octets[0, len) with key, into out[0, IKE_CERT_AUTH_MAX).
 * Returns 0, -EINVAL (key type), -EIO (OpenSSL). */
int ike__cert_sign(EVP_PKEY *key, const uint8_t *octets, size_t len,
		   uint8_t out[static IKE_CERT_AUTH_MAX], size_t *out_len)
	__attribute__((warn_unused_result));

/* Whether AUTH data auth[0, auth_len) is a valid RFC 7427 signature of octets[0, len) by pub;
 * if not, why (names the algorithm and the mismatch). */
bool ike__cert_verify(EVP_PKEY *pub, const uint8_t *octets, size_t len, const uint8_t *auth,
		      size_t auth_len, char *why, size_t cap);

/* SHA-1 of cert's SubjectPublicKeyInfo: the CERTREQ value of a CA (§3.7). 0 or -EIO. */
int ike__cert_spki_sha1(X509 *cert, uint8_t out[static IKE_CERTREQ_HASH_LEN])
	__attribute__((warn_unused_result));

/* Build our CERT payloads (end entity, then the chain) when certs, and a CERTREQ for cfg->ca
 * when req_ca. Returns 0 or -ENOMEM/-EIO (encoding); the builder's own errors stay sticky. */
int ike__cert_build(struct ike_build *b, const struct ike_peer_config *cfg, bool certs, bool req_ca)
	__attribute__((warn_unused_result));

/*
 * The end-entity certificate a tunnel's peer presented last, decoded. A peer presents the same
 * certificate on every handshake and, with OpenSSL 3, decoding one (its key goes through the
 * provider decoders) costs more than verifying it. Reuse is decided on the exact DER, so it
 * yields the object decoding would; everything else (chain, validity, name) is still checked
 * each time. Owned by the tunnel; ike__cert_cache_clear() frees it.
 */
struct ike_cert_cache {
	uint8_t *der;
	size_t len;
	X509 *cert;
	X509_STORE *store; /* the tunnel's CA alone, built on first use rather than per verify */
};

void ike__cert_cache_clear(struct ike_cert_cache *c);

/*
 * The peer's certificate from the CERT payloads of pls, checked against cfg: chains to cfg->ca
 * (with the other CERT payloads as intermediates), valid at `at`, names site cfg->remote_id.
 * cache (may be NULL) is the tunnel's last decoded end-entity certificate, updated here.
 * On success *pub is the certificate's public key (owned by the caller) and site[] the site
 * it names. Returns 0, or -EKEYREJECTED with an operator-facing reason in why.
 */
int ike__cert_peer_check(const struct ike_peer_config *cfg, struct ike_cert_cache *cache,
			 const struct ike_payloads *pls, time_t at, EVP_PKEY **pub,
			 char site[static IKE_CERT_SITE_MAX], char *why, size_t cap)
	__attribute__((warn_unused_result));

/* Whether a CERTREQ in pls names the trust anchor we know as cfg->ca (or carries none, or
 * is empty: "any"). False means the peer trusts another CA than ours. */
bool ike__cert_req_matches(const struct ike_peer_config *cfg, const struct ike_payloads *pls);

#endif
