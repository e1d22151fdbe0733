#include "common/x509id.h"

#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/error.h"

/* Room for an RFC 4514 subject in a reason; longer ones are cut (names are short). */
#define NAME_TEXT_LEN 96
/* "2026-11-24T08:40:00Z" with room for any int year. */
#define TIME_TEXT_LEN 80
/* ERR_error_string_n output. */
#define OSSL_REASON_LEN 256

static const struct {
	const char *name;
	const char *alg;   /* OpenSSL key type */
	const char *group; /* EC group; NULL for EdDSA */
} key_types[X509ID_KEY_COUNT] = {
	[X509ID_KEY_P256] = {"ecdsa-p256", "EC", "P-256"},
	[X509ID_KEY_P384] = {"ecdsa-p384", "EC", "P-384"},
	[X509ID_KEY_ED25519] = {"ed25519", "ED25519", NULL},
};

static const char *const verdict_names[] = {
	[X509ID_VALID] = "valid",
	[X509ID_EXPIRED] = "expired",
	[X509ID_NOT_YET_VALID] = "not-yet-valid",
	[X509ID_UNTRUSTED] = "untrusted",
	[X509ID_WRONG_NAME] = "wrong-name",
	[X509ID_WRONG_USAGE] = "wrong-usage",
	[X509ID_INVALID] = "invalid",
};

/* The oldest entry of this thread's OpenSSL error queue, which is then cleared. The oldest is the
 * root cause; later ones only add "nested error" context. */
static void ossl_reason(char buf[static OSSL_REASON_LEN])
{
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, buf, OSSL_REASON_LEN);
	else
		snprintf(buf, OSSL_REASON_LEN, "none");
	ERR_clear_error();
}

void x509id_ossl_log(enum log_level level, const char *msg)
{
	char buf[OSSL_REASON_LEN];
	ossl_reason(buf);
	LOG_AT(level, CA, msg, "ossl=\"%s\"", buf);
}

/* ---- names ---- */

static bool name_valid_n(const char *s, size_t n)
{
	if (n == 0 || n > X509ID_NAME_MAX || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool x509id_name_valid(const char *s)
{
	return s && name_valid_n(s, strnlen(s, X509ID_NAME_MAX + 1));
}

const char *x509id_key_type_name(enum x509id_key_type type)
{
	return (unsigned)type < X509ID_KEY_COUNT ? key_types[type].name : "?";
}

int x509id_key_type_parse(const char *s, enum x509id_key_type *out)
{
	for (unsigned i = 0; i < X509ID_KEY_COUNT; i++) {
		if (strcmp(s, key_types[i].name) == 0) {
			*out = (enum x509id_key_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *x509id_verdict_name(enum x509id_verdict v)
{
	return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v]
									      : "?";
}

/* ---- files ---- */

/* Replace path with data (common/fileio), logging what failed. */
static int file_write_atomic(const char *path, const uint8_t *data, size_t len, mode_t mode)
{
	const char *step = NULL;
	int rc = file_replace(path, data, len, mode, &step);
	if (rc != 0)
		LOG_ERR(CA, "cannot write file", "step=\"%s\" path=\"%s\" err=\"%s\"", step, path,
			sdw_strerror(rc));
	return rc;
}

/* Read a whole file of at most X509ID_ENCODED_MAX bytes into a new buffer (free() it). A secret
 * file must not be accessible by group or others. */
static int file_read(const char *path, bool secret, uint8_t **out, size_t *len)
{
	uint8_t *buf = NULL;
	size_t got = 0, cap = 0;
	struct stat st;
	int rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		goto err;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto err_close;
	}
	if (secret && (st.st_mode & 077) != 0) {
		LOG_ERR(CA, "private key file is accessible by group or others; chmod 600 it",
			"path=\"%s\" mode=%04o", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -EACCES;
	}
	if (st.st_size > X509ID_ENCODED_MAX) {
		rc = -EFBIG;
		goto err_close;
	}
	cap = (size_t)st.st_size;
	buf = malloc(cap + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto err_close;
	}
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto err_free;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;

err_free:
	OPENSSL_cleanse(buf, cap);
	free(buf);
err_close:
	close(fd);
err:
	LOG_ERR(CA, "cannot read file", "path=\"%s\" err=\"%s\"", path, sdw_strerror(rc));
	return rc;
}

/* No passphrase prompts, ever: OpenSSL's default callback would read the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Copy a memory BIO's contents into a new malloc'd buffer. */
static int bio_take(BIO *bio, uint8_t **out, size_t *len)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || !p)
		return -EINVAL;
	uint8_t *buf = malloc((size_t)n);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, p, (size_t)n);
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* ---- keys ---- */

int x509id_key_generate(enum x509id_key_type type, EVP_PKEY **out)
{
	EVP_PKEY *key = NULL;
	int rc = -ENOMEM;
	if ((unsigned)type >= X509ID_KEY_COUNT)
		return -EINVAL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, key_types[type].alg, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1)
		goto out;
	if (key_types[type].group && EVP_PKEY_CTX_set_group_name(ctx, key_types[type].group) != 1)
		goto out;
	if (EVP_PKEY_generate(ctx, &key) != 1)
		goto out;
	*out = key;
	rc = 0;
out:
	if (rc != 0)
		x509id_ossl_log(LOG_LEVEL_ERR, "key generation failed");
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int x509id_key_save(const EVP_PKEY *key, const char *path)
{
	char *pem = NULL;
	int rc = -ENOMEM;
	/* secmem: the BIO's buffer is wiped when it grows and when it is freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio)
		goto out;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
		x509id_ossl_log(LOG_LEVEL_ERR, "cannot encode private key");
		rc = -EINVAL;
		goto out;
	}
	long n = BIO_get_mem_data(bio, &pem);
	if (n <= 0 || !pem) {
		rc = -EINVAL;
		goto out;
	}
	rc = file_write_atomic(path, (const uint8_t *)pem, (size_t)n, 0600);
	OPENSSL_cleanse(pem, (size_t)n);
out:
	BIO_free(bio);
	return rc;
}

int x509id_key_load(const char *path, EVP_PKEY **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int rc = file_read(path, true, &buf, &len);
	if (rc != 0)
		return rc;
	rc = -ENOMEM;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		goto out;
	key = PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL);
	if (!key) {
		char why[OSSL_REASON_LEN];
		ossl_reason(why);
		LOG_ERR(CA, "no usable private key in file (PEM, unencrypted)",
			"path=\"%s\" ossl=\"%s\"", path, why);
		rc = -EBADMSG;
		goto out;
	}
	*out = key;
	rc = 0;
out:
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

const EVP_MD *x509id_sign_md(const EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
		return NULL;
	if (EVP_PKEY_is_a(key, "EC")) {
		int bits = EVP_PKEY_get_bits(key);
		if (bits > 384)
			return EVP_sha512();
		if (bits > 256)
			return EVP_sha384();
	}
	return EVP_sha256();
}

/* ---- requests ---- */

/* subjectAltName with the single name DNS:<site>. */
static GENERAL_NAMES *san_dns(const char *site)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
	if (!names || !gn || !dns || ASN1_STRING_set(dns, site, -1) != 1)
		goto err;
	GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	dns = NULL;
	if (sk_GENERAL_NAME_push(names, gn) <= 0)
		goto err;
	return names;
err:
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return NULL;
}

int x509id_csr_create(EVP_PKEY *key, const char *site, X509_REQ **out)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *san = NULL;
	int rc = -ENOMEM;
	if (!x509id_name_valid(site))
		return -EINVAL;
	X509_REQ *req = X509_REQ_new();
	if (!req || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1)
		goto out;
	X509_NAME *subject = X509_REQ_get_subject_name(req);
	if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)site, -1, -1, 0) != 1)
		goto out;
	san = san_dns(site);
	if (!san || X509V3_add1_i2d(&exts, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1)
		goto out;
	if (X509_REQ_add_extensions(req, exts) != 1 || X509_REQ_set_pubkey(req, key) != 1)
		goto out;
	if (X509_REQ_sign(req, key, x509id_sign_md(key)) <= 0) {
		rc = -EINVAL; /* most likely a key without its private half */
		goto out;
	}
	*out = req;
	req = NULL;
	rc = 0;
out:
	if (rc != 0)
		x509id_ossl_log(LOG_LEVEL_ERR, "cannot create certificate request");
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(san);
	X509_REQ_free(req);
	return rc;
}

int x509id_csr_encode(const X509_REQ *req, enum x509id_format fmt, uint8_t **out, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return -ENOMEM;
	int ok = fmt == X509ID_PEM ? PEM_write_bio_X509_REQ(bio, req) : i2d_X509_REQ_bio(bio, req);
	int rc = ok == 1 ? bio_take(bio, out, len) : -EINVAL;
	if (ok != 1)
		x509id_ossl_log(LOG_LEVEL_ERR, "cannot encode certificate request");
	BIO_free(bio);
	return rc;
}

/*
 * The DER to decode: data itself, or the first PEM block of pem_type in it (in a new buffer
 * *own, released with OPENSSL_free). Both then go through the same strict DER decoder, so a
 * PEM block cannot smuggle trailing bytes either.
 */
static int decode_input(const uint8_t *data, size_t len, enum x509id_format fmt,
			const char *pem_type, const unsigned char **der, long *der_len,
			unsigned char **own)
{
	*own = NULL;
	if (!data || len == 0)
		return -EBADMSG;
	if (len > X509ID_ENCODED_MAX)
		return -EFBIG;
	if (fmt == X509ID_DER) {
		*der = data;
		*der_len = (long)len;
		return 0;
	}
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return -ENOMEM;
	int ok = PEM_bytes_read_bio(own, der_len, NULL, pem_type, bio, no_passphrase, NULL);
	BIO_free(bio);
	if (ok != 1) {
		x509id_ossl_log(LOG_LEVEL_DEBUG, "no PEM block of the expected type");
		return -EBADMSG;
	}
	*der = *own;
	return 0;
}

int x509id_csr_decode(const uint8_t *data, size_t len, enum x509id_format fmt, X509_REQ **out)
{
	const unsigned char *der = NULL;
	unsigned char *own = NULL;
	long der_len = 0;
	int rc = decode_input(data, len, fmt, PEM_STRING_X509_REQ, &der, &der_len, &own);
	if (rc != 0)
		return rc;
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, der_len);
	if (req && p != der + der_len) {
		X509_REQ_free(req); /* trailing bytes: not exactly one DER request */
		req = NULL;
	}
	OPENSSL_free(own);
	if (!req) {
		x509id_ossl_log(LOG_LEVEL_DEBUG, "malformed certificate request");
		return -EBADMSG;
	}
	*out = req;
	return 0;
}

/* ---- certificates ---- */

int x509id_cert_encode(const X509 *cert, enum x509id_format fmt, uint8_t **out, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return -ENOMEM;
	int ok = fmt == X509ID_PEM ? PEM_write_bio_X509(bio, cert) : i2d_X509_bio(bio, cert);
	int rc = ok == 1 ? bio_take(bio, out, len) : -EINVAL;
	if (ok != 1)
		x509id_ossl_log(LOG_LEVEL_ERR, "cannot encode certificate");
	BIO_free(bio);
	return rc;
}

int x509id_cert_decode(const uint8_t *data, size_t len, enum x509id_format fmt, X509 **out)
{
	const unsigned char *der = NULL;
	unsigned char *own = NULL;
	long der_len = 0;
	int rc = decode_input(data, len, fmt, PEM_STRING_X509, &der, &der_len, &own);
	if (rc != 0)
		return rc;
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, der_len);
	if (cert && p != der + der_len) {
		X509_free(cert);
		cert = NULL;
	}
	OPENSSL_free(own);
	if (!cert) {
		x509id_ossl_log(LOG_LEVEL_DEBUG, "malformed certificate");
		return -EBADMSG;
	}
	*out = cert;
	return 0;
}

int x509id_cert_save(const X509 *cert, const char *path)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc = x509id_cert_encode(cert, X509ID_PEM, &pem, &len);
	if (rc == 0)
		rc = file_write_atomic(path, pem, len, 0644);
	free(pem);
	return rc;
}

int x509id_cert_load(const char *path, X509 **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = file_read(path, false, &buf, &len);
	if (rc != 0)
		return rc;
	rc = x509id_cert_decode(buf, len, X509ID_PEM, out);
	if (rc != 0)
		LOG_ERR(CA, "no PEM certificate in file", "path=\"%s\"", path);
	free(buf);
	return rc;
}

/* ---- identity ---- */

/* s as a site/WAN name into out; only ASCII-compatible string types can hold one. */
static int asn1_name(const ASN1_STRING *s, char out[static X509ID_NAME_MAX + 1])
{
	int type = ASN1_STRING_type(s);
	if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING && type != V_ASN1_IA5STRING)
		return -EBADMSG;
	int n = ASN1_STRING_length(s);
	const char *d = (const char *)ASN1_STRING_get0_data(s);
	if (n <= 0 || !d || !name_valid_n(d, (size_t)n))
		return -EBADMSG;
	memcpy(out, d, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* The one entry of nid in name, as a valid name. */
static int name_entry(const X509_NAME *name, int nid, char out[static X509ID_NAME_MAX + 1])
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
		return -EBADMSG;
	return asn1_name(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)), out);
}

int x509id_cert_identity(const X509 *cert, struct x509id_identity *out)
{
	struct x509id_identity id;
	char dns[X509ID_NAME_MAX + 1];
	int rc = -EBADMSG;
	memset(&id, 0, sizeof(id));
	const X509_NAME *subject = X509_get_subject_name(cert);
	if (name_entry(subject, NID_commonName, id.site) != 0 ||
	    name_entry(subject, NID_organizationName, id.wan) != 0)
		goto out;
	/* NULL as well when the extension appears twice (crit -2) or does not decode. */
	GENERAL_NAMES *san = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (san && sk_GENERAL_NAME_num(san) == 1) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
		if (gn->type == GEN_DNS && asn1_name(gn->d.dNSName, dns) == 0 &&
		    strcmp(dns, id.site) == 0)
			rc = 0;
	}
	GENERAL_NAMES_free(san);
out:
	ERR_clear_error();
	if (rc != 0)
		memset(&id, 0, sizeof(id));
	*out = id;
	return rc;
}

/* ---- time ---- */

static int asn1_time_unix(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EBADMSG;
	*out = timegm(&tm);
	return 0;
}

static void time_text(const ASN1_TIME *t, char buf[static TIME_TEXT_LEN])
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(buf, TIME_TEXT_LEN, "(unreadable time)");
		return;
	}
	snprintf(buf, TIME_TEXT_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int x509id_cert_validity(const X509 *cert, time_t *not_before, time_t *not_after)
{
	time_t nb, na;
	if (asn1_time_unix(X509_get0_notBefore(cert), &nb) != 0 ||
	    asn1_time_unix(X509_get0_notAfter(cert), &na) != 0)
		return -EBADMSG;
	*not_before = nb;
	*not_after = na;
	return 0;
}

int x509id_cert_renew_time(const X509 *cert, time_t *at)
{
	time_t nb, na;
	if (x509id_cert_validity(cert, &nb, &na) != 0 || na <= nb)
		return -EBADMSG;
	time_t life = na - nb;
	*at = nb + (life - life / 3);
	return 0;
}

bool x509id_cert_should_renew(const X509 *cert, time_t now)
{
	time_t at;
	return x509id_cert_renew_time(cert, &at) != 0 || now >= at;
}

/* ---- verification ---- */

/* A subject or issuer in RFC 4514 form; OpenSSL escapes controls and non-ASCII (\XX), so the
 * text is printable ASCII; anything else is replaced all the same. */
static void name_text(const X509_NAME *name, char buf[static NAME_TEXT_LEN])
{
	char *p = NULL;
	long n = 0;
	snprintf(buf, NAME_TEXT_LEN, "(unprintable name)");
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_get_mem_data(bio, &p);
	if (n > 0 && p) {
		size_t len = (size_t)n < NAME_TEXT_LEN - 1 ? (size_t)n : NAME_TEXT_LEN - 1;
		memcpy(buf, p, len);
		for (size_t i = 0; i < len; i++)
			if (buf[i] < 0x20 || buf[i] >= 0x7f)
				buf[i] = '?';
		buf[len] = '\0';
	} else if (n == 0) {
		snprintf(buf, NAME_TEXT_LEN, "(empty name)");
	}
	BIO_free(bio);
}

__attribute__((format(printf, 3, 4))) static void
set_result(struct x509id_result *res, enum x509id_verdict v, const char *fmt, ...)
{
	va_list ap;
	res->verdict = v;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

static void untrusted_result(X509 *bad, X509 *ca, const char *what, const char *who,
			     struct x509id_result *res)
{
	char issuer[NAME_TEXT_LEN], ca_name[NAME_TEXT_LEN];
	name_text(X509_get_issuer_name(bad), issuer);
	name_text(X509_get_subject_name(ca), ca_name);
	if (strcmp(issuer, ca_name) == 0)
		set_result(
			res, X509ID_UNTRUSTED,
			"%s '%s' is issued by another CA also named '%s' (its key identifier "
			"differs): the peer holds a certificate of an older or foreign CA; enroll it "
			"again",
			what, who, ca_name);
	else
		set_result(res, X509ID_UNTRUSTED,
			   "%s '%s' is issued by '%s', not by this WAN's CA '%s': the peer belongs "
			   "to another WAN or an older CA; enroll it again",
			   what, who, issuer, ca_name);
}

/* Turn OpenSSL's first verification error into a verdict and a reason. */
static void chain_result(X509_STORE_CTX *ctx, X509 *cert, X509 *ca, struct x509id_result *res)
{
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
	char who[NAME_TEXT_LEN], when[TIME_TEXT_LEN];
	if (!bad)
		bad = cert;
	const char *what = depth > 0 ? "CA certificate" : "certificate";
	name_text(X509_get_subject_name(bad), who);
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		time_text(X509_get0_notAfter(bad), when);
		set_result(res, X509ID_EXPIRED, "%s '%s' expired on %s: %s", what, who, when,
			   depth > 0 ? "replace the WAN's CA and enroll the edges again"
				     : "the peer must renew it (or enroll again)");
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		time_text(X509_get0_notBefore(bad), when);
		set_result(res, X509ID_NOT_YET_VALID,
			   "%s '%s' is not valid before %s: check the clocks of this host and the "
			   "controller (NTP)",
			   what, who, when);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		untrusted_result(bad, ca, what, who, res);
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
		set_result(res, X509ID_UNTRUSTED,
			   "signature of %s '%s' does not verify with its issuer's key: the "
			   "certificate was altered or comes from another CA of the same name",
			   what, who);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		set_result(
			res, X509ID_WRONG_USAGE,
			"%s '%s' may not authenticate IKE: it needs keyUsage digitalSignature and "
			"extendedKeyUsage clientAuth; issue a site certificate with the CA",
			what, who);
		break;
	default:
		set_result(res, X509ID_INVALID, "%s '%s' rejected: %s", what, who,
			   X509_verify_cert_error_string(err));
		break;
	}
}

/* After the chain holds: a site certificate (not a CA) naming exactly the expected site. */
static int identity_result(X509 *cert, const struct x509id_expect *expect,
			   struct x509id_result *res)
{
	struct x509id_identity id;
	char who[NAME_TEXT_LEN];
	name_text(X509_get_subject_name(cert), who);
	if (X509_check_ca(cert) != 0) {
		set_result(res, X509ID_WRONG_USAGE,
			   "certificate '%s' is a CA certificate: a peer must present its own site "
			   "certificate",
			   who);
		return -EKEYREJECTED;
	}
	if (x509id_cert_identity(cert, &id) != 0) {
		set_result(
			res, X509ID_WRONG_NAME,
			"certificate '%s' does not name exactly one site (one CN and one O, and "
			"one subjectAltName DNS name equal to the CN): issue it with the WAN's CA",
			who);
		return -EKEYREJECTED;
	}
	if (expect->site && strcmp(id.site, expect->site) != 0) {
		set_result(
			res, X509ID_WRONG_NAME,
			"certificate names site '%s', but the plan expects site '%s' here: check "
			"the peer's address in the topology, or the peer is not who it claims",
			id.site, expect->site);
		return -EKEYREJECTED;
	}
	if (expect->wan && strcmp(id.wan, expect->wan) != 0) {
		set_result(res, X509ID_WRONG_NAME,
			   "certificate of site '%s' belongs to WAN '%s', but this is WAN '%s'",
			   id.site, id.wan, expect->wan);
		return -EKEYREJECTED;
	}
	res->verdict = X509ID_VALID;
	res->reason[0] = '\0';
	return 0;
}

X509_STORE *x509id_store_new(X509 *ca)
{
	X509_STORE *store = ca ? X509_STORE_new() : NULL;

	if (store && X509_STORE_add_cert(store, ca) != 1) {
		X509_STORE_free(store);
		store = NULL;
	}
	ERR_clear_error();
	return store;
}

int x509id_verify(X509 *cert, STACK_OF(X509) * chain, X509 *ca, const struct x509id_expect *expect,
		  struct x509id_result *res)
{
	X509_STORE *store = x509id_store_new(ca);
	int rc;

	if (!store && cert && ca && expect) {
		set_result(res, X509ID_INVALID, "internal error: %s", "out of memory");
		return -ENOMEM;
	}
	rc = x509id_verify_store(store, cert, chain, ca, expect, res);
	X509_STORE_free(store);
	return rc;
}

int x509id_verify_store(X509_STORE *store, X509 *cert, STACK_OF(X509) * chain, X509 *ca,
			const struct x509id_expect *expect, struct x509id_result *res)
{
	X509_STORE_CTX *ctx = NULL;
	int rc = -EINVAL;
	set_result(res, X509ID_INVALID, "internal error: %s", "no certificate or CA given");
	if (!cert || !ca || !expect || !store)
		return rc;
	rc = -ENOMEM;
	set_result(res, X509ID_INVALID, "internal error: %s", "out of memory");
	ctx = X509_STORE_CTX_new();
	if (!ctx || X509_STORE_CTX_init(ctx, store, cert, chain) != 1)
		goto out;
	/* Strict RFC 5280 checks (key identifiers, CA key usage, explicit EC parameters, ...) and
	 * the TLS-client purpose, whose key usage rules fit IKE signatures: digitalSignature, and
	 * clientAuth in extendedKeyUsage if present. */
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	if (X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1)
		goto out;
	if (expect->at != 0)
		X509_VERIFY_PARAM_set_time(vp, expect->at);
	if (X509_verify_cert(ctx) != 1) {
		chain_result(ctx, cert, ca, res);
		rc = -EKEYREJECTED;
		goto out;
	}
	rc = identity_result(cert, expect, res);
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	return rc;
}
