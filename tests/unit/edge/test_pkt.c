/*
 * Inner packet helpers: RFC 1071 checksum known answers, the word-at-a-time sum against a
 * byte-at-a-time reference over random lengths and alignments, RFC 1624 incremental updates
 * against full recomputation over random rewrites, pseudo-headers against a reference laid out
 * byte by byte, IPv4/IPv6 validation (extension headers, routing header final destination,
 * fragments, every error), addresses, and the virtio-net header layout.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <string.h>

#include "edge/dp/pkt.h"
#include "tests/unit/edge/pkt_reference.h"

static void rng_fill(struct rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(r);
}

/* ---- helpers ---- */

static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	return (uint16_t)~ref_sum(0, p, len);
}

/* ---- checksum ---- */

Test(pkt_csum, rfc1071_example)
{
	/* RFC 1071 §3: octets 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (checksum 220d). */
	const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(0, b, sizeof(b))), 0xddf2);
	cr_assert_eq(pkt_csum_finish(pkt_csum_add(0, b, sizeof(b))), 0x220d);
	/* In two pieces, the first of even length. */
	uint32_t s = pkt_csum_add(0, b, 2);
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(s, b + 2, 6)), 0xddf2);
}

Test(pkt_csum, ipv4_header_known_answer)
{
	/* A header whose checksum field (b861) is known correct. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(0, h, 20)), 0xffff);
	pkt_ip4_csum_set(h, 20);
	cr_assert_eq(pkt_get16(h + 10), 0xb861);
	struct pkt_ip ip;
	cr_assert_eq(pkt_parse(h, sizeof(h), &ip), -EBADMSG); /* total length 0x73 > 20 */
}

Test(pkt_csum, odd_lengths_and_edge_values)
{
	const uint8_t one[] = {0xab};
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(0, one, 1)), 0xab00);
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(0, one, 0)), 0);
	uint8_t ff[64];
	memset(ff, 0xff, sizeof(ff));
	cr_assert_eq(pkt_csum_fold(pkt_csum_add(0, ff, sizeof(ff))), 0xffff);
	cr_assert_eq(pkt_csum_fold(pkt_csum_combine(0xffffffffu, 0xffffffffu)), 0xffff);
	cr_assert_eq(pkt_csum_fold(0x0001fffeu), 0xffff);
}

Test(pkt_csum, matches_reference_random)
{
	static uint8_t buf[4096 + 16], dst[4096 + 16];
	struct rng r = {0x1234567u};

	rng_fill(&r, buf, sizeof(buf));
	for (int it = 0; it < 20000; it++) {
		size_t len = rng_below(&r, 4096);
		size_t off = rng_below(&r, 16);
		uint32_t seed = (uint32_t)rng_next(&r);
		uint32_t got = pkt_csum_add(seed, buf + off, len);
		uint32_t want = ref_sum(seed, buf + off, len);
		require(pkt_csum_fold(got) == want, "sum differs from reference at len",
			(long long)len);

		size_t doff = rng_below(&r, 16);
		uint32_t cgot = pkt_csum_copy(seed, dst + doff, buf + off, len);
		require(pkt_csum_fold(cgot) == pkt_csum_fold(got), "copy sum differs",
			(long long)len);
		require(memcmp(dst + doff, buf + off, len) == 0, "copy differs", (long long)len);

		/* Split at an even point: same sum. */
		size_t cut = len ? (rng_below(&r, (unsigned)len + 1) & ~(size_t)1) : 0;
		uint32_t s2 = pkt_csum_add(pkt_csum_add(seed, buf + off, cut), buf + off + cut,
					   len - cut);
		require(pkt_csum_fold(s2) == pkt_csum_fold(got), "split sum differs",
			(long long)cut);
	}
}

/* Full recomputation of a 60-octet header's checksum at offset 10. */
static uint16_t full_field(uint8_t *h, size_t n)
{
	h[10] = h[11] = 0;
	uint16_t c = ref_csum(h, n);
	pkt_put16(h + 10, c);
	return c;
}

Test(pkt_csum, incremental_equals_full_recompute)
{
	struct rng r = {42};
	uint8_t h[60];
	unsigned zero_results = 0;

	for (int it = 0; it < 200000; it++) {
		size_t n = 20 + 4 * rng_below(&r, 11);
		rng_fill(&r, h, n);
		if (it % 1000 == 0)
			memset(h, 0, n); /* all-zero header: checksum 0xffff */
		uint16_t c = full_field(h, n);
		size_t w = (size_t)2 * rng_below(&r, (unsigned)n / 2);
		if (w == 10)
			continue;
		if (rng_below(&r, 2) == 0 || w + 4 > n || (w < 12 && w + 4 > 10)) {
			uint16_t from = pkt_get16(h + w), to = (uint16_t)rng_next(&r);
			if (it % 7 == 0)
				to = (uint16_t)(from ^ 0xffff);
			pkt_put16(h + w, to);
			uint16_t inc = pkt_csum_update16(c, from, to);
			uint16_t full = full_field(h, n);
			require(inc == full, "update16 differs from full", it);
			zero_results += full == 0;
		} else {
			uint32_t from = pkt_get32(h + w), to = (uint32_t)rng_next(&r);
			pkt_put32(h + w, to);
			uint16_t inc = pkt_csum_update32(c, from, to);
			require(inc == full_field(h, n), "update32 differs from full", it);
		}
	}
	cr_assert_gt(zero_results, 0, "the rewrites should reach a zero checksum sometimes");
}

Test(pkt_csum, incremental_through_zero_sum)
{
	/* A region whose words sum to 0xffff has checksum 0; rewrite into and out of it. */
	uint8_t h[4] = {0xff, 0xfe, 0x00, 0x01};
	uint16_t c = ref_csum(h, 4);
	cr_assert_eq(c, 0x0000);
	uint16_t inc = pkt_csum_update16(c, 0x0001, 0x0002);
	pkt_put16(h + 2, 2);
	cr_assert_eq(inc, ref_csum(h, 4));
	inc = pkt_csum_update16(inc, 0x0002, 0x0001);
	pkt_put16(h + 2, 1);
	cr_assert_eq(inc, ref_csum(h, 4));
}

/* ---- pseudo-headers ---- */

Test(pkt_pseudo, v4_and_v6_match_laid_out_header)
{
	struct rng r = {7};
	for (int it = 0; it < 1000; it++) {
		uint8_t a[16], b[16], ph[40];
		rng_fill(&r, a, 16);
		rng_fill(&r, b, 16);
		uint16_t len4 = (uint16_t)rng_next(&r);
		uint32_t len6 = (uint32_t)rng_below(&r, 1u << 20);
		uint8_t proto = (uint8_t)rng_next(&r);

		/* RFC 768 / RFC 9293 §3.1: src, dst, zero, protocol, length */
		memcpy(ph, a, 4);
		memcpy(ph + 4, b, 4);
		ph[8] = 0;
		ph[9] = proto;
		pkt_put16(ph + 10, len4);
		require(pkt_csum_fold(pkt_pseudo_v4(a, b, proto, len4)) == ref_sum(0, ph, 12),
			"v4 pseudo-header", it);

		/* RFC 8200 §8.1: src, dst, 32-bit length, 3 zero octets, next header */
		memcpy(ph, a, 16);
		memcpy(ph + 16, b, 16);
		pkt_put32(ph + 32, len6);
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = proto;
		require(pkt_csum_fold(pkt_pseudo_v6(a, b, proto, len6)) == ref_sum(0, ph, 40),
			"v6 pseudo-header", it);
	}
}

/* ---- parsing ---- */

static size_t make_v4(uint8_t *p, size_t ihl_words, uint8_t proto, size_t payload)
{
	size_t hl = ihl_words * 4, tot = hl + payload;
	memset(p, 0, tot);
	p[0] = (uint8_t)(0x40 | ihl_words);
	pkt_put16(p + 2, (uint16_t)tot);
	pkt_put16(p + 6, PKT_IP4_DF);
	p[8] = 64;
	p[9] = proto;
	const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 1, 2};
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	for (size_t i = 20; i < hl; i++)
		p[i] = 1; /* NOP options */
	pkt_ip4_csum_set(p, hl);
	return tot;
}

static size_t make_v6(uint8_t *p, uint8_t next, size_t payload)
{
	memset(p, 0, 40 + payload);
	p[0] = 0x60;
	pkt_put16(p + 4, (uint16_t)payload);
	p[6] = next;
	p[7] = 64;
	p[8] = 0x20;
	p[9] = 0x01;
	p[23] = 1;
	p[24] = 0x20;
	p[25] = 0x01;
	p[39] = 2;
	return 40 + payload;
}

/* An extension header at p: next header, length in 8-octet units beyond the first. */
static void ext(uint8_t *p, uint8_t next, uint8_t units)
{
	p[0] = next;
	p[1] = units;
}

static void tcp_hdr(uint8_t *t, size_t doff_words)
{
	t[12] = (uint8_t)(doff_words << 4);
	t[13] = PKT_TCP_ACK;
}

Test(pkt_parse, ipv4_tcp_with_options_and_padding)
{
	uint8_t p[200];
	size_t n = make_v4(p, 6, PKT_PROTO_TCP, 40);
	tcp_hdr(p + 24, 8);
	struct pkt_ip ip;
	cr_assert_eq(pkt_parse(p, n + 10, &ip), 0); /* 10 octets of link padding */
	cr_assert_eq(ip.family, IP_V4);
	cr_assert_eq(ip.proto, PKT_PROTO_TCP);
	cr_assert_eq(ip.l4_off, 24);
	cr_assert_eq(ip.l4_hlen, 32);
	cr_assert_eq(ip.len, n);
	cr_assert_eq(ip.dst_off, 16);
	cr_assert_not(ip.frag);
	cr_assert(pkt_ip4_csum_ok(p, &ip));
	p[8] = 63;
	cr_assert_not(pkt_ip4_csum_ok(p, &ip));

	struct ip_addr s, d;
	pkt_addrs(p, &ip, &s, &d);
	cr_assert_eq(s.family, IP_V4);
	cr_assert_eq(s.bytes[0], 10);
	cr_assert_eq(s.bytes[3], 1);
	cr_assert_eq(d.bytes[2], 1);
	cr_assert_eq(d.bytes[3], 2);
	cr_assert_eq(d.bytes[4], 0);
}

Test(pkt_parse, ipv4_errors)
{
	uint8_t p[100];
	struct pkt_ip ip;
	size_t n = make_v4(p, 5, PKT_PROTO_UDP, 20);

	cr_assert_eq(pkt_parse(p, 0, &ip), -EBADMSG);
	cr_assert_eq(pkt_parse(p, 19, &ip), -EBADMSG);
	cr_assert_eq(pkt_parse(p, n - 1, &ip), -EBADMSG); /* total length beyond the buffer */
	p[0] = 0x44;
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG); /* IHL 4 */
	p[0] = 0x4f;
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG); /* 60-octet header, total 40 */
	p[0] = 0x55;
	cr_assert_eq(pkt_parse(p, n, &ip), -EAFNOSUPPORT);
	p[0] = 0x45;
	pkt_put16(p + 2, 24); /* UDP header cut short */
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG);
	pkt_put16(p + 2, 24);
	pkt_put16(p + 6, 0x2000); /* ... but as a first fragment it is fine */
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert(ip.frag);
	cr_assert_eq(ip.l4_hlen, 0);

	n = make_v4(p, 5, PKT_PROTO_TCP, 20);
	tcp_hdr(p + 20, 4);
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG); /* data offset 4 */
	tcp_hdr(p + 20, 6);
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG); /* 24-octet header in 20 */
	tcp_hdr(p + 20, 5);
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
}

Test(pkt_parse, ipv6_extension_headers)
{
	uint8_t p[300];
	struct pkt_ip ip;
	/* hop-by-hop (8) -> destination options (16) -> routing type 4 (40) -> TCP (20) */
	size_t n = make_v6(p, PKT_PROTO_HOPOPTS, 8 + 16 + 40 + 20);
	ext(p + 40, PKT_PROTO_DSTOPTS, 0);
	ext(p + 48, PKT_PROTO_ROUTING, 1);
	ext(p + 64, PKT_PROTO_TCP, 4);
	p[64 + 2] = 4; /* SRH */
	p[64 + 3] = 1; /* segments left */
	p[64 + 8] = 0xfd;
	tcp_hdr(p + 104, 5);
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_eq(ip.family, IP_V6);
	cr_assert_eq(ip.proto, PKT_PROTO_TCP);
	cr_assert_eq(ip.l4_off, 104);
	cr_assert_eq(ip.l4_hlen, 20);
	cr_assert_eq(ip.dst_off, 64 + 8); /* Segment List[0] */

	p[64 + 3] = 0; /* no segments left: the header's destination is final */
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_eq(ip.dst_off, 24);

	p[64 + 2] = 0; /* type 0 with two addresses: the last one */
	p[64 + 3] = 2;
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_eq(ip.dst_off, 64 + 8 + 16);

	/* hop-by-hop anywhere but first is refused */
	ext(p + 40, PKT_PROTO_HOPOPTS, 0);
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG);
	ext(p + 40, PKT_PROTO_DSTOPTS, 0);
	/* an extension header that runs past the payload */
	ext(p + 64, PKT_PROTO_TCP, 9);
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG);
}

Test(pkt_parse, ipv6_limits_and_fragments)
{
	uint8_t p[300];
	struct pkt_ip ip;

	/* nine destination options headers: one too many */
	size_t n = make_v6(p, PKT_PROTO_DSTOPTS, 9 * 8 + 8);
	for (int i = 0; i < 9; i++)
		ext(p + 40 + (size_t)8 * i, i == 8 ? PKT_PROTO_UDP : PKT_PROTO_DSTOPTS, 0);
	cr_assert_eq(pkt_parse(p, n, &ip), -ELOOP);
	ext(p + 40 + (size_t)8 * 7, PKT_PROTO_UDP, 0); /* eight are fine */
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_eq(ip.proto, PKT_PROTO_UDP);
	cr_assert_eq(ip.l4_off, 40 + 64);

	/* fragment header: offset 0, M=1 (a first fragment) */
	n = make_v6(p, PKT_PROTO_FRAGMENT, 8 + 4);
	ext(p + 40, PKT_PROTO_TCP, 0);
	pkt_put16(p + 42, 0x0001);
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert(ip.frag);
	cr_assert_eq(ip.proto, PKT_PROTO_TCP);
	cr_assert_eq(ip.l4_off, 48);
	/* an atomic fragment (RFC 6946) is a whole packet: its TCP header must fit */
	pkt_put16(p + 42, 0);
	cr_assert_eq(pkt_parse(p, n, &ip), -EBADMSG);

	/* payload length beyond the buffer; header cut short; wrong version */
	n = make_v6(p, PKT_PROTO_NONE, 10);
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_eq(ip.proto, PKT_PROTO_NONE);
	cr_assert_eq(pkt_parse(p, n - 1, &ip), -EBADMSG);
	cr_assert_eq(pkt_parse(p, 39, &ip), -EBADMSG);
	p[0] = 0x70;
	cr_assert_eq(pkt_parse(p, n, &ip), -EAFNOSUPPORT);
}

Test(pkt_parse, every_truncation_and_random_bytes_are_safe)
{
	uint8_t p[200], q[200];
	struct pkt_ip ip;
	size_t n = make_v6(p, PKT_PROTO_DSTOPTS, 8 + 20 + 30);
	ext(p + 40, PKT_PROTO_TCP, 0);
	tcp_hdr(p + 48, 5);
	for (size_t cut = 0; cut < n; cut++) {
		memcpy(q, p, cut); /* q holds exactly `cut` meaningful octets */
		require(pkt_parse(q, cut, &ip) != 0, "truncated packet accepted", (long long)cut);
	}
	struct rng r = {99};
	for (int it = 0; it < 100000; it++) {
		size_t len = rng_below(&r, sizeof(q));
		rng_fill(&r, q, len);
		if (len)
			q[0] = (uint8_t)((it & 1 ? 0x40 : 0x60) | (q[0] & 0x0f));
		if (pkt_parse(q, len, &ip) == 0) {
			require(ip.len <= len && ip.l4_off <= ip.len, "bounds", it);
			require(ip.l4_off + ip.l4_hlen <= ip.len, "l4 bounds", it);
			require(ip.dst_off + (ip.family == IP_V4 ? 4 : 16) <= ip.len, "dst", it);
		}
	}
}

/* ---- transport checksums ---- */

Test(pkt_l4, verifies_tcp_udp_icmp)
{
	uint8_t p[200];
	struct pkt_ip ip;
	size_t n = make_v4(p, 5, PKT_PROTO_UDP, 8 + 13);
	pkt_put16(p + 24, 21);
	for (int i = 0; i < 13; i++)
		p[28 + i] = (uint8_t)(i * 11);
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert(pkt_l4_csum_ok(p, &ip)); /* checksum 0: none, over IPv4 */
	uint32_t s = pkt_pseudo(p, &ip, PKT_PROTO_UDP, 21);
	pkt_put16(p + 26, pkt_csum_finish(pkt_csum_add(s, p + 20, 21)));
	cr_assert(pkt_l4_csum_ok(p, &ip));
	p[40] ^= 1;
	cr_assert_not(pkt_l4_csum_ok(p, &ip));

	n = make_v6(p, PKT_PROTO_ICMPV6, 8 + 4);
	p[40] = 128;
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_not(pkt_l4_csum_ok(p, &ip));
	s = pkt_pseudo(p, &ip, PKT_PROTO_ICMPV6, 12);
	pkt_put16(p + 42, pkt_csum_finish(pkt_csum_add(s, p + 40, 12)));
	cr_assert(pkt_l4_csum_ok(p, &ip));

	n = make_v6(p, PKT_PROTO_UDP, 8);
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	cr_assert_not(pkt_l4_csum_ok(p, &ip)); /* zero UDP checksum over IPv6 is invalid */

	n = make_v4(p, 5, PKT_PROTO_ICMP, 8);
	p[20] = 8;
	cr_assert_eq(pkt_parse(p, n, &ip), 0);
	pkt_put16(p + 22, ref_csum(p + 20, 8));
	cr_assert(pkt_l4_csum_ok(p, &ip));
}

/* ---- virtio-net header ---- */

Test(pkt_vnet, layout_matches_kernel_struct)
{
	struct virtio_net_hdr k = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
		.hdr_len = 74,
		.gso_size = 1348,
		.csum_start = 40,
		.csum_offset = 16,
	};
	uint8_t raw[PKT_VNET_HDR_LEN];
	memcpy(raw, &k, sizeof(raw));

	struct pkt_vnet_hdr h;
	pkt_vnet_hdr_read(raw, &h);
	cr_assert_eq(h.flags, PKT_VNET_F_NEEDS_CSUM);
	cr_assert_eq(h.gso_type, PKT_VNET_GSO_TCPV6);
	cr_assert_eq(h.hdr_len, 74);
	cr_assert_eq(h.gso_size, 1348);
	cr_assert_eq(h.csum_start, 40);
	cr_assert_eq(h.csum_offset, 16);

	uint8_t back[PKT_VNET_HDR_LEN];
	pkt_vnet_hdr_write(&h, back);
	cr_assert_arr_eq(back, raw, sizeof(raw));
}
