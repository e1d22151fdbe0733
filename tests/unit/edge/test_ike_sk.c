/*
 * The SK payload (edge/ike/ike_sk.h): known answers computed independently (Python
 * "cryptography" AESGCM / ChaCha20Poly1305 over the RFC 5282 nonce and AAD layout), round trips
 * through the message codec, tamper detection at every octet, padding rules, and the IV counter.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/proposal.h"
#include "common/wr.h"
#include "edge/ike/ike_msg.h"
#include "edge/ike/ike_sk.h"

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

static const uint8_t salt[IKE_SK_SALT_LEN] = {0xa0, 0xa1, 0xa2, 0xa3};
static const uint8_t other_salt[IKE_SK_SALT_LEN] = {0xa0, 0xa1, 0xa2, 0xa4};

/* Keymat key = 00 01 02 ..., salt = a0 a1 a2 a3. */
static void load_key(struct ike_sk *sk, uint8_t encr)
{
	uint8_t km[IKE_SK_KEY_MAX + IKE_SK_SALT_LEN];
	size_t len = ike_sk_keymat_len(encr);

	cr_assert_gt(len, IKE_SK_SALT_LEN);
	for (size_t i = 0; i < len - IKE_SK_SALT_LEN; i++)
		km[i] = (uint8_t)i;
	memcpy(km + len - IKE_SK_SALT_LEN, salt, IKE_SK_SALT_LEN);
	cr_assert_eq(ike_sk_init(sk, encr, km, len), 0);
}

static const struct ike_hdr kat_hdr = {
	.spi_i = 0x0102030405060708ull,
	.spi_r = 0x1112131415161718ull,
	.exchange = IKE_EXCH_IKE_AUTH,
	.flags = IKE_FLAG_INITIATOR,
	.msg_id = 1,
};

/* One Notify payload: INITIAL_CONTACT, no SPI, no data. */
static const uint8_t kat_inner[] = {0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x40, 0x00};

/* The message as hex, held in the struct: Criterion copies parameters into each test's process,
 * where a pointer into the parent's image need not be valid. */
struct kat {
	uint8_t encr;
	char msg[160];
};

static struct kat kats[] = {
	{PROPOSAL_ENCR_AES128GCM16,
	 "010203040506070811121314151617182e20230800000001000000412900002500000000000000008a5dce95"
	 "478f746f5329e2a3667690a6a11ab8b59c704c61b8"},
	{PROPOSAL_ENCR_AES256GCM16,
	 "010203040506070811121314151617182e20230800000001000000412900002500000000000000001cb95c3e"
	 "2364f5bcb97b7e6604b9307d39c56aaf700e0b25b3"},
	{PROPOSAL_ENCR_CHACHA20POLY1305,
	 "010203040506070811121314151617182e2023080000000100000041290000250000000000000000f6c29884"
	 "e1323b266b8b73aba5542d3175b5d610fd9dfe7c59"},
};

ParameterizedTestParameters(ike_sk, known_answer)
{
	return cr_make_param_array(struct kat, kats, sizeof(kats) / sizeof(kats[0]));
}

ParameterizedTest(struct kat *k, ike_sk, known_answer)
{
	struct ike_sk tx, rx;
	uint8_t out[256], want[256], pt[256];
	size_t len, want_len = unhex(k->msg, want, sizeof(want)), pt_len;

	load_key(&tx, k->encr);
	load_key(&rx, k->encr);
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    out, sizeof(out), &len),
		     0);
	cr_assert_eq(len, want_len);
	cr_assert_eq(memcmp(out, want, len), 0, "ciphertext differs from the reference");
	/* And the reference decrypts: AAD is the 28-octet header and the 4-octet SK header. */
	cr_assert_eq(ike_sk_decrypt(&rx, want, want_len, IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN,
				    want_len - IKE_HDR_LEN - IKE_PAYLOAD_HDR_LEN, pt, sizeof(pt),
				    &pt_len),
		     IKE_SK_OK);
	cr_assert_eq(pt_len, sizeof(kat_inner));
	cr_assert_eq(memcmp(pt, kat_inner, pt_len), 0);
	ike_sk_wipe(&tx);
	ike_sk_wipe(&rx);
}

static uint8_t ciphers[] = {PROPOSAL_ENCR_AES128GCM16, PROPOSAL_ENCR_AES256GCM16,
			    PROPOSAL_ENCR_CHACHA20POLY1305};

/* A realistic inner chain: IDi, AUTH and a notify. */
static size_t build_inner(uint8_t *buf, size_t cap, uint8_t *first)
{
	struct wr w = wr_init(buf, cap);
	struct ike_build b;
	uint8_t auth[48];
	size_t len;

	memset(auth, 0x5a, sizeof(auth));
	ike_build_init(&b, &w, NULL);
	ike_build_id(&b, IKE_PAYLOAD_IDI,
		     &(struct ike_id){IKE_ID_FQDN, (const uint8_t *)"branch-1.example", 16});
	ike_build_auth(&b, &(struct ike_auth){IKE_AUTH_SHARED_KEY_MIC, auth, sizeof(auth)});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_INITIAL_CONTACT});
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	*first = ike_build_first(&b);
	return len;
}

/* Parse msg, decrypt its SK payload with rx and return the verdict; inner payloads in *pls. */
static enum ike_sk_verdict open_msg(const struct ike_sk *rx, const uint8_t *msg, size_t len,
				    struct ike_payloads *pls, uint8_t *pt, size_t cap)
{
	static struct ike_msg m;
	size_t pt_len;

	cr_assert_eq(ike_msg_parse(msg, len, &m), IKE_PARSE_OK);
	cr_assert(m.pls.encrypted);
	const struct ike_payload *sk = &m.pls.pl[m.pls.n - 1];
	enum ike_sk_verdict v =
		ike_sk_decrypt(rx, msg, len, (size_t)(sk->body - msg), sk->len, pt, cap, &pt_len);
	if (v == IKE_SK_OK)
		cr_assert_eq(ike_msg_parse_inner(pt, pt_len, sk->next, pls), IKE_PARSE_OK);
	return v;
}

ParameterizedTestParameters(ike_sk, round_trip)
{
	return cr_make_param_array(uint8_t, ciphers, sizeof(ciphers));
}

ParameterizedTest(uint8_t *encr, ike_sk, round_trip)
{
	struct ike_sk tx, rx;
	uint8_t inner[256], msg[512], pt[512], first;
	size_t inner_len = build_inner(inner, sizeof(inner), &first), len;
	struct ike_payloads pls;

	load_key(&tx, *encr);
	load_key(&rx, *encr);
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, first, inner, inner_len, msg, sizeof(msg), &len),
		     0);
	cr_assert_eq(len, IKE_HDR_LEN + IKE_SK_OVERHEAD + inner_len);
	cr_assert_eq(open_msg(&rx, msg, len, &pls, pt, sizeof(pt)), IKE_SK_OK);
	cr_assert_eq(pls.n, 3);
	cr_expect_eq(pls.pl[0].type, IKE_PAYLOAD_IDI);
	cr_expect_eq(pls.pl[1].type, IKE_PAYLOAD_AUTH);
	cr_expect_eq(pls.pl[2].type, IKE_PAYLOAD_NOTIFY);
	/* The plaintext is nowhere in the message. */
	cr_expect_null(memmem(msg, len, "branch-1.example", 16));
}

ParameterizedTestParameters(ike_sk, every_octet_is_authenticated)
{
	return cr_make_param_array(uint8_t, ciphers, sizeof(ciphers));
}

/* Flip one bit of each octet in turn (header, SK header, IV, ciphertext, ICV): every change is
 * caught by the ICV, none decrypts. */
ParameterizedTest(uint8_t *encr, ike_sk, every_octet_is_authenticated)
{
	struct ike_sk tx, rx;
	uint8_t inner[256], msg[512], pt[512], first;
	size_t inner_len = build_inner(inner, sizeof(inner), &first), len, pt_len;
	const size_t body_off = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN;

	load_key(&tx, *encr);
	load_key(&rx, *encr);
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, first, inner, inner_len, msg, sizeof(msg), &len),
		     0);
	for (size_t i = 0; i < len; i++) {
		msg[i] ^= 0x01;
		enum ike_sk_verdict v = ike_sk_decrypt(&rx, msg, len, body_off, len - body_off, pt,
						       sizeof(pt), &pt_len);
		cr_assert_eq(v, IKE_SK_AUTH, "octet %zu flipped: verdict %s", i,
			     ike_sk_verdict_name(v));
		cr_assert_eq(pt_len, 0);
		msg[i] ^= 0x01;
	}
	cr_assert_eq(
		ike_sk_decrypt(&rx, msg, len, body_off, len - body_off, pt, sizeof(pt), &pt_len),
		IKE_SK_OK);
	/* Truncating the ICV, or dropping the last octet, fails too. */
	cr_assert_eq(ike_sk_decrypt(&rx, msg, len - 1, body_off, len - 1 - body_off, pt, sizeof(pt),
				    &pt_len),
		     IKE_SK_AUTH);
}

Test(ike_sk, wrong_key_or_direction_fails)
{
	struct ike_sk tx, rx;
	uint8_t msg[256], pt[256], km[36];
	size_t len, pt_len;
	const size_t body_off = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN;

	load_key(&tx, PROPOSAL_ENCR_AES256GCM16);
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    msg, sizeof(msg), &len),
		     0);
	/* The same key with another salt (as if the peer split SK_e differently). */
	memcpy(km, tx.key, 32);
	memcpy(km + 32, other_salt, sizeof(other_salt));
	cr_assert_eq(ike_sk_init(&rx, PROPOSAL_ENCR_AES256GCM16, km, sizeof(km)), 0);
	cr_expect_eq(
		ike_sk_decrypt(&rx, msg, len, body_off, len - body_off, pt, sizeof(pt), &pt_len),
		IKE_SK_AUTH);
	/* Another key. */
	km[0] ^= 1;
	memcpy(km + 32, salt, sizeof(salt));
	cr_assert_eq(ike_sk_init(&rx, PROPOSAL_ENCR_AES256GCM16, km, sizeof(km)), 0);
	cr_expect_eq(
		ike_sk_decrypt(&rx, msg, len, body_off, len - body_off, pt, sizeof(pt), &pt_len),
		IKE_SK_AUTH);
	/* Same key octets, other cipher. */
	km[0] ^= 1;
	cr_assert_eq(ike_sk_init(&rx, PROPOSAL_ENCR_CHACHA20POLY1305, km, sizeof(km)), 0);
	cr_expect_eq(
		ike_sk_decrypt(&rx, msg, len, body_off, len - body_off, pt, sizeof(pt), &pt_len),
		IKE_SK_AUTH);
}

Test(ike_sk, iv_counter_never_repeats_and_refuses_at_the_end)
{
	struct ike_sk tx, rx;
	uint8_t a[256], b[256], pt[256];
	size_t la, lb, pt_len;
	const size_t body_off = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN;

	load_key(&tx, PROPOSAL_ENCR_AES128GCM16);
	load_key(&rx, PROPOSAL_ENCR_AES128GCM16);
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    a, sizeof(a), &la),
		     0);
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    b, sizeof(b), &lb),
		     0);
	cr_assert_eq(la, lb);
	cr_expect_neq(memcmp(a + body_off, b + body_off, IKE_SK_IV_LEN), 0, "IV repeated");
	cr_expect_eq(b[body_off + IKE_SK_IV_LEN - 1], 1);
	cr_expect_neq(memcmp(a, b, la), 0);
	cr_expect_eq(tx.iv_next, 2);

	/* The last IV is usable once; then the key is spent. */
	tx.iv_next = UINT64_MAX - 1;
	cr_assert_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    a, sizeof(a), &la),
		     0);
	for (size_t i = 0; i < IKE_SK_IV_LEN - 1; i++)
		cr_expect_eq(a[body_off + i], 0xff);
	cr_expect_eq(a[body_off + IKE_SK_IV_LEN - 1], 0xfe);
	cr_assert_eq(ike_sk_decrypt(&rx, a, la, body_off, la - body_off, pt, sizeof(pt), &pt_len),
		     IKE_SK_OK);
	cr_expect_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    b, sizeof(b), &lb),
		     -EKEYEXPIRED);
	cr_expect_eq(ike_sk_seal(&tx, b, body_off, 9), -EKEYEXPIRED);
}

/* A sender that pads (as a block-cipher implementation would): any padding octets and any pad
 * length that fits are accepted; a pad length beyond the plaintext is refused after the ICV
 * verified. */
Test(ike_sk, padding_accepted_and_checked)
{
	struct ike_sk tx, rx;
	uint8_t msg[256], pt[256];
	size_t pt_len;
	const size_t body_off = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN;

	load_key(&tx, PROPOSAL_ENCR_CHACHA20POLY1305);
	load_key(&rx, PROPOSAL_ENCR_CHACHA20POLY1305);
	for (unsigned pad = 0; pad <= 20; pad++) {
		/* Plaintext: notify (8) | pad octets | pad length; a pad of 20 overruns by 12. */
		bool fits = pad <= 8;
		size_t inner = fits ? sizeof(kat_inner) : 0, pt_in = inner + (fits ? pad : 0) + 1;
		size_t total = body_off + IKE_SK_IV_LEN + pt_in + IKE_SK_ICV_LEN;
		struct wr w = wr_init(msg, sizeof(msg));
		struct ike_build b;

		ike_build_init(&b, &w, &kat_hdr);
		ike_build_sk_begin(&b, inner ? IKE_PAYLOAD_NOTIFY : IKE_PAYLOAD_NONE);
		wr_zero(&w, IKE_SK_IV_LEN);
		wr_bytes(&w, kat_inner, inner);
		for (unsigned i = 0; fits && i < pad; i++)
			wr_u8(&w, (uint8_t)(0xc0 + i));
		wr_u8(&w, (uint8_t)pad);
		wr_zero(&w, IKE_SK_ICV_LEN);
		ike_build_end(&b);
		cr_assert_eq(ike_build_finish(&b, NULL), 0);
		cr_assert_eq(wr_len(&w), total);
		cr_assert_eq(ike_sk_seal(&tx, msg, body_off, pt_in), 0);
		enum ike_sk_verdict v = ike_sk_decrypt(&rx, msg, total, body_off, total - body_off,
						       pt, sizeof(pt), &pt_len);
		if (fits) {
			cr_assert_eq(v, IKE_SK_OK, "pad %u", pad);
			cr_assert_eq(pt_len, sizeof(kat_inner));
			cr_assert_eq(memcmp(pt, kat_inner, pt_len), 0);
		} else {
			cr_assert_eq(v, IKE_SK_PAD, "pad %u: %s", pad, ike_sk_verdict_name(v));
			cr_assert_eq(pt_len, 0);
		}
	}
}

/* Unencrypted payloads before SK are part of the AAD (RFC 5282 §5.1). */
Test(ike_sk, aad_covers_payloads_before_sk)
{
	struct ike_sk tx, rx;
	uint8_t msg[256], pt[256];
	struct ike_payloads pls;
	struct wr w = wr_init(msg, sizeof(msg));
	struct ike_build b;
	size_t total;

	load_key(&tx, PROPOSAL_ENCR_AES256GCM16);
	load_key(&rx, PROPOSAL_ENCR_AES256GCM16);
	ike_build_init(&b, &w, &kat_hdr);
	ike_build_vendor(&b, &(struct ike_vendor){(const uint8_t *)"sdwan", 5});
	ike_build_sk_begin(&b, IKE_PAYLOAD_NOTIFY);
	size_t aad_len = wr_mark(&w);
	wr_zero(&w, IKE_SK_IV_LEN);
	wr_bytes(&w, kat_inner, sizeof(kat_inner));
	wr_u8(&w, 0);
	wr_zero(&w, IKE_SK_ICV_LEN);
	ike_build_end(&b);
	cr_assert_eq(ike_build_finish(&b, &total), 0);
	cr_assert_eq(aad_len, IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + 5 + IKE_PAYLOAD_HDR_LEN);
	cr_assert_eq(ike_sk_seal(&tx, msg, aad_len, sizeof(kat_inner) + 1), 0);
	cr_assert_eq(open_msg(&rx, msg, total, &pls, pt, sizeof(pt)), IKE_SK_OK);
	cr_assert_eq(pls.n, 1);
	msg[IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN] ^= 0x20; /* "sdwan" -> "Sdwan" */
	cr_expect_eq(open_msg(&rx, msg, total, &pls, pt, sizeof(pt)), IKE_SK_AUTH);
}

Test(ike_sk, empty_message_round_trip)
{
	struct ike_sk tx, rx;
	uint8_t msg[128], pt[128];
	struct ike_payloads pls;
	size_t len;

	load_key(&tx, PROPOSAL_ENCR_AES128GCM16);
	load_key(&rx, PROPOSAL_ENCR_AES128GCM16);
	cr_assert_eq(
		ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NONE, NULL, 0, msg, sizeof(msg), &len),
		0);
	cr_assert_eq(len, IKE_HDR_LEN + IKE_SK_OVERHEAD);
	cr_assert_eq(open_msg(&rx, msg, len, &pls, pt, sizeof(pt)), IKE_SK_OK);
	cr_expect_eq(pls.n, 0);
	/* A chain without its first type, or a type without a chain, is misuse. */
	cr_expect_eq(
		ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NOTIFY, NULL, 0, msg, sizeof(msg), &len),
		-EINVAL);
	cr_expect_eq(ike_sk_encrypt(&tx, &kat_hdr, IKE_PAYLOAD_NONE, kat_inner, sizeof(kat_inner),
				    msg, sizeof(msg), &len),
		     -EINVAL);
}

Test(ike_sk, short_and_oversized_inputs)
{
	struct ike_sk sk;
	uint8_t msg[128] = {0}, pt[8];
	size_t len, pt_len;
	const size_t body_off = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN;

	load_key(&sk, PROPOSAL_ENCR_AES128GCM16);
	/* Below IV + Pad Length + ICV. */
	cr_expect_eq(ike_sk_decrypt(&sk, msg, sizeof(msg), body_off, 24, pt, sizeof(pt), &pt_len),
		     IKE_SK_SHORT);
	/* A body that overruns the message is the caller's bug. */
	cr_expect_eq(ike_sk_decrypt(&sk, msg, 40, body_off, 25, pt, sizeof(pt), &pt_len),
		     IKE_SK_INTERNAL);
	/* Plaintext larger than the output buffer. */
	cr_expect_eq(ike_sk_decrypt(&sk, msg, sizeof(msg), body_off, 60, pt, sizeof(pt), &pt_len),
		     IKE_SK_INTERNAL);
	/* An output buffer too small to build into. */
	cr_expect_eq(ike_sk_encrypt(&sk, &kat_hdr, IKE_PAYLOAD_NOTIFY, kat_inner, sizeof(kat_inner),
				    msg, 60, &len),
		     -ENOSPC);
	cr_expect_eq(sk.iv_next, 0, "no IV spent on a message that was never sealed");
}

Test(ike_sk, key_lengths_and_init_checks)
{
	uint8_t km[40] = {0};
	struct ike_sk sk;

	cr_expect_eq(ike_sk_keymat_len(PROPOSAL_ENCR_AES128GCM16), 20);
	cr_expect_eq(ike_sk_keymat_len(PROPOSAL_ENCR_AES256GCM16), 36);
	cr_expect_eq(ike_sk_keymat_len(PROPOSAL_ENCR_CHACHA20POLY1305), 36);
	cr_expect_eq(ike_sk_keymat_len(PROPOSAL_ENCR_NONE), 0);
	cr_expect_eq(ike_sk_init(&sk, PROPOSAL_ENCR_AES128GCM16, km, 36), -EINVAL);
	cr_expect_eq(ike_sk_init(&sk, PROPOSAL_ENCR_NONE, km, 0), -EINVAL);
	cr_expect_eq(ike_sk_init(&sk, 99, km, 36), -EINVAL);
	cr_expect_eq(ike_sk_init(&sk, PROPOSAL_ENCR_AES256GCM16, NULL, 36), -EINVAL);
	km[35] = 0x77;
	cr_assert_eq(ike_sk_init(&sk, PROPOSAL_ENCR_AES256GCM16, km, 36), 0);
	cr_expect_eq(sk.key_len, 32);
	cr_expect_eq(sk.salt[3], 0x77);
	ike_sk_wipe(&sk);
	cr_expect_eq(sk.key_len, 0);
	cr_expect_eq(sk.salt[3], 0);
	ike_sk_wipe(NULL);
	cr_expect_str_eq(ike_sk_verdict_name(IKE_SK_AUTH), "auth");
	cr_expect_str_eq(ike_sk_verdict_name(IKE_SK_VERDICT_COUNT), "unknown");
}
