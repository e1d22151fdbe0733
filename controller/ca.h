/*
 * The WAN's certificate authority: one self-signed CA per WAN that issues every edge's IKE
 * certificate, at enrollment and at renewal.
 *
 * The CA certificate:
 *   subject            O=<wan>, CN=<wan> SD-WAN CA
 *   basicConstraints   critical, CA:TRUE
 *   keyUsage           critical, keyCertSign, cRLSign
 *   subjectKeyIdentifier
 *
 * A site certificate (see common/x509id.h for how peers check it):
 *   subject            O=<wan>, CN=<site>       ("CN=<site>,O=<wan>" in RFC 4514 order)
 *   subjectAltName     DNS:<site>
 *   keyUsage           critical, digitalSignature
 *   extendedKeyUsage   serverAuth, clientAuth, ipsecIKE (1.3.6.1.5.5.7.3.17)
 *   basicConstraints   critical, CA:FALSE
 *   subjectKeyIdentifier, authorityKeyIdentifier (the CA's key identifier)
 *
 * Both carry a random 128-bit serial from OpenSSL's CSPRNG and a notBefore backdated by
 * CA_CLOCK_SKEW_S, so that an edge whose clock lags a little accepts them at once. A site
 * certificate never outlives its CA: its notAfter is cut to the CA's.
 *
 * The CA names the site its caller says (the site the enrollment token is bound to). Of a CSR
 * only the public key is used, after its self-signature and its key type have been checked;
 * the names and extensions it asks for are ignored.
 *
 * When to renew a site certificate (past two thirds of its lifetime): x509id_cert_should_renew()
 * and x509id_cert_renew_time(), shared with the edge.
 *
 * A struct ca owns its key and certificate and is not modified after ca_create()/ca_load().
 * Control path: creation, loading and saving do file I/O and key generation. ca_sign_csr()
 * only reads the CA, so calls on one CA may run on several threads at once (OpenSSL 3 keys may
 * be shared for signing); ca_free() must not race with them.
 */
#ifndef SDWAN_CONTROLLER_CA_H
#define SDWAN_CONTROLLER_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/x509id.h"

/* Defaults and limits of lifetimes, in seconds. */
#define CA_DEFAULT_LIFETIME_S      (10ull * 365 * 86400) /* the CA: ten years */
#define CA_DEFAULT_CERT_LIFETIME_S (90ull * 86400)       /* a site: 90 days, renewed after 60 */
#define CA_MAX_LIFETIME_S          (100ull * 365 * 86400)
#define CA_MIN_LIFETIME_S          60ull

/* How far notBefore is set back from the moment of issue. */
#define CA_CLOCK_SKEW_S 600

/* RSA moduli accepted in a CSR. */
#define CA_RSA_MIN_BITS 2048
#define CA_RSA_MAX_BITS 8192

/* Size of a reason buffer that holds any reason this module writes, with its NUL. */
#define CA_REASON_LEN 256

struct ca;

/* What ca_create() makes. */
struct ca_params {
	const char *wan;               /* WAN name (x509id_name_valid): the O of every cert */
	enum x509id_key_type key_type; /* the CA's key; 0 is ECDSA P-256 */
	uint64_t lifetime_s;           /* 0: CA_DEFAULT_LIFETIME_S */
	time_t now;                    /* moment of creation; 0: the current time */
};

/* What ca_sign_csr() issues. */
struct ca_issue {
	const char *site;    /* the site the token is bound to: the only name the cert carries */
	uint64_t lifetime_s; /* 0: CA_DEFAULT_CERT_LIFETIME_S */
	time_t now;          /* moment of issue; 0: the current time */
};

/*
 * Create a CA: a new key of params->key_type and a self-signed certificate. On success *out is
 * owned by the caller (ca_free). Returns 0, -EINVAL (invalid WAN name, lifetime outside
 * CA_MIN_LIFETIME_S..CA_MAX_LIFETIME_S, unknown key type), -ENOMEM, or -EIO when the CSPRNG
 * fails.
 */
int ca_create(const struct ca_params *params, struct ca **out) __attribute__((warn_unused_result));

/*
 * Load a CA saved by ca_save(): the key (which must be mode 0600 or stricter, see
 * x509id_key_load) and the certificate. Checks that the certificate is a CA certificate
 * naming a valid WAN and that the key is its key; warns in the log when it is past two thirds
 * of its lifetime. On success *out is owned by the caller. Returns 0, the errors of
 * x509id_key_load()/x509id_cert_load(), -EKEYREJECTED (key and certificate do not match),
 * -EINVAL (not a CA certificate of ours), -ENOMEM.
 */
int ca_load(const char *key_path, const char *cert_path, struct ca **out)
	__attribute__((warn_unused_result));

/*
 * Save the CA: its key to key_path (PEM, mode 0600) and then its certificate to cert_path
 * (PEM, 0644), each replaced atomically. Returns 0 or the -errno of the failing write.
 */
int ca_save(const struct ca *ca, const char *key_path, const char *cert_path)
	__attribute__((warn_unused_result));

/*
 * Load a CA from PEM text (as kept in the controller's store, see ca_export_pem), with the
 * checks of ca_load(). On success *out is owned by the caller. Returns 0, -EBADMSG (does not
 * parse), -EKEYREJECTED, -EINVAL, -ENOMEM.
 */
int ca_load_pem(const char *key_pem, const char *cert_pem, struct ca **out)
	__attribute__((warn_unused_result));

/*
 * The CA's key and certificate as new PEM strings (*key_pem is secret: release it with
 * OPENSSL_clear_free(p, strlen(p)); *cert_pem with free()). Returns 0 or -ENOMEM (both NULL).
 */
int ca_export_pem(const struct ca *ca, char **key_pem, char **cert_pem)
	__attribute__((warn_unused_result));

/* Free the CA and wipe its key. NULL-safe. */
void ca_free(struct ca *ca);

/* The CA certificate, borrowed: valid while ca lives; do not modify it (X509_up_ref to keep
 * it longer). Trust anchor for x509id_verify(). */
X509 *ca_cert(const struct ca *ca);

/* The WAN's name, borrowed from ca. */
const char *ca_wan(const struct ca *ca);

/*
 * Check an edge's CSR (untrusted): the key type is allowed (ECDSA on P-256, P-384 or P-521 with
 * a named curve and a valid point; Ed25519; Ed448; RSA of CA_RSA_MIN_BITS..CA_RSA_MAX_BITS) and
 * the self-signature verifies with the CSR's own key. The key type is checked first so that no
 * signature is verified with a key we refuse anyway. Returns 0, -EKEYREJECTED (key type or
 * size), -EBADMSG (no decodable key, bad signature); reason (may be NULL; reason_len bytes,
 * CA_REASON_LEN holds any) receives what is wrong and what to do, for the edge's operator.
 */
int ca_csr_check(X509_REQ *csr, char *reason, size_t reason_len)
	__attribute__((warn_unused_result));

/*
 * Issue a site certificate (see top of file) for issue->site with the public key of csr,
 * after ca_csr_check(). Nothing else of the CSR is used. On success *out is owned by the caller.
 * Returns 0; the errors of ca_csr_check(); -EINVAL (invalid site name, lifetime outside
 * CA_MIN_LIFETIME_S..CA_MAX_LIFETIME_S); -EKEYEXPIRED (the CA is not valid at issue->now);
 * -ENOMEM; -EIO (CSPRNG). reason as for ca_csr_check().
 */
int ca_sign_csr(const struct ca *ca, X509_REQ *csr, const struct ca_issue *issue, X509 **out,
		char *reason, size_t reason_len) __attribute__((warn_unused_result));

#endif
