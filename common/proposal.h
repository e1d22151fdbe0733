/*
 * Crypto proposals written the way strongSwan users write them:
 *
 *   IKE  aes256gcm16-prfsha384-x25519      encryption - PRF - key exchange group
 *   ESP  aes256gcm16-x25519                encryption [- group for PFS] [- esn | noesn]
 *
 * One proposal is pinned per tunnel, so exactly one algorithm of each kind is allowed. Only
 * AEAD ciphers are supported. Weak algorithms (DES, 3DES, NULL, MD5, SHA-1, MODP <= 1024,
 * truncated ICVs) are refused with the reason; known but unsupported ones say what to use
 * instead; unknown tokens get the nearest supported name. ESP uses 64-bit extended sequence
 * numbers unless "noesn" is given. Pure functions; any thread.
 */
#ifndef SDWAN_COMMON_PROPOSAL_H
#define SDWAN_COMMON_PROPOSAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum proposal_kind {
	PROPOSAL_IKE,
	PROPOSAL_ESP,
};

enum proposal_encr {
	PROPOSAL_ENCR_NONE,
	PROPOSAL_ENCR_AES128GCM16,
	PROPOSAL_ENCR_AES256GCM16,
	PROPOSAL_ENCR_CHACHA20POLY1305,
};

enum proposal_prf {
	PROPOSAL_PRF_NONE,
	PROPOSAL_PRF_SHA256,
	PROPOSAL_PRF_SHA384,
	PROPOSAL_PRF_SHA512,
};

/* Values are the IANA IKEv2 transform type 4 IDs. */
enum proposal_group {
	PROPOSAL_GROUP_NONE = 0,
	PROPOSAL_GROUP_ECP256 = 19,
	PROPOSAL_GROUP_ECP384 = 20,
	PROPOSAL_GROUP_X25519 = 31,
};

struct proposal {
	uint8_t encr;   /* enum proposal_encr */
	uint8_t prf;    /* enum proposal_prf; NONE for ESP */
	uint16_t group; /* enum proposal_group; NONE for ESP without PFS */
	bool esn;       /* ESP only */
};

/* One problem found in a proposal string: where (byte offset and length of the token) and
 * what to do about it. */
struct proposal_error {
	size_t offset;
	size_t len;
	char msg[192];
};

enum {
	PROPOSAL_MAX_ERRORS = 6
};

struct proposal_errors {
	struct proposal_error e[PROPOSAL_MAX_ERRORS];
	size_t n;
};

/* Longest canonical proposal string, with its NUL. */
#define PROPOSAL_STRLEN 64

/*
 * Parse s as a proposal of the given kind. Returns 0 with *out filled, or -EINVAL with every
 * problem found in errs (up to PROPOSAL_MAX_ERRORS).
 */
int proposal_parse(const char *s, enum proposal_kind kind, struct proposal *out,
		   struct proposal_errors *errs) __attribute__((warn_unused_result));

/* The canonical strongSwan form ("aes256gcm16-prfsha384-x25519", "aes256gcm16-x25519-esn"). */
char *proposal_format(const struct proposal *p, enum proposal_kind kind,
		      char buf[static PROPOSAL_STRLEN]);

/* Whether two proposals are the same. */
bool proposal_equal(const struct proposal *a, const struct proposal *b);

/* ESP bytes added around an inner packet by this cipher, before padding: SPI + sequence number
 * (8), IV (8), pad length and next header (2), ICV (16). */
unsigned proposal_esp_overhead(const struct proposal *p);

#endif
