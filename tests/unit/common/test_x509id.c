/*
 * Site identities: key generation and files, CSRs, certificate encodings, identity extraction,
 * verification verdicts and the renewal predicate. Certificates with deliberate defects are
 * built here with plain OpenSSL, independent of the controller's CA.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/x509id.h"

#define T0      ((time_t)1800000000) /* 2027-01-15: a fixed "now" */
#define DAY     ((time_t)86400)
#define PATHLEN 400

/* ---- temporary directories ---- */

static void tmpdir_make(char dir[static 64])
{
	snprintf(dir, 64, "/tmp/sdwan-x509id-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void tmpdir_path(const char *dir, const char *name, char out[static PATHLEN])
{
	snprintf(out, PATHLEN, "%s/%s", dir, name);
}

static size_t tmpdir_count(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	const struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void tmpdir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	const struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char p[PATHLEN];
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			tmpdir_path(dir, e->d_name, p);
			unlink(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

static mode_t file_mode(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_mode & 07777;
}

/* ---- certificates built by hand ---- */

struct spec {
	const char *o, *cn, *cn2; /* subject; cn2 adds a second CN */
	const char *san;          /* subjectAltName in OpenSSL config syntax, or NULL */
	const char *bc, *ku, *eku;
	time_t nb, na;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	memset(&v3, 0, sizeof(v3));
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	cr_assert_not_null(ext, "extension %d=%s", nid, value);
	cr_assert_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static void add_name(X509_NAME *n, int nid, const char *v)
{
	if (v)
		cr_assert_eq(X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8,
							(const unsigned char *)v, -1, -1, 0),
			     1);
}

/* A certificate for key per spec, signed by issuer/ikey, or self-signed when issuer is NULL. */
static X509 *build(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, const struct spec *s)
{
	static long serial = 1;
	X509 *x = X509_new();
	cr_assert_not_null(x);
	cr_assert_eq(X509_set_version(x, X509_VERSION_3), 1);
	cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	X509_NAME *n = X509_get_subject_name(x);
	add_name(n, NID_organizationName, s->o);
	add_name(n, NID_commonName, s->cn);
	add_name(n, NID_commonName, s->cn2);
	cr_assert_eq(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n), 1);
	cr_assert_not_null(ASN1_TIME_set(X509_getm_notBefore(x), s->nb));
	cr_assert_not_null(ASN1_TIME_set(X509_getm_notAfter(x), s->na));
	cr_assert_eq(X509_set_pubkey(x, key), 1);
	if (s->bc)
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, s->bc);
	if (s->ku)
		add_ext(x, issuer ? issuer : x, NID_key_usage, s->ku);
	if (s->eku)
		add_ext(x, issuer ? issuer : x, NID_ext_key_usage, s->eku);
	if (s->san)
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, s->san);
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	EVP_PKEY *signer = ikey ? ikey : key;
	cr_assert_gt(X509_sign(x, signer, x509id_sign_md(signer)), 0);
	return x;
}

static EVP_PKEY *keygen(enum x509id_key_type t)
{
	EVP_PKEY *k = NULL;
	cr_assert_eq(x509id_key_generate(t, &k), 0);
	return k;
}

static const struct spec ca_spec = {
	.o = "acme",
	.cn = "acme SD-WAN CA",
	.bc = "critical,CA:TRUE",
	.ku = "critical,keyCertSign,cRLSign",
	.nb = T0 - 1000 * DAY, /* 2024: valid at the real current time too */
	.na = T0 + 3650 * DAY,
};

static const struct spec site_spec = {
	.o = "acme",
	.cn = "hq",
	.san = "DNS:hq",
	.bc = "critical,CA:FALSE",
	.ku = "critical,digitalSignature",
	.eku = "serverAuth,clientAuth,1.3.6.1.5.5.7.3.17",
	.nb = T0 - DAY,
	.na = T0 + 90 * DAY,
};

/* A CA and a leaf signed by it, per spec. */
struct pki {
	EVP_PKEY *ca_key, *key;
	X509 *ca, *leaf;
};

static void pki_make(struct pki *p, const struct spec *leaf)
{
	p->ca_key = keygen(X509ID_KEY_P256);
	p->key = keygen(X509ID_KEY_P256);
	p->ca = build(p->ca_key, NULL, NULL, &ca_spec);
	p->leaf = build(p->key, p->ca, p->ca_key, leaf);
}

static void pki_free(struct pki *p)
{
	X509_free(p->leaf);
	X509_free(p->ca);
	EVP_PKEY_free(p->key);
	EVP_PKEY_free(p->ca_key);
}

/* Verify p's leaf against p's CA at `at` expecting `site`; returns the verdict. */
static enum x509id_verdict verify(const struct pki *p, const char *site, time_t at,
				  struct x509id_result *res)
{
	struct x509id_expect exp = {.site = site, .wan = "acme", .at = at};
	int rc = x509id_verify(p->leaf, NULL, p->ca, &exp, res);
	cr_assert_eq(rc == 0, res->verdict == X509ID_VALID, "rc %d verdict %s", rc,
		     x509id_verdict_name(res->verdict));
	if (rc != 0)
		cr_assert_eq(rc, -EKEYREJECTED);
	cr_assert_eq(ERR_peek_error(), 0ul, "OpenSSL error queue left dirty");
	return res->verdict;
}

/* ---- names and key types ---- */

Test(x509id, name_valid)
{
	const char *good[] = {"hq", "a", "br-1", "a0", "abcdefghijklmnopqrstuvwxyz01234"};
	const char *bad[] = {"",
			     "1hq",
			     "-hq",
			     "hq-",
			     "HQ",
			     "h q",
			     "h.q",
			     "h_q",
			     "hq\n",
			     "ä",
			     "abcdefghijklmnopqrstuvwxyz012345"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(x509id_name_valid(good[i]), "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_not(x509id_name_valid(bad[i]), "'%s'", bad[i]);
	cr_expect_not(x509id_name_valid(NULL));
}

Test(x509id, key_type_names)
{
	for (unsigned i = 0; i < X509ID_KEY_COUNT; i++) {
		enum x509id_key_type t;
		cr_expect_eq(x509id_key_type_parse(x509id_key_type_name(i), &t), 0);
		cr_expect_eq(t, i);
	}
	enum x509id_key_type t = X509ID_KEY_P384;
	cr_expect_eq(x509id_key_type_parse("rsa", &t), -EINVAL);
	cr_expect_eq(t, X509ID_KEY_P384);
	cr_expect_str_eq(x509id_key_type_name(X509ID_KEY_COUNT), "?");
	cr_expect_eq(X509ID_KEY_P256, 0, "the zero value is the default, P-256");
	EVP_PKEY *k = (EVP_PKEY *)1;
	cr_expect_eq(x509id_key_generate(X509ID_KEY_COUNT, &k), -EINVAL);
}

Test(x509id, key_generate_each_type)
{
	static const struct {
		enum x509id_key_type type;
		const char *alg;
		int bits;
		const EVP_MD *(*md)(void);
	} rows[] = {
		{X509ID_KEY_P256, "EC", 256, EVP_sha256},
		{X509ID_KEY_P384, "EC", 384, EVP_sha384},
		{X509ID_KEY_ED25519, "ED25519", 256, NULL},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		EVP_PKEY *a = keygen(rows[i].type), *b = keygen(rows[i].type);
		cr_expect(EVP_PKEY_is_a(a, rows[i].alg), "%s", rows[i].alg);
		cr_expect_eq(EVP_PKEY_get_bits(a), rows[i].bits);
		cr_expect_neq(EVP_PKEY_eq(a, b), 1, "two keys must differ");
		if (rows[i].md)
			cr_expect_eq(EVP_MD_get_type(x509id_sign_md(a)),
				     EVP_MD_get_type(rows[i].md()));
		else
			cr_expect_null(x509id_sign_md(a));
		EVP_PKEY_free(a);
		EVP_PKEY_free(b);
	}
}

/* ---- key files ---- */

Test(x509id, key_file_0600_and_reload)
{
	char dir[64], path[PATHLEN];
	tmpdir_make(dir);
	tmpdir_path(dir, "edge.key", path);
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		EVP_PKEY *key = keygen(t), *back = NULL;
		/* an older, world-readable file is replaced and the result is 0600 all the same */
		write_text(path, "old\n", 0644);
		cr_assert_eq(x509id_key_save(key, path), 0);
		cr_expect_eq(file_mode(path), 0600);
		cr_expect_eq(tmpdir_count(dir), 1, "temporary file left behind");
		cr_assert_eq(x509id_key_load(path, &back), 0);
		cr_expect_eq(EVP_PKEY_eq(key, back), 1, "reloaded key differs (%s)",
			     x509id_key_type_name(t));
		EVP_PKEY_free(back);
		EVP_PKEY_free(key);
	}
	tmpdir_remove(dir);
}

Test(x509id, key_load_refusals)
{
	char dir[64], path[PATHLEN];
	EVP_PKEY *key = keygen(X509ID_KEY_P256), *back = NULL;
	tmpdir_make(dir);
	tmpdir_path(dir, "k.pem", path);
	cr_assert_eq(x509id_key_save(key, path), 0);
	cr_assert_eq(chmod(path, 0640), 0);
	cr_expect_eq(x509id_key_load(path, &back), -EACCES, "group-readable key accepted");
	cr_assert_eq(chmod(path, 0400), 0);
	cr_expect_eq(x509id_key_load(path, &back), 0, "0400 is stricter than 0600: fine");
	EVP_PKEY_free(back);
	back = NULL;

	cr_expect_eq(x509id_key_load(dir, &back), -EINVAL, "a directory");
	tmpdir_path(dir, "missing.pem", path);
	cr_expect_eq(x509id_key_load(path, &back), -ENOENT);
	write_text(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0600);
	cr_expect_eq(x509id_key_load(path, &back), -EBADMSG);

	/* An encrypted key is refused without asking anyone for a passphrase. */
	BIO *bio = BIO_new(BIO_s_mem());
	cr_assert_eq(PEM_write_bio_PrivateKey(bio, key, EVP_aes_128_cbc(),
					      (const unsigned char *)"secret", 6, NULL, NULL),
		     1);
	char *pem;
	long n = BIO_get_mem_data(bio, &pem);
	char *text = strndup(pem, (size_t)n);
	write_text(path, text, 0600);
	free(text);
	BIO_free(bio);
	cr_expect_eq(x509id_key_load(path, &back), -EBADMSG);
	cr_expect_null(back);

	char nodir[160];
	snprintf(nodir, sizeof(nodir), "%s/no/such/dir.key", dir);
	cr_expect_eq(x509id_key_save(key, nodir), -ENOENT);
	EVP_PKEY_free(key);
	tmpdir_remove(dir);
}

/* ---- requests ---- */

Test(x509id, csr_create_and_round_trip)
{
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		EVP_PKEY *key = keygen(t);
		X509_REQ *req = NULL;
		cr_assert_eq(x509id_csr_create(key, "br-7", &req), 0);
		for (int f = X509ID_DER; f <= X509ID_PEM; f++) {
			uint8_t *buf = NULL;
			size_t len = 0;
			X509_REQ *back = NULL;
			cr_assert_eq(x509id_csr_encode(req, f, &buf, &len), 0);
			if (f == X509ID_PEM)
				cr_expect(len > 35 &&
					  memcmp(buf, "-----BEGIN CERTIFICATE REQUEST-----", 35) ==
						  0);
			cr_assert_eq(x509id_csr_decode(buf, len, f, &back), 0);
			cr_expect_eq(X509_REQ_verify(back, X509_REQ_get0_pubkey(back)), 1);
			cr_expect_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(back), key), 1);
			char cn[64];
			cr_expect_gt(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(back),
							       NID_commonName, cn, sizeof(cn)),
				     0);
			cr_expect_str_eq(cn, "br-7");
			STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(back);
			cr_expect_eq(sk_X509_EXTENSION_num(exts), 1, "requested subjectAltName");
			sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
			X509_REQ_free(back);
			free(buf);
		}
		X509_REQ_free(req);
		EVP_PKEY_free(key);
	}
}

Test(x509id, csr_create_refusals)
{
	EVP_PKEY *key = keygen(X509ID_KEY_P256);
	X509_REQ *req = NULL;
	cr_expect_eq(x509id_csr_create(key, "Bad Name", &req), -EINVAL);
	cr_expect_eq(x509id_csr_create(key, "", &req), -EINVAL);
	/* the public half alone cannot sign */
	uint8_t *der = NULL;
	int n = i2d_PUBKEY(key, &der);
	cr_assert_gt(n, 0);
	const uint8_t *p = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, n);
	cr_assert_not_null(pub);
	cr_expect_eq(x509id_csr_create(pub, "hq", &req), -EINVAL);
	cr_expect_null(req);
	cr_expect_eq(ERR_peek_error(), 0ul);
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
}

Test(x509id, csr_decode_malformed)
{
	EVP_PKEY *key = keygen(X509ID_KEY_P256);
	X509_REQ *req = NULL, *back = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	cr_assert_eq(x509id_csr_create(key, "hq", &req), 0);
	cr_assert_eq(x509id_csr_encode(req, X509ID_DER, &der, &len), 0);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	cr_expect_eq(x509id_csr_decode(longer, len + 1, X509ID_DER, &back), -EBADMSG,
		     "trailing byte");
	cr_expect_eq(x509id_csr_decode(der, len - 1, X509ID_DER, &back), -EBADMSG, "truncated");
	cr_expect_eq(x509id_csr_decode(der, 0, X509ID_DER, &back), -EBADMSG);
	cr_expect_eq(x509id_csr_decode(NULL, 10, X509ID_DER, &back), -EBADMSG);
	cr_expect_eq(x509id_csr_decode(der, X509ID_ENCODED_MAX + 1, X509ID_DER, &back), -EFBIG);
	cr_expect_eq(x509id_csr_decode((const uint8_t *)"garbage", 7, X509ID_PEM, &back), -EBADMSG);
	cr_expect_null(back);
	cr_expect_eq(ERR_peek_error(), 0ul);
	cr_expect_eq(x509id_csr_decode(der, len, X509ID_DER, &back), 0);
	X509_REQ_free(back);
	free(longer);
	free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
}

/* ---- certificates ---- */

Test(x509id, cert_encodings_and_files)
{
	struct pki p;
	char dir[64], path[PATHLEN];
	pki_make(&p, &site_spec);
	tmpdir_make(dir);
	tmpdir_path(dir, "hq.pem", path);
	for (int f = X509ID_DER; f <= X509ID_PEM; f++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		X509 *back = NULL;
		cr_assert_eq(x509id_cert_encode(p.leaf, f, &buf, &len), 0);
		cr_assert_eq(x509id_cert_decode(buf, len, f, &back), 0);
		cr_expect_eq(X509_cmp(back, p.leaf), 0);
		if (f == X509ID_DER)
			cr_expect_eq(x509id_cert_decode(buf, len - 1, f, &back), -EBADMSG);
		X509_REQ *req = NULL;
		cr_expect_eq(x509id_csr_decode(buf, len, f, &req), -EBADMSG, "a cert is no CSR");
		cr_expect_null(req);
		X509_free(back);
		free(buf);
	}
	X509 *back = NULL;
	cr_assert_eq(x509id_cert_save(p.leaf, path), 0);
	cr_expect_eq(file_mode(path), 0644);
	cr_assert_eq(x509id_cert_load(path, &back), 0);
	cr_expect_eq(X509_cmp(back, p.leaf), 0);
	X509_free(back);
	tmpdir_path(dir, "none.pem", path);
	cr_expect_eq(x509id_cert_load(path, &back), -ENOENT);
	tmpdir_remove(dir);
	pki_free(&p);
}

Test(x509id, identity)
{
	struct pki p;
	struct x509id_identity id;
	pki_make(&p, &site_spec);
	cr_assert_eq(x509id_cert_identity(p.leaf, &id), 0);
	cr_expect_str_eq(id.site, "hq");
	cr_expect_str_eq(id.wan, "acme");
	cr_expect_eq(x509id_cert_identity(p.ca, &id), -EBADMSG, "CA: no site");
	cr_expect_str_eq(id.site, "");

	static const struct {
		const char *why;
		const char *o, *cn, *cn2, *san;
	} bad[] = {
		{"two CNs", "acme", "hq", "br1", "DNS:hq"},
		{"SAN differs from CN", "acme", "hq", NULL, "DNS:br1"},
		{"two SAN names", "acme", "hq", NULL, "DNS:hq,DNS:br1"},
		{"SAN an IP address", "acme", "hq", NULL, "IP:192.0.2.1"},
		{"no SAN", "acme", "hq", NULL, NULL},
		{"no O", NULL, "hq", NULL, "DNS:hq"},
		{"no CN", "acme", NULL, NULL, "DNS:hq"},
		{"upper case", "acme", "HQ", NULL, "DNS:HQ"},
		{"wildcard", "acme", "hq", NULL, "DNS:*"},
		{"dotted", "acme", "hq.example", NULL, "DNS:hq.example"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spec s = site_spec;
		s.o = bad[i].o;
		s.cn = bad[i].cn;
		s.cn2 = bad[i].cn2;
		s.san = bad[i].san;
		X509 *x = build(p.key, p.ca, p.ca_key, &s);
		cr_expect_eq(x509id_cert_identity(x, &id), -EBADMSG, "%s", bad[i].why);
		struct x509id_result res;
		struct x509id_expect exp = {.site = "hq", .at = T0};
		cr_expect_eq(x509id_verify(x, NULL, p.ca, &exp, &res), -EKEYREJECTED, "%s",
			     bad[i].why);
		cr_expect_eq(res.verdict, X509ID_WRONG_NAME, "%s: %s", bad[i].why, res.reason);
		X509_free(x);
	}
	cr_expect_eq(ERR_peek_error(), 0ul);
	pki_free(&p);
}

/* ---- verification ---- */

Test(x509id, verify_valid)
{
	struct pki p;
	struct x509id_result res;
	pki_make(&p, &site_spec);
	cr_expect_eq(verify(&p, "hq", T0, &res), X509ID_VALID, "%s", res.reason);
	cr_expect_str_eq(res.reason, "");
	cr_expect_eq(verify(&p, NULL, T0, &res), X509ID_VALID, "any site accepted with NULL");
	struct x509id_expect exp = {.site = "hq"};
	cr_expect_eq(x509id_verify(NULL, NULL, p.ca, &exp, &res), -EINVAL);
	cr_expect_eq(res.verdict, X509ID_INVALID);
	pki_free(&p);

	/* at 0 means the current time */
	time_t now = time(NULL);
	struct spec s = site_spec;
	s.nb = now - 60;
	s.na = now + DAY;
	pki_make(&p, &s);
	cr_expect_eq(x509id_verify(p.leaf, NULL, p.ca, &exp, &res), 0, "%s", res.reason);
	exp.at = now + 2 * DAY;
	cr_expect_eq(x509id_verify(p.leaf, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_EXPIRED);
	pki_free(&p);
}

Test(x509id, verify_time)
{
	struct pki p;
	struct x509id_result res;
	pki_make(&p, &site_spec);
	cr_expect_eq(verify(&p, "hq", T0 + 91 * DAY, &res), X509ID_EXPIRED);
	cr_expect(strstr(res.reason, "expired on 2027-04-15T08:00:00Z") != NULL, "%s", res.reason);
	cr_expect(strstr(res.reason, "renew") != NULL, "%s", res.reason);
	cr_expect_eq(verify(&p, "hq", T0 - 2 * DAY, &res), X509ID_NOT_YET_VALID);
	cr_expect(strstr(res.reason, "not valid before 2027-01-14T08:00:00Z") != NULL, "%s",
		  res.reason);
	cr_expect(strstr(res.reason, "clock") != NULL, "%s", res.reason);
	pki_free(&p);

	/* The CA expires first: the CA is named as the culprit. */
	struct spec s = site_spec;
	s.na = T0 + 5000 * DAY;
	pki_make(&p, &s);
	cr_expect_eq(verify(&p, "hq", T0 + 4000 * DAY, &res), X509ID_EXPIRED);
	cr_expect(strstr(res.reason, "CA certificate 'CN=acme SD-WAN CA,O=acme' expired") != NULL,
		  "%s", res.reason);
	pki_free(&p);
}

Test(x509id, verify_other_ca)
{
	struct pki p, q;
	struct x509id_result res;
	pki_make(&p, &site_spec);
	pki_make(&q, &site_spec);
	/* q's CA has the same name as p's; only the keys differ */
	struct x509id_expect exp = {.site = "hq", .at = T0};
	cr_expect_eq(x509id_verify(q.leaf, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_UNTRUSTED, "%s", res.reason);
	cr_expect(strstr(res.reason, "another CA also named 'CN=acme SD-WAN CA,O=acme'") != NULL,
		  "%s", res.reason);

	/* a CA of another WAN */
	struct spec other = ca_spec;
	other.o = "globex";
	other.cn = "globex SD-WAN CA";
	X509 *gca = build(q.ca_key, NULL, NULL, &other);
	X509 *gleaf = build(q.key, gca, q.ca_key, &site_spec);
	cr_expect_eq(x509id_verify(gleaf, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_UNTRUSTED);
	cr_expect(strstr(res.reason, "issued by 'CN=globex SD-WAN CA,O=globex', not by this WAN's "
				     "CA 'CN=acme SD-WAN CA,O=acme'") != NULL,
		  "%s", res.reason);

	/* a self-signed site certificate */
	X509 *self = build(q.key, NULL, NULL, &site_spec);
	cr_expect_eq(x509id_verify(self, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_UNTRUSTED, "%s", res.reason);

	/* the CA itself presented as a peer certificate */
	cr_expect_eq(x509id_verify(p.ca, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_WRONG_USAGE, "%s", res.reason);
	X509_free(self);
	X509_free(gleaf);
	X509_free(gca);
	pki_free(&q);
	pki_free(&p);
}

Test(x509id, verify_tampered)
{
	struct pki p;
	struct x509id_result res;
	pki_make(&p, &site_spec);
	uint8_t *der = NULL;
	size_t len = 0;
	cr_assert_eq(x509id_cert_encode(p.leaf, X509ID_DER, &der, &len), 0);
	/* "hq" appears in CN and SAN; turn the SAN's into "hr" so the identity stays
	 * well-formed only if the signature were ignored */
	uint8_t *hit = NULL;
	for (size_t i = 0; i + 2 <= len; i++)
		if (der[i] == 'h' && der[i + 1] == 'q')
			hit = der + i;
	cr_assert_not_null(hit);
	hit[1] = 'r';
	X509 *bad = NULL;
	cr_assert_eq(x509id_cert_decode(der, len, X509ID_DER, &bad), 0);
	struct x509id_expect exp = {.site = "hq", .at = T0};
	cr_expect_eq(x509id_verify(bad, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_UNTRUSTED, "%s", res.reason);
	cr_expect(strstr(res.reason, "signature") != NULL, "%s", res.reason);
	X509_free(bad);
	free(der);
	pki_free(&p);
}

Test(x509id, verify_wrong_name)
{
	struct pki p;
	struct x509id_result res;
	pki_make(&p, &site_spec);
	cr_expect_eq(verify(&p, "br1", T0, &res), X509ID_WRONG_NAME);
	cr_expect(strstr(res.reason, "names site 'hq', but the plan expects site 'br1'") != NULL,
		  "%s", res.reason);
	struct x509id_expect exp = {.site = "hq", .wan = "globex", .at = T0};
	cr_expect_eq(x509id_verify(p.leaf, NULL, p.ca, &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_WRONG_NAME);
	cr_expect(strstr(res.reason, "WAN 'acme'") != NULL, "%s", res.reason);
	pki_free(&p);
}

Test(x509id, verify_usage)
{
	static const struct {
		const char *why, *bc, *ku, *eku;
	} rows[] = {
		{"leaf is a CA", "critical,CA:TRUE", "critical,digitalSignature,keyCertSign", NULL},
		{"no digitalSignature", "critical,CA:FALSE", "critical,keyEncipherment", NULL},
		{"server only", "critical,CA:FALSE", "critical,digitalSignature", "serverAuth"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pki p;
		struct x509id_result res;
		struct spec s = site_spec;
		s.bc = rows[i].bc;
		s.ku = rows[i].ku;
		s.eku = rows[i].eku;
		pki_make(&p, &s);
		cr_expect_eq(verify(&p, "hq", T0, &res), X509ID_WRONG_USAGE, "%s: %s", rows[i].why,
			     res.reason);
		pki_free(&p);
	}
	/* without extendedKeyUsage any usage is allowed (RFC 5280 §4.2.1.12) */
	struct pki p;
	struct x509id_result res;
	struct spec s = site_spec;
	s.eku = NULL;
	pki_make(&p, &s);
	cr_expect_eq(verify(&p, "hq", T0, &res), X509ID_VALID, "%s", res.reason);
	pki_free(&p);
}

Test(x509id, verify_through_intermediate)
{
	struct pki p;
	struct x509id_result res;
	pki_make(&p, &site_spec);
	EVP_PKEY *ikey = keygen(X509ID_KEY_P384);
	struct spec is = ca_spec;
	is.cn = "acme issuing CA";
	X509 *inter = build(ikey, p.ca, p.ca_key, &is);
	X509 *leaf = build(p.key, inter, ikey, &site_spec);
	STACK_OF(X509) *chain = sk_X509_new_null();
	cr_assert_eq(sk_X509_push(chain, inter), 1);
	struct x509id_expect exp = {.site = "hq", .wan = "acme", .at = T0};
	cr_expect_eq(x509id_verify(leaf, chain, p.ca, &exp, &res), 0, "%s", res.reason);
	cr_expect_eq(x509id_verify(leaf, NULL, p.ca, &exp, &res), -EKEYREJECTED,
		     "intermediate missing");
	cr_expect_eq(res.verdict, X509ID_UNTRUSTED, "%s", res.reason);
	sk_X509_free(chain);
	X509_free(leaf);
	X509_free(inter);
	EVP_PKEY_free(ikey);
	pki_free(&p);
}

/* ---- renewal ---- */

Test(x509id, renewal)
{
	struct pki p;
	struct spec s = site_spec;
	s.nb = T0;
	s.na = T0 + 90 * DAY;
	pki_make(&p, &s);
	time_t nb, na, at;
	cr_assert_eq(x509id_cert_validity(p.leaf, &nb, &na), 0);
	cr_expect_eq(nb, T0);
	cr_expect_eq(na, T0 + 90 * DAY);
	cr_assert_eq(x509id_cert_renew_time(p.leaf, &at), 0);
	cr_expect_eq(at, T0 + 60 * DAY);
	cr_expect_not(x509id_cert_should_renew(p.leaf, T0));
	cr_expect_not(x509id_cert_should_renew(p.leaf, T0 + 60 * DAY - 1));
	cr_expect(x509id_cert_should_renew(p.leaf, T0 + 60 * DAY));
	cr_expect(x509id_cert_should_renew(p.leaf, T0 + 100 * DAY), "expired: renew");
	pki_free(&p);

	/* inverted validity cannot be renewed on schedule: renew now */
	s.nb = T0 + DAY;
	s.na = T0;
	pki_make(&p, &s);
	cr_expect_eq(x509id_cert_renew_time(p.leaf, &at), -EBADMSG);
	cr_expect(x509id_cert_should_renew(p.leaf, T0 - 5 * DAY));
	pki_free(&p);
}

Test(x509id, verdict_names)
{
	cr_expect_str_eq(x509id_verdict_name(X509ID_VALID), "valid");
	cr_expect_str_eq(x509id_verdict_name(X509ID_NOT_YET_VALID), "not-yet-valid");
	cr_expect_str_eq(x509id_verdict_name(X509ID_INVALID), "invalid");
	cr_expect_str_eq(x509id_verdict_name((enum x509id_verdict)99), "?");
}
