/*
 * IKEv2 key exchange (transform type 4) through OpenSSL EVP: x25519 (group 31, RFC 8031) and the
 * NIST curves ecp256/ecp384 (groups 19/20, RFC 5903).
 *
 * KE payload data is x25519's 32-byte u-coordinate, or an ECP point as x | y without the 0x04
 * prefix (RFC 5903 section 7). The shared secret g^ir is x25519's output or the ECP point's x
 * coordinate. Peer values are validated: an ECP point must be on the curve; an all-zero x25519
 * result (a small-order peer point) is refused. A struct ike_kex owns its private key, which is
 * freed with it. Control path only; any thread may use its own objects.
 */
#ifndef SDWAN_EDGE_IKE_IKE_KEX_H
#define SDWAN_EDGE_IKE_IKE_KEX_H

#include <stddef.h>
#include <stdint.h>

enum {
	IKE_KEX_MAX_PUBLIC = 96, /* ecp384: 2 x 48 */
	IKE_KEX_MAX_SHARED = 48,
};

struct ike_kex;

/* Bytes of KE data and of the shared secret for a group; 0 for an unsupported group. */
size_t ike_kex_public_len(uint16_t group);
size_t ike_kex_shared_len(uint16_t group);

/* Generate a fresh key pair for group (19, 20 or 31). Returns 0 and *out, -ENOTSUP for another
 * group, -EIO on a library failure. */
int ike_kex_new(uint16_t group, struct ike_kex **out) __attribute__((warn_unused_result));

/* Key generation contexts of the groups, each set up on first use and then reused: with
 * OpenSSL 3, setting one up (finding the algorithm among the providers) costs a good part of an
 * x25519 key generation. One per engine, used from its thread only. new: NULL when out of
 * memory; free: NULL-safe. */
struct ike_kex_gen;
struct ike_kex_gen *ike_kex_gen_new(void) __attribute__((warn_unused_result));
void ike_kex_gen_free(struct ike_kex_gen *gen);

/* ike_kex_new() with gen's contexts (gen NULL: a fresh context, as ike_kex_new()). */
int ike_kex_new_gen(struct ike_kex_gen *gen, uint16_t group, struct ike_kex **out)
	__attribute__((warn_unused_result));

/* A key pair from known private (and, for ECP, public) values: for test vectors only. pub is
 * ignored for x25519. */
int ike_kex_from_private(uint16_t group, const uint8_t *priv, size_t priv_len, const uint8_t *pub,
			 size_t pub_len, struct ike_kex **out) __attribute__((warn_unused_result));

/* Our KE data into out (ike_kex_public_len bytes). */
int ike_kex_public(const struct ike_kex *dh, uint8_t *out, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* g^ir from the peer's KE data into out (ike_kex_shared_len bytes). -EBADMSG when the peer's
 * value has the wrong length, is not on the curve, or yields an all-zero secret. */
int ike_kex_shared(const struct ike_kex *dh, const uint8_t *peer, size_t peer_len, uint8_t *out,
		   size_t cap, size_t *len) __attribute__((warn_unused_result));

/* The group of a key pair. */
uint16_t ike_kex_group(const struct ike_kex *dh);

/* Free the key pair. NULL-safe. */
void ike_kex_free(struct ike_kex *dh);

#endif
