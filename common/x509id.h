/*
 * Site identities as X.509, on OpenSSL 3: key pairs, private-key files, certificate requests,
 * certificates, and the check IKE_AUTH needs ("is this certificate, issued by our CA, exactly
 * the peer the plan names?"). The edge uses it for its own key and CSR and for its peers'
 * certificates; the controller's CA (controller/ca.h) builds on it.
 *
 * An identity is a site name as the topology allows it (1-31 lowercase letters, digits or '-',
 * starting with a letter, not ending with '-'). A site certificate names exactly one site:
 *
 *   subject          O=<wan>, CN=<site>  (RFC 4514 string: "CN=<site>,O=<wan>")
 *   subjectAltName   DNS:<site>          (exactly one entry, equal to the CN)
 *
 * strongSwan peers match it with `id = <site>` (an FQDN identity checked against the SAN) or
 * `id = "O=<wan>, CN=<site>"`.
 *
 * OpenSSL objects (EVP_PKEY, X509, X509_REQ) cross this interface. An object returned through an
 * `**out` parameter is owned by the caller, who releases it with EVP_PKEY_free, X509_free or
 * X509_REQ_free; byte buffers returned through `uint8_t **out` are released with free().
 * Parameters that are not `**out` are borrowed for the duration of the call.
 *
 * Threads: no shared state; every function may be called from any thread, on objects that thread
 * owns (OpenSSL objects may be shared read-only). The functions do file I/O and public-key
 * operations: call them from the control path (or a work thread), never from the data plane.
 * Failures are logged (subsystem CA) with OpenSSL's reason; failures on untrusted input are
 * logged at debug only. Nothing secret is ever logged.
 */
#ifndef SDWAN_COMMON_X509ID_H
#define SDWAN_COMMON_X509ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/log.h"

/* Longest site or WAN name, without its NUL. */
#define X509ID_NAME_MAX 31

/* Largest certificate, CSR or key file/encoding accepted from outside. */
#define X509ID_ENCODED_MAX 65536

/* Size of the reason text of a verification, with its NUL. */
#define X509ID_REASON_LEN 512

/* Key pair algorithms we generate. The zero value is the default. */
enum x509id_key_type {
	X509ID_KEY_P256,    /* ECDSA on NIST P-256, signatures with SHA-256 (default) */
	X509ID_KEY_P384,    /* ECDSA on NIST P-384, signatures with SHA-384 */
	X509ID_KEY_ED25519, /* EdDSA on Curve25519 (RFC 8410); strongSwan >= 5.7 */
	X509ID_KEY_COUNT,
};

/* Encodings of certificates and requests. */
enum x509id_format {
	X509ID_DER,
	X509ID_PEM,
};

/* The names a site certificate carries. */
struct x509id_identity {
	char site[X509ID_NAME_MAX + 1]; /* CN, equal to the only DNS subjectAltName */
	char wan[X509ID_NAME_MAX + 1];  /* O */
};

/* What x509id_verify() found. */
enum x509id_verdict {
	X509ID_VALID,
	X509ID_EXPIRED,       /* the certificate or its CA is past notAfter */
	X509ID_NOT_YET_VALID, /* before notBefore: usually a clock that is wrong */
	X509ID_UNTRUSTED,     /* not issued by the given CA (another WAN, an old CA, altered) */
	X509ID_WRONG_NAME,    /* valid, but names another site or WAN, or not exactly one site */
	X509ID_WRONG_USAGE,   /* key usage / extended key usage forbid IKE, or a CA certificate */
	X509ID_INVALID,       /* anything else: malformed extensions, bad algorithms, no memory */
};

/* What the caller expects of a certificate. */
struct x509id_expect {
	const char *site; /* the one site the plan names; NULL accepts any valid site name */
	const char *wan;  /* the WAN (subject O); NULL accepts any */
	time_t at;        /* check validity at this instant; 0 means now */
};

/* Result of x509id_verify(). */
struct x509id_result {
	enum x509id_verdict verdict;
	/* What is wrong and what to change, for operators and logs (no secrets; names escaped
	 * per RFC 4514, so it is safe to print); "" when valid. */
	char reason[X509ID_REASON_LEN];
};

/* Whether s is a valid site or WAN name (see top of file). Pure; any thread. */
bool x509id_name_valid(const char *s);

/* "ecdsa-p256", "ecdsa-p384", "ed25519"; "?" for an unknown value. Static strings. */
const char *x509id_key_type_name(enum x509id_key_type type);

/* Parse a name of x509id_key_type_name() into *out. Returns 0 or -EINVAL. */
int x509id_key_type_parse(const char *s, enum x509id_key_type *out)
	__attribute__((warn_unused_result));

/* Name of a verdict for logs and JSON: "valid", "expired", "not-yet-valid", "untrusted",
 * "wrong-name", "wrong-usage", "invalid". Static strings. */
const char *x509id_verdict_name(enum x509id_verdict v);

/*
 * Generate a key pair from OpenSSL's CSPRNG. On success *out is a new key owned by the caller.
 * Returns 0, -EINVAL for an unknown type, -ENOMEM when OpenSSL fails.
 */
int x509id_key_generate(enum x509id_key_type type, EVP_PKEY **out)
	__attribute__((warn_unused_result));

/*
 * Write key's private key to path as unencrypted PKCS#8 PEM with mode 0600, atomically: a
 * temporary file in the same directory is written, fsync'd and renamed over path, then the
 * directory is fsync'd. A reader sees the old file or the new one, never a part. The encoded
 * key is wiped from memory before return. Returns 0, -EINVAL (no private key), or the -errno
 * of the failing file operation (the temporary file is removed).
 */
int x509id_key_save(const EVP_PKEY *key, const char *path) __attribute__((warn_unused_result));

/*
 * Read a PEM private key (PKCS#8 or traditional, unencrypted) from path into *out, owned by the
 * caller. Refuses, with -EACCES, a file that group or others may access (the log says to chmod
 * 600), and anything not a regular file or larger than X509ID_ENCODED_MAX (-EFBIG). Returns 0,
 * the -errno of open/read, or -EBADMSG when the file holds no usable key. The file's bytes are
 * wiped from memory before return.
 */
int x509id_key_load(const char *path, EVP_PKEY **out) __attribute__((warn_unused_result));

/*
 * The digest to sign with key: SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512 for P-521,
 * NULL for EdDSA (which hashes internally; OpenSSL's sign functions take NULL for it). Static
 * object; never free it.
 */
const EVP_MD *x509id_sign_md(const EVP_PKEY *key);

/*
 * A PKCS#10 request for site, signed with key (which must hold the private key): subject
 * CN=<site> and a requested subjectAltName DNS:<site>. The CA decides the final names anyway.
 * On success *out is owned by the caller. Returns 0, -EINVAL for an invalid site name or a
 * public-only key, -ENOMEM.
 */
int x509id_csr_create(EVP_PKEY *key, const char *site, X509_REQ **out)
	__attribute__((warn_unused_result));

/* Encode req as DER or PEM into a new buffer *out of *len bytes, released with free().
 * Returns 0, -EINVAL, -ENOMEM. */
int x509id_csr_encode(const X509_REQ *req, enum x509id_format fmt, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));

/*
 * Parse an untrusted request: DER must be exactly one request with no trailing bytes; PEM is
 * the first "CERTIFICATE REQUEST" block, whose content must be the same. Does not check the
 * signature (the CA does). On
 * success *out is owned by the caller. Returns 0, -EBADMSG (malformed), -EFBIG (more than
 * X509ID_ENCODED_MAX bytes), -ENOMEM.
 */
int x509id_csr_decode(const uint8_t *data, size_t len, enum x509id_format fmt, X509_REQ **out)
	__attribute__((warn_unused_result));

/* Encode cert as DER or PEM into a new buffer *out of *len bytes, released with free().
 * Returns 0, -EINVAL, -ENOMEM. */
int x509id_cert_encode(const X509 *cert, enum x509id_format fmt, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));

/* Parse an untrusted certificate, with the rules of x509id_csr_decode(). Does not verify it:
 * see x509id_verify(). On success *out is owned by the caller. */
int x509id_cert_decode(const uint8_t *data, size_t len, enum x509id_format fmt, X509 **out)
	__attribute__((warn_unused_result));

/* Write cert to path as PEM, mode 0644, atomically (as x509id_key_save()). Returns 0, -ENOMEM
 * or the -errno of the failing file operation. */
int x509id_cert_save(const X509 *cert, const char *path) __attribute__((warn_unused_result));

/* Read the first PEM certificate of path into *out, owned by the caller. Returns 0, the -errno
 * of open/read, -EFBIG, -EBADMSG. */
int x509id_cert_load(const char *path, X509 **out) __attribute__((warn_unused_result));

/*
 * The site identity of cert, without checking signature or time: exactly one CN, a valid site
 * name; exactly one subjectAltName extension holding exactly one name, a DNS name equal to the
 * CN; exactly one O, a valid WAN name. Returns 0, or -EBADMSG (*out zeroed) when cert does not
 * name exactly one site.
 */
int x509id_cert_identity(const X509 *cert, struct x509id_identity *out)
	__attribute__((warn_unused_result));

/*
 * Verify cert as a peer's IKE certificate: a chain to ca (the only trust anchor; chain, may be
 * NULL, holds untrusted intermediates), RFC 5280 checks in OpenSSL's strict mode, validity of
 * every certificate at expect->at, key usage for TLS-client-style signatures (digitalSignature,
 * EKU clientAuth), not a CA, and the identity of x509id_cert_identity() equal to expect's.
 * cert, chain and ca are borrowed and not modified. *res is always written.
 *
 * Returns 0 only when the certificate is valid and names the expected site. Otherwise
 * -EKEYREJECTED (res says which check failed and why), or -ENOMEM/-EINVAL when the check could
 * not run (verdict X509ID_INVALID): any nonzero return means "reject the peer".
 */
int x509id_verify(X509 *cert, STACK_OF(X509) * chain, X509 *ca, const struct x509id_expect *expect,
		  struct x509id_result *res) __attribute__((warn_unused_result));

/*
 * For callers that verify many certificates under one CA: a trust store holding ca alone
 * (owned by the caller, X509_STORE_free()), or NULL when out of memory; and x509id_verify()
 * against it, which then need not build one per call. The store must hold exactly ca (ca is
 * still passed for the messages); the store is not modified, so one may serve many calls.
 */
X509_STORE *x509id_store_new(X509 *ca) __attribute__((warn_unused_result));
int x509id_verify_store(X509_STORE *store, X509 *cert, STACK_OF(X509) * chain, X509 *ca,
			const struct x509id_expect *expect, struct x509id_result *res)
	__attribute__((warn_unused_result));

/* cert's notBefore and notAfter as Unix times. Returns 0 or -EBADMSG. */
int x509id_cert_validity(const X509 *cert, time_t *not_before, time_t *not_after)
	__attribute__((warn_unused_result));

/*
 * When cert should be renewed: once two thirds of its lifetime (notBefore to notAfter) have
 * passed. Returns 0 with *at set, or -EBADMSG for unreadable or inverted times.
 */
int x509id_cert_renew_time(const X509 *cert, time_t *at) __attribute__((warn_unused_result));

/* Whether cert should be renewed at now (see x509id_cert_renew_time()); true as well for a
 * certificate whose times cannot be read, so that a broken certificate gets replaced. */
bool x509id_cert_should_renew(const X509 *cert, time_t now);

/*
 * Log msg with the oldest reason in OpenSSL's error queue (of this thread) at level, then
 * clear the queue. For wrappers turning OpenSSL failures into -errno.
 */
void x509id_ossl_log(enum log_level level, const char *msg);

#endif
