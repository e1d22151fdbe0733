/*
 * One ESP Security Association's crypto state, and the encapsulation and decapsulation of one
 * tunnel-mode packet (RFC 4303) with an AEAD: AES-GCM with a 16-octet ICV (RFC 4106) or
 * ChaCha20-Poly1305 (RFC 7634), through OpenSSL 3 EVP. The wire format is in esp_wire.h.
 *
 * An SA has one direction. An outbound SA owns the sequence counter; its 64-bit sequence number
 * is also the explicit IV, so a nonce can never repeat under one key. An inbound SA owns the
 * anti-replay window (replay.h). Each SA pre-creates its EVP_CIPHER_CTX with the key schedule,
 * so the packet functions neither allocate nor lock.
 *
 * Threads: esp_sa_new() and esp_sa_free() run on the control path. An SA's packet function
 * (encap for an outbound SA, decap for an inbound one) mutates its cipher context, counter or
 * window without locks, so each SA belongs to exactly one data-plane thread at a time: the
 * worker that sends on it, or the worker its SPI is steered to. Handing an SA to another thread
 * needs the same release/acquire handover as installing it.
 */
#ifndef SDWAN_EDGE_ESP_ESP_SA_H
#define SDWAN_EDGE_ESP_ESP_SA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge/esp/esp_wire.h"

/* The AEAD transforms this data plane offers (strongSwan proposal names in brackets). */
enum esp_cipher {
	ESP_CIPHER_AES128_GCM16,      /* RFC 4106, 128-bit key [aes128gcm16] */
	ESP_CIPHER_AES256_GCM16,      /* RFC 4106, 256-bit key [aes256gcm16] */
	ESP_CIPHER_CHACHA20_POLY1305, /* RFC 7634 [chacha20poly1305] */
	ESP_CIPHER_COUNT,
};

/* The direction of an SA: each SA is used for one only. */
enum esp_dir {
	ESP_DIR_OUT, /* we encrypt and send */
	ESP_DIR_IN,  /* we receive and decrypt */
};

/* What became of an inbound packet: ESP_OK or the reason it was dropped, one counter each.
 * Listed in the order esp_sa_decap() checks them (ESP_DROP_INTERNAL aside). */
enum esp_verdict {
	/* Authentic and new; the inner packet is in the result. */
	ESP_OK,
	/* Too short, too long, or the ciphertext is not 4-octet aligned. */
	ESP_DROP_MALFORMED,
	/* The SPI is not this SA's. */
	ESP_DROP_SPI,
	/* Sequence number already received. */
	ESP_DROP_REPLAY,
	/* Sequence number left of the replay window (or 0). */
	ESP_DROP_TOO_OLD,
	/* The ICV did not verify: forgery, corruption, wrong key or wrong ESN high bits. */
	ESP_DROP_AUTH,
	/* Authentic, but the pad length or the padding octets are wrong. */
	ESP_DROP_PAD,
	/* Authentic, but Next Header is not IPv4/IPv6 or disagrees with the inner version. */
	ESP_DROP_NEXT_HEADER,
	/* Authentic dummy packet (Next Header 59, RFC 4303 §2.6): dropped by design. */
	ESP_DROP_DUMMY,
	/* This SA cannot decrypt: wrong direction or a crypto library failure. A bug or a
	 * resource problem, not the peer's doing. */
	ESP_DROP_INTERNAL,
	ESP_VERDICT_COUNT,
};

/* What esp_sa_new() needs; nothing in it is kept by reference. */
struct esp_sa_config {
	enum esp_cipher cipher;
	enum esp_dir dir;
	/* The SPI carried in the packets (chosen by the receiver), ESP_SPI_MIN or more. */
	uint32_t spi;
	/* Extended (64-bit) Sequence Numbers, RFC 4303 §2.2.1, as negotiated by IKE. */
	bool esn;
	/* KEYMAT for this SA: cipher key followed by the 4-octet salt (RFC 4106 §8.1, RFC 7634 §2),
	 * esp_cipher_keymat_len() octets. Borrowed: the caller wipes its copy. */
	const uint8_t *keymat;
	size_t keymat_len;
	/*
	 * TEST OPTION, leave 0 in production. The sequence number of the first packet: an
	 * outbound SA sends it first, an inbound SA starts with an empty window whose right edge
	 * is one below it. 0 means 1, the RFC 4303 start. Lets tests reach exhaustion and ESN
	 * wrap-around, and decrypt published vectors with large sequence numbers. Without ESN it
	 * must be at most 2^32 - 1.
	 */
	uint64_t first_seq;
	/*
	 * Outbound SAs used by several data-plane threads at once: each thread gets its own
	 * esp_sa (its own cipher context) for the same KEYMAT, and all of them draw sequence
	 * numbers from this one counter (the last number handed out, advanced atomically), so
	 * no number, and so no nonce, is ever used twice. Owned by the caller, who initialises
	 * it to first_seq - 1 (0 by default) and keeps it alive as long as the SAs. NULL: the
	 * SA counts on its own and is single-threaded.
	 */
	_Atomic uint64_t *shared_seq;
};

/* Where the decrypted packet lies in the caller's buffer. */
struct esp_decap_result {
	/* The full 64-bit sequence number (ESN high bits inferred); set from ESP_DROP_REPLAY on,
	 * except that for ESP_DROP_TOO_OLD it may hold only the low 32 bits. */
	uint64_t seq;
	/* Set for ESP_OK, ESP_DROP_NEXT_HEADER and ESP_DROP_DUMMY: the Next Header value, and the
	 * inner packet (any TFC padding included, RFC 4303 §2.7) as buf[inner_off, +inner_len). */
	uint8_t next_header;
	size_t inner_off;
	size_t inner_len;
};

/* One SA, opaque: created by esp_sa_new(), owned by its creator until esp_sa_free(). */
struct esp_sa;

/* KEYMAT octets a cipher needs: key length + ESP_SALT_LEN (20, 36, 36); 0 if unknown. */
size_t esp_cipher_keymat_len(enum esp_cipher cipher);

/* The proposal-style name of a cipher ("aes128gcm16", ...), or "unknown". */
const char *esp_cipher_name(enum esp_cipher cipher);

/* A short stable name for a verdict ("ok", "replay", "auth", ...) for counters and logs. */
const char *esp_verdict_name(enum esp_verdict v);

/*
 * Create an SA from cfg: check it, fetch the cipher, create the EVP context and load the key.
 * On success *out owns the new SA (free it with esp_sa_free()). Control path only.
 * Returns 0; -EINVAL for a bad config (unknown cipher or direction, KEYMAT length, SPI below
 * ESP_SPI_MIN, first_seq out of range); -ENOTSUP if OpenSSL lacks the cipher; -ENOMEM; -EIO on
 * another OpenSSL failure (logged).
 */
int esp_sa_new(const struct esp_sa_config *cfg, struct esp_sa **out)
	__attribute__((warn_unused_result));

/* Free an SA, wiping its key schedule and salt. NULL is a no-op. Control path only, once no
 * data-plane thread can reach the SA. */
void esp_sa_free(struct esp_sa *sa);

/* The SA's SPI. */
uint32_t esp_sa_spi(const struct esp_sa *sa);

/* How many more packets an outbound SA may send before esp_sa_encap() refuses with
 * -EKEYEXPIRED (2^32 - 1 in all without ESN, 2^64 - 1 with); 0 for an inbound SA. The caller
 * rekeys well before it reaches 0. Only the SA's owning thread may call it. */
uint64_t esp_sa_packets_left(const struct esp_sa *sa);

/*
 * Encapsulate one inner IPv4/IPv6 packet in place. On entry buf[*off, *off + *len) holds the
 * inner packet, with at least ESP_HEADROOM octets before it and ESP_TAILROOM octets after it
 * within buf[0, cap). On success buf[*off, *off + *len) holds the ESP packet (SPI, sequence
 * number, IV, ciphertext of inner packet + padding 1, 2, 3... + pad length + next header 4 or
 * 41, ICV), ready for a UDP payload; *off and *len are updated.
 *
 * Returns 0; -EKEYEXPIRED when the sequence number space is exhausted (nothing written, the SA
 * must be replaced); -ENOSPC without the headroom or tailroom; -EINVAL if the inner packet is
 * not IPv4/IPv6, is shorter than its fixed header or longer than ESP_INNER_MAX, lies outside
 * buf[0, cap), or the SA is inbound; -EIO if OpenSSL fails (the sequence number is then spent,
 * never reused). Only the SA's owning thread may call it; it does not allocate.
 */
int esp_sa_encap(struct esp_sa *sa, uint8_t *buf, size_t cap, size_t *off, size_t *len)
	__attribute__((warn_unused_result));

/*
 * Decapsulate one ESP packet buf[0, len) (the UDP payload) in place, in RFC 4303 §3.4 order:
 * length and SPI, replay check, AEAD verification and decryption, replay commit, padding and
 * next header. Returns ESP_OK with the inner packet described in *res, or the first reason to
 * drop (see enum esp_verdict and struct esp_decap_result for which fields are set). The
 * buffer's contents after the header are undefined once a packet fails authentication.
 * Only the SA's owning thread may call it; it does not allocate.
 */
enum esp_verdict esp_sa_decap(struct esp_sa *sa, uint8_t *buf, size_t len,
			      struct esp_decap_result *res) __attribute__((warn_unused_result));

#endif
