/*
 * Segmentation of TUN super-packets: TCP over IPv4, IPv6 and IPv6 with an extension header,
 * UDP (USO) over both, checksum completion and pass-through. Every segment is checked field by
 * field against the super-packet it came from (lengths, IPv4 identification, sequence numbers,
 * flags), its checksums against an independent byte-at-a-time computation, the octets around
 * it (headroom, tailroom) for stray writes, and the payloads must concatenate back to the
 * original. Then every refusal, and a property test over random shapes with a fixed seed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "edge/dp/gso.h"
#include "tests/unit/edge/pkt_reference.h"

#define POOL_LEN (1u << 20)
#define SENTINEL 0xa5
#define MAX_SEGS 2048
#define HEADROOM 64
#define TAILROOM 24

/* Whether the transport checksum of p (IP packet of len octets) verifies. */
static bool ref_l4_ok(const uint8_t *p, size_t len, size_t l4_off, uint8_t proto)
{
	uint32_t s = ref_pseudo(p, proto, len - l4_off);
	return ref_sum(s, p + l4_off, len - l4_off) == 0xffff;
}

static bool ref_ip4_ok(const uint8_t *p)
{
	return ref_sum(0, p, (size_t)(p[0] & 0x0f) * 4) == 0xffff;
}

/* ---- building super-packets ---- */

struct shape {
	uint8_t family; /* IP_V4 or IP_V6 */
	bool ext;       /* IPv6: a destination options header in front of the transport */
	uint8_t proto;  /* PKT_PROTO_TCP or PKT_PROTO_UDP */
	size_t optlen;  /* TCP option octets (multiple of 4) */
	uint8_t flags;  /* TCP flags */
	uint32_t seq;
	uint16_t id; /* IPv4 identification */
	size_t payload;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) + 3);
}

/* Write the packet for s with its checksum field seeded as a TUN read has it (pseudo-header
 * sum over the whole transport length, not complemented). Returns its length; *l4 receives the
 * transport header offset and *hl the headers' length. */
static size_t build(uint8_t *p, const struct shape *s, size_t *l4, size_t *hl)
{
	size_t off = s->family == IP_V4 ? 20 : 40;
	size_t ext = s->family == IP_V6 && s->ext ? 16 : 0;
	size_t thl = s->proto == PKT_PROTO_TCP ? 20 + s->optlen : 8;
	size_t tot = off + ext + thl + s->payload;

	memset(p, 0, off + ext + thl);
	if (s->family == IP_V4) {
		p[0] = 0x45;
		p[1] = 0x02; /* ECT(0) */
		pkt_put16(p + 2, (uint16_t)tot);
		pkt_put16(p + 4, s->id);
		pkt_put16(p + 6, PKT_IP4_DF);
		p[8] = 64;
		p[9] = s->proto;
		const uint8_t a[8] = {192, 0, 2, 1, 198, 51, 100, 7};
		memcpy(p + 12, a, 8);
		pkt_ip4_csum_set(p, 20);
	} else {
		p[0] = 0x60;
		p[1] = 0x0a; /* traffic class and flow label, kept on every segment */
		p[3] = 0x5c;
		pkt_put16(p + 4, (uint16_t)(tot - 40));
		p[6] = ext ? PKT_PROTO_DSTOPTS : s->proto;
		p[7] = 61;
		for (int i = 0; i < 16; i++) {
			p[8 + i] = (uint8_t)(0x20 + i);
			p[24 + i] = (uint8_t)(0x90 - i);
		}
		if (ext) {
			p[40] = s->proto;
			p[41] = 1;
			p[42] = 1; /* PadN over the rest */
			p[43] = 12;
		}
	}
	uint8_t *t = p + off + ext;
	pkt_put16(t, 40000);
	pkt_put16(t + 2, s->proto == PKT_PROTO_TCP ? 443 : 4789);
	if (s->proto == PKT_PROTO_TCP) {
		pkt_put32(t + 4, s->seq);
		pkt_put32(t + 8, 0x11223344);
		t[12] = (uint8_t)((thl / 4) << 4);
		t[13] = s->flags;
		pkt_put16(t + 14, 501);
		for (size_t i = 0; i < s->optlen; i += 4) {
			t[20 + i] = 1;
			t[21 + i] = 1;
			t[22 + i] = 1;
			t[23 + i] = 1;
		}
		if (s->optlen >= 12) { /* NOP NOP timestamps */
			t[22] = 8;
			t[23] = 10;
			pkt_put32(t + 24, 0xabcdef01);
			pkt_put32(t + 28, 0x10203040);
		}
	} else {
		pkt_put16(t + 4, (uint16_t)(thl + s->payload));
	}
	for (size_t i = 0; i < s->payload; i++)
		t[thl + i] = pattern(i);
	size_t cso = s->proto == PKT_PROTO_TCP ? 16 : 6;
	uint16_t seed = (uint16_t)ref_pseudo(p, s->proto, tot - off - ext);
	pkt_put16(t + cso, seed);
	*l4 = off + ext;
	*hl = off + ext + thl;
	return tot;
}

static struct pkt_vnet_hdr vnet_for(const struct shape *s, size_t l4, size_t hl, uint16_t gso)
{
	struct pkt_vnet_hdr vh = {
		.flags = PKT_VNET_F_NEEDS_CSUM,
		.hdr_len = (uint16_t)hl,
		.gso_size = gso,
		.csum_start = (uint16_t)l4,
		.csum_offset = s->proto == PKT_PROTO_TCP ? 16 : 6,
	};
	if (s->proto == PKT_PROTO_UDP)
		vh.gso_type = PKT_VNET_GSO_UDP_L4;
	else
		vh.gso_type = s->family == IP_V4 ? PKT_VNET_GSO_TCPV4 : PKT_VNET_GSO_TCPV6;
	return vh;
}

/* ---- the segment checker ---- */

static uint8_t pool[POOL_LEN];
static uint8_t super[70000];
static struct gso_seg segs[MAX_SEGS];

/* Lay out n segments of the plan back to back in the pool, sentinel-filled. */
static void layout(const struct gso_plan *pl, size_t n)
{
	memset(pool, SENTINEL, sizeof(pool));
	size_t stride = HEADROOM + pl->seg_len + TAILROOM, off = 0;
	for (size_t i = 0; i < n; i++) {
		segs[i].buf = pool + off;
		segs[i].cap = stride;
		segs[i].len = 0;
		off += stride;
	}
	require(off <= sizeof(pool), "pool too small", (long long)off);
}

static bool untouched(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != SENTINEL)
			return false;
	return true;
}

static uint8_t expected_flags(uint8_t f, size_t i, size_t n)
{
	if (i + 1 != n)
		f &= (uint8_t) ~(PKT_TCP_FIN | PKT_TCP_PSH);
	if (i != 0)
		f &= (uint8_t)~PKT_TCP_CWR;
	return f;
}

/* The IP and transport headers of segment o agree with super-packet p but for the fields that
 * segmentation changes. */
static void check_headers(const uint8_t *o, const uint8_t *p, const struct shape *s, size_t l4,
			  size_t i, size_t n)
{
	const uint8_t *t = o + l4, *st = p + l4;
	if (s->family == IP_V4) {
		require(memcmp(o, p, 2) == 0 && memcmp(o + 6, p + 6, 4) == 0, "IPv4 fields",
			(long long)i);
		require(memcmp(o + 12, p + 12, 8) == 0, "IPv4 addresses", (long long)i);
		require(pkt_get16(o + 4) == (uint16_t)(s->id + i), "IPv4 identification",
			(long long)i);
		require(ref_ip4_ok(o), "IPv4 header checksum", (long long)i);
	} else {
		require(memcmp(o, p, 4) == 0 && memcmp(o + 6, p + 6, l4 - 6) == 0, "IPv6 fields",
			(long long)i);
	}
	require(memcmp(t, st, 4) == 0, "ports", (long long)i);
	if (s->proto == PKT_PROTO_TCP) {
		require(memcmp(t + 8, st + 8, 5) == 0, "ack and data offset", (long long)i);
		require(t[13] == expected_flags(s->flags, i, n), "flags", t[13]);
		require(memcmp(t + 14, st + 14, 2) == 0, "window", (long long)i);
		require(memcmp(t + 18, st + 18, 2 + s->optlen) == 0, "options", (long long)i);
	}
}

/* Segment the super-packet of s with gso_size gso and check everything. */
static void split_and_check(const struct shape *s, uint16_t gso, size_t want_segs)
{
	size_t l4, hl;
	size_t len = build(super, s, &l4, &hl);
	struct pkt_vnet_hdr vh = vnet_for(s, l4, hl, gso);
	struct gso_plan pl;
	require(gso_prepare(&vh, super, len, &pl) == 0, "prepare", (long long)len);
	size_t n = pl.nsegs;
	require(want_segs == 0 || n == want_segs, "segment count", (long long)n);
	require(n <= MAX_SEGS, "test limit", (long long)n);
	layout(&pl, n);

	uint8_t orig[sizeof(super)];
	memcpy(orig, super, len);
	require(gso_split(&pl, super, segs, n, HEADROOM, TAILROOM) == (int)n, "split",
		(long long)n);
	require(memcmp(orig, super, len) == 0, "input changed", 0);

	size_t pay_off = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *o = segs[i].buf + HEADROOM;
		const size_t sl = segs[i].len;
		struct pkt_ip ip;
		require(untouched(segs[i].buf, HEADROOM), "headroom written", (long long)i);
		require(untouched(o + sl, segs[i].cap - HEADROOM - sl), "tail written",
			(long long)i);
		require(sl == (i + 1 == n ? pl.last_len : pl.seg_len), "planned length",
			(long long)sl);
		require(pkt_parse(o, sl, &ip) == 0 && ip.len == sl, "segment parses", (long long)i);
		require(ip.l4_off == l4 && ip.proto == s->proto, "segment shape", (long long)i);
		require(sl - hl <= gso && (i + 1 == n || sl - hl == gso), "payload size",
			(long long)sl);
		check_headers(o, super, s, l4, i, n);
		if (s->proto == PKT_PROTO_TCP)
			require(pkt_get32(o + l4 + 4) == s->seq + (uint32_t)pay_off, "sequence",
				(long long)i);
		else
			require(pkt_get16(o + l4 + 4) == sl - l4, "UDP length", (long long)i);
		require(ref_l4_ok(o, sl, l4, s->proto), "transport checksum", (long long)i);
		require(pkt_l4_csum_ok(o, &ip), "pkt_l4_csum_ok agrees", (long long)i);
		require(memcmp(o + hl, super + hl + pay_off, sl - hl) == 0, "payload",
			(long long)i);
		pay_off += sl - hl;
	}
	require(pay_off == s->payload, "payloads concatenate to the original", (long long)pay_off);
}

/* ---- TCP and UDP segmentation ---- */

Test(gso_tcp, ipv4_flags_ids_and_sequence_wrap)
{
	struct shape s = {
		.family = IP_V4,
		.proto = PKT_PROTO_TCP,
		.optlen = 12,
		.flags = PKT_TCP_ACK | PKT_TCP_PSH | PKT_TCP_FIN | PKT_TCP_CWR | PKT_TCP_ECE,
		.seq = 0xfffff000u, /* wraps within the super-packet */
		.id = 0xfffe,       /* wraps too */
		.payload = 10007,
	};
	split_and_check(&s, 1348, 8);
}

Test(gso_tcp, ipv6_plain_and_with_extension_header)
{
	struct shape s = {
		.family = IP_V6,
		.proto = PKT_PROTO_TCP,
		.flags = PKT_TCP_ACK | PKT_TCP_PSH,
		.seq = 12345,
		.payload = 7000,
	};
	split_and_check(&s, 1220, 6);
	s.ext = true;
	s.optlen = 12;
	split_and_check(&s, 1000, 7);
}

Test(gso_tcp, exact_multiple_single_and_empty)
{
	struct shape s = {.family = IP_V4,
			  .proto = PKT_PROTO_TCP,
			  .flags = PKT_TCP_ACK,
			  .seq = 1,
			  .payload = (size_t)4 * 1000};
	split_and_check(&s, 1000, 4);
	s.payload = 999;
	split_and_check(&s, 1000, 1);
	s.payload = 0;
	s.flags = PKT_TCP_ACK | PKT_TCP_FIN;
	split_and_check(&s, 1000, 1);
}

Test(gso_udp, ipv4_and_ipv6_datagrams)
{
	struct shape s = {.family = IP_V4, .proto = PKT_PROTO_UDP, .id = 77, .payload = 5000};
	split_and_check(&s, 1472, 4);
	s.family = IP_V6;
	split_and_check(&s, 1232, 5);
	s.ext = true;
	split_and_check(&s, 1200, 5);
}

Test(gso_udp, zero_checksum_goes_out_as_ffff)
{
	/* Find a one-octet payload whose datagram sums to zero, and check that the segmenter
	 * sends 0xffff rather than 0 ("no checksum"). */
	struct shape s = {.family = IP_V4, .proto = PKT_PROTO_UDP, .payload = 2};
	size_t l4, hl;
	size_t len = build(super, &s, &l4, &hl);
	super[hl] = 0;
	super[hl + 1] = 0;
	super[l4 + 6] = super[l4 + 7] = 0;
	uint16_t need = (uint16_t)~ref_sum(ref_pseudo(super, PKT_PROTO_UDP, len - l4), super + l4,
					   len - l4);
	/* payload word = ~sum makes the total 0xffff, so the checksum is 0 */
	pkt_put16(super + hl, need);
	pkt_put16(super + l4 + 6, (uint16_t)ref_pseudo(super, PKT_PROTO_UDP, len - l4));

	struct pkt_vnet_hdr vh = vnet_for(&s, l4, hl, 100);
	struct gso_plan pl;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), 0);
	layout(&pl, 1);
	cr_assert_eq(gso_split(&pl, super, segs, 1, HEADROOM, TAILROOM), 1);
	const uint8_t *o = segs[0].buf + HEADROOM;
	cr_assert_eq(pkt_get16(o + l4 + 6), 0xffff);
	cr_assert(ref_l4_ok(o, segs[0].len, l4, PKT_PROTO_UDP));
}

/* ---- checksum completion and pass-through ---- */

Test(gso_single, needs_csum_completes_tcp_and_udp)
{
	const uint8_t protos[2] = {PKT_PROTO_TCP, PKT_PROTO_UDP};
	for (int k = 0; k < 2; k++) {
		struct shape s = {.family = k ? IP_V6 : IP_V4,
				  .proto = protos[k],
				  .flags = PKT_TCP_ACK,
				  .payload = 333};
		size_t l4, hl;
		size_t len = build(super, &s, &l4, &hl);
		struct pkt_vnet_hdr vh = vnet_for(&s, l4, hl, 0);
		vh.gso_type = PKT_VNET_GSO_NONE;
		struct gso_plan pl;
		require(gso_prepare(&vh, super, len, &pl) == 0 && pl.kind == GSO_CSUM, "plan", k);
		layout(&pl, 1);
		require(gso_split(&pl, super, segs, 1, HEADROOM, TAILROOM) == 1, "split", k);
		const uint8_t *o = segs[0].buf + HEADROOM;
		require(segs[0].len == len && ref_l4_ok(o, len, l4, s.proto), "completed", k);
		require(memcmp(o, super, l4 + vh.csum_offset) == 0, "headers unchanged", k);

		/* In place gives the same octets. */
		require(gso_csum_in_place(&pl, super) == 0, "in place", k);
		require(memcmp(o, super, len) == 0, "in place equals copy", k);
	}
}

Test(gso_single, pass_through_unchanged)
{
	struct shape s = {.family = IP_V4, .proto = PKT_PROTO_UDP, .payload = 100};
	size_t l4, hl;
	size_t len = build(super, &s, &l4, &hl);
	struct pkt_vnet_hdr vh = {0};
	struct gso_plan pl;
	cr_assert_eq(gso_prepare(&vh, super, len + 7, &pl), 0); /* trailing octets ignored */
	cr_assert_eq(pl.kind, GSO_PASS);
	layout(&pl, 1);
	cr_assert_eq(gso_split(&pl, super, segs, 1, HEADROOM, TAILROOM), 1);
	cr_assert_eq(segs[0].len, len);
	cr_assert_arr_eq(segs[0].buf + HEADROOM, super, len);
	cr_assert_eq(gso_csum_in_place(&pl, super), 0);

	pl.kind = GSO_TCP;
	cr_assert_eq(gso_csum_in_place(&pl, super), -EINVAL);
}

Test(gso_single, whole_read_through_gso_segment)
{
	static uint8_t rd[PKT_VNET_HDR_LEN + sizeof(super)];
	struct shape s = {
		.family = IP_V6, .proto = PKT_PROTO_TCP, .flags = PKT_TCP_ACK, .payload = 3000};
	size_t l4, hl;
	size_t len = build(rd + PKT_VNET_HDR_LEN, &s, &l4, &hl);
	struct pkt_vnet_hdr vh = vnet_for(&s, l4, hl, 1000);
	vh.hdr_len = (uint16_t)(len / 2); /* the kernel's hint: ignored but for its bound */
	pkt_vnet_hdr_write(&vh, rd);
	struct gso_plan pl;
	cr_assert_eq(gso_prepare(&vh, rd + PKT_VNET_HDR_LEN, len, &pl), 0);
	layout(&pl, 3);
	cr_assert_eq(gso_segment(rd, PKT_VNET_HDR_LEN + len, segs, 3, HEADROOM, TAILROOM), 3);
	cr_assert_eq(segs[2].len, hl + 1000);
	cr_assert_eq(gso_segment(rd, PKT_VNET_HDR_LEN - 1, segs, 3, HEADROOM, TAILROOM), -EBADMSG);
}

/* ---- refusals ---- */

Test(gso_refuse, malformed_headers_each_with_its_error)
{
	struct shape s = {
		.family = IP_V4, .proto = PKT_PROTO_TCP, .flags = PKT_TCP_ACK, .payload = 3000};
	size_t l4, hl;
	size_t len = build(super, &s, &l4, &hl);
	const struct pkt_vnet_hdr good = vnet_for(&s, l4, hl, 1000);
	struct gso_plan pl;
	struct pkt_vnet_hdr vh;

	vh = good;
	vh.gso_size = 0;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EINVAL);
	vh = good;
	vh.hdr_len = (uint16_t)(len + 1);
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EMSGSIZE);
	vh = good;
	vh.csum_offset = 6;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -ERANGE);
	vh = good;
	vh.csum_start = 0;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -ERANGE);
	vh = good;
	vh.gso_type = PKT_VNET_GSO_NONE;
	vh.csum_start = (uint16_t)(len - 1);
	vh.csum_offset = 0;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -ERANGE); /* field past the end */
	vh.csum_start = 0xffff;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -ERANGE);
	vh.csum_start = (uint16_t)l4;
	vh.csum_offset = 15; /* odd: would straddle two words */
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -ERANGE);
	vh.csum_offset = 16;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), 0);
	vh = good;
	vh.gso_type = PKT_VNET_GSO_UDP;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EPROTONOSUPPORT);
	vh.gso_type = 7;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EPROTONOSUPPORT);
	vh.gso_type = PKT_VNET_GSO_TCPV6;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EPROTO);
	vh.gso_type = PKT_VNET_GSO_UDP_L4;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EPROTO);
	vh = good;
	cr_assert_eq(gso_prepare(&vh, super, len - 1, &pl), -EBADMSG);
	super[0] = 0x35;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EAFNOSUPPORT);
	super[0] = 0x45;
	pkt_put16(super + 6, PKT_IP4_MF); /* a fragment cannot be segmented */
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), -EBADMSG);
	pkt_put16(super + 6, PKT_IP4_DF);

	vh = good;
	vh.gso_type |= PKT_VNET_GSO_ECN; /* ECN flag is fine */
	vh.flags = 0;                    /* and so is GSO without NEEDS_CSUM */
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), 0);
	cr_assert_eq(pl.nsegs, 3);
}

Test(gso_refuse, output_too_small_writes_nothing)
{
	struct shape s = {
		.family = IP_V4, .proto = PKT_PROTO_TCP, .flags = PKT_TCP_ACK, .payload = 3000};
	size_t l4, hl;
	size_t len = build(super, &s, &l4, &hl);
	struct pkt_vnet_hdr vh = vnet_for(&s, l4, hl, 1000);
	struct gso_plan pl;
	cr_assert_eq(gso_prepare(&vh, super, len, &pl), 0);
	layout(&pl, 3);
	cr_assert_eq(gso_split(&pl, super, segs, 2, HEADROOM, TAILROOM), -ENOBUFS);
	cr_assert_eq(gso_split(&pl, super, segs, 3, HEADROOM, TAILROOM + 1), -ENOSPC);
	cr_assert_eq(gso_split(&pl, super, segs, 3, segs[0].cap + 1, 0), -ENOSPC);
	cr_assert(untouched(pool, 3 * segs[0].cap), "nothing written");
	/* the last segment is shorter: its buffer may be too */
	segs[2].cap = HEADROOM + pl.last_len + TAILROOM;
	cr_assert_eq(gso_split(&pl, super, segs, 3, HEADROOM, TAILROOM), 3);
	segs[2].cap--;
	cr_assert_eq(gso_split(&pl, super, segs, 3, HEADROOM, TAILROOM), -ENOSPC);
}

/* ---- property: random shapes, fixed seed ---- */

Test(gso_property, random_shapes)
{
	struct rng r = {0x5eed0001u};
	for (int it = 0; it < 400; it++) {
		struct shape s = {
			.family = rng_below(&r, 2) ? IP_V6 : IP_V4,
			.ext = rng_below(&r, 2),
			.proto = rng_below(&r, 3) ? PKT_PROTO_TCP : PKT_PROTO_UDP,
			.optlen = (size_t)4 * rng_below(&r, 11),
			.flags = (uint8_t)(PKT_TCP_ACK |
					   (rng_next(&r) & (PKT_TCP_FIN | PKT_TCP_PSH |
							    PKT_TCP_CWR | PKT_TCP_ECE))),
			.seq = (uint32_t)rng_next(&r),
			.id = (uint16_t)rng_next(&r),
		};
		size_t hdrs = 40 + 16 + 60;
		s.payload = rng_below(&r, 4) ? rng_below(&r, 65535 - (unsigned)hdrs)
					     : rng_below(&r, 3000);
		unsigned min_gso = (unsigned)(s.payload / MAX_SEGS) + 1;
		uint16_t gso = (uint16_t)(min_gso + rng_below(&r, 9000));
		split_and_check(&s, gso, 0);
	}
}
