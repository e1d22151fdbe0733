/*
 * IKEv2 key derivation and key exchange against fixed vectors: RFC 4231 (HMAC-SHA-2), the NIST
 * CAVS IKEv2 KDF vector (SP 800-135 component test, HMAC-SHA-1: the construction is independent
 * of the digest), RFC 7748 section 6.1 (X25519), and the P-256/P-384 generator multiples.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "edge/ike/ike_kex.h"
#include "edge/ike/ike_keys.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = hex; p[0] && p[1]; p += 2) {
		unsigned v;
		cr_assert_eq(sscanf(p, "%2x", &v), 1);
		cr_assert_lt(n, cap);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void expect_hex(const uint8_t *got, size_t len, const char *want_hex, const char *what)
{
	uint8_t want[512];
	size_t n = unhex(want_hex, want, sizeof(want));
	cr_assert_eq(len, n, "%s: length", what);
	cr_expect_eq(memcmp(got, want, n), 0, "%s differs", what);
}

Test(ike_keys, hmac_prfs_match_rfc4231)
{
	const uint8_t key[] = "Jefe";
	const uint8_t msg[] = "what do ya want for nothing?";
	uint8_t out[IKE_PRF_MAX_LEN];
	cr_assert_eq(ike_prf(IKE_PRF_HMAC_SHA2_256, key, 4, msg, 28, NULL, 0, out), 0);
	expect_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		   "HMAC-SHA-256");
	cr_assert_eq(ike_prf(IKE_PRF_HMAC_SHA2_384, key, 4, msg, 10, msg + 10, 18, out), 0);
	expect_hex(out, 48,
		   "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
		   "8e2240ca5e69e2c78b3239ecfab21649",
		   "HMAC-SHA-384 over two pieces");
	cr_assert_eq(ike_prf(IKE_PRF_HMAC_SHA2_512, key, 4, msg, 28, NULL, 0, out), 0);
	expect_hex(out, 64,
		   "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		   "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
		   "HMAC-SHA-512");
}

/* NIST CAVS IKEv2 KDF component test (SP 800-135), HMAC-SHA-1. */
static const char cavs_ni[] = "32b50d5f4a3763f3";
static const char cavs_nr[] = "9206a04b26564cb1";
static const char cavs_gir[] = "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52";
static const char cavs_gir_new[] =
	"863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330";
static const char cavs_spii[] = "34c9e7c188868785";
static const char cavs_spir[] = "3ff77d760d2b2199";
static const char cavs_skeyseed[] = "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7";
static const char cavs_skeyseed_rekey[] = "63e81194946ebd05df7df5ebf5d8750056bf1f1d";
static const char cavs_dkm[] = "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002"
			       "a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a"
			       "5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119"
			       "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435"
			       "a7a56cc4";

struct cavs {
	uint8_t ni[8], nr[8], gir[32], gir_new[32], spii[8], spir[8];
	struct ike_kdf_input in;
};

static void cavs_load(struct cavs *c)
{
	unhex(cavs_ni, c->ni, 8);
	unhex(cavs_nr, c->nr, 8);
	unhex(cavs_gir, c->gir, 32);
	unhex(cavs_gir_new, c->gir_new, 32);
	unhex(cavs_spii, c->spii, 8);
	unhex(cavs_spir, c->spir, 8);
	c->in = (struct ike_kdf_input){c->ni, c->nr, 8, 8, c->spii, c->spir, c->gir, 32};
}

Test(ike_keys, skeyseed_and_keys_match_the_cavs_vector)
{
	struct cavs c;
	cavs_load(&c);
	uint8_t skeyseed[IKE_PRF_MAX_LEN];
	cr_assert_eq(ike_skeyseed(IKE_PRF_HMAC_SHA1, &c.in, skeyseed), 0);
	expect_hex(skeyseed, 20, cavs_skeyseed, "SKEYSEED");

	/* 3 x 20 (SK_d, SK_pi, SK_pr) + 2 x 36 (SK_ei, SK_er) = the vector's 132 bytes. */
	struct ike_sa_keys k;
	cr_assert_eq(ike_sa_keys_derive(IKE_PRF_HMAC_SHA1, skeyseed, &c.in, 36, &k), 0);
	uint8_t dkm[132];
	unhex(cavs_dkm, dkm, sizeof(dkm));
	cr_expect_eq(memcmp(k.sk_d, dkm, 20), 0, "SK_d");
	cr_expect_eq(memcmp(k.sk_ei, dkm + 20, 36), 0, "SK_ei");
	cr_expect_eq(memcmp(k.sk_er, dkm + 56, 36), 0, "SK_er");
	cr_expect_eq(memcmp(k.sk_pi, dkm + 92, 20), 0, "SK_pi");
	cr_expect_eq(memcmp(k.sk_pr, dkm + 112, 20), 0, "SK_pr");

	struct ike_kdf_input rekey = c.in;
	rekey.shared = c.gir_new;
	uint8_t again[IKE_PRF_MAX_LEN];
	cr_assert_eq(ike_skeyseed_rekey(IKE_PRF_HMAC_SHA1, k.sk_d, &rekey, again), 0);
	expect_hex(again, 20, cavs_skeyseed_rekey, "SKEYSEED (rekey)");
	ike_sa_keys_wipe(&k);
	for (size_t i = 0; i < sizeof(k); i++)
		cr_assert_eq(((uint8_t *)&k)[i], 0, "wiped");
}

Test(ike_keys, prf_plus_follows_its_definition)
{
	const uint8_t key[32] = {1, 2, 3};
	const uint8_t seed[] = "seed material";
	uint8_t out[100], t1[32], t2[32], t3[32];
	cr_assert_eq(ike_prf_plus(IKE_PRF_HMAC_SHA2_256, key, 32, seed, 13, out, sizeof(out)), 0);
	uint8_t c1 = 1, c2 = 2, c3 = 3, buf[64];
	memcpy(buf, seed, 13);
	buf[13] = c1;
	cr_assert_eq(ike_prf(IKE_PRF_HMAC_SHA2_256, key, 32, buf, 14, NULL, 0, t1), 0);
	memcpy(buf, t1, 32);
	memcpy(buf + 32, seed, 13);
	buf[45] = c2;
	cr_assert_eq(ike_prf(IKE_PRF_HMAC_SHA2_256, key, 32, buf, 46, NULL, 0, t2), 0);
	memcpy(buf, t2, 32);
	buf[45] = c3;
	cr_assert_eq(ike_prf(IKE_PRF_HMAC_SHA2_256, key, 32, buf, 46, NULL, 0, t3), 0);
	cr_expect_eq(memcmp(out, t1, 32), 0, "T1 = prf(K, S | 0x01)");
	cr_expect_eq(memcmp(out + 32, t2, 32), 0, "T2 = prf(K, T1 | S | 0x02)");
	cr_expect_eq(memcmp(out + 64, t3, 32), 0, "T3");
	static uint8_t big[255 * 32 + 1];
	cr_expect_eq(ike_prf_plus(IKE_PRF_HMAC_SHA2_256, key, 32, seed, 13, big, 255 * 32), 0);
	cr_expect_eq(ike_prf_plus(IKE_PRF_HMAC_SHA2_256, key, 32, seed, 13, big, sizeof(big)),
		     -EINVAL, "prf+ stops at 255 blocks");
}

Test(ike_keys, child_keymat_with_and_without_pfs)
{
	struct cavs c;
	cavs_load(&c);
	const uint8_t sk_d[48] = {9};
	uint8_t a[72], b[72], manual[72], seed[32 + 16];
	struct ike_kdf_input no_pfs = c.in;
	no_pfs.shared = NULL;
	cr_assert_eq(ike_child_keymat(IKE_PRF_HMAC_SHA2_384, sk_d, &no_pfs, a, sizeof(a)), 0);
	memcpy(seed, c.ni, 8);
	memcpy(seed + 8, c.nr, 8);
	cr_assert_eq(ike_prf_plus(IKE_PRF_HMAC_SHA2_384, sk_d, 48, seed, 16, manual, 72), 0);
	cr_expect_eq(memcmp(a, manual, 72), 0, "KEYMAT = prf+(SK_d, Ni | Nr)");
	cr_assert_eq(ike_child_keymat(IKE_PRF_HMAC_SHA2_384, sk_d, &c.in, b, sizeof(b)), 0);
	memcpy(seed, c.gir, 32);
	memcpy(seed + 32, c.ni, 8);
	memcpy(seed + 40, c.nr, 8);
	cr_assert_eq(ike_prf_plus(IKE_PRF_HMAC_SHA2_384, sk_d, 48, seed, 48, manual, 72), 0);
	cr_expect_eq(memcmp(b, manual, 72), 0, "KEYMAT = prf+(SK_d, g^ir | Ni | Nr)");
}

Test(ike_kex, x25519_matches_rfc7748)
{
	uint8_t priv[32], bob_pub[32], out[64];
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", priv, 32);
	unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bob_pub, 32);
	struct ike_kex *alice;
	cr_assert_eq(ike_kex_from_private(31, priv, 32, NULL, 0, &alice), 0);
	size_t len;
	cr_assert_eq(ike_kex_public(alice, out, sizeof(out), &len), 0);
	expect_hex(out, len, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		   "Alice's public key");
	cr_assert_eq(ike_kex_shared(alice, bob_pub, 32, out, sizeof(out), &len), 0);
	expect_hex(out, len, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
		   "shared secret K");
	const uint8_t zero[32] = {0};
	cr_expect_eq(ike_kex_shared(alice, zero, 32, out, sizeof(out), &len), -EBADMSG,
		     "a small-order point gives an all-zero secret: refused");
	cr_expect_eq(ike_kex_shared(alice, bob_pub, 31, out, sizeof(out), &len), -EBADMSG);
	ike_kex_free(alice);
}

static const char p256_gx[] = "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296";
static const char p256_gy[] = "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";
static const char p256_2gx[] = "7CF27B188D034F7E8A52380304B51AC3C08969E277F21B35A60B48FC47669978";
static const char p256_2gy[] = "07775510DB8ED040293D9AC69F7430DBBA7DADE63CE982299E04B79D227873D1";

Test(ike_kex, ecp256_known_answers)
{
	uint8_t g[64], two_g[64], two[32] = {0}, out[96];
	unhex(p256_gx, g, 32);
	unhex(p256_gy, g + 32, 32);
	unhex(p256_2gx, two_g, 32);
	unhex(p256_2gy, two_g + 32, 32);
	two[31] = 2;
	struct ike_kex *k2;
	cr_assert_eq(ike_kex_from_private(19, two, 32, two_g, 64, &k2), 0);
	size_t len;
	cr_assert_eq(ike_kex_public(k2, out, sizeof(out), &len), 0);
	cr_expect_eq(len, 64, "x | y without the 0x04 octet");
	cr_expect_eq(memcmp(out, two_g, 64), 0);
	/* 2 x G: the shared secret is the x coordinate of 2G. */
	cr_assert_eq(ike_kex_shared(k2, g, 64, out, sizeof(out), &len), 0);
	expect_hex(out, len, p256_2gx, "x(2G)");
	uint8_t off[64];
	memcpy(off, g, 64);
	off[63] ^= 1;
	cr_expect_eq(ike_kex_shared(k2, off, 64, out, sizeof(out), &len), -EBADMSG,
		     "a point off the curve is refused");
	ike_kex_free(k2);
}

Test(ike_kex, ecp384_generator)
{
	uint8_t g[96], one[48] = {0}, out[96];
	unhex("AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E"
	      "3872760AB7",
	      g, 48);
	unhex("3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D"
	      "7C90EA0E5F",
	      g + 48, 48);
	one[47] = 1;
	struct ike_kex *k1;
	cr_assert_eq(ike_kex_from_private(20, one, 48, g, 96, &k1), 0);
	size_t len;
	cr_assert_eq(ike_kex_shared(k1, g, 96, out, sizeof(out), &len), 0);
	cr_expect_eq(memcmp(out, g, 48), 0, "1 x G = G");
	ike_kex_free(k1);
}

Test(ike_kex, fresh_pairs_agree_in_every_group)
{
	const uint16_t groups[] = {19, 20, 31};
	for (size_t i = 0; i < 3; i++) {
		struct ike_kex *a, *b;
		cr_assert_eq(ike_kex_new(groups[i], &a), 0);
		cr_assert_eq(ike_kex_new(groups[i], &b), 0);
		uint8_t pa[96], pb[96], sa[48], sb[48];
		size_t la, lb, ka, kb;
		cr_assert_eq(ike_kex_public(a, pa, sizeof(pa), &la), 0);
		cr_assert_eq(ike_kex_public(b, pb, sizeof(pb), &lb), 0);
		cr_expect_eq(la, ike_kex_public_len(groups[i]));
		cr_assert_eq(ike_kex_shared(a, pb, lb, sa, sizeof(sa), &ka), 0);
		cr_assert_eq(ike_kex_shared(b, pa, la, sb, sizeof(sb), &kb), 0);
		cr_expect_eq(ka, ike_kex_shared_len(groups[i]));
		cr_expect_eq(ka, kb);
		cr_expect_eq(memcmp(sa, sb, ka), 0, "group %u agrees", groups[i]);
		ike_kex_free(a);
		ike_kex_free(b);
	}
	struct ike_kex *x;
	cr_expect_eq(ike_kex_new(14, &x), -ENOTSUP);
}
