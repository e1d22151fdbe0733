/*
 * The IKEv2 Encrypted and Authenticated payload (SK, RFC 7296 §3.14) with the AEAD ciphers this
 * edge negotiates: AES-GCM with a 16-octet ICV (RFC 5282) and ChaCha20-Poly1305 (RFC 7634),
 * through OpenSSL EVP.
 *
 * An SK payload on the wire (RFC 5282 §3, RFC 7634 §3):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |  <- end of the AAD
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Initialization Vector (8)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~      Ciphertext of: inner payloads | Padding | Pad Length     ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                 Integrity Checksum Data (ICV, 16)             ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   nonce = salt (4, the last octets of SK_e) | IV (8)
 *   AAD   = IKE header .. end of the SK generic payload header (RFC 5282 §5.1), which covers any
 *           unencrypted payloads before SK; for SKF (RFC 7383 §2.5) also the fragment fields.
 *
 * The explicit IV is a per-key 64-bit counter, so a nonce never repeats under one key (a
 * retransmission resends the same octets; it is never re-encrypted). Both ciphers are stream
 * ciphers (block size 1), so we send no padding, only the Pad Length octet 0; on receipt any pad
 * length that fits is accepted and the padding octets are ignored (§3.14).
 *
 * struct ike_sk holds key material: wipe it with ike_sk_wipe(). Any thread may use its own.
 */
#ifndef SDWAN_EDGE_IKE_IKE_SK_H
#define SDWAN_EDGE_IKE_IKE_SK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge/ike/ike_msg.h"

enum ike_sk_len {
	IKE_SK_IV_LEN = 8,   /* RFC 5282 §3.1, RFC 7634 §3 */
	IKE_SK_ICV_LEN = 16, /* GCM with a 16-octet ICV, Poly1305 */
	IKE_SK_SALT_LEN = 4, /* RFC 5282 §7.1, RFC 7634 §4 */
	IKE_SK_KEY_MAX = 32, /* AES-256, ChaCha20 */
	IKE_SK_PAD_LEN_LEN = 1,
	/* Octets an SK payload adds to its inner payloads, generic header included. */
	IKE_SK_OVERHEAD = IKE_PAYLOAD_HDR_LEN + IKE_SK_IV_LEN + IKE_SK_PAD_LEN_LEN + IKE_SK_ICV_LEN,
};

/* One direction's SK key: the encryption key, its salt, and (outbound only) the IV counter. */
struct ike_sk {
	uint8_t encr; /* enum proposal_encr */
	size_t key_len;
	uint8_t key[IKE_SK_KEY_MAX];
	uint8_t salt[IKE_SK_SALT_LEN];
	/* The next explicit IV; UINT64_MAX means the key is used up (ike_sk_seal refuses). */
	uint64_t iv_next;
};

/* What became of an inbound SK payload: IKE_SK_OK or why it was dropped, one counter each. */
enum ike_sk_verdict {
	IKE_SK_OK,
	IKE_SK_SHORT,    /* shorter than IV + Pad Length + ICV */
	IKE_SK_AUTH,     /* the ICV did not verify: forged, corrupted, or the wrong key */
	IKE_SK_PAD,      /* authentic, but the Pad Length exceeds the plaintext */
	IKE_SK_INTERNAL, /* no key, unknown cipher, output too small, or a library failure */
	IKE_SK_VERDICT_COUNT,
};

/* A short stable name for a verdict ("ok", "short", "auth", ...). */
const char *ike_sk_verdict_name(enum ike_sk_verdict v);

/* Octets of SK_e (key + salt) for a cipher (enum proposal_encr): 20, 36, 36; 0 if unknown. */
size_t ike_sk_keymat_len(uint8_t encr);

/*
 * Load SK_ei or SK_er (key followed by the 4-octet salt, ike_sk_keymat_len(encr) octets) into
 * *sk, with the IV counter at 0. The keymat is copied; the caller wipes its own copy.
 * Returns 0 or -EINVAL (unknown cipher, wrong length).
 */
int ike_sk_init(struct ike_sk *sk, uint8_t encr, const uint8_t *keymat, size_t len)
	__attribute__((warn_unused_result));

/* Wipe the key and salt (OPENSSL_cleanse). NULL-safe. */
void ike_sk_wipe(struct ike_sk *sk);

/*
 * Seal an SK payload in place. msg[0, aad_len) is the associated data (IKE header through the
 * end of the SK generic header, or of the SKF fragment fields); msg[aad_len, aad_len + 8)
 * receives the IV; msg[aad_len + 8, + pt_len) holds the plaintext (inner payloads, padding and
 * Pad Length), encrypted in place; the 16-octet ICV follows it. The message's length fields must
 * already be final (they are authenticated). Takes the next IV from sk->iv_next.
 * Returns 0; -EKEYEXPIRED when the IV counter is used up; -EINVAL on bad arguments; -EIO if
 * OpenSSL fails (the IV is then spent, never reused).
 */
int ike_sk_seal(struct ike_sk *sk, uint8_t *msg, size_t aad_len, size_t pt_len)
	__attribute__((warn_unused_result));

/*
 * Build a whole encrypted message into out[0, cap): the IKE header hdr (its next_payload and
 * length are computed), then one SK payload whose plaintext is the payload chain inner[0,
 * inner_len) starting with a payload of type `first` (ike_build_first() of the chain's builder;
 * IKE_PAYLOAD_NONE and inner_len 0 for an empty message), Pad Length 0, sealed with sk.
 * *len receives the message length. Returns 0, -ENOSPC if out is too small, or ike_sk_seal()'s
 * errors.
 */
int ike_sk_encrypt(struct ike_sk *sk, const struct ike_hdr *hdr, uint8_t first,
		   const uint8_t *inner, size_t inner_len, uint8_t *out, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/*
 * Verify and decrypt the SK payload of a parsed message: msg[0, msg_len) is the datagram and
 * body_off/body_len locate the SK payload's body (IV, ciphertext, ICV) inside it, so the AAD is
 * msg[0, body_off). The plaintext without padding and Pad Length is written to pt[0, cap) and
 * its length to *pt_len; parse it with ike_msg_parse_inner() using the SK payload's next field.
 * pt is wiped on any verdict but IKE_SK_OK. Does not allocate.
 */
enum ike_sk_verdict ike_sk_decrypt(const struct ike_sk *sk, const uint8_t *msg, size_t msg_len,
				   size_t body_off, size_t body_len, uint8_t *pt, size_t cap,
				   size_t *pt_len) __attribute__((warn_unused_result));

#endif
