/*
 * CURVE key pairs for the ZeroMQ control channel (RFC 26/CurveZMQ): generation, the three
 * spellings of a key, the secret key file, and the socket options that put a key pair to use.
 *
 * Spellings of a 32-byte key:
 *   binary  uint8_t[ZCURVE_KEY_LEN], what the store and the wire formats hold
 *   Z85     40 characters (RFC 32/Z85), ZeroMQ's text form
 *   hex     64 lowercase hex digits, how enrollment tokens pin the controller's public key; only
 *           lowercase is accepted, so a key has one spelling (as in token.h)
 *
 * Secret key file, written by zcurve_secret_save: exactly one line,
 *
 *   sdwan-curve-secret-v1 <Z85 secret key>\n
 *
 * mode 0600, replaced atomically (temporary file in the same directory, fsync, rename, fsync of
 * the directory), so a crash leaves the old key or the new one, never a mix. The public key is
 * not stored: it is derived from the secret on load, so the two cannot disagree. Loading refuses
 * a file that group or others may access in any way.
 *
 * Secrets: a struct zcurve_keypair holds a secret key; wipe it with zcurve_keypair_clear on every
 * path. Every buffer here that held a secret (text included) is wiped with OPENSSL_cleanse before
 * it is released. Secret keys are never logged. ZeroMQ keeps its own copy of a key set on a
 * socket (zcurve_server_setup/zcurve_client_setup) and does not wipe it when the socket closes:
 * that copy is out of our hands.
 *
 * Threads: no state; every function may be called from any thread. The file functions block on
 * disk I/O: call them at start-up, or from a work thread.
 */
#ifndef SDWAN_COMMON_ZCURVE_H
#define SDWAN_COMMON_ZCURVE_H

#include <stddef.h>
#include <stdint.h>

#define ZCURVE_KEY_LEN 32
/* Text lengths, without the terminating NUL. */
#define ZCURVE_Z85_LEN 40
#define ZCURVE_HEX_LEN 64

/* The first word of a secret key file. */
#define ZCURVE_FILE_TAG "sdwan-curve-secret-v1"

/* A CURVE25519 key pair. Holds a secret: zcurve_keypair_clear on every path. */
struct zcurve_keypair {
	uint8_t public_key[ZCURVE_KEY_LEN];
	uint8_t secret_key[ZCURVE_KEY_LEN];
};

/* A new key pair from ZeroMQ's CSPRNG (libsodium) into *kp. Returns 0, or -ENOTSUP when libzmq
 * was built without CURVE. */
int zcurve_keypair_generate(struct zcurve_keypair *kp) __attribute__((warn_unused_result));

/* Set kp->public_key from kp->secret_key. Returns 0 or -ENOTSUP. */
int zcurve_keypair_derive_public(struct zcurve_keypair *kp) __attribute__((warn_unused_result));

/* Wipe *kp. NULL-safe. */
void zcurve_keypair_clear(struct zcurve_keypair *kp);

/* Write key as Z85 into out (ZCURVE_Z85_LEN characters and a NUL). Never fails. */
void zcurve_z85_encode(const uint8_t key[static ZCURVE_KEY_LEN],
		       char out[static ZCURVE_Z85_LEN + 1]);

/* Read exactly len == ZCURVE_Z85_LEN characters of Z85 (no NUL needed) into key. Returns 0, or
 * -EINVAL (wrong length, a character outside the Z85 alphabet, a group over 2^32 - 1); key is
 * then unchanged. */
int zcurve_z85_decode(const char *z85, size_t len, uint8_t key[static ZCURVE_KEY_LEN])
	__attribute__((warn_unused_result));

/* Write key as 64 lowercase hex digits and a NUL into out. Never fails. */
void zcurve_hex_encode(const uint8_t key[static ZCURVE_KEY_LEN],
		       char out[static ZCURVE_HEX_LEN + 1]);

/* Read exactly len == ZCURVE_HEX_LEN lowercase hex digits into key. Returns 0, or -EINVAL (wrong
 * length, uppercase, not hex); key is then unchanged. */
int zcurve_hex_decode(const char *hex, size_t len, uint8_t key[static ZCURVE_KEY_LEN])
	__attribute__((warn_unused_result));

/*
 * Save kp's secret key to path (format and atomicity above; mode 0600 whatever the umask). The
 * directory must exist. Returns 0 or -errno (logged with the step that failed, never the key).
 */
int zcurve_secret_save(const char *path, const struct zcurve_keypair *kp)
	__attribute__((warn_unused_result));

/*
 * Load the key pair saved at path into *kp (public key derived). Returns 0, or with *kp wiped:
 * -ENOENT and other open/read errors; -EACCES when the file is accessible by group or others
 * (the log says to chmod 600 it) ; -EINVAL when it is not a regular file; -EBADMSG when it is not
 * a secret key file in the format above. Logged, never with the key.
 */
int zcurve_secret_load(const char *path, struct zcurve_keypair *kp)
	__attribute__((warn_unused_result));

/*
 * Make sock (not yet bound) a CURVE server with kp, authenticating clients through the ZAP
 * handler for zap_domain (non-empty). Sets ZMQ_ZAP_ENFORCE_DOMAIN too: without it, libzmq 4.3
 * admits every client whenever no ZAP handler is bound (its "Stonehouse" fallback), e.g. during
 * start-up or shutdown; with it and a non-empty domain, no handler means no admission. Returns 0,
 * -EINVAL (empty or NULL domain) or -errno from ZeroMQ (logged). Socket's thread.
 */
int zcurve_server_setup(void *sock, const struct zcurve_keypair *kp, const char *zap_domain)
	__attribute__((warn_unused_result));

/* Make sock (not yet connected) a CURVE client with kp that accepts only the server holding
 * server_public. Returns 0 or -errno from ZeroMQ (logged). Socket's thread. */
int zcurve_client_setup(void *sock, const struct zcurve_keypair *kp,
			const uint8_t server_public[static ZCURVE_KEY_LEN])
	__attribute__((warn_unused_result));

#endif
