/*
 * The edge's identity files: a save is one change whatever moment the process dies at (staged
 * files, the journal, renames finished by the next load), and the keys kept for an enrollment
 * that has no certificate yet.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/x509id.h"
#include "common/zcurve.h"
#include "controller/ca.h"
#include "edge/identity.h"

/* NOLINTBEGIN(readability-function-size): Criterion's assertion macros nest deeply. */

static char dir[64], other[80];
static struct ca *ca;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	(void)snprintf(dir, sizeof(dir), "/tmp/sdwan-identity-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	(void)snprintf(other, sizeof(other), "%s/other", dir);
	struct ca_params cp = {.wan = "acme"};
	cr_assert_eq(ca_create(&cp, &ca), 0);
}

static void teardown(void)
{
	ca_free(ca);
	(void)nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(identity, .init = setup, .fini = teardown);

/* A complete identity for site with fresh keys, its certificate from the test CA. */
static void make_identity(struct identity *id, const char *site)
{
	memset(id, 0, sizeof(*id));
	X509_REQ *csr = NULL;
	char reason[CA_REASON_LEN];
	struct ca_issue issue = {.site = site};
	cr_assert_eq(zcurve_keypair_generate(&id->curve), 0);
	cr_assert_eq(x509id_key_generate(X509ID_KEY_P256, &id->ike_key), 0);
	cr_assert_eq(x509id_csr_create(id->ike_key, site, &csr), 0);
	cr_assert_eq(ca_sign_csr(ca, csr, &issue, &id->cert, reason, sizeof(reason)), 0, "%s",
		     reason);
	X509_REQ_free(csr);
	id->ca = ca_cert(ca);
	cr_assert_eq(X509_up_ref(id->ca), 1);
	(void)snprintf(id->endpoint, sizeof(id->endpoint), "tcp://192.0.2.1:7800");
	memset(id->controller_key, 0x42, sizeof(id->controller_key));
}

static bool has(const char *in, const char *name)
{
	char path[256];
	struct stat st;
	(void)snprintf(path, sizeof(path), "%s/%s", in, name);
	return lstat(path, &st) == 0;
}

/* Files of `in` whose name ends in ".new", plus the journal. */
static size_t leftovers(const char *in)
{
	size_t n = has(in, IDENTITY_JOURNAL_FILE) ? 1 : 0;
	DIR *d = opendir(in);
	cr_assert_not_null(d);
	for (const struct dirent *e = readdir(d); e; e = readdir(d)) {
		size_t len = strlen(e->d_name);
		n += len > 4 && strcmp(e->d_name + len - 4, ".new") == 0;
	}
	closedir(d);
	return n;
}

static void move(const char *from_dir, const char *name, const char *to_dir, const char *to_name)
{
	char a[256], b[256];
	(void)snprintf(a, sizeof(a), "%s/%s", from_dir, name);
	(void)snprintf(b, sizeof(b), "%s/%s", to_dir, to_name);
	cr_assert_eq(rename(a, b), 0, "%s -> %s", a, b);
}

static const char *const files[] = {
	IDENTITY_CURVE_FILE,   IDENTITY_IKE_KEY_FILE, IDENTITY_ENDPOINT_FILE,
	IDENTITY_CTL_KEY_FILE, IDENTITY_CA_FILE,      IDENTITY_CERT_FILE,
};
#define N_FILES (sizeof(files) / sizeof(files[0]))

/*
 * dir holds identity A; B (another key, another certificate) is staged next to it as it would be
 * by a save killed at some point: the first `renamed` files already in place, the rest staged,
 * the journal written when `committed`.
 */
static void stage_b(struct identity *b, size_t renamed, bool committed)
{
	make_identity(b, "branch-1");
	cr_assert_eq(identity_save(other, b), 0);
	for (size_t i = 0; i < N_FILES; i++) {
		char staged[64];
		(void)snprintf(staged, sizeof(staged), "%s.new", files[i]);
		move(other, files[i], dir, i < renamed ? files[i] : staged);
	}
	if (committed) {
		char path[256];
		(void)snprintf(path, sizeof(path), "%s/%s", dir, IDENTITY_JOURNAL_FILE);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs("identity-v1\n", f);
		fclose(f);
	}
}

static void expect_identity(const struct identity *want)
{
	struct identity got;
	cr_assert_eq(identity_load(dir, &got), 0);
	cr_expect_eq(memcmp(got.curve.public_key, want->curve.public_key, ZCURVE_KEY_LEN), 0);
	cr_expect_eq(X509_cmp(got.cert, want->cert), 0);
	cr_expect_str_eq(got.site, "branch-1");
	identity_clear(&got);
	cr_expect_eq(leftovers(dir), 0, "staged files or the journal left behind");
}

Test(identity, saves_and_loads_with_nothing_left_over)
{
	struct identity a;
	make_identity(&a, "branch-1");
	cr_assert_eq(identity_save(dir, &a), 0);
	expect_identity(&a);
	/* A second save replaces it whole. */
	struct identity b;
	make_identity(&b, "branch-1");
	cr_assert_eq(identity_save(dir, &b), 0);
	expect_identity(&b);
	identity_clear(&a);
	identity_clear(&b);
}

Test(identity, a_save_killed_before_its_journal_leaves_the_old_identity_whole)
{
	struct identity a, b;
	make_identity(&a, "branch-1");
	cr_assert_eq(identity_save(dir, &a), 0);
	stage_b(&b, 0, false);
	expect_identity(&a);
	identity_clear(&a);
	identity_clear(&b);
}

Test(identity, a_committed_save_killed_midway_is_finished_by_the_next_load)
{
	/* Killed after the journal, at every point of the renames. */
	for (size_t renamed = 0; renamed <= N_FILES; renamed++) {
		struct identity a, b;
		make_identity(&a, "branch-1");
		cr_assert_eq(identity_save(dir, &a), 0);
		stage_b(&b, renamed, true);
		expect_identity(&b);
		identity_clear(&a);
		identity_clear(&b);
	}
}

Test(identity, keeps_pending_keys_until_the_identity_is_saved)
{
	struct identity p, q;
	memset(&p, 0, sizeof(p));
	memset(&q, 0, sizeof(q));
	cr_assert_eq(identity_pending_load(dir, &q), -ENOENT);
	cr_assert_eq(zcurve_keypair_generate(&p.curve), 0);
	cr_assert_eq(x509id_key_generate(X509ID_KEY_P256, &p.ike_key), 0);
	cr_assert_eq(identity_pending_save(dir, &p), 0);
	struct stat st;
	char path[256];
	(void)snprintf(path, sizeof(path), "%s/%s", dir, IDENTITY_PENDING_CURVE_FILE);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(identity_pending_load(dir, &q), 0);
	cr_expect_eq(memcmp(q.curve.public_key, p.curve.public_key, ZCURVE_KEY_LEN), 0);
	cr_expect_eq(EVP_PKEY_eq(q.ike_key, p.ike_key), 1);
	identity_clear(&q);
	/* A damaged key file: refused, so that the caller makes new keys. */
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("garbage\n", f);
	fclose(f);
	cr_assert_neq(identity_pending_load(dir, &q), 0);
	cr_expect_null(q.ike_key);
	identity_clear(&q);
	cr_assert_eq(identity_pending_save(dir, &p), 0);
	/* Saving an identity retires them. */
	struct identity a;
	make_identity(&a, "branch-1");
	cr_assert_eq(identity_save(dir, &a), 0);
	cr_expect_not(has(dir, IDENTITY_PENDING_CURVE_FILE));
	cr_expect_not(has(dir, IDENTITY_PENDING_IKE_KEY_FILE));
	identity_clear(&a);
	identity_clear(&p);
}

Test(identity, keeps_a_re_enrollment_token_and_refuses_a_damaged_one)
{
	char line[TOKEN_LINE_MAX], ep[IDENTITY_ENDPOINT_MAX];
	cr_assert_eq(identity_pending_token_load(dir, line, ep), -ENOENT);
	cr_assert_eq(
		identity_pending_token_save(dir, "sdwan1.b1.secret.key", "tcp://192.0.2.1:7811"),
		0);
	char path[256];
	struct stat st;
	(void)snprintf(path, sizeof(path), "%s/%s", dir, IDENTITY_PENDING_TOKEN_FILE);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(identity_pending_token_load(dir, line, ep), 0);
	cr_expect_str_eq(line, "sdwan1.b1.secret.key");
	cr_expect_str_eq(ep, "tcp://192.0.2.1:7811");
	cr_assert_eq(identity_pending_token_save(dir, "sdwan1.b1.secret.key", ""), 0);
	cr_assert_eq(identity_pending_token_load(dir, line, ep), 0);
	cr_expect_str_eq(ep, "", "no endpoint: the default");
	static const char *const damaged[] = {"",      "\n\n",    "tok",
					      "tok\n", "tok\nep", "tok\nep\nmore\n"};
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(damaged[i], f);
		fclose(f);
		cr_expect_eq(identity_pending_token_load(dir, line, ep), -EBADMSG, "'%s' accepted",
			     damaged[i]);
	}
	identity_pending_remove(dir);
	cr_expect_not(has(dir, IDENTITY_PENDING_TOKEN_FILE));
}

/* NOLINTEND(readability-function-size) */
