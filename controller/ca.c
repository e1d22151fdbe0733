#include "controller/ca.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/error.h"

/* RFC 5280 §4.1.2.2 allows 20 octets; 16 random ones are 128 bits of unpredictability. */
#define SERIAL_LEN 16

/* "2026-11-24T08:40:00Z" with room for any int year. */
#define TIME_TEXT_LEN 80

struct ca {
	EVP_PKEY *key;
	X509 *cert;
	char wan[X509ID_NAME_MAX + 1];
};

__attribute__((format(printf, 3, 4))) static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!buf || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void time_text(time_t t, char buf[static TIME_TEXT_LEN])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, TIME_TEXT_LEN, "(time out of range)");
		return;
	}
	snprintf(buf, TIME_TEXT_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool lifetime_ok(uint64_t s)
{
	return s >= CA_MIN_LIFETIME_S && s <= CA_MAX_LIFETIME_S;
}

/* ---- certificate building ---- */

/* A positive serial of SERIAL_LEN random octets, and its hex for the log. */
static int random_serial(ASN1_INTEGER **out, char hex[static 2 * SERIAL_LEN + 1])
{
	unsigned char b[SERIAL_LEN];
	if (RAND_bytes(b, sizeof(b)) != 1) {
		x509id_ossl_log(LOG_LEVEL_ERR, "CSPRNG failed");
		return -EIO;
	}
	b[SERIAL_LEN - 1] |= 1; /* never zero (RFC 5280: positive) */
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	*out = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	BN_free(bn);
	return *out ? 0 : -ENOMEM;
}

/* O=<wan>, CN=<cn>, in this order (most general first, as X.500 and strongSwan expect). */
static X509_NAME *make_name(const char *wan, const char *cn)
{
	X509_NAME *n = X509_NAME_new();
	if (!n ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
				       (const unsigned char *)wan, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn,
				       -1, -1, 0) != 1) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* A v3 certificate without extensions: serial, names, validity, public key. */
static int cert_new(const X509_NAME *subject, const X509_NAME *issuer, EVP_PKEY *pub,
		    time_t not_before, time_t not_after, X509 **out,
		    char serial_hex[static 2 * SERIAL_LEN + 1])
{
	ASN1_INTEGER *serial = NULL;
	int rc = -ENOMEM;
	X509 *x = X509_new();
	if (!x || X509_set_version(x, X509_VERSION_3) != 1)
		goto out;
	rc = random_serial(&serial, serial_hex);
	if (rc != 0)
		goto out;
	rc = -ENOMEM;
	if (X509_set_serialNumber(x, serial) != 1 || X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer) != 1 ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), not_after) || X509_set_pubkey(x, pub) != 1)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return rc;
}

/* Add one extension written in OpenSSL's configuration syntax; issuer is needed for
 * authorityKeyIdentifier, x's public key for subjectKeyIdentifier. Values are constants or
 * validated names, never text from a CSR. */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	memset(&v3, 0, sizeof(v3));
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

static int sign(X509 *x, EVP_PKEY *key)
{
	return X509_sign(x, key, x509id_sign_md(key)) > 0 ? 0 : -ENOMEM;
}

/* ---- the CA ---- */

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->key); /* OpenSSL wipes key material on free */
	X509_free(ca->cert);
	free(ca);
}

X509 *ca_cert(const struct ca *ca)
{
	return ca->cert;
}

const char *ca_wan(const struct ca *ca)
{
	return ca->wan;
}

static int ca_self_sign(struct ca *ca, time_t now, uint64_t lifetime_s)
{
	char cn[X509ID_NAME_MAX + sizeof(" SD-WAN CA")], serial[2 * SERIAL_LEN + 1];
	snprintf(cn, sizeof(cn), "%s SD-WAN CA", ca->wan);
	int rc = -ENOMEM;
	X509_NAME *name = make_name(ca->wan, cn);
	if (!name)
		goto out;
	rc = cert_new(name, name, ca->key, now - CA_CLOCK_SKEW_S, now + (time_t)lifetime_s,
		      &ca->cert, serial);
	if (rc != 0)
		goto out;
	rc = -ENOMEM;
	if (add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
	    add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
	    add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") != 0 ||
	    sign(ca->cert, ca->key) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		x509id_ossl_log(LOG_LEVEL_ERR, "cannot build the CA certificate");
	X509_NAME_free(name);
	return rc;
}

int ca_create(const struct ca_params *params, struct ca **out)
{
	uint64_t lifetime = params->lifetime_s ? params->lifetime_s : CA_DEFAULT_LIFETIME_S;
	time_t now = params->now ? params->now : time(NULL);
	char when[TIME_TEXT_LEN];
	if (!x509id_name_valid(params->wan) || !lifetime_ok(lifetime) ||
	    (unsigned)params->key_type >= X509ID_KEY_COUNT)
		return -EINVAL;
	struct ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	snprintf(ca->wan, sizeof(ca->wan), "%s", params->wan);
	int rc = x509id_key_generate(params->key_type, &ca->key);
	if (rc == 0)
		rc = ca_self_sign(ca, now, lifetime);
	if (rc != 0) {
		ca_free(ca);
		return rc;
	}
	time_text(now + (time_t)lifetime, when);
	LOG_NOTICE(CA, "CA created", "wan=%s key=%s not_after=%s", ca->wan,
		   x509id_key_type_name(params->key_type), when);
	*out = ca;
	return 0;
}

/* The WAN a CA certificate names: its one O, a valid name. */
static int cert_wan(X509 *cert, char out[static X509ID_NAME_MAX + 1])
{
	const X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_organizationName, i) >= 0)
		return -EINVAL;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	int n = ASN1_STRING_length(s);
	if (n <= 0 || n > X509ID_NAME_MAX)
		return -EINVAL;
	memcpy(out, ASN1_STRING_get0_data(s), (size_t)n);
	out[n] = '\0';
	return x509id_name_valid(out) ? 0 : -EINVAL;
}

int ca_load(const char *key_path, const char *cert_path, struct ca **out)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	int rc = x509id_key_load(key_path, &ca->key);
	if (rc == 0)
		rc = x509id_cert_load(cert_path, &ca->cert);
	if (rc != 0)
		goto err;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ERR_clear_error();
		LOG_ERR(CA,
			"CA key does not belong to the CA certificate; restore the pair saved together",
			"key=\"%s\" cert=\"%s\"", key_path, cert_path);
		rc = -EKEYREJECTED;
		goto err;
	}
	if (X509_check_ca(ca->cert) != 1 || cert_wan(ca->cert, ca->wan) != 0) {
		LOG_ERR(CA, "not a CA certificate of an SD-WAN (CA:TRUE and one O naming the WAN)",
			"cert=\"%s\"", cert_path);
		rc = -EINVAL;
		goto err;
	}
	if (x509id_cert_should_renew(ca->cert, time(NULL)))
		LOG_WARN(CA,
			 "CA certificate is past two thirds of its lifetime; plan its replacement",
			 "wan=%s cert=\"%s\"", ca->wan, cert_path);
	*out = ca;
	return 0;
err:
	ca_free(ca);
	return rc;
}

int ca_load_pem(const char *key_pem, const char *cert_pem, struct ca **out)
{
	*out = NULL;
	if (!key_pem || !cert_pem)
		return -EINVAL;
	struct ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	int rc = -EBADMSG;
	BIO *kb = BIO_new_mem_buf(key_pem, -1);
	BIO *cb = BIO_new_mem_buf(cert_pem, -1);
	if (kb && cb) {
		ca->key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
		ca->cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	}
	BIO_free(kb);
	BIO_free(cb);
	if (!ca->key || !ca->cert) {
		ERR_clear_error();
		LOG_ERR(CA, "stored CA key or certificate does not parse", "%s", "");
		goto err;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ERR_clear_error();
		LOG_ERR(CA, "stored CA key does not belong to the stored CA certificate", "%s", "");
		rc = -EKEYREJECTED;
		goto err;
	}
	if (X509_check_ca(ca->cert) != 1 || cert_wan(ca->cert, ca->wan) != 0) {
		LOG_ERR(CA, "stored certificate is not a CA certificate of an SD-WAN", "%s", "");
		rc = -EINVAL;
		goto err;
	}
	*out = ca;
	return 0;
err:
	ca_free(ca);
	return rc;
}

/* The PEM text a BIO collected, as a new NUL-terminated string. */
static char *bio_strdup(BIO *b)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (s) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

int ca_export_pem(const struct ca *ca, char **key_pem, char **cert_pem)
{
	*key_pem = NULL;
	*cert_pem = NULL;
	int rc = -ENOMEM;
	BIO *kb = BIO_new(BIO_s_secmem());
	BIO *cb = BIO_new(BIO_s_mem());
	if (kb && cb && PEM_write_bio_PrivateKey(kb, ca->key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    PEM_write_bio_X509(cb, ca->cert) == 1) {
		*key_pem = bio_strdup(kb);
		*cert_pem = bio_strdup(cb);
		rc = *key_pem && *cert_pem ? 0 : -ENOMEM;
	}
	ERR_clear_error();
	if (rc != 0) {
		if (*key_pem)
			OPENSSL_clear_free(*key_pem, strlen(*key_pem));
		free(*cert_pem);
		*key_pem = NULL;
		*cert_pem = NULL;
	}
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

int ca_save(const struct ca *ca, const char *key_path, const char *cert_path)
{
	int rc = x509id_key_save(ca->key, key_path);
	if (rc == 0)
		rc = x509id_cert_save(ca->cert, cert_path);
	return rc;
}

/* ---- issuing ---- */

static int ec_key_allowed(EVP_PKEY *pub, char *reason, size_t reason_len)
{
	char enc[32] = "", group[64] = "";
	size_t n = 0;
	int rc = -EKEYREJECTED;
	if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc),
					   &n) != 1 ||
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0 ||
	    EVP_PKEY_get_group_name(pub, group, sizeof(group), &n) != 1) {
		say(reason, reason_len,
		    "EC key with explicit curve parameters: use a named curve (P-256 or P-384)");
		goto out;
	}
	int nid = OBJ_txt2nid(group);
	if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 && nid != NID_secp521r1) {
		say(reason, reason_len, "EC curve %s is not allowed: use P-256 or P-384", group);
		goto out;
	}
	/* The point must be on the curve and not the identity: never sign a key nobody holds. */
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	int ok = ctx && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		say(reason, reason_len, "EC public key is not a valid point of curve %s", group);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	return rc;
}

static int key_allowed(EVP_PKEY *pub, char *reason, size_t reason_len)
{
	if (EVP_PKEY_is_a(pub, "ED25519") || EVP_PKEY_is_a(pub, "ED448"))
		return 0;
	if (EVP_PKEY_is_a(pub, "EC"))
		return ec_key_allowed(pub, reason, reason_len);
	if (EVP_PKEY_is_a(pub, "RSA")) {
		int bits = EVP_PKEY_get_bits(pub);
		if (bits >= CA_RSA_MIN_BITS && bits <= CA_RSA_MAX_BITS)
			return 0;
		say(reason, reason_len,
		    "RSA key of %d bits is not allowed: use %d to %d bits, or better ECDSA P-256",
		    bits, CA_RSA_MIN_BITS, CA_RSA_MAX_BITS);
		return -EKEYREJECTED;
	}
	const char *type = EVP_PKEY_get0_type_name(pub);
	say(reason, reason_len,
	    "key type %s is not allowed: use ECDSA P-256 or P-384, Ed25519, or RSA of at least %d "
	    "bits",
	    type ? type : "(unknown)", CA_RSA_MIN_BITS);
	return -EKEYREJECTED;
}

int ca_csr_check(X509_REQ *csr, char *reason, size_t reason_len)
{
	int rc = -EBADMSG;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
	if (!pub) {
		say(reason, reason_len, "the CSR's public key cannot be decoded");
		goto out;
	}
	rc = key_allowed(pub, reason, reason_len);
	if (rc != 0)
		goto out;
	/* Proof of possession: the request is signed by the private half of the key it carries. */
	if (X509_REQ_verify_ex(csr, pub, NULL, NULL) != 1) {
		say(reason, reason_len,
		    "the CSR's signature does not verify with its own key: the request was altered "
		    "or not signed by the key it carries; create it again");
		rc = -EBADMSG;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		x509id_ossl_log(LOG_LEVEL_DEBUG, "CSR refused");
	return rc;
}

/* The site certificate's extensions; site is a validated name, safe in the config syntax. */
static int site_exts(X509 *x, X509 *ca_cert, const char *site)
{
	char san[sizeof("DNS:") + X509ID_NAME_MAX];
	snprintf(san, sizeof(san), "DNS:%s", site);
	if (add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, ca_cert, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, ca_cert, NID_ext_key_usage, "serverAuth,clientAuth,1.3.6.1.5.5.7.3.17") !=
		    0 ||
	    add_ext(x, ca_cert, NID_subject_alt_name, san) != 0 ||
	    add_ext(x, ca_cert, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always") != 0)
		return -ENOMEM;
	return 0;
}

/* notBefore/notAfter of a certificate issued at now for lifetime, inside the CA's validity. */
static int site_validity(const struct ca *ca, time_t now, uint64_t lifetime, time_t *nb, time_t *na,
			 char *reason, size_t reason_len)
{
	time_t ca_nb, ca_na;
	char when[TIME_TEXT_LEN];
	if (x509id_cert_validity(ca->cert, &ca_nb, &ca_na) != 0)
		return -EINVAL;
	if (now >= ca_na || now < ca_nb) {
		time_text(now >= ca_na ? ca_na : ca_nb, when);
		say(reason, reason_len, "the CA certificate is %s %s: %s",
		    now >= ca_na ? "expired since" : "not valid before", when,
		    now >= ca_na ? "replace the CA" : "check the controller's clock");
		return -EKEYEXPIRED;
	}
	*nb = now - CA_CLOCK_SKEW_S < ca_nb ? ca_nb : now - CA_CLOCK_SKEW_S;
	*na = now + (time_t)lifetime;
	if (*na > ca_na) {
		*na = ca_na;
		time_text(ca_na, when);
		LOG_WARN(CA, "certificate lifetime cut to the CA's; replace the CA soon",
			 "wan=%s ca_not_after=%s", ca->wan, when);
	}
	return 0;
}

int ca_sign_csr(const struct ca *ca, X509_REQ *csr, const struct ca_issue *issue, X509 **out,
		char *reason, size_t reason_len)
{
	uint64_t lifetime = issue->lifetime_s ? issue->lifetime_s : CA_DEFAULT_CERT_LIFETIME_S;
	time_t now = issue->now ? issue->now : time(NULL);
	time_t nb, na;
	char serial[2 * SERIAL_LEN + 1], when[TIME_TEXT_LEN];
	X509_NAME *subject = NULL;
	X509 *x = NULL;
	int rc = -EINVAL;
	if (!x509id_name_valid(issue->site) || !lifetime_ok(lifetime)) {
		say(reason, reason_len, "invalid site name or certificate lifetime");
		goto out;
	}
	rc = ca_csr_check(csr, reason, reason_len);
	if (rc == 0)
		rc = site_validity(ca, now, lifetime, &nb, &na, reason, reason_len);
	if (rc != 0)
		goto out;
	rc = -ENOMEM;
	subject = make_name(ca->wan, issue->site);
	if (!subject)
		goto out;
	/* Only the CSR's public key crosses into the certificate. */
	rc = cert_new(subject, X509_get_subject_name(ca->cert), X509_REQ_get0_pubkey(csr), nb, na,
		      &x, serial);
	if (rc != 0)
		goto out;
	rc = site_exts(x, ca->cert, issue->site);
	if (rc == 0)
		rc = sign(x, ca->key);
	if (rc != 0) {
		x509id_ossl_log(LOG_LEVEL_ERR, "cannot build a site certificate");
		say(reason, reason_len, "internal error of the CA: %s", sdw_strerror(rc));
		goto out;
	}
	time_text(na, when);
	LOG_NOTICE(CA, "certificate issued", "site=%s serial=%s not_after=%s", issue->site, serial,
		   when);
	*out = x;
	x = NULL;
out:
	if (rc != 0)
		LOG_DEBUG(CA, "certificate refused", "site=%s err=\"%s\"",
			  x509id_name_valid(issue->site) ? issue->site : "(invalid)",
			  sdw_strerror(rc));
	X509_NAME_free(subject);
	X509_free(x);
	return rc;
}
