/*
 * Tests of the IKEv2 message codec (edge/ike/ike_msg.h): round trips of every payload type,
 * golden encodings drawn from the RFC 7296 layouts, one table row per malformation with the
 * error it must produce, and a real strongSwan IKE_SA_INIT request parsed and rebuilt byte for
 * byte.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/wr.h"
#include "edge/ike/ike_msg.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/*
 * The assertion for helper functions: fails the test with `what` and a value when !ok.
 * Criterion's assertion macros expand to deeper nesting than clang-tidy's function-size check
 * allows outside Test bodies, so helpers check through this one function instead.
 */
// NOLINTNEXTLINE(readability-function-size): the nesting is inside cr_assert_fail
static void require(bool ok, const char *what, long long value)
{
	if (!ok)
		cr_assert_fail("%s (%lld)", what, value);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode hex with optional spaces into out; the tables below are written this way. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		if (*s == ' ')
			continue;
		int v = hexval(*s);
		require(v >= 0, "bad hex digit in test data", *s);
		if (hi < 0) {
			hi = v;
			continue;
		}
		require(n < cap, "test hex longer than its buffer", (long long)cap);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	require(hi < 0, "odd number of hex digits in test data", hi);
	return n;
}

static const struct ike_hdr test_hdr = {
	.spi_i = 0x0102030405060708ull,
	.spi_r = 0,
	.exchange = IKE_EXCH_IKE_SA_INIT,
	.flags = IKE_FLAG_INITIATOR,
	.msg_id = 0,
};

/* An IKE message: test_hdr with next payload np and a correct Length, followed by chain. */
static size_t msg_wrap(uint8_t *buf, size_t cap, uint8_t np, const uint8_t *chain, size_t clen)
{
	struct wr w = wr_init(buf, cap);

	wr_u64(&w, test_hdr.spi_i);
	wr_u64(&w, test_hdr.spi_r);
	wr_u8(&w, np);
	wr_u8(&w, 0x20);
	wr_u8(&w, test_hdr.exchange);
	wr_u8(&w, test_hdr.flags);
	wr_u32(&w, test_hdr.msg_id);
	wr_u32(&w, (uint32_t)(IKE_HDR_LEN + clen));
	wr_bytes(&w, chain, clen);
	require(wr_ok(&w), "msg_wrap: buffer too small", (long long)cap);
	return wr_len(&w);
}

/* Build a message holding exactly one payload through `add`, parse it back, check the chain
 * and return the payload view (borrowing buf). */
typedef void add_fn(struct ike_build *b, const void *arg);

static struct ike_payload one_payload(uint8_t *buf, size_t cap, add_fn *add, const void *arg,
				      uint8_t want_type)
{
	struct wr w = wr_init(buf, cap);
	struct ike_build b;
	size_t len;
	static struct ike_msg msg; /* large; one test per process */

	ike_build_init(&b, &w, &test_hdr);
	add(&b, arg);
	int err = ike_build_finish(&b, &len);
	require(err == 0, "one_payload: build", err);
	enum ike_parse perr = ike_msg_parse(buf, len, &msg);
	require(perr == IKE_PARSE_OK, "one_payload: parse", perr);
	require(msg.hdr.next_payload == want_type, "one_payload: header next",
		msg.hdr.next_payload);
	require(msg.pls.n == 1, "one_payload: payload count", (long long)msg.pls.n);
	require(msg.pls.pl[0].type == want_type, "one_payload: type", msg.pls.pl[0].type);
	require(msg.pls.pl[0].next == IKE_PAYLOAD_NONE, "one_payload: next", msg.pls.pl[0].next);
	require(!msg.pls.pl[0].critical, "one_payload: critical bit", 1);
	return msg.pls.pl[0];
}

static void expect_view(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	require(got_len == want_len, "view length differs, got", (long long)got_len);
	require(want_len == 0 || memcmp(got, want, want_len) == 0, "view octets differ, length",
		(long long)want_len);
}

/* Compare a payload body with hex. */
static void expect_body_hex(const struct ike_payload *pl, const char *hex)
{
	uint8_t want[512];
	size_t n = unhex(hex, want, sizeof(want));

	expect_view(pl->body, pl->len, want, n);
}

/* ---- table of malformed (and boundary-valid) payload bodies --------------------------------- */

enum parser {
	P_SA_OFFER,
	P_SA_RESPONSE,
	P_KE,
	P_NOTIFY,
	P_ID,
	P_CERT,
	P_CERTREQ,
	P_AUTH,
	P_TS,
	P_DELETE,
	P_VENDOR,
	P_SKF_NEXT0,  /* SKF with Next Payload 0 */
	P_SKF_NEXT41, /* SKF with Next Payload 41 */
};

static enum ike_parse parse_as(enum parser p, const uint8_t *body, size_t len)
{
	static struct ike_sa sa;
	static struct ike_ts_list ts;
	struct ike_ke ke;
	struct ike_notify n;
	struct ike_id id;
	struct ike_cert cert;
	struct ike_auth auth;
	struct ike_delete del;
	struct ike_vendor vid;
	struct ike_skf skf;

	switch (p) {
	case P_SA_OFFER:
		return ike_sa_parse(body, len, false, &sa);
	case P_SA_RESPONSE:
		return ike_sa_parse(body, len, true, &sa);
	case P_KE:
		return ike_ke_parse(body, len, &ke);
	case P_NOTIFY:
		return ike_notify_parse(body, len, &n);
	case P_ID:
		return ike_id_parse(body, len, &id);
	case P_CERT:
		return ike_cert_parse(body, len, &cert);
	case P_CERTREQ:
		return ike_certreq_parse(body, len, &cert);
	case P_AUTH:
		return ike_auth_parse(body, len, &auth);
	case P_TS:
		return ike_ts_parse(body, len, &ts);
	case P_DELETE:
		return ike_delete_parse(body, len, &del);
	case P_VENDOR:
		return ike_vendor_parse(body, len, &vid);
	case P_SKF_NEXT0:
		return ike_skf_parse(body, len, IKE_PAYLOAD_NONE, &skf);
	case P_SKF_NEXT41:
		return ike_skf_parse(body, len, IKE_PAYLOAD_NOTIFY, &skf);
	}
	require(false, "unknown parser", p);
	return IKE_PARSE_COUNT;
}

struct body_row {
	const char *name;
	const char *hex;
	enum parser p;
	enum ike_parse want;
};

/* A valid one-transform IKE proposal: ENCR AES-GCM-16, 256-bit key. */
#define PROP1_MORE "02000014 01010001 0000000c 01000014 800e0100"
#define PROP1_LAST "00000014 01010001 0000000c 01000014 800e0100"

static const struct body_row body_rows[] = {
	/* SA, RFC 7296 §3.3 */
	{"sa empty", "", P_SA_OFFER, IKE_PARSE_SA_EMPTY},
	{"sa one proposal", PROP1_LAST, P_SA_OFFER, IKE_PARSE_OK},
	{"prop header truncated", "000000", P_SA_OFFER, IKE_PARSE_PROP_TRUNCATED},
	{"prop header 7 octets", "00000014 010100", P_SA_OFFER, IKE_PARSE_PROP_TRUNCATED},
	{"prop len below header", "00000007 01010000", P_SA_OFFER, IKE_PARSE_PROP_LEN},
	{"prop len beyond sa", "00000020 01010000", P_SA_OFFER, IKE_PARSE_PROP_LEN},
	{"xform len overruns proposal", "00000014 01010001 0000000d 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_XFORM_LEN},
	{"xform len below header", "00000014 01010001 00000007 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_XFORM_LEN},
	{"xform header truncated", "0000000c 01010001 00000008", P_SA_OFFER,
	 IKE_PARSE_XFORM_TRUNCATED},
	{"prop num 0", "00000014 00010001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_NUM},
	{"prop num starts at 2", "00000014 02010001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_NUM},
	{"prop nums 1,2", PROP1_MORE "00000014 02010001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_OK},
	{"prop nums 1,3", PROP1_MORE "00000014 03010001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_NUM},
	{"prop nums 1,1", PROP1_MORE PROP1_LAST, P_SA_OFFER, IKE_PARSE_PROP_NUM},
	{"response chosen num 5", "00000014 05010001 0000000c 01000014 800e0100", P_SA_RESPONSE,
	 IKE_PARSE_OK},
	{"response num 0", "00000014 00010001 0000000c 01000014 800e0100", P_SA_RESPONSE,
	 IKE_PARSE_PROP_NUM},
	{"response two proposals", PROP1_MORE "00000014 02010001 0000000c 01000014 800e0100",
	 P_SA_RESPONSE, IKE_PARSE_SA_CHOICE},
	{"prop last 0 but more follow", PROP1_LAST "00000014 02010001 0000000c 01000014 800e0100",
	 P_SA_OFFER, IKE_PARSE_PROP_LAST},
	{"prop last 2 but none follows", PROP1_MORE, P_SA_OFFER, IKE_PARSE_PROP_LAST},
	{"prop last 3", "03000014 01010001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_LAST},
	{"xform last 3 but none follows", "00000014 01010001 0300000c 01000014 800e0100",
	 P_SA_OFFER, IKE_PARSE_XFORM_LAST},
	{"xform last 0 but more follow", "00000018 01010002 00000008 02000005 00000008 0400001f",
	 P_SA_OFFER, IKE_PARSE_XFORM_LAST},
	{"xform last 2", "00000014 01010001 0200000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_XFORM_LAST},
	{"xform count too high", "00000014 01010002 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_XFORM_COUNT},
	{"xform count too low", "00000018 01010001 03000008 02000005 00000008 0400001f", P_SA_OFFER,
	 IKE_PARSE_PROP_XFORM_COUNT},
	{"protocol 4", "00000014 01040001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_PROTO},
	{"esp without spi", "00000014 01030001 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_PROP_SPI_SIZE},
	{"ike with 4-octet spi", "00000018 01010401 01020304 0000000c 01000014 800e0100",
	 P_SA_OFFER, IKE_PARSE_PROP_SPI_SIZE},
	{"ike with 8-octet spi", "0000001c 01010801 01020304 05060708 0000000c 01000014 800e0100",
	 P_SA_OFFER, IKE_PARSE_OK},
	{"esp spi overruns proposal", "00000009 01030401 01", P_SA_OFFER, IKE_PARSE_PROP_SPI_SIZE},
	{"esp with spi", "00000018 01030401 01020304 0000000c 01000014 800e0100", P_SA_OFFER,
	 IKE_PARSE_OK},
	{"attr header truncated", "00000012 01010001 0000000a 01000014 800e", P_SA_OFFER,
	 IKE_PARSE_ATTR_TRUNCATED},
	{"attr tlv overruns", "00000014 01010001 0000000c 01000014 00050004", P_SA_OFFER,
	 IKE_PARSE_ATTR_TRUNCATED},
	{"key length as tlv", "00000016 01010001 0000000e 01000014 000e0002 0100", P_SA_OFFER,
	 IKE_PARSE_ATTR_KEY_LEN},
	{"key length 0", "00000014 01010001 0000000c 01000014 800e0000", P_SA_OFFER,
	 IKE_PARSE_ATTR_KEY_LEN},
	{"key length twice", "00000018 01010001 00000010 01000014 800e0100 800e0080", P_SA_OFFER,
	 IKE_PARSE_ATTR_KEY_LEN},
	{"unknown tv attr kept", "00000014 01010001 0000000c 01000014 80050001", P_SA_OFFER,
	 IKE_PARSE_OK},
	{"unknown tlv attr kept", "00000016 01010001 0000000e 01000014 00050002 abcd", P_SA_OFFER,
	 IKE_PARSE_OK},
	/* KE, §3.4 */
	{"ke truncated", "001f00", P_KE, IKE_PARSE_KE_TRUNCATED},
	{"ke empty", "001f0000", P_KE, IKE_PARSE_KE_EMPTY},
	{"ke one octet", "001f0000 01", P_KE, IKE_PARSE_OK},
	/* Notify, §3.10 */
	{"notify truncated", "000040", P_NOTIFY, IKE_PARSE_NOTIFY_TRUNCATED},
	{"notify no data", "0000402e", P_NOTIFY, IKE_PARSE_OK},
	{"notify spi overruns", "03044009 0102", P_NOTIFY, IKE_PARSE_NOTIFY_TRUNCATED},
	{"notify spi size 3", "03034009 010203", P_NOTIFY, IKE_PARSE_NOTIFY_SPI},
	{"notify ike with 4-octet spi", "01044009 01020304", P_NOTIFY, IKE_PARSE_NOTIFY_SPI},
	{"notify esp with 8-octet spi", "03084009 01020304 05060708", P_NOTIFY,
	 IKE_PARSE_NOTIFY_SPI},
	{"notify no protocol with spi", "00044009 01020304", P_NOTIFY, IKE_PARSE_NOTIFY_SPI},
	{"notify esp spi", "03044009 01020304", P_NOTIFY, IKE_PARSE_OK},
	/* ID, §3.5 */
	{"id truncated", "020000", P_ID, IKE_PARSE_ID_TRUNCATED},
	{"id fqdn empty", "02000000", P_ID, IKE_PARSE_ID_LEN},
	{"id ipv4", "01000000 c0000201", P_ID, IKE_PARSE_OK},
	{"id ipv4 5 octets", "01000000 c000020101", P_ID, IKE_PARSE_ID_LEN},
	{"id ipv6 4 octets", "05000000 c0000201", P_ID, IKE_PARSE_ID_LEN},
	{"id ipv6", "05000000 20010db8000000000000000000000001", P_ID, IKE_PARSE_OK},
	/* CERT §3.6, CERTREQ §3.7 */
	{"cert truncated", "", P_CERT, IKE_PARSE_CERT_TRUNCATED},
	{"cert empty", "04", P_CERT, IKE_PARSE_CERT_EMPTY},
	{"cert", "04 3082", P_CERT, IKE_PARSE_OK},
	{"certreq truncated", "", P_CERTREQ, IKE_PARSE_CERT_TRUNCATED},
	{"certreq any ca", "04", P_CERTREQ, IKE_PARSE_OK},
	{"certreq one hash", "04 0102030405060708090a0b0c0d0e0f1011121314", P_CERTREQ,
	 IKE_PARSE_OK},
	{"certreq 21 octets", "04 0102030405060708090a0b0c0d0e0f101112131415", P_CERTREQ,
	 IKE_PARSE_CERTREQ_LEN},
	{"certreq other encoding", "0c 0102030405", P_CERTREQ, IKE_PARSE_OK},
	/* AUTH, §3.8 */
	{"auth truncated", "0e0000", P_AUTH, IKE_PARSE_AUTH_TRUNCATED},
	{"auth empty", "0e000000", P_AUTH, IKE_PARSE_AUTH_EMPTY},
	{"auth psk", "02000000 aabbccdd", P_AUTH, IKE_PARSE_OK},
	/* TS, §3.13 */
	{"ts truncated", "010000", P_TS, IKE_PARSE_TS_TRUNCATED},
	{"ts count 0", "00000000", P_TS, IKE_PARSE_TS_COUNT},
	{"ts v4 any", "01000000 07000010 0000ffff 00000000 ffffffff", P_TS, IKE_PARSE_OK},
	{"ts count 2, one present", "02000000 07000010 0000ffff 00000000 ffffffff", P_TS,
	 IKE_PARSE_TS_COUNT},
	{"ts octets after selectors", "01000000 07000010 0000ffff 00000000 ffffffff 00", P_TS,
	 IKE_PARSE_TS_COUNT},
	{"ts type 9", "01000000 09000010 0000ffff 00000000 ffffffff", P_TS, IKE_PARSE_TS_TYPE},
	{"ts v4 with v6 length", "01000000 07000028 0000ffff 00000000 ffffffff", P_TS,
	 IKE_PARSE_TS_LEN},
	{"ts v6 with v4 length", "01000000 08000010 0000ffff 00000000 ffffffff", P_TS,
	 IKE_PARSE_TS_LEN},
	{"ts selector header truncated", "01000000 0700", P_TS, IKE_PARSE_TS_LEN},
	{"ts selector truncated", "01000000 07000010 0000ffff 00000000", P_TS, IKE_PARSE_TS_LEN},
	{"ts v4 start > end", "01000000 07000010 0000ffff 0a000002 0a000001", P_TS,
	 IKE_PARSE_TS_ADDRS},
	{"ts v4 single address", "01000000 07000010 0000ffff 0a000001 0a000001", P_TS,
	 IKE_PARSE_OK},
	{"ts ports start > end", "01000000 07060010 00500016 0a000001 0a000001", P_TS,
	 IKE_PARSE_TS_PORTS},
	{"ts opaque ports", "01000000 07060010 ffff0000 0a000001 0a000001", P_TS, IKE_PARSE_OK},
	{"ts v6 start > end",
	 "01000000 08000028 0000ffff 20010db8000000000000000000000002 "
	 "20010db8000000000000000000000001",
	 P_TS, IKE_PARSE_TS_ADDRS},
	{"ts v6 range",
	 "01000000 08000028 0000ffff 20010db8000000000000000000000000 "
	 "20010db8ffffffffffffffffffffffff",
	 P_TS, IKE_PARSE_OK},
	/* Delete, §3.11 */
	{"delete truncated", "0300", P_DELETE, IKE_PARSE_DELETE_TRUNCATED},
	{"delete ike", "01000000", P_DELETE, IKE_PARSE_OK},
	{"delete ike with spi size", "01040000", P_DELETE, IKE_PARSE_DELETE_SPI_SIZE},
	{"delete ike counting spis", "01000001", P_DELETE, IKE_PARSE_DELETE_LEN},
	{"delete esp two spis", "03040002 01020304 05060708", P_DELETE, IKE_PARSE_OK},
	{"delete esp one spi missing", "03040002 01020304", P_DELETE, IKE_PARSE_DELETE_LEN},
	{"delete esp octet after spis", "03040001 01020304 05", P_DELETE, IKE_PARSE_DELETE_LEN},
	{"delete esp spi size 8", "03080001 01020304 05060708", P_DELETE,
	 IKE_PARSE_DELETE_SPI_SIZE},
	{"delete protocol 4", "04040001 01020304", P_DELETE, IKE_PARSE_DELETE_PROTO},
	{"delete protocol 0", "00000000", P_DELETE, IKE_PARSE_DELETE_PROTO},
	/* Vendor ID, §3.12 */
	{"vendor empty", "", P_VENDOR, IKE_PARSE_VENDOR_EMPTY},
	{"vendor", "01", P_VENDOR, IKE_PARSE_OK},
	/* SKF, RFC 7383 §2.5 */
	{"skf truncated", "0001", P_SKF_NEXT0, IKE_PARSE_SKF_TRUNCATED},
	{"skf number 0", "00000002", P_SKF_NEXT0, IKE_PARSE_SKF_NUMBER},
	{"skf total 0", "00010000", P_SKF_NEXT0, IKE_PARSE_SKF_NUMBER},
	{"skf number > total", "00030002", P_SKF_NEXT0, IKE_PARSE_SKF_NUMBER},
	{"skf second fragment", "00020002 aabb", P_SKF_NEXT0, IKE_PARSE_OK},
	{"skf second fragment with next", "00020002 aabb", P_SKF_NEXT41, IKE_PARSE_SKF_NEXT},
	{"skf first fragment with next", "00010002 aabb", P_SKF_NEXT41, IKE_PARSE_OK},
};

Test(ike_msg, body_table)
{
	for (size_t i = 0; i < sizeof(body_rows) / sizeof(body_rows[0]); i++) {
		const struct body_row *row = &body_rows[i];
		uint8_t body[256];
		size_t len = unhex(row->hex, body, sizeof(body));
		/* A heap copy of exactly len octets, so ASan catches any read past the body. */
		uint8_t *exact = malloc(len ? len : 1);

		cr_assert_not_null(exact);
		memcpy(exact, body, len);
		enum ike_parse got = parse_as(row->p, exact, len);
		cr_expect_eq(got, row->want, "%s: got %s, want %s", row->name, ike_parse_name(got),
			     ike_parse_name(row->want));
		/* Every strict prefix of a valid body that is not itself valid must fail too,
		 * without reading out of bounds. */
		for (size_t cut = 0; cut < len && row->want == IKE_PARSE_OK; cut++)
			(void)parse_as(row->p, exact, cut);
		free(exact);
	}
}

/* ---- table of malformed (and boundary-valid) payload chains --------------------------------- */

struct chain_row {
	const char *name;
	const char *hex;
	enum ike_parse want;
	uint8_t np; /* the header's Next Payload */
};

static const struct chain_row chain_rows[] = {
	{"no payloads", "", IKE_PARSE_OK, IKE_PAYLOAD_NONE},
	{"octets but no payload", "00", IKE_PARSE_PL_TRAILING, IKE_PAYLOAD_NONE},
	{"payload promised, none left", "", IKE_PARSE_PL_TRUNCATED, IKE_PAYLOAD_VENDOR},
	{"generic header truncated", "000000", IKE_PARSE_PL_TRUNCATED, IKE_PAYLOAD_VENDOR},
	{"payload length 3", "00000003", IKE_PARSE_PL_LEN_SHORT, IKE_PAYLOAD_VENDOR},
	{"payload length 0", "00000000 aa", IKE_PARSE_PL_LEN_SHORT, IKE_PAYLOAD_VENDOR},
	{"payload length beyond message", "00000009 aabbcc", IKE_PARSE_PL_LEN_OVERRUN,
	 IKE_PAYLOAD_VENDOR},
	{"second payload beyond message", "2b000005 aa 00000008 aa", IKE_PARSE_PL_LEN_OVERRUN,
	 IKE_PAYLOAD_VENDOR},
	{"octets after last payload", "00000005 aa 00", IKE_PARSE_PL_TRAILING, IKE_PAYLOAD_VENDOR},
	{"empty payload body", "00000004", IKE_PARSE_OK, IKE_PAYLOAD_VENDOR},
	{"unknown critical payload", "00800004", IKE_PARSE_PL_CRITICAL, 100},
	{"unknown critical second payload", "64000005 aa 00800004", IKE_PARSE_PL_CRITICAL,
	 IKE_PAYLOAD_VENDOR},
	{"unknown payload skipped", "2b000004 00000005 aa", IKE_PARSE_OK, 100},
	{"ikev1 type skipped", "2b000004 00000005 aa", IKE_PARSE_OK, 1},
	{"known payload with critical bit", "00800005 aa", IKE_PARSE_OK, IKE_PAYLOAD_VENDOR},
	{"sk last", "29000008 aabbccdd", IKE_PARSE_OK, IKE_PAYLOAD_SK},
	{"sk with octets after it", "29000008 aabbccdd 00000004", IKE_PARSE_SK_NOT_LAST,
	 IKE_PAYLOAD_SK},
	{"sk not last, next 0", "00000008 aabbccdd 00", IKE_PARSE_SK_NOT_LAST, IKE_PAYLOAD_SK},
	{"clear payload then sk", "2e000005 aa 21000008 aabbccdd", IKE_PARSE_OK,
	 IKE_PAYLOAD_VENDOR},
	{"skf last", "00000008 00010001", IKE_PARSE_OK, IKE_PAYLOAD_SKF},
	{"skf not last", "2b000008 00010001 00000005 aa", IKE_PARSE_SK_NOT_LAST, IKE_PAYLOAD_SKF},
};

Test(ike_msg, chain_table)
{
	static struct ike_msg msg;

	for (size_t i = 0; i < sizeof(chain_rows) / sizeof(chain_rows[0]); i++) {
		const struct chain_row *row = &chain_rows[i];
		uint8_t chain[256], buf[512];
		size_t clen = unhex(row->hex, chain, sizeof(chain));
		size_t len = msg_wrap(buf, sizeof(buf), row->np, chain, clen);
		uint8_t *exact = malloc(len);

		cr_assert_not_null(exact);
		memcpy(exact, buf, len);
		enum ike_parse got = ike_msg_parse(exact, len, &msg);
		cr_expect_eq(got, row->want, "%s: got %s, want %s", row->name, ike_parse_name(got),
			     ike_parse_name(row->want));
		free(exact);
	}
}

/* Every parse error has a test that produces it: the two tables, plus the errors the dedicated
 * tests below produce (listed here, so a new error without a test fails this one). */
Test(ike_msg, every_error_is_tested)
{
	bool seen[IKE_PARSE_COUNT] = {false};
	static const enum ike_parse dedicated[] = {
		IKE_PARSE_HDR_TRUNCATED, IKE_PARSE_HDR_VERSION, IKE_PARSE_HDR_LENGTH,
		IKE_PARSE_PL_TOO_MANY,   IKE_PARSE_SK_NESTED,   IKE_PARSE_SA_PROPOSALS,
		IKE_PARSE_SA_TRANSFORMS, IKE_PARSE_NONCE_SHORT, IKE_PARSE_NONCE_LONG,
		IKE_PARSE_TS_TOO_MANY,
	};

	for (size_t i = 0; i < sizeof(body_rows) / sizeof(body_rows[0]); i++)
		seen[body_rows[i].want] = true;
	for (size_t i = 0; i < sizeof(chain_rows) / sizeof(chain_rows[0]); i++)
		seen[chain_rows[i].want] = true;
	for (size_t i = 0; i < sizeof(dedicated) / sizeof(dedicated[0]); i++)
		seen[dedicated[i]] = true;
	for (int e = 0; e < IKE_PARSE_COUNT; e++)
		cr_expect(seen[e], "no test produces %s", ike_parse_name((enum ike_parse)e));
}

Test(ike_msg, parse_names_distinct)
{
	for (int a = 0; a < IKE_PARSE_COUNT; a++) {
		const char *na = ike_parse_name((enum ike_parse)a);
		cr_assert_str_neq(na, "unknown", "error %d has no name", a);
		for (int b = a + 1; b < IKE_PARSE_COUNT; b++)
			cr_expect_str_neq(na, ike_parse_name((enum ike_parse)b));
	}
	cr_expect_str_eq(ike_parse_name(IKE_PARSE_COUNT), "unknown");
	cr_expect_str_eq(ike_parse_name((enum ike_parse) - 1), "unknown");
	cr_expect_eq(ike_parse_notify(IKE_PARSE_OK), 0);
	cr_expect_eq(ike_parse_notify(IKE_PARSE_HDR_TRUNCATED), 0);
	cr_expect_eq(ike_parse_notify(IKE_PARSE_HDR_VERSION), IKE_N_INVALID_MAJOR_VERSION);
	cr_expect_eq(ike_parse_notify(IKE_PARSE_PL_CRITICAL), IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	cr_expect_eq(ike_parse_notify(IKE_PARSE_NONCE_SHORT), IKE_N_INVALID_SYNTAX);
}

/* ---- header ------------------------------------------------------------------------------ */

Test(ike_msg, header_round_trip)
{
	uint8_t buf[64];
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	struct ike_hdr h = {
		.spi_i = 0x1122334455667788ull,
		.spi_r = 0x99aabbccddeeff00ull,
		.exchange = IKE_EXCH_INFORMATIONAL,
		.flags = IKE_FLAG_RESPONSE,
		.msg_id = 0xdeadbeef,
	};
	static struct ike_msg msg;
	size_t len;

	ike_build_init(&b, &w, &h);
	cr_assert_eq(ike_build_first(&b), IKE_PAYLOAD_NONE);
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	cr_assert_eq(len, IKE_HDR_LEN);
	uint8_t want[IKE_HDR_LEN];
	unhex("1122334455667788 99aabbccddeeff00 00 20 25 20 deadbeef 0000001c", want,
	      sizeof(want));
	cr_assert_arr_eq(buf, want, IKE_HDR_LEN);

	cr_assert_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	cr_expect_eq(msg.hdr.spi_i, h.spi_i);
	cr_expect_eq(msg.hdr.spi_r, h.spi_r);
	cr_expect_eq(msg.hdr.next_payload, IKE_PAYLOAD_NONE);
	cr_expect_eq(msg.hdr.major, 2);
	cr_expect_eq(msg.hdr.minor, 0);
	cr_expect_eq(msg.hdr.exchange, IKE_EXCH_INFORMATIONAL);
	cr_expect_eq(msg.hdr.flags, IKE_FLAG_RESPONSE);
	cr_expect_eq(msg.hdr.msg_id, 0xdeadbeef);
	cr_expect_eq(msg.hdr.length, IKE_HDR_LEN);
	cr_expect_eq(msg.pls.n, 0);
	cr_expect(!msg.pls.encrypted);
}

Test(ike_msg, header_truncated)
{
	uint8_t buf[64];
	size_t len = msg_wrap(buf, sizeof(buf), IKE_PAYLOAD_NONE, NULL, 0);
	static struct ike_msg msg;

	for (size_t cut = 0; cut < len; cut++)
		cr_expect_eq(ike_msg_parse(buf, cut, &msg), IKE_PARSE_HDR_TRUNCATED, "cut %zu",
			     cut);
	cr_expect_eq(ike_msg_parse(NULL, 0, &msg), IKE_PARSE_HDR_TRUNCATED);
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
}

Test(ike_msg, header_version)
{
	uint8_t buf[64];
	size_t len = msg_wrap(buf, sizeof(buf), IKE_PAYLOAD_NONE, NULL, 0);
	static struct ike_msg msg;

	buf[17] = 0x10; /* IKEv1 */
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_HDR_VERSION);
	cr_expect_eq(msg.hdr.major, 1);
	cr_expect_eq(msg.hdr.spi_i, test_hdr.spi_i, "header is filled for the answer");
	buf[17] = 0x30;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_HDR_VERSION);
	/* §3.1: the minor version is ignored on receipt. */
	buf[17] = 0x21;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	cr_expect_eq(msg.hdr.minor, 1);
}

Test(ike_msg, header_length_must_match_datagram)
{
	uint8_t chain[] = {0x00, 0x00, 0x00, 0x05, 0xaa};
	uint8_t buf[64];
	size_t len = msg_wrap(buf, sizeof(buf), IKE_PAYLOAD_VENDOR, chain, sizeof(chain));
	static struct ike_msg msg;

	cr_assert_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	/* Length says one more than the datagram. */
	buf[27]++;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_HDR_LENGTH);
	cr_expect_eq(msg.hdr.length, len + 1);
	/* Length says one less. */
	buf[27] -= 2;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_HDR_LENGTH);
	/* Right Length, but the datagram carries an extra octet. */
	buf[27]++;
	buf[len] = 0;
	cr_expect_eq(ike_msg_parse(buf, len + 1, &msg), IKE_PARSE_HDR_LENGTH);
	/* Length field high octets. */
	buf[24] = 0x01;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_HDR_LENGTH);
}

/* ---- payload chain ---------------------------------------------------------------------- */

Test(ike_msg, too_many_payloads)
{
	uint8_t buf[1024];
	static struct ike_msg msg;
	uint8_t vid = 0x42;

	for (size_t count = IKE_MSG_MAX_PAYLOADS; count <= IKE_MSG_MAX_PAYLOADS + 1; count++) {
		struct wr w = wr_init(buf, sizeof(buf));
		struct ike_build b;
		size_t len;

		ike_build_init(&b, &w, &test_hdr);
		for (size_t i = 0; i < count; i++)
			ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &vid, 1);
		cr_assert_eq(ike_build_finish(&b, &len), 0);
		enum ike_parse want =
			count > IKE_MSG_MAX_PAYLOADS ? IKE_PARSE_PL_TOO_MANY : IKE_PARSE_OK;
		cr_expect_eq(ike_msg_parse(buf, len, &msg), want, "%zu payloads", count);
	}
	/* Skipped unknown payloads count against the bound too: the walk is bounded. */
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	size_t len;
	ike_build_init(&b, &w, &test_hdr);
	for (size_t i = 0; i <= IKE_MSG_MAX_PAYLOADS; i++)
		ike_build_raw(&b, 200, false, NULL, 0);
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_PL_TOO_MANY);
}

Test(ike_msg, unknown_critical_reports_type)
{
	/* A vendor ID whose Next Payload is 99, unknown and critical. */
	uint8_t chain[] = {0x63, 0x00, 0x00, 0x05, 0xaa, 0x00, 0x80, 0x00, 0x04};
	uint8_t buf[64];
	size_t len = msg_wrap(buf, sizeof(buf), IKE_PAYLOAD_VENDOR, chain, sizeof(chain));
	static struct ike_msg msg;

	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_PL_CRITICAL);
	cr_expect_eq(msg.pls.critical_type, 99);
	cr_expect_eq(msg.pls.n, 1, "payloads before the critical one are listed");
	cr_expect_eq(ike_parse_notify(IKE_PARSE_PL_CRITICAL), IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	/* Without the C bit the same payload is skipped. */
	buf[IKE_HDR_LEN + 6] = 0x00;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	cr_expect_eq(msg.pls.skipped, 1);
}

Test(ike_msg, unknown_noncritical_skipped)
{
	uint8_t buf[256];
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	static struct ike_msg msg;
	size_t len;
	uint8_t junk[3] = {1, 2, 3}, vid = 7;

	ike_build_init(&b, &w, &test_hdr);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &vid, 1);
	ike_build_raw(&b, 150, false, junk, sizeof(junk));
	ike_build_raw(&b, 1, false, junk, sizeof(junk));
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, true, &vid, 1);
	cr_assert_eq(ike_build_finish(&b, &len), 0);

	cr_assert_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	cr_expect_eq(msg.pls.n, 2);
	cr_expect_eq(msg.pls.skipped, 2);
	cr_expect_eq(msg.pls.pl[0].type, IKE_PAYLOAD_VENDOR);
	cr_expect_eq(msg.pls.pl[0].next, 150);
	cr_expect(!msg.pls.pl[0].critical);
	cr_expect_eq(msg.pls.pl[1].type, IKE_PAYLOAD_VENDOR);
	cr_expect(msg.pls.pl[1].critical);
}

Test(ike_msg, sk_payload_view)
{
	uint8_t buf[256];
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	static struct ike_msg msg;
	size_t len;
	uint8_t ct[40];
	struct ike_hdr h = test_hdr;

	for (size_t i = 0; i < sizeof(ct); i++)
		ct[i] = (uint8_t)i;
	h.exchange = IKE_EXCH_IKE_AUTH;
	h.msg_id = 1;
	ike_build_init(&b, &w, &h);
	ike_build_sk_begin(&b, IKE_PAYLOAD_IDI);
	wr_bytes(&w, ct, sizeof(ct));
	ike_build_end(&b);
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	cr_assert_eq(len, IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + sizeof(ct));
	/* Generic header of SK: next = IDi (35), C clear, length 44. */
	uint8_t want[4] = {0x23, 0x00, 0x00, 0x2c};
	cr_assert_arr_eq(buf + IKE_HDR_LEN, want, 4);

	cr_assert_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	cr_expect_eq(msg.hdr.next_payload, IKE_PAYLOAD_SK);
	cr_expect(msg.pls.encrypted);
	cr_assert_eq(msg.pls.n, 1);
	cr_expect_eq(msg.pls.pl[0].type, IKE_PAYLOAD_SK);
	cr_expect_eq(msg.pls.pl[0].next, IKE_PAYLOAD_IDI);
	cr_expect_eq(msg.pls.pl[0].body, buf + IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN,
		     "a view, not a copy");
	expect_view(msg.pls.pl[0].body, msg.pls.pl[0].len, ct, sizeof(ct));
}

Test(ike_msg, sk_not_last_and_nested)
{
	uint8_t buf[256], vid = 1;
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	static struct ike_msg msg;
	size_t len;

	/* Two vendor IDs, then claim in the header that the first is SK: octets follow it. */
	ike_build_init(&b, &w, &test_hdr);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &vid, 1);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &vid, 1);
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	buf[16] = IKE_PAYLOAD_SK;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_SK_NOT_LAST);
	buf[16] = IKE_PAYLOAD_SKF;
	cr_expect_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_SK_NOT_LAST);

	/* SK inside decrypted content. */
	static struct ike_payloads inner;
	uint8_t chain[] = {0x2e, 0x00, 0x00, 0x05, 0xaa, 0x00, 0x00, 0x00, 0x06, 0x01, 0x02};
	cr_expect_eq(ike_msg_parse_inner(chain, sizeof(chain), IKE_PAYLOAD_VENDOR, &inner),
		     IKE_PARSE_SK_NESTED);
	chain[0] = IKE_PAYLOAD_SKF;
	cr_expect_eq(ike_msg_parse_inner(chain, sizeof(chain), IKE_PAYLOAD_VENDOR, &inner),
		     IKE_PARSE_SK_NESTED);
	chain[0] = IKE_PAYLOAD_VENDOR;
	cr_expect_eq(ike_msg_parse_inner(chain, sizeof(chain), IKE_PAYLOAD_VENDOR, &inner),
		     IKE_PARSE_OK);
	cr_expect_eq(inner.n, 2);
	cr_expect(!inner.encrypted);
}

/* ---- round trips of each payload type ----------------------------------------------------- */

static void add_sa(struct ike_build *b, const void *arg)
{
	ike_build_sa(b, arg);
}

static void expect_sa_eq(const struct ike_sa *a, const struct ike_sa *b)
{
	require(a->n_prop == b->n_prop, "SA proposal count differs", (long long)b->n_prop);
	require(a->n_xf == b->n_xf, "SA transform count differs", (long long)b->n_xf);
	for (size_t i = 0; i < a->n_prop; i++) {
		const struct ike_proposal *p = &a->prop[i], *q = &b->prop[i];
		bool same = p->num == q->num && p->proto == q->proto &&
			    p->spi_size == q->spi_size && p->first == q->first &&
			    p->count == q->count && memcmp(p->spi, q->spi, p->spi_size) == 0;
		require(same, "SA proposal differs, index", (long long)i);
	}
	for (size_t i = 0; i < a->n_xf; i++) {
		const struct ike_transform *x = &a->xf[i], *y = &b->xf[i];
		bool same = x->type == y->type && x->id == y->id && x->key_len == y->key_len &&
			    x->unknown_attr == y->unknown_attr;
		require(same, "SA transform differs, index", (long long)i);
	}
}

/* strongSwan's aes256gcm16-prfsha256-x25519 as one IKE proposal. */
static void sa_strongswan_ike(struct ike_sa *sa)
{
	memset(sa, 0, sizeof(*sa));
	int err = ike_sa_add_proposal(sa, IKE_PROTO_IKE, NULL, 0);
	err = err ? err : ike_sa_add_transform(sa, IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256);
	err = err ? err : ike_sa_add_transform(sa, IKE_TRANSFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0);
	err = err ? err : ike_sa_add_transform(sa, IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0);
	require(err == 0, "sa_strongswan_ike", err);
}

Test(ike_msg, sa_golden_and_round_trip)
{
	uint8_t buf[512];
	static struct ike_sa sa, got;

	sa_strongswan_ike(&sa);
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_sa, &sa, IKE_PAYLOAD_SA);
	/* RFC 7296 §3.3.1-§3.3.5 layout, written out by hand. */
	expect_body_hex(&pl, "00000024 01010003"
			     "0300000c 01000014 800e0100"
			     "03000008 02000005"
			     "00000008 0400001f");
	cr_assert_eq(ike_sa_parse(pl.body, pl.len, false, &got), IKE_PARSE_OK);
	expect_sa_eq(&sa, &got);
}

Test(ike_msg, sa_multi_proposal_round_trip)
{
	uint8_t buf[1024];
	static struct ike_sa sa, got;
	const uint8_t spi[4] = {0xc1, 0x00, 0x00, 0x01};

	/* A CREATE_CHILD_SA style offer: two ESP proposals with SPI and ESN choices. */
	memset(&sa, 0, sizeof(sa));
	cr_assert_eq(ike_sa_add_proposal(&sa, IKE_PROTO_ESP, spi, 4), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 128), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ESN, IKE_ESN_YES, 0), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ESN, IKE_ESN_NO, 0), 0);
	cr_assert_eq(ike_sa_add_proposal(&sa, IKE_PROTO_ESP, spi, 4), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0),
		     0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ESN, IKE_ESN_NO, 0), 0);
	cr_assert_eq(sa.prop[1].num, 2);

	struct ike_payload pl = one_payload(buf, sizeof(buf), add_sa, &sa, IKE_PAYLOAD_SA);
	cr_assert_eq(ike_sa_parse(pl.body, pl.len, false, &got), IKE_PARSE_OK);
	expect_sa_eq(&sa, &got);
	cr_expect_eq(got.prop[1].first, 4);
	/* The same offer is not a valid response (two proposals). */
	cr_expect_eq(ike_sa_parse(pl.body, pl.len, true, &got), IKE_PARSE_SA_CHOICE);

	/* A response: the second proposal, chosen, keeps its number. */
	static struct ike_sa resp;
	memset(&resp, 0, sizeof(resp));
	cr_assert_eq(ike_sa_add_proposal(&resp, IKE_PROTO_ESP, spi, 4), 0);
	cr_assert_eq(ike_sa_add_transform(&resp, IKE_TRANSFORM_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0),
		     0);
	resp.prop[0].num = 2;
	pl = one_payload(buf, sizeof(buf), add_sa, &resp, IKE_PAYLOAD_SA);
	cr_assert_eq(ike_sa_parse(pl.body, pl.len, true, &got), IKE_PARSE_OK);
	expect_sa_eq(&resp, &got);
	cr_expect_eq(ike_sa_parse(pl.body, pl.len, false, &got), IKE_PARSE_PROP_NUM,
		     "as an offer it would have to start at 1");
}

Test(ike_msg, sa_unknown_attribute_flagged)
{
	uint8_t body[64];
	size_t len =
		unhex("00000018 01010001 00000010 01000014 80050001 800e0080", body, sizeof(body));
	static struct ike_sa sa;

	cr_assert_eq(ike_sa_parse(body, len, false, &sa), IKE_PARSE_OK);
	cr_assert_eq(sa.n_xf, 1);
	cr_expect(sa.xf[0].unknown_attr);
	cr_expect_eq(sa.xf[0].key_len, 128);
}

Test(ike_msg, sa_limits)
{
	static struct ike_sa sa, got;
	static uint8_t buf[8192];

	/* One proposal more than the bound. */
	memset(&sa, 0, sizeof(sa));
	for (size_t i = 0; i < IKE_SA_MAX_PROPOSALS; i++) {
		cr_assert_eq(ike_sa_add_proposal(&sa, IKE_PROTO_IKE, NULL, 0), 0);
		cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_DH, IKE_DH_CURVE25519, 0), 0);
	}
	cr_expect_eq(ike_sa_add_proposal(&sa, IKE_PROTO_IKE, NULL, 0), -ENOSPC);
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_sa, &sa, IKE_PAYLOAD_SA);
	cr_expect_eq(ike_sa_parse(pl.body, pl.len, false, &got), IKE_PARSE_OK);
	/* Append a proposal numbered 33 by hand: fix the last proposal's Last Substruc. */
	uint8_t body[8192];
	memcpy(body, pl.body, pl.len);
	size_t len = pl.len;
	body[len - 16] = IKE_SUBSTRUC_MORE_PROPOSALS; /* last proposal: 8 header + 8 transform */
	len += unhex("00000010 21010001 00000008 0400001f", body + len, sizeof(body) - len);
	cr_expect_eq(ike_sa_parse(body, len, false, &got), IKE_PARSE_SA_PROPOSALS);

	/* One transform more than the pool, spread over proposals of up to 255 transforms. */
	memset(&sa, 0, sizeof(sa));
	cr_assert_eq(ike_sa_add_proposal(&sa, IKE_PROTO_IKE, NULL, 0), 0);
	for (size_t i = 0; i < 255; i++)
		cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, (uint16_t)i, 0), 0);
	cr_expect_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, 1, 0), -ENOSPC);
	cr_assert_eq(ike_sa_add_proposal(&sa, IKE_PROTO_IKE, NULL, 0), 0);
	for (size_t i = 255; i < IKE_SA_MAX_TRANSFORMS; i++)
		cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_PRF, 5, 0), 0);
	cr_expect_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_PRF, 5, 0), -ENOSPC);
	pl = one_payload(buf, sizeof(buf), add_sa, &sa, IKE_PAYLOAD_SA);
	cr_expect_eq(ike_sa_parse(pl.body, pl.len, false, &got), IKE_PARSE_OK);
	expect_sa_eq(&sa, &got);
	/* Turn the last transform's Last Substruc to 3 and append one more transform. */
	memcpy(body, pl.body, pl.len);
	len = pl.len;
	body[len - 8] = IKE_SUBSTRUC_MORE_TRANSFORMS;
	len += unhex("00000008 02000005", body + len, sizeof(body) - len);
	size_t prop2_at = len - 8 - 8 * ((size_t)IKE_SA_MAX_TRANSFORMS - 255 + 1);
	body[prop2_at + 3] += 8; /* Proposal Length */
	body[prop2_at + 7] += 1; /* Num Transforms */
	cr_expect_eq(ike_sa_parse(body, len, false, &got), IKE_PARSE_SA_TRANSFORMS);
}

Test(ike_msg, sa_add_helpers_refuse_misuse)
{
	static struct ike_sa sa;
	uint8_t spi[8] = {0};

	memset(&sa, 0, sizeof(sa));
	cr_expect_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, 20, 256), -EINVAL,
		     "no proposal");
	cr_expect_eq(ike_sa_add_proposal(&sa, IKE_PROTO_ESP, spi, 3), -EINVAL);
	cr_expect_eq(ike_sa_add_proposal(&sa, IKE_PROTO_ESP, NULL, 4), -EINVAL);
	cr_expect_eq(ike_sa_add_proposal(&sa, IKE_PROTO_IKE, spi, 8), 0);
	cr_expect_eq(sa.prop[0].num, 1);
}

static void add_ke(struct ike_build *b, const void *arg)
{
	ike_build_ke(b, arg);
}

Test(ike_msg, ke_round_trip)
{
	uint8_t buf[256], pub[32];
	struct ike_ke got;

	for (size_t i = 0; i < sizeof(pub); i++)
		pub[i] = (uint8_t)(0xa0 + i);
	struct ike_ke ke = {.group = IKE_DH_CURVE25519, .data = pub, .len = sizeof(pub)};
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_ke, &ke, IKE_PAYLOAD_KE);
	cr_expect_eq(pl.len, 4 + sizeof(pub));
	cr_expect_eq(pl.body[0], 0x00);
	cr_expect_eq(pl.body[1], 0x1f);
	cr_assert_eq(ike_ke_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.group, IKE_DH_CURVE25519);
	expect_view(got.data, got.len, pub, sizeof(pub));
}

static void add_nonce(struct ike_build *b, const void *arg)
{
	ike_build_nonce(b, arg);
}

Test(ike_msg, nonce_bounds_and_round_trip)
{
	static uint8_t buf[1024], data[IKE_NONCE_MAX + 1];
	struct ike_nonce got;
	const struct {
		size_t len;
		enum ike_parse want;
	} rows[] = {
		{0, IKE_PARSE_NONCE_SHORT},    {IKE_NONCE_MIN - 1, IKE_PARSE_NONCE_SHORT},
		{IKE_NONCE_MIN, IKE_PARSE_OK}, {32, IKE_PARSE_OK},
		{IKE_NONCE_MAX, IKE_PARSE_OK}, {IKE_NONCE_MAX + 1, IKE_PARSE_NONCE_LONG},
	};

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ike_nonce n = {.data = data, .len = rows[i].len};
		struct ike_payload pl =
			one_payload(buf, sizeof(buf), add_nonce, &n, IKE_PAYLOAD_NONCE);
		enum ike_parse err = ike_nonce_parse(pl.body, pl.len, &got);
		cr_expect_eq(err, rows[i].want, "nonce of %zu octets: %s", rows[i].len,
			     ike_parse_name(err));
		if (err == IKE_PARSE_OK)
			expect_view(got.data, got.len, data, rows[i].len);
	}
}

static void add_notify(struct ike_build *b, const void *arg)
{
	ike_build_notify(b, arg);
}

Test(ike_msg, notify_golden_and_round_trip)
{
	uint8_t buf[256];
	const uint8_t spi[4] = {0xc0, 0xff, 0xee, 0x01};
	const uint8_t group[2] = {0x00, 0x13};
	struct ike_notify got;

	/* REKEY_SA names the ESP SPI of the Child SA being rekeyed (§1.3.3). */
	struct ike_notify rekey = {
		.proto = IKE_PROTO_ESP, .spi_size = 4, .type = IKE_N_REKEY_SA, .spi = spi};
	struct ike_payload pl =
		one_payload(buf, sizeof(buf), add_notify, &rekey, IKE_PAYLOAD_NOTIFY);
	expect_body_hex(&pl, "03 04 4009 c0ffee01");
	cr_assert_eq(ike_notify_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.proto, IKE_PROTO_ESP);
	cr_expect_eq(got.type, IKE_N_REKEY_SA);
	expect_view(got.spi, got.spi_size, spi, 4);
	cr_expect_eq(got.len, 0);

	/* INVALID_KE_PAYLOAD carries the accepted group (§3.10.1). */
	struct ike_notify inv = {.type = IKE_N_INVALID_KE_PAYLOAD, .data = group, .len = 2};
	pl = one_payload(buf, sizeof(buf), add_notify, &inv, IKE_PAYLOAD_NOTIFY);
	expect_body_hex(&pl, "00 00 0011 0013");
	cr_assert_eq(ike_notify_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.spi_size, 0);
	expect_view(got.data, got.len, group, 2);
}

struct id_arg {
	uint8_t type;
	struct ike_id id;
};

static void add_id(struct ike_build *b, const void *arg)
{
	const struct id_arg *a = arg;
	ike_build_id(b, a->type, &a->id);
}

Test(ike_msg, id_golden_and_round_trip)
{
	uint8_t buf[256];
	const char *fqdn = "hub1.example.net";
	const uint8_t v4[4] = {192, 0, 2, 1};
	struct ike_id got;

	struct id_arg a = {
		IKE_PAYLOAD_IDI,
		{.type = IKE_ID_FQDN, .data = (const uint8_t *)fqdn, .len = strlen(fqdn)}};
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_id, &a, IKE_PAYLOAD_IDI);
	cr_assert_eq(ike_id_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.type, IKE_ID_FQDN);
	expect_view(got.data, got.len, (const uint8_t *)fqdn, strlen(fqdn));

	struct id_arg r = {IKE_PAYLOAD_IDR, {.type = IKE_ID_IPV4_ADDR, .data = v4, .len = 4}};
	pl = one_payload(buf, sizeof(buf), add_id, &r, IKE_PAYLOAD_IDR);
	expect_body_hex(&pl, "01 000000 c0000201");
	cr_assert_eq(ike_id_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	expect_view(got.data, got.len, v4, 4);
}

struct cert_arg {
	uint8_t type;
	struct ike_cert cert;
};

static void add_cert(struct ike_build *b, const void *arg)
{
	const struct cert_arg *a = arg;
	ike_build_cert(b, a->type, &a->cert);
}

Test(ike_msg, cert_certreq_round_trip)
{
	uint8_t buf[256], der[50], hashes[40];
	struct ike_cert got;

	for (size_t i = 0; i < sizeof(der); i++)
		der[i] = (uint8_t)(0x30 + i);
	for (size_t i = 0; i < sizeof(hashes); i++)
		hashes[i] = (uint8_t)(0x80 + i);
	struct cert_arg c = {
		IKE_PAYLOAD_CERT,
		{.encoding = IKE_CERT_X509_SIGNATURE, .data = der, .len = sizeof(der)}};
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_cert, &c, IKE_PAYLOAD_CERT);
	cr_expect_eq(pl.body[0], IKE_CERT_X509_SIGNATURE);
	cr_assert_eq(ike_cert_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.encoding, IKE_CERT_X509_SIGNATURE);
	expect_view(got.data, got.len, der, sizeof(der));

	struct cert_arg r = {
		IKE_PAYLOAD_CERTREQ,
		{.encoding = IKE_CERT_X509_SIGNATURE, .data = hashes, .len = sizeof(hashes)}};
	pl = one_payload(buf, sizeof(buf), add_cert, &r, IKE_PAYLOAD_CERTREQ);
	cr_assert_eq(ike_certreq_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	expect_view(got.data, got.len, hashes, sizeof(hashes));
}

static void add_auth(struct ike_build *b, const void *arg)
{
	ike_build_auth(b, arg);
}

Test(ike_msg, auth_golden_and_round_trip)
{
	uint8_t buf[256], sig[3] = {0x0f, 0x30, 0x0d};
	struct ike_auth got;
	struct ike_auth a = {.method = IKE_AUTH_DIGITAL_SIGNATURE, .data = sig, .len = sizeof(sig)};

	struct ike_payload pl = one_payload(buf, sizeof(buf), add_auth, &a, IKE_PAYLOAD_AUTH);
	expect_body_hex(&pl, "0e 000000 0f300d");
	cr_assert_eq(ike_auth_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.method, IKE_AUTH_DIGITAL_SIGNATURE);
	expect_view(got.data, got.len, sig, sizeof(sig));
}

struct ts_arg {
	uint8_t type;
	const struct ike_ts_list *ts;
};

static void add_ts(struct ike_build *b, const void *arg)
{
	const struct ts_arg *a = arg;
	ike_build_ts(b, a->type, a->ts);
}

Test(ike_msg, ts_golden_and_round_trip)
{
	uint8_t buf[512];
	static struct ike_ts_list ts, got;

	memset(&ts, 0, sizeof(ts));
	ts.n = 2;
	ts.ts[0] = (struct ike_ts){.type = IKE_TS_IPV4_ADDR_RANGE,
				   .proto = 0,
				   .start_port = 0,
				   .end_port = 65535,
				   .start = {10, 1, 0, 0},
				   .end = {10, 1, 255, 255}};
	ts.ts[1] = (struct ike_ts){.type = IKE_TS_IPV6_ADDR_RANGE,
				   .proto = 6,
				   .start_port = 443,
				   .end_port = 443,
				   .start = {0x20, 0x01, 0x0d, 0xb8},
				   .end = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff}};
	struct ts_arg a = {IKE_PAYLOAD_TSR, &ts};
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_ts, &a, IKE_PAYLOAD_TSR);
	expect_body_hex(&pl, "02 000000"
			     "07 00 0010 0000 ffff 0a010000 0a01ffff"
			     "08 06 0028 01bb 01bb 20010db8000000000000000000000000"
			     "20010db800000000ffffffffffffffff");
	cr_assert_eq(ike_ts_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_assert_eq(got.n, 2);
	for (size_t i = 0; i < 2; i++) {
		cr_expect_eq(got.ts[i].type, ts.ts[i].type);
		cr_expect_eq(got.ts[i].proto, ts.ts[i].proto);
		cr_expect_eq(got.ts[i].start_port, ts.ts[i].start_port);
		cr_expect_eq(got.ts[i].end_port, ts.ts[i].end_port);
		cr_expect_arr_eq(got.ts[i].start, ts.ts[i].start, IKE_TS_ADDR_MAX);
		cr_expect_arr_eq(got.ts[i].end, ts.ts[i].end, IKE_TS_ADDR_MAX);
	}

	/* The builder encodes what the parser refuses, so the refusal can be tested. */
	ts.n = 1;
	ts.ts[0].start[0] = 11;
	pl = one_payload(buf, sizeof(buf), add_ts, &a, IKE_PAYLOAD_TSR);
	cr_expect_eq(ike_ts_parse(pl.body, pl.len, &got), IKE_PARSE_TS_ADDRS);
}

Test(ike_msg, ts_limit)
{
	static uint8_t buf[8192], body[8192];
	static struct ike_ts_list ts, got;

	memset(&ts, 0, sizeof(ts));
	ts.n = IKE_TS_MAX;
	for (size_t i = 0; i < IKE_TS_MAX; i++) {
		ts.ts[i].type = IKE_TS_IPV4_ADDR_RANGE;
		ts.ts[i].end_port = 65535;
		ts.ts[i].start[3] = ts.ts[i].end[3] = (uint8_t)i;
	}
	struct ts_arg a = {IKE_PAYLOAD_TSI, &ts};
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_ts, &a, IKE_PAYLOAD_TSI);
	cr_expect_eq(ike_ts_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.n, IKE_TS_MAX);
	/* One selector more. */
	memcpy(body, pl.body, pl.len);
	body[0] = IKE_TS_MAX + 1;
	memcpy(body + pl.len, pl.body + IKE_TS_HDR_LEN, IKE_TS_IPV4_LEN);
	cr_expect_eq(ike_ts_parse(body, pl.len + IKE_TS_IPV4_LEN, &got), IKE_PARSE_TS_TOO_MANY);
}

static void add_delete(struct ike_build *b, const void *arg)
{
	ike_build_delete(b, arg);
}

Test(ike_msg, delete_golden_and_round_trip)
{
	uint8_t buf[256];
	const uint8_t spis[8] = {0xc0, 0, 0, 1, 0xc0, 0, 0, 2};
	struct ike_delete got;

	struct ike_delete esp = {.proto = IKE_PROTO_ESP, .spi_size = 4, .n_spi = 2, .spis = spis};
	struct ike_payload pl = one_payload(buf, sizeof(buf), add_delete, &esp, IKE_PAYLOAD_DELETE);
	expect_body_hex(&pl, "03 04 0002 c0000001 c0000002");
	cr_assert_eq(ike_delete_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.proto, IKE_PROTO_ESP);
	cr_expect_eq(got.n_spi, 2);
	expect_view(got.spis, (size_t)got.n_spi * got.spi_size, spis, sizeof(spis));

	struct ike_delete ike = {.proto = IKE_PROTO_IKE};
	pl = one_payload(buf, sizeof(buf), add_delete, &ike, IKE_PAYLOAD_DELETE);
	expect_body_hex(&pl, "01 00 0000");
	cr_assert_eq(ike_delete_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	cr_expect_eq(got.proto, IKE_PROTO_IKE);
}

static void add_vendor(struct ike_build *b, const void *arg)
{
	ike_build_vendor(b, arg);
}

Test(ike_msg, vendor_round_trip)
{
	uint8_t buf[256];
	const char *v = "sdwan-edge";
	struct ike_vendor got, vid = {.data = (const uint8_t *)v, .len = strlen(v)};

	struct ike_payload pl = one_payload(buf, sizeof(buf), add_vendor, &vid, IKE_PAYLOAD_VENDOR);
	cr_assert_eq(ike_vendor_parse(pl.body, pl.len, &got), IKE_PARSE_OK);
	expect_view(got.data, got.len, (const uint8_t *)v, strlen(v));
}

Test(ike_msg, skf_round_trip)
{
	uint8_t buf[256], ct[24];
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	static struct ike_msg msg;
	struct ike_skf got;
	size_t len;

	memset(ct, 0x5a, sizeof(ct));
	for (uint16_t num = 1; num <= 2; num++) {
		w = wr_init(buf, sizeof(buf));
		ike_build_init(&b, &w, &test_hdr);
		ike_build_skf_begin(&b, num == 1 ? IKE_PAYLOAD_IDI : IKE_PAYLOAD_NONE, num, 2);
		wr_bytes(&w, ct, sizeof(ct));
		ike_build_end(&b);
		cr_assert_eq(ike_build_finish(&b, &len), 0);
		cr_assert_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
		cr_assert(msg.pls.encrypted);
		const struct ike_payload *pl = &msg.pls.pl[msg.pls.n - 1];
		cr_assert_eq(pl->type, IKE_PAYLOAD_SKF);
		cr_assert_eq(ike_skf_parse(pl->body, pl->len, pl->next, &got), IKE_PARSE_OK);
		cr_expect_eq(got.number, num);
		cr_expect_eq(got.total, 2);
		expect_view(got.data, got.len, ct, sizeof(ct));
	}
}

/* ---- a whole chain: the plaintext of an IKE_AUTH request --------------------------------- */

Test(ike_msg, inner_chain_round_trip)
{
	uint8_t buf[1024];
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	static struct ike_payloads pls;
	static struct ike_sa sa;
	static struct ike_ts_list ts;
	const char *fqdn = "branch-7.example.net";
	const uint8_t sig[8] = {1, 2, 3, 4, 5, 6, 7, 8}, spi[4] = {0xc0, 0, 0, 9};
	size_t len;

	memset(&sa, 0, sizeof(sa));
	cr_assert_eq(ike_sa_add_proposal(&sa, IKE_PROTO_ESP, spi, 4), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ENCR, IKE_ENCR_AES_GCM_16, 256), 0);
	cr_assert_eq(ike_sa_add_transform(&sa, IKE_TRANSFORM_ESN, IKE_ESN_NO, 0), 0);
	memset(&ts, 0, sizeof(ts));
	ts.n = 1;
	ts.ts[0] = (struct ike_ts){
		.type = IKE_TS_IPV4_ADDR_RANGE, .end_port = 65535, .end = {255, 255, 255, 255}};

	ike_build_init(&b, &w, NULL);
	ike_build_id(&b, IKE_PAYLOAD_IDI,
		     &(struct ike_id){IKE_ID_FQDN, (const uint8_t *)fqdn, strlen(fqdn)});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_INITIAL_CONTACT});
	ike_build_auth(&b, &(struct ike_auth){IKE_AUTH_DIGITAL_SIGNATURE, sig, sizeof(sig)});
	ike_build_sa(&b, &sa);
	ike_build_ts(&b, IKE_PAYLOAD_TSI, &ts);
	ike_build_ts(&b, IKE_PAYLOAD_TSR, &ts);
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	cr_assert_eq(ike_build_first(&b), IKE_PAYLOAD_IDI);

	cr_assert_eq(ike_msg_parse_inner(buf, len, ike_build_first(&b), &pls), IKE_PARSE_OK);
	const uint8_t want[] = {IKE_PAYLOAD_IDI, IKE_PAYLOAD_NOTIFY, IKE_PAYLOAD_AUTH,
				IKE_PAYLOAD_SA,  IKE_PAYLOAD_TSI,    IKE_PAYLOAD_TSR};
	cr_assert_eq(pls.n, sizeof(want));
	for (size_t i = 0; i < sizeof(want); i++) {
		cr_expect_eq(pls.pl[i].type, want[i], "payload %zu", i);
		uint8_t next = i + 1 < sizeof(want) ? want[i + 1] : IKE_PAYLOAD_NONE;
		cr_expect_eq(pls.pl[i].next, next, "payload %zu next", i);
	}
	static struct ike_sa got_sa;
	cr_assert_eq(ike_sa_parse(pls.pl[3].body, pls.pl[3].len, false, &got_sa), IKE_PARSE_OK);
	expect_sa_eq(&sa, &got_sa);
	/* Truncating the chain anywhere breaks it. */
	for (size_t cut = 0; cut < len; cut++)
		cr_expect_neq(ike_msg_parse_inner(buf, cut, IKE_PAYLOAD_IDI, &pls), IKE_PARSE_OK,
			      "cut at %zu", cut);
}

/* ---- builder errors ----------------------------------------------------------------------- */

Test(ike_msg, builder_refuses_misuse)
{
	uint8_t buf[256], one = 1;
	struct wr w;
	struct ike_build b;
	size_t len;

	/* A payload after SK. */
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, &test_hdr);
	ike_build_sk_begin(&b, IKE_PAYLOAD_IDI);
	wr_u32(&w, 0);
	ike_build_end(&b);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &one, 1);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);

	/* Payload left open. */
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, &test_hdr);
	ike_build_begin(&b, IKE_PAYLOAD_VENDOR, false);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);

	/* End without begin; begin of SK through the generic call; type 0. */
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_end(&b);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_begin(&b, IKE_PAYLOAD_SK, false);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_raw(&b, IKE_PAYLOAD_NONE, false, &one, 1);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);

	/* Typed builders with the wrong payload type or an unencodable struct. */
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_id(&b, IKE_PAYLOAD_NONCE, &(struct ike_id){IKE_ID_FQDN, &one, 1});
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_nonce(&b, &(struct ike_nonce){NULL, 16});
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);
	static struct ike_ts_list ts;
	memset(&ts, 0, sizeof(ts));
	ts.n = 1;
	ts.ts[0].type = 9;
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_ts(&b, IKE_PAYLOAD_TSI, &ts);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);
	static struct ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	sa.n_prop = 1;
	sa.prop[0].count = 1; /* transform 0, but the pool is empty */
	w = wr_init(buf, sizeof(buf));
	ike_build_init(&b, &w, NULL);
	ike_build_sa(&b, &sa);
	cr_expect_eq(ike_build_finish(&b, &len), -EINVAL);
}

Test(ike_msg, builder_overflow_and_oversize)
{
	uint8_t small[IKE_HDR_LEN + 6], one = 1;
	struct wr w = wr_init(small, sizeof(small));
	struct ike_build b;
	size_t len;

	ike_build_init(&b, &w, &test_hdr);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &one, 1);
	cr_expect_eq(ike_build_finish(&b, &len), 0);
	w = wr_init(small, sizeof(small));
	ike_build_init(&b, &w, &test_hdr);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &one, 1);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, &one, 1);
	cr_expect_eq(ike_build_finish(&b, &len), -ENOSPC);

	/* A body that does not fit the 16-bit Payload Length. */
	size_t cap = 70000;
	uint8_t *big = calloc(1, cap), *body = calloc(1, IKE_PAYLOAD_MAX);
	cr_assert(big && body);
	w = wr_init(big, cap);
	ike_build_init(&b, &w, &test_hdr);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, body, IKE_PAYLOAD_MAX - IKE_PAYLOAD_HDR_LEN);
	cr_expect_eq(ike_build_finish(&b, &len), 0, "the largest payload fits");
	w = wr_init(big, cap);
	ike_build_init(&b, &w, &test_hdr);
	ike_build_raw(&b, IKE_PAYLOAD_VENDOR, false, body,
		      IKE_PAYLOAD_MAX - IKE_PAYLOAD_HDR_LEN + 1);
	cr_expect_eq(ike_build_finish(&b, &len), -EMSGSIZE);
	free(big);
	free(body);
}

/* ---- IKE_SA_INIT ------------------------------------------------------------------------- */

/*
 * A real strongSwan IKE_SA_INIT request, from charon's debug log of the octets it signs for
 * IKE_AUTH (the first 0x388 octets are the message), quoted in a public test suite. Default
 * proposals (35 and 38 transforms), KE x25519, Ni, NAT_DETECTION_SOURCE/DESTINATION_IP,
 * FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS, REDIRECT_SUPPORTED.
 */
static const uint8_t strongswan_sa_init[] = {
	0xd8, 0xf5, 0x7b, 0x32, 0x5d, 0xf2, 0x5e, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x21, 0x20, 0x22, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x88, 0x22, 0x00,
	0x02, 0xc8, 0x02, 0x00, 0x01, 0x44, 0x01, 0x01, 0x00, 0x23, 0x03, 0x00, 0x00, 0x0c, 0x01,
	0x00, 0x00, 0x0c, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c,
	0x80, 0x0e, 0x00, 0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c, 0x80, 0x0e, 0x01,
	0x00, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0d, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00,
	0x00, 0x0c, 0x01, 0x00, 0x00, 0x0d, 0x80, 0x0e, 0x00, 0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01,
	0x00, 0x00, 0x0d, 0x80, 0x0e, 0x01, 0x00, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x17,
	0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x17, 0x80, 0x0e, 0x00,
	0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x17, 0x80, 0x0e, 0x01, 0x00, 0x03, 0x00,
	0x00, 0x08, 0x01, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c, 0x03,
	0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0d, 0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0e,
	0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x05, 0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00,
	0x08, 0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00,
	0x00, 0x04, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x08, 0x02,
	0x00, 0x00, 0x05, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x06, 0x03, 0x00, 0x00, 0x08,
	0x02, 0x00, 0x00, 0x07, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00,
	0x08, 0x04, 0x00, 0x00, 0x1f, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x20, 0x03, 0x00,
	0x00, 0x08, 0x04, 0x00, 0x00, 0x13, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x14, 0x03,
	0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x15, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1c,
	0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1d, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00,
	0x1e, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x0f, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00,
	0x00, 0x10, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x11, 0x03, 0x00, 0x00, 0x08, 0x04,
	0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x01, 0x80,
	0x02, 0x01, 0x00, 0x26, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x10, 0x80, 0x0e, 0x00,
	0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x10, 0x80, 0x0e, 0x00, 0xc0, 0x03, 0x00,
	0x00, 0x0c, 0x01, 0x00, 0x00, 0x10, 0x80, 0x0e, 0x01, 0x00, 0x03, 0x00, 0x00, 0x0c, 0x01,
	0x00, 0x00, 0x14, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14,
	0x80, 0x0e, 0x00, 0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01,
	0x00, 0x03, 0x00, 0x00, 0x08, 0x01, 0x00, 0x00, 0x1c, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00,
	0x00, 0x0e, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0e, 0x80,
	0x0e, 0x00, 0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0e, 0x80, 0x0e, 0x01, 0x00,
	0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0f, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00,
	0x0c, 0x01, 0x00, 0x00, 0x0f, 0x80, 0x0e, 0x00, 0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00,
	0x00, 0x0f, 0x80, 0x0e, 0x01, 0x00, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x12, 0x80,
	0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x12, 0x80, 0x0e, 0x00, 0xc0,
	0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x12, 0x80, 0x0e, 0x01, 0x00, 0x03, 0x00, 0x00,
	0x0c, 0x01, 0x00, 0x00, 0x13, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00,
	0x00, 0x13, 0x80, 0x0e, 0x00, 0xc0, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x13, 0x80,
	0x0e, 0x01, 0x00, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x04, 0x03, 0x00, 0x00, 0x08,
	0x02, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, 0x03, 0x00, 0x00,
	0x08, 0x02, 0x00, 0x00, 0x06, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x07, 0x03, 0x00,
	0x00, 0x08, 0x02, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f, 0x03,
	0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x20, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x13,
	0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x14, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00,
	0x15, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1c, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00,
	0x00, 0x1d, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1e, 0x03, 0x00, 0x00, 0x08, 0x04,
	0x00, 0x00, 0x0f, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x10, 0x03, 0x00, 0x00, 0x08,
	0x04, 0x00, 0x00, 0x11, 0x03, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00,
	0x08, 0x04, 0x00, 0x00, 0x0e, 0x28, 0x00, 0x00, 0x28, 0x00, 0x1f, 0x00, 0x00, 0xc7, 0x77,
	0xdc, 0x28, 0x17, 0x96, 0x97, 0xd8, 0xbd, 0xaa, 0xa8, 0x5d, 0x7b, 0x2f, 0x38, 0xff, 0x98,
	0xb5, 0xa4, 0x64, 0x0a, 0x2f, 0x77, 0x6d, 0x6e, 0x52, 0xaf, 0xb6, 0xac, 0x4e, 0xd9, 0x7d,
	0x29, 0x00, 0x00, 0x24, 0x95, 0x19, 0xaf, 0xb4, 0xc2, 0xba, 0x4a, 0x00, 0x66, 0x1d, 0x6e,
	0xdd, 0x2b, 0x0f, 0xb3, 0xb8, 0xae, 0x30, 0x58, 0x34, 0x4e, 0x0f, 0x79, 0x16, 0x83, 0x71,
	0x85, 0xa4, 0xa3, 0xd5, 0xb1, 0xf3, 0x29, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x04, 0xfc,
	0xea, 0xac, 0xdc, 0xaa, 0x63, 0x43, 0x3b, 0x85, 0xfe, 0x0b, 0xd0, 0x27, 0xf5, 0x18, 0x9e,
	0xb0, 0xaa, 0x48, 0xd1, 0x29, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x05, 0x34, 0xd6, 0xa9,
	0xa8, 0x62, 0x48, 0x44, 0xc3, 0x90, 0x85, 0xb5, 0x29, 0x7f, 0xeb, 0x94, 0xe7, 0x3f, 0xf0,
	0xb4, 0x6b, 0x29, 0x00, 0x00, 0x08, 0x00, 0x00, 0x40, 0x2e, 0x29, 0x00, 0x00, 0x10, 0x00,
	0x00, 0x40, 0x2f, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x05, 0x00, 0x00, 0x00, 0x08,
	0x00, 0x00, 0x40, 0x16,
};

static void expect_notify(const struct ike_payload *pl, uint16_t type, const char *data_hex)
{
	struct ike_notify n;
	uint8_t want[64];
	size_t wlen = unhex(data_hex, want, sizeof(want));

	require(pl->type == IKE_PAYLOAD_NOTIFY, "not a notify, type", pl->type);
	enum ike_parse err = ike_notify_parse(pl->body, pl->len, &n);
	require(err == IKE_PARSE_OK, "notify parse", err);
	require(n.type == type, "notify type", n.type);
	require(n.proto == 0 && n.spi_size == 0, "notify protocol/SPI size", n.spi_size);
	expect_view(n.data, n.len, want, wlen);
}

Test(ike_msg, strongswan_ike_sa_init_parses_and_rebuilds_identically)
{
	static struct ike_msg msg;
	static struct ike_sa sa;
	struct ike_ke ke;
	struct ike_nonce ni;
	const size_t len = sizeof(strongswan_sa_init);

	cr_assert_eq(len, 0x388);
	cr_assert_eq(ike_msg_parse(strongswan_sa_init, len, &msg), IKE_PARSE_OK);
	cr_expect_eq(msg.hdr.spi_i, 0xd8f57b325df25efeull);
	cr_expect_eq(msg.hdr.spi_r, 0);
	cr_expect_eq(msg.hdr.exchange, IKE_EXCH_IKE_SA_INIT);
	cr_expect_eq(msg.hdr.flags, IKE_FLAG_INITIATOR);
	cr_expect_eq(msg.hdr.msg_id, 0);
	cr_expect(!msg.pls.encrypted);
	cr_expect_eq(msg.pls.skipped, 0);

	const uint8_t types[] = {IKE_PAYLOAD_SA,     IKE_PAYLOAD_KE,     IKE_PAYLOAD_NONCE,
				 IKE_PAYLOAD_NOTIFY, IKE_PAYLOAD_NOTIFY, IKE_PAYLOAD_NOTIFY,
				 IKE_PAYLOAD_NOTIFY, IKE_PAYLOAD_NOTIFY};
	cr_assert_eq(msg.pls.n, sizeof(types));
	for (size_t i = 0; i < sizeof(types); i++)
		cr_expect_eq(msg.pls.pl[i].type, types[i], "payload %zu", i);

	/* SA: strongSwan's default IKE offer, non-AEAD and AEAD proposals. */
	const struct ike_payload *pl = &msg.pls.pl[0];
	cr_assert_eq(ike_sa_parse(pl->body, pl->len, false, &sa), IKE_PARSE_OK);
	cr_assert_eq(sa.n_prop, 2);
	cr_expect_eq(sa.prop[0].num, 1);
	cr_expect_eq(sa.prop[0].proto, IKE_PROTO_IKE);
	cr_expect_eq(sa.prop[0].count, 35);
	cr_expect_eq(sa.prop[1].num, 2);
	cr_expect_eq(sa.prop[1].count, 38);
	cr_expect_eq(sa.n_xf, 73);
	cr_expect_eq(sa.xf[0].type, IKE_TRANSFORM_ENCR);
	cr_expect_eq(sa.xf[0].id, IKE_ENCR_AES_CBC);
	cr_expect_eq(sa.xf[0].key_len, 128);
	bool gcm256 = false, x25519 = false;
	for (size_t i = sa.prop[1].first; i < (size_t)sa.prop[1].first + sa.prop[1].count; i++) {
		gcm256 |= sa.xf[i].type == IKE_TRANSFORM_ENCR &&
			  sa.xf[i].id == IKE_ENCR_AES_GCM_16 && sa.xf[i].key_len == 256;
		x25519 |= sa.xf[i].type == IKE_TRANSFORM_DH && sa.xf[i].id == IKE_DH_CURVE25519;
		cr_expect(!sa.xf[i].unknown_attr);
	}
	cr_expect(gcm256, "aes256gcm16 offered");
	cr_expect(x25519, "x25519 offered");

	pl = &msg.pls.pl[1];
	cr_assert_eq(ike_ke_parse(pl->body, pl->len, &ke), IKE_PARSE_OK);
	cr_expect_eq(ke.group, IKE_DH_CURVE25519);
	cr_expect_eq(ke.len, 32);
	pl = &msg.pls.pl[2];
	cr_assert_eq(ike_nonce_parse(pl->body, pl->len, &ni), IKE_PARSE_OK);
	cr_expect_eq(ni.len, 32);
	expect_notify(&msg.pls.pl[3], IKE_N_NAT_DETECTION_SOURCE_IP,
		      "fceaacdcaa63433b85fe0bd027f5189eb0aa48d1");
	expect_notify(&msg.pls.pl[4], IKE_N_NAT_DETECTION_DESTINATION_IP,
		      "34d6a9a8624844c39085b5297feb94e73ff0b46b");
	expect_notify(&msg.pls.pl[5], IKE_N_FRAGMENTATION_SUPPORTED, "");
	expect_notify(&msg.pls.pl[6], IKE_N_SIGNATURE_HASH_ALGORITHMS, "0002 0003 0004 0005");
	expect_notify(&msg.pls.pl[7], IKE_N_REDIRECT_SUPPORTED, "");

	/* Rebuilt from the typed structs, the message is strongSwan's, octet for octet. */
	uint8_t out[1024];
	struct wr w = wr_init(out, sizeof(out));
	struct ike_build b;
	size_t olen;
	struct ike_notify n;

	ike_build_init(&b, &w, &msg.hdr);
	ike_build_sa(&b, &sa);
	ike_build_ke(&b, &ke);
	ike_build_nonce(&b, &ni);
	for (size_t i = 3; i < msg.pls.n; i++) {
		cr_assert_eq(ike_notify_parse(msg.pls.pl[i].body, msg.pls.pl[i].len, &n),
			     IKE_PARSE_OK);
		ike_build_notify(&b, &n);
	}
	cr_assert_eq(ike_build_finish(&b, &olen), 0);
	cr_assert_eq(olen, len);
	cr_assert_arr_eq(out, strongswan_sa_init, len);

	/* Every truncation of it fails, none reads out of bounds. */
	for (size_t cut = 0; cut < len; cut++)
		cr_expect_neq(ike_msg_parse(strongswan_sa_init, cut, &msg), IKE_PARSE_OK);
}

Test(ike_msg, built_ike_sa_init_like_strongswan)
{
	static struct ike_sa sa, got_sa;
	static struct ike_msg msg;
	uint8_t buf[1024], pub[32], nonce[32], nat_src[20], nat_dst[20];
	const uint8_t hashes[] = {0, IKE_HASH_SHA2_256, 0, IKE_HASH_SHA2_384,
				  0, IKE_HASH_SHA2_512, 0, IKE_HASH_IDENTITY};
	struct wr w = wr_init(buf, sizeof(buf));
	struct ike_build b;
	size_t len;

	for (size_t i = 0; i < 32; i++) {
		pub[i] = (uint8_t)(0x11 * i);
		nonce[i] = (uint8_t)(0xff - i);
	}
	memset(nat_src, 0xaa, sizeof(nat_src));
	memset(nat_dst, 0xbb, sizeof(nat_dst));
	sa_strongswan_ike(&sa);

	ike_build_init(&b, &w, &test_hdr);
	ike_build_sa(&b, &sa);
	ike_build_ke(&b, &(struct ike_ke){IKE_DH_CURVE25519, pub, sizeof(pub)});
	ike_build_nonce(&b, &(struct ike_nonce){nonce, sizeof(nonce)});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_NAT_DETECTION_SOURCE_IP,
						  .data = nat_src,
						  .len = sizeof(nat_src)});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_NAT_DETECTION_DESTINATION_IP,
						  .data = nat_dst,
						  .len = sizeof(nat_dst)});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_FRAGMENTATION_SUPPORTED});
	ike_build_notify(&b, &(struct ike_notify){.type = IKE_N_SIGNATURE_HASH_ALGORITHMS,
						  .data = hashes,
						  .len = sizeof(hashes)});
	cr_assert_eq(ike_build_finish(&b, &len), 0);
	/* 28 + SA 40 + KE 40 + Ni 36 + 2 x NAT-D 28 + FRAG 8 + SHA 16 */
	cr_expect_eq(len, 28 + 40 + 40 + 36 + 28 + 28 + 8 + 16);
	uint8_t want_hdr[IKE_HDR_LEN];
	unhex("0102030405060708 0000000000000000 21 20 22 08 00000000 000000e0", want_hdr,
	      sizeof(want_hdr));
	cr_expect_arr_eq(buf, want_hdr, IKE_HDR_LEN);

	cr_assert_eq(ike_msg_parse(buf, len, &msg), IKE_PARSE_OK);
	cr_assert_eq(msg.pls.n, 7);
	cr_assert_eq(ike_sa_parse(msg.pls.pl[0].body, msg.pls.pl[0].len, false, &got_sa),
		     IKE_PARSE_OK);
	expect_sa_eq(&sa, &got_sa);
	expect_notify(&msg.pls.pl[5], IKE_N_FRAGMENTATION_SUPPORTED, "");
	expect_notify(&msg.pls.pl[6], IKE_N_SIGNATURE_HASH_ALGORITHMS, "0002 0003 0004 0005");
	/* Header Next Payload and each payload's Next Payload were back-patched. */
	cr_expect_eq(msg.hdr.next_payload, IKE_PAYLOAD_SA);
	cr_expect_eq(msg.pls.pl[0].next, IKE_PAYLOAD_KE);
	cr_expect_eq(msg.pls.pl[1].next, IKE_PAYLOAD_NONCE);
	cr_expect_eq(msg.pls.pl[2].next, IKE_PAYLOAD_NOTIFY);
	cr_expect_eq(msg.pls.pl[6].next, IKE_PAYLOAD_NONE);
}
