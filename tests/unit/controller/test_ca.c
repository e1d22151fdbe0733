/*
 * The WAN's CA: creation for every key type, issuing from CSRs of every allowed key type, names
 * taken from the caller and never from the CSR, refusal of altered CSRs and weak keys,
 * verification verdicts of issued certificates, key files and reload, lifetimes and renewal,
 * and interop: the openssl command line accepts what we issue.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "controller/ca.h"

#define T0      ((time_t)1800000000) /* 2027-01-15T08:00:00Z */
#define DAY     ((time_t)86400)
#define PATHLEN 400

extern char **environ;

/* ---- helpers ---- */

static void tmpdir_make(char dir[static 64])
{
	snprintf(dir, 64, "/tmp/sdwan-ca-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void tmpdir_path(const char *dir, const char *name, char out[static PATHLEN])
{
	snprintf(out, PATHLEN, "%s/%s", dir, name);
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

static mode_t file_mode(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_mode & 07777;
}

/* Run argv (found on PATH) with stdout, and stderr too when quiet, discarded; its exit status,
 * -1 when it died, -ENOENT when there is no such program. */
static int run_ex(char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;
	cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
	cr_assert_eq(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
	if (quiet)
		cr_assert_eq(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0), 0);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc == ENOENT)
		return -ENOENT;
	cr_assert_eq(rc, 0, "cannot run %s", argv[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(char *const argv[])
{
	return run_ex(argv, false);
}

static struct ca *ca_make(enum x509id_key_type type, const char *wan, time_t now, uint64_t lifetime)
{
	struct ca *ca = NULL;
	struct ca_params p = {.wan = wan, .key_type = type, .lifetime_s = lifetime, .now = now};
	cr_assert_eq(ca_create(&p, &ca), 0, "CA %s", x509id_key_type_name(type));
	return ca;
}

/* The CSR key types an edge may use, and one RSA key (slow to make, so kept optional). */
enum csr_key {
	CSR_P256,
	CSR_P384,
	CSR_ED25519,
	CSR_RSA2048,
	CSR_KEY_COUNT,
};

static EVP_PKEY *csr_key(enum csr_key k)
{
	EVP_PKEY *key = NULL;
	if (k == CSR_RSA2048)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		cr_assert_eq(x509id_key_generate((enum x509id_key_type)k, &key), 0);
	cr_assert_not_null(key);
	return key;
}

static X509_REQ *csr_for(EVP_PKEY *key, const char *site)
{
	X509_REQ *req = NULL;
	cr_assert_eq(x509id_csr_create(key, site, &req), 0);
	return req;
}

static X509 *issue(struct ca *ca, X509_REQ *req, const char *site, time_t now, uint64_t life)
{
	X509 *x = NULL;
	char why[CA_REASON_LEN] = "";
	struct ca_issue is = {.site = site, .lifetime_s = life, .now = now};
	cr_assert_eq(ca_sign_csr(ca, req, &is, &x, why, sizeof(why)), 0, "%s", why);
	cr_assert_not_null(x);
	return x;
}

static void subject_rfc4514(const X509 *x, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	cr_assert_geq(X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253), 0);
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	snprintf(buf, len, "%.*s", (int)n, p);
	BIO_free(bio);
}

static bool ext_critical(const X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	cr_assert_geq(i, 0, "extension %s missing", OBJ_nid2sn(nid));
	cr_assert_lt(X509_get_ext_by_NID(x, nid, i), 0, "extension %s twice", OBJ_nid2sn(nid));
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static BIGNUM *serial_of(const X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	cr_assert_not_null(bn);
	return bn;
}

static bool der_contains(const X509 *x, const char *needle)
{
	uint8_t *der = NULL;
	size_t len = 0;
	cr_assert_eq(x509id_cert_encode(x, X509ID_DER, &der, &len), 0);
	bool found = memmem(der, len, needle, strlen(needle)) != NULL;
	free(der);
	return found;
}

/* ---- the CA certificate ---- */

Test(ca, create_each_key_type)
{
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		struct ca *ca = ca_make(t, "acme", T0, 5 * 365 * DAY);
		X509 *c = ca_cert(ca);
		char subj[128];
		subject_rfc4514(c, subj, sizeof(subj));
		cr_expect_str_eq(subj, "CN=acme SD-WAN CA,O=acme");
		cr_expect_str_eq(ca_wan(ca), "acme");
		cr_expect_eq(X509_get_version(c), X509_VERSION_3);
		cr_expect_eq(X509_check_ca(c), 1);
		cr_expect(ext_critical(c, NID_basic_constraints));
		cr_expect(ext_critical(c, NID_key_usage));
		cr_expect_eq(X509_get_key_usage(c), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
		cr_expect_not_null(X509_get0_subject_key_id(c));
		cr_expect_eq(X509_verify(c, X509_get0_pubkey(c)), 1, "self-signature");
		cr_expect_eq(X509_check_issued(c, c), X509_V_OK);
		time_t nb, na;
		cr_assert_eq(x509id_cert_validity(c, &nb, &na), 0);
		cr_expect_eq(nb, T0 - CA_CLOCK_SKEW_S);
		cr_expect_eq(na, T0 + 5 * 365 * DAY);
		BIGNUM *sn = serial_of(c);
		cr_expect(!BN_is_negative(sn) && !BN_is_zero(sn));
		cr_expect_leq(BN_num_bits(sn), 128);
		BN_free(sn);
		ca_free(ca);
	}
	cr_expect_eq(ERR_peek_error(), 0ul);
}

Test(ca, create_refusals)
{
	struct ca *ca = NULL;
	struct ca_params p = {.wan = "Acme Corp"};
	cr_expect_eq(ca_create(&p, &ca), -EINVAL, "invalid WAN name");
	p.wan = "acme";
	p.lifetime_s = 1;
	cr_expect_eq(ca_create(&p, &ca), -EINVAL, "lifetime too short");
	p.lifetime_s = CA_MAX_LIFETIME_S + 1;
	cr_expect_eq(ca_create(&p, &ca), -EINVAL, "lifetime too long");
	p.lifetime_s = 0;
	p.key_type = X509ID_KEY_COUNT;
	cr_expect_eq(ca_create(&p, &ca), -EINVAL, "unknown key type");
	cr_expect_null(ca);
	ca_free(NULL);
}

Test(ca, create_defaults)
{
	struct ca *ca = NULL;
	struct ca_params p = {.wan = "acme"};
	time_t before = time(NULL);
	cr_assert_eq(ca_create(&p, &ca), 0);
	time_t nb, na;
	cr_assert_eq(x509id_cert_validity(ca_cert(ca), &nb, &na), 0);
	cr_expect(nb >= before - CA_CLOCK_SKEW_S && nb <= time(NULL) - CA_CLOCK_SKEW_S);
	cr_expect_eq(na - nb, (time_t)CA_DEFAULT_LIFETIME_S + CA_CLOCK_SKEW_S);
	cr_expect(EVP_PKEY_is_a(X509_get0_pubkey(ca_cert(ca)), "EC"), "default key is ECDSA");
	cr_expect_eq(EVP_PKEY_get_bits(X509_get0_pubkey(ca_cert(ca))), 256);
	ca_free(ca);
}

/* ---- issuing ---- */

static void check_site_cert(X509 *x, struct ca *ca, EVP_PKEY *key)
{
	char subj[128];
	subject_rfc4514(x, subj, sizeof(subj));
	cr_expect_str_eq(subj, "CN=hq,O=acme");
	cr_expect_eq(X509_get_version(x), X509_VERSION_3);
	cr_expect_eq(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1, "the CSR's key");
	cr_expect_eq(X509_verify(x, X509_get0_pubkey(ca_cert(ca))), 1, "signed by the CA");
	cr_expect_eq(X509_check_ca(x), 0);
	cr_expect(ext_critical(x, NID_basic_constraints));
	cr_expect(ext_critical(x, NID_key_usage));
	cr_expect_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	cr_expect_not(ext_critical(x, NID_ext_key_usage));
	cr_expect_not(ext_critical(x, NID_subject_alt_name));
	cr_expect_eq(X509_get_ext_count(x), 6, "BC, KU, EKU, SAN, SKID, AKID and nothing else");

	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	cr_assert_not_null(eku);
	cr_expect_eq(sk_ASN1_OBJECT_num(eku), 3);
	const char *want[] = {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.17"};
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && i < 3; i++) {
		char oid[64];
		OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i), 1);
		cr_expect_str_eq(oid, want[i]);
	}
	EXTENDED_KEY_USAGE_free(eku);

	const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
	cr_assert_not_null(akid);
	cr_expect_eq(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca_cert(ca))), 0);
	cr_expect_not_null(X509_get0_subject_key_id(x));

	struct x509id_identity id;
	cr_assert_eq(x509id_cert_identity(x, &id), 0);
	cr_expect_str_eq(id.site, "hq");
	cr_expect_str_eq(id.wan, "acme");
}

Test(ca, issue_every_key_pair)
{
	EVP_PKEY *keys[CSR_KEY_COUNT];
	for (unsigned k = 0; k < CSR_KEY_COUNT; k++)
		keys[k] = csr_key(k);
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		struct ca *ca = ca_make(t, "acme", T0, 0);
		for (unsigned k = 0; k < CSR_KEY_COUNT; k++) {
			X509_REQ *req = csr_for(keys[k], "hq");
			X509 *x = issue(ca, req, "hq", T0, 0);
			check_site_cert(x, ca, keys[k]);
			struct x509id_result res;
			struct x509id_expect exp = {.site = "hq", .wan = "acme", .at = T0};
			cr_expect_eq(x509id_verify(x, NULL, ca_cert(ca), &exp, &res), 0,
				     "CA %s, key %u: %s", x509id_key_type_name(t), k, res.reason);
			X509_free(x);
			X509_REQ_free(req);
		}
		ca_free(ca);
	}
	for (unsigned k = 0; k < CSR_KEY_COUNT; k++)
		EVP_PKEY_free(keys[k]);
	cr_expect_eq(ERR_peek_error(), 0ul);
}

Test(ca, issue_validity_and_serial)
{
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	EVP_PKEY *key = csr_key(CSR_P256);
	X509_REQ *req = csr_for(key, "hq");
	X509 *a = issue(ca, req, "hq", T0 + DAY, 30 * DAY);
	X509 *b = issue(ca, req, "hq", T0 + DAY, 0);
	time_t nb, na;
	cr_assert_eq(x509id_cert_validity(a, &nb, &na), 0);
	cr_expect_eq(nb, T0 + DAY - CA_CLOCK_SKEW_S, "backdated for clock skew");
	cr_expect_eq(na, T0 + 31 * DAY);
	cr_assert_eq(x509id_cert_validity(b, &nb, &na), 0);
	cr_expect_eq(na, T0 + DAY + (time_t)CA_DEFAULT_CERT_LIFETIME_S);

	BIGNUM *sa = serial_of(a), *sb = serial_of(b);
	cr_expect_neq(BN_cmp(sa, sb), 0, "serials must be unique");
	cr_expect(BN_num_bits(sa) > 64 && BN_num_bits(sa) <= 128, "random 128-bit serial");
	cr_expect(!BN_is_negative(sa));
	BN_free(sa);
	BN_free(sb);

	/* issued right after the CA was made: notBefore is not earlier than the CA's */
	X509 *c = issue(ca, req, "hq", T0, 0);
	time_t ca_nb, ca_na;
	cr_assert_eq(x509id_cert_validity(ca_cert(ca), &ca_nb, &ca_na), 0);
	cr_assert_eq(x509id_cert_validity(c, &nb, &na), 0);
	cr_expect_geq(nb, ca_nb);
	X509_free(c);
	X509_free(b);
	X509_free(a);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ca_free(ca);
}

Test(ca, lifetime_inside_ca)
{
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 10 * DAY);
	EVP_PKEY *key = csr_key(CSR_P256);
	X509_REQ *req = csr_for(key, "hq");
	X509 *x = issue(ca, req, "hq", T0 + DAY, 90 * DAY);
	time_t nb, na, ca_nb, ca_na;
	cr_assert_eq(x509id_cert_validity(x, &nb, &na), 0);
	cr_assert_eq(x509id_cert_validity(ca_cert(ca), &ca_nb, &ca_na), 0);
	cr_expect_eq(na, ca_na, "cut to the CA's notAfter");

	char why[CA_REASON_LEN] = "";
	X509 *y = NULL;
	struct ca_issue late = {.site = "hq", .now = T0 + 11 * DAY};
	cr_expect_eq(ca_sign_csr(ca, req, &late, &y, why, sizeof(why)), -EKEYEXPIRED);
	cr_expect(strstr(why, "expired since 2027-01-25T08:00:00Z") != NULL, "%s", why);
	struct ca_issue early = {.site = "hq", .now = T0 - DAY};
	cr_expect_eq(ca_sign_csr(ca, req, &early, &y, why, sizeof(why)), -EKEYEXPIRED);
	cr_expect(strstr(why, "clock") != NULL, "%s", why);
	struct ca_issue bad = {.site = "hq", .lifetime_s = 10, .now = T0};
	cr_expect_eq(ca_sign_csr(ca, req, &bad, &y, NULL, 0), -EINVAL, "lifetime too short");
	struct ca_issue badname = {.site = "HQ!", .now = T0};
	cr_expect_eq(ca_sign_csr(ca, req, &badname, &y, why, sizeof(why)), -EINVAL);
	cr_expect_null(y);
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ca_free(ca);
}

/* A CSR that asks for everything it may not have. */
static X509_REQ *evil_csr(EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_REQ_get_subject_name(req);
	cr_assert_eq(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
						(const unsigned char *)"globex", -1, -1, 0),
		     1);
	cr_assert_eq(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						(const unsigned char *)"evil", -1, -1, 0),
		     1);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	static const struct {
		int nid;
		const char *value;
	} want[] = {
		{NID_subject_alt_name, "DNS:other,DNS:hq.evil.example,IP:192.0.2.66"},
		{NID_basic_constraints, "critical,CA:TRUE"},
		{NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
		{NID_ext_key_usage, "codeSigning,anyExtendedKeyUsage"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, NULL, want[i].nid, want[i].value);
		cr_assert_not_null(e);
		cr_assert_gt(sk_X509_EXTENSION_push(exts, e), 0);
	}
	cr_assert_eq(X509_REQ_add_extensions(req, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	cr_assert_eq(X509_REQ_set_pubkey(req, key), 1);
	cr_assert_gt(X509_REQ_sign(req, key, EVP_sha256()), 0);
	return req;
}

Test(ca, csr_names_ignored)
{
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	EVP_PKEY *key = csr_key(CSR_P256);
	X509_REQ *req = evil_csr(key);
	X509 *x = issue(ca, req, "hq", T0, 0);
	check_site_cert(x, ca, key);
	const char *never[] = {"evil", "other", "globex", "example"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		cr_expect_not(der_contains(x, never[i]), "'%s' leaked into the certificate",
			      never[i]);
	struct x509id_result res;
	struct x509id_expect exp = {.site = "hq", .wan = "acme", .at = T0};
	cr_expect_eq(x509id_verify(x, NULL, ca_cert(ca), &exp, &res), 0, "%s", res.reason);
	exp.site = "evil";
	cr_expect_eq(x509id_verify(x, NULL, ca_cert(ca), &exp, &res), -EKEYREJECTED);
	cr_expect_eq(res.verdict, X509ID_WRONG_NAME);
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ca_free(ca);
}

/* Decode der with one byte changed at off (xor 0x01) and try to issue from it. */
static int sign_altered(struct ca *ca, const uint8_t *der, size_t len, size_t off, char *why)
{
	uint8_t *copy = malloc(len);
	memcpy(copy, der, len);
	copy[off] ^= 0x01;
	X509_REQ *req = NULL;
	int rc = x509id_csr_decode(copy, len, X509ID_DER, &req);
	if (rc == 0) {
		X509 *x = NULL;
		struct ca_issue is = {.site = "hq", .now = T0};
		rc = ca_sign_csr(ca, req, &is, &x, why, CA_REASON_LEN);
		cr_expect_null(x);
		X509_free(x);
	}
	X509_REQ_free(req);
	free(copy);
	return rc;
}

Test(ca, tampered_csr_refused)
{
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	for (enum csr_key k = CSR_P256; k <= CSR_ED25519; k++) {
		EVP_PKEY *key = csr_key(k);
		X509_REQ *req = csr_for(key, "hq");
		uint8_t *der = NULL;
		size_t len = 0;
		cr_assert_eq(x509id_csr_encode(req, X509ID_DER, &der, &len), 0);
		char why[CA_REASON_LEN] = "";
		/* the last byte lies in the signature */
		cr_expect_eq(sign_altered(ca, der, len, len - 1, why), -EBADMSG, "key %d", k);
		cr_expect(strstr(why, "signature") != NULL, "%s", why);
		/* a byte of the signed subject: "hq" -> "hp" */
		const uint8_t *hq = memmem(der, len, "hq", 2);
		cr_assert_not_null(hq);
		why[0] = '\0';
		cr_expect_eq(sign_altered(ca, der, len, (size_t)(hq - der) + 1, why), -EBADMSG);
		cr_expect(strstr(why, "signature") != NULL, "%s", why);
		free(der);
		X509_REQ_free(req);
		EVP_PKEY_free(key);
	}
	cr_expect_eq(ERR_peek_error(), 0ul);
	ca_free(ca);
}

static int check_key(EVP_PKEY *key, char *why)
{
	X509_REQ *req = csr_for(key, "hq");
	int rc = ca_csr_check(req, why, CA_REASON_LEN);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

Test(ca, weak_keys_refused)
{
	char why[CA_REASON_LEN] = "";
	cr_expect_eq(check_key(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), why),
		     -EKEYREJECTED);
	cr_expect(strstr(why, "RSA key of 1024 bits is not allowed") != NULL, "%s", why);
	cr_expect_eq(check_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"), why),
		     -EKEYREJECTED);
	cr_expect(strstr(why, "curve secp256k1 is not allowed") != NULL, "%s", why);
	cr_expect_eq(check_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"), why), -EKEYREJECTED);
	cr_expect_eq(check_key(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), why), 0, "%s", why);
	cr_expect_eq(check_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), why), 0, "%s", why);
	cr_expect_eq(ERR_peek_error(), 0ul);

	/* a weak key is refused by ca_sign_csr too, and nothing is issued */
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1536);
	X509_REQ *req = csr_for(rsa, "hq");
	X509 *x = NULL;
	struct ca_issue is = {.site = "hq", .now = T0};
	cr_expect_eq(ca_sign_csr(ca, req, &is, &x, why, sizeof(why)), -EKEYREJECTED);
	cr_expect_null(x);
	X509_REQ_free(req);
	EVP_PKEY_free(rsa);
	ca_free(ca);
}

/* A P-256 key with explicit curve parameters: only the openssl tool still writes these. */
Test(ca, explicit_ec_parameters_refused)
{
	char dir[64], kpath[PATHLEN], rpath[PATHLEN];
	tmpdir_make(dir);
	tmpdir_path(dir, "k.pem", kpath);
	tmpdir_path(dir, "r.der", rpath);
	char *gen[] = {"openssl", "ecparam", "-name", "prime256v1", "-param_enc", "explicit",
		       "-genkey", "-noout",  "-out",  kpath,        NULL};
	cr_assert_eq(run(gen), 0);
	char *req[] = {"openssl", "req",      "-new", "-key", kpath, "-subj",
		       "/CN=hq",  "-outform", "DER",  "-out", rpath, NULL};
	cr_assert_eq(run(req), 0);
	FILE *f = fopen(rpath, "rb");
	cr_assert_not_null(f);
	uint8_t buf[4096];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	X509_REQ *csr = NULL;
	cr_assert_eq(x509id_csr_decode(buf, len, X509ID_DER, &csr), 0);
	char why[CA_REASON_LEN] = "";
	cr_expect_eq(ca_csr_check(csr, why, sizeof(why)), -EKEYREJECTED);
	cr_expect(strstr(why, "explicit curve parameters") != NULL, "%s", why);
	X509_REQ_free(csr);
	tmpdir_remove(dir);
}

/* ---- what peers see ---- */

Test(ca, verify_verdicts)
{
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	struct ca *other = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	struct ca *globex = ca_make(X509ID_KEY_ED25519, "globex", T0, 0);
	EVP_PKEY *key = csr_key(CSR_P256);
	X509_REQ *req = csr_for(key, "hq");
	X509 *x = issue(ca, req, "hq", T0, DAY);
	X509 *g = issue(globex, req, "hq", T0, DAY);
	struct x509id_result res;
	struct x509id_expect exp = {.site = "hq", .wan = "acme", .at = T0 + 3600};
	cr_expect_eq(x509id_verify(x, NULL, ca_cert(ca), &exp, &res), 0, "%s", res.reason);

	static const struct {
		const char *why;
		time_t at;
		const char *site;
		int which; /* 0 ours, 1 same-name CA, 2 other WAN's cert against ours */
		enum x509id_verdict verdict;
		const char *says;
	} rows[] = {
		{"expired", T0 + 2 * DAY, "hq", 0, X509ID_EXPIRED,
		 "expired on 2027-01-16T08:00:00Z"},
		{"not yet valid", T0 - 3600, "hq", 0, X509ID_NOT_YET_VALID, "not valid before"},
		{"another CA of the WAN", T0 + 3600, "hq", 1, X509ID_UNTRUSTED, "another CA"},
		{"another WAN's CA", T0 + 3600, "hq", 2, X509ID_UNTRUSTED, "globex"},
		{"wrong name", T0 + 3600, "br1", 0, X509ID_WRONG_NAME, "expects site 'br1'"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct x509id_expect e = {.site = rows[i].site, .wan = "acme", .at = rows[i].at};
		X509 *cert = rows[i].which == 2 ? g : x;
		X509 *anchor = ca_cert(rows[i].which == 1 ? other : ca);
		cr_expect_eq(x509id_verify(cert, NULL, anchor, &e, &res), -EKEYREJECTED, "%s",
			     rows[i].why);
		cr_expect_eq(res.verdict, rows[i].verdict, "%s: got %s (%s)", rows[i].why,
			     x509id_verdict_name(res.verdict), res.reason);
		cr_expect(strstr(res.reason, rows[i].says) != NULL, "%s: %s", rows[i].why,
			  res.reason);
	}
	cr_expect_eq(ERR_peek_error(), 0ul);
	X509_free(g);
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ca_free(globex);
	ca_free(other);
	ca_free(ca);
}

Test(ca, renewal_predicate)
{
	struct ca *ca = ca_make(X509ID_KEY_P256, "acme", T0, 0);
	EVP_PKEY *key = csr_key(CSR_P256);
	X509_REQ *req = csr_for(key, "hq");
	X509 *x = issue(ca, req, "hq", T0, 90 * DAY);
	/* lifetime 90 days plus the backdating; renew once two thirds have passed (~day 60) */
	time_t at;
	cr_assert_eq(x509id_cert_renew_time(x, &at), 0);
	time_t life = 90 * DAY + CA_CLOCK_SKEW_S;
	cr_expect_eq(at, T0 - CA_CLOCK_SKEW_S + life - life / 3);
	cr_expect_not(x509id_cert_should_renew(x, T0));
	cr_expect_not(x509id_cert_should_renew(x, T0 + 59 * DAY));
	cr_expect(x509id_cert_should_renew(x, T0 + 61 * DAY));
	cr_expect(x509id_cert_should_renew(x, T0 + 95 * DAY));
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ca_free(ca);
}

/* ---- files ---- */

Test(ca, save_and_reload)
{
	char dir[64], key[PATHLEN], crt[PATHLEN], key2[PATHLEN], crt2[PATHLEN];
	tmpdir_make(dir);
	tmpdir_path(dir, "ca.key", key);
	tmpdir_path(dir, "ca.pem", crt);
	tmpdir_path(dir, "other.key", key2);
	tmpdir_path(dir, "other.pem", crt2);
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		struct ca *ca = ca_make(t, "acme", 0, 0), *back = NULL;
		cr_assert_eq(ca_save(ca, key, crt), 0);
		cr_expect_eq(file_mode(key), 0600);
		cr_expect_eq(file_mode(crt), 0644);
		cr_assert_eq(ca_load(key, crt, &back), 0);
		cr_expect_eq(X509_cmp(ca_cert(back), ca_cert(ca)), 0);
		cr_expect_str_eq(ca_wan(back), "acme");
		/* the reloaded CA issues certificates the original certificate verifies */
		EVP_PKEY *k = csr_key(CSR_P256);
		X509_REQ *req = csr_for(k, "hq");
		X509 *x = issue(back, req, "hq", 0, 0);
		struct x509id_result res;
		struct x509id_expect exp = {.site = "hq", .wan = "acme"};
		cr_expect_eq(x509id_verify(x, NULL, ca_cert(ca), &exp, &res), 0, "%s", res.reason);
		X509_free(x);
		X509_REQ_free(req);
		EVP_PKEY_free(k);
		ca_free(back);
		ca_free(ca);
	}
	/* a key that is not the certificate's */
	struct ca *other = ca_make(X509ID_KEY_P256, "acme", 0, 0), *back = NULL;
	cr_assert_eq(ca_save(other, key2, crt2), 0);
	cr_expect_eq(ca_load(key2, crt, &back), -EKEYREJECTED);
	/* a key others may read */
	cr_assert_eq(chmod(key, 0644), 0);
	cr_expect_eq(ca_load(key, crt, &back), -EACCES);
	cr_assert_eq(chmod(key, 0600), 0);
	/* a site certificate with its own key is no CA */
	EVP_PKEY *k = csr_key(CSR_P256);
	X509_REQ *req = csr_for(k, "hq");
	X509 *x = issue(other, req, "hq", 0, 0);
	cr_assert_eq(x509id_key_save(k, key2), 0);
	cr_assert_eq(x509id_cert_save(x, crt2), 0);
	cr_expect_eq(ca_load(key2, crt2, &back), -EINVAL);
	tmpdir_path(dir, "missing.pem", crt2);
	cr_expect_eq(ca_load(key, crt2, &back), -ENOENT);
	cr_expect_null(back);
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	ca_free(other);
	tmpdir_remove(dir);
}

/* ---- interop: the openssl tool (the same library strongSwan's openssl plugin uses) ---- */

Test(ca, openssl_cli_verifies)
{
	char dir[64], ca_pem[PATHLEN], ca_key[PATHLEN], crt[PATHLEN], key[PATHLEN];
	char other_pem[PATHLEN];
	tmpdir_make(dir);
	tmpdir_path(dir, "ca.pem", ca_pem);
	tmpdir_path(dir, "ca.key", ca_key);
	tmpdir_path(dir, "cert.pem", crt);
	tmpdir_path(dir, "cert.key", key);
	tmpdir_path(dir, "other.pem", other_pem);
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		struct ca *ca = ca_make(t, "acme", 0, 0);
		struct ca *other = ca_make(t, "acme", 0, 0);
		EVP_PKEY *k = csr_key((enum csr_key)t);
		X509_REQ *req = csr_for(k, "hq");
		X509 *x = issue(ca, req, "hq", 0, 0);
		cr_assert_eq(ca_save(ca, ca_key, ca_pem), 0);
		cr_assert_eq(x509id_cert_save(x, crt), 0);
		cr_assert_eq(x509id_key_save(k, key), 0);
		cr_assert_eq(x509id_cert_save(ca_cert(other), other_pem), 0);

		char *as_client[] = {"openssl",  "verify",    "-x509_strict",
				     "-purpose", "sslclient", "-CAfile",
				     ca_pem,     crt,         NULL};
		char *as_server[] = {"openssl",  "verify",    "-x509_strict",
				     "-purpose", "sslserver", "-CAfile",
				     ca_pem,     crt,         NULL};
		char *wrong_ca[] = {"openssl", "verify", "-CAfile", other_pem, crt, NULL};
		char *key_ok[] = {"openssl", "pkey", "-in", key, "-noout", NULL};
		cr_expect_eq(run(as_client), 0, "openssl verify (client), %s",
			     x509id_key_type_name(t));
		cr_expect_eq(run(as_server), 0, "openssl verify (server), %s",
			     x509id_key_type_name(t));
		cr_expect_gt(run_ex(wrong_ca, true), 0,
			     "openssl accepted a certificate of another CA");
		cr_expect_eq(run(key_ok), 0, "openssl cannot read the key file");

		X509 *back = NULL;
		EVP_PKEY *kback = NULL;
		cr_assert_eq(x509id_cert_load(crt, &back), 0);
		cr_assert_eq(x509id_key_load(key, &kback), 0);
		cr_expect_eq(X509_check_private_key(back, kback), 1, "key file matches cert file");
		EVP_PKEY_free(kback);
		X509_free(back);
		X509_free(x);
		X509_REQ_free(req);
		EVP_PKEY_free(k);
		ca_free(other);
		ca_free(ca);
	}
	tmpdir_remove(dir);
}

/* ---- interop: strongSwan's own certificate code (pki), where it is installed ---- */

Test(ca, strongswan_pki_verifies)
{
	/* ECDSA in strongSwan comes from its openssl plugin (Debian:
	 * libstrongswan-standard-plugins); without it no ECDSA certificate can work, ours or
	 * anyone's. */
	char *probe[] = {"pki", "--gen", "--type", "ecdsa", "--size", "256", NULL};
	int p = run_ex(probe, true);
	if (p == -ENOENT)
		cr_skip_test("strongSwan's pki is not installed");
	if (p != 0)
		cr_skip_test("strongSwan lacks ECDSA support (its openssl plugin)");
	char dir[64], ca_pem[PATHLEN], ca_key[PATHLEN], crt[PATHLEN], key[PATHLEN];
	char other_pem[PATHLEN];
	tmpdir_make(dir);
	tmpdir_path(dir, "ca.pem", ca_pem);
	tmpdir_path(dir, "ca.key", ca_key);
	tmpdir_path(dir, "cert.pem", crt);
	tmpdir_path(dir, "cert.key", key);
	tmpdir_path(dir, "other.pem", other_pem);
	for (unsigned t = 0; t < X509ID_KEY_COUNT; t++) {
		struct ca *ca = ca_make(t, "acme", 0, 0), *other = ca_make(t, "acme", 0, 0);
		EVP_PKEY *k = csr_key((enum csr_key)t);
		X509_REQ *req = csr_for(k, "hq");
		X509 *x = issue(ca, req, "hq", 0, 0);
		cr_assert_eq(ca_save(ca, ca_key, ca_pem), 0);
		cr_assert_eq(x509id_cert_save(x, crt), 0);
		cr_assert_eq(x509id_key_save(k, key), 0);
		cr_assert_eq(x509id_cert_save(ca_cert(other), other_pem), 0);
		char *verify[] = {"pki", "--verify", "--in", crt, "--cacert", ca_pem, NULL};
		char *wrong[] = {"pki", "--verify", "--in", crt, "--cacert", other_pem, NULL};
		char *read_key[] = {"pki", "--print", "--type", "priv", "--in", key, NULL};
		char *read_ca_key[] = {"pki", "--print", "--type", "priv", "--in", ca_key, NULL};
		cr_expect_eq(run_ex(verify, true), 0, "pki --verify, %s", x509id_key_type_name(t));
		cr_expect_neq(run_ex(wrong, true), 0, "pki trusted a certificate of another CA");
		cr_expect_eq(run_ex(read_key, true), 0, "pki cannot read the site key");
		cr_expect_eq(run_ex(read_ca_key, true), 0, "pki cannot read the CA key");
		X509_free(x);
		X509_REQ_free(req);
		EVP_PKEY_free(k);
		ca_free(other);
		ca_free(ca);
	}
	tmpdir_remove(dir);
}
