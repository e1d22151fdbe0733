/*
 * MSS clamping and ICMP "packet too big": SYN and SYN-ACK over IPv4 and IPv6 are clamped only
 * when their MSS exceeds the limit, with the checksum still verifying (checked by an
 * independent computation), also for an MSS option at an odd offset and over random option
 * layouts; other packets and malformed options are left alone. The ICMPv4 and ICMPv6 replies
 * parse as valid ICMP with the right type, code, MTU, addresses, quote and checksums, and every
 * case in which no reply may be sent is silent.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "edge/dp/mss.h"
#include "edge/dp/pkt.h"
#include "tests/unit/edge/pkt_reference.h"

static size_t ip_hlen(const uint8_t *p)
{
	return (p[0] >> 4) == 4 ? (size_t)(p[0] & 0x0f) * 4 : 40;
}

static bool tcp_ok(const uint8_t *p, size_t len)
{
	size_t l4 = ip_hlen(p);
	return ref_sum(ref_pseudo(p, PKT_PROTO_TCP, len - l4), p + l4, len - l4) == 0xffff;
}

/* A TCP packet with the given flags, options and payload, and a correct checksum. */
static size_t mk_tcp(uint8_t *p, uint8_t family, uint8_t flags, const uint8_t *opt, size_t optlen,
		     size_t payload)
{
	size_t l4 = family == IP_V4 ? 20 : 40, thl = 20 + optlen, tot = l4 + thl + payload;
	memset(p, 0, tot);
	if (family == IP_V4) {
		p[0] = 0x45;
		pkt_put16(p + 2, (uint16_t)tot);
		pkt_put16(p + 6, PKT_IP4_DF);
		p[8] = 64;
		p[9] = PKT_PROTO_TCP;
		const uint8_t a[8] = {172, 16, 0, 9, 172, 17, 1, 1};
		memcpy(p + 12, a, 8);
		pkt_ip4_csum_set(p, 20);
	} else {
		p[0] = 0x60;
		pkt_put16(p + 4, (uint16_t)(thl + payload));
		p[6] = PKT_PROTO_TCP;
		p[7] = 64;
		p[8] = 0x20;
		p[9] = 0x01;
		p[23] = 9;
		p[24] = 0x20;
		p[25] = 0x01;
		p[39] = 1;
	}
	uint8_t *t = p + l4;
	pkt_put16(t, 51000);
	pkt_put16(t + 2, 22);
	pkt_put32(t + 4, 0xdeadbeef);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	pkt_put16(t + 14, 64240);
	memcpy(t + 20, opt, optlen);
	for (size_t i = 0; i < payload; i++)
		t[thl + i] = (uint8_t)i;
	pkt_put16(t + 16, (uint16_t)~ref_sum(ref_pseudo(p, PKT_PROTO_TCP, thl + payload), t,
					     thl + payload));
	return tot;
}

/* The usual SYN options: MSS, SACK permitted, timestamps, NOP, window scale. */
static const uint8_t syn_opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
				     0, 1, 0,    0,    0, 0, 1, 3,  3, 7};

/* ---- clamping ---- */

Test(mss_clamp, ipv4_syn_and_synack_clamped_when_larger)
{
	uint8_t p[200], before[200];
	const uint8_t flags[2] = {PKT_TCP_SYN, PKT_TCP_SYN | PKT_TCP_ACK};
	for (int k = 0; k < 2; k++) {
		size_t n = mk_tcp(p, IP_V4, flags[k], syn_opts, sizeof(syn_opts), 0);
		memcpy(before, p, n);
		cr_assert_eq(mss_clamp(p, n, 1400, false), MSS_CLAMPED);
		cr_assert_eq(pkt_get16(p + 42), 1360);
		cr_assert(tcp_ok(p, n));
		/* nothing else changed */
		cr_assert_arr_eq(p, before, 36);
		cr_assert_arr_eq(p + 38, before + 38, 4);
		cr_assert_arr_eq(p + 44, before + 44, n - 44);
		/* again: already within the limit */
		memcpy(before, p, n);
		cr_assert_eq(mss_clamp(p, n, 1400, false), MSS_KEPT);
		cr_assert_arr_eq(p, before, n);
	}
}

Test(mss_clamp, ipv6_limit_is_sixty_below_mtu)
{
	uint8_t p[200];
	size_t n = mk_tcp(p, IP_V6, PKT_TCP_SYN, syn_opts, sizeof(syn_opts), 0);
	cr_assert_eq(mss_clamp(p, n, 1400, false), MSS_CLAMPED);
	cr_assert_eq(pkt_get16(p + 62), 1340);
	cr_assert(tcp_ok(p, n));
	cr_assert_eq(mss_for_mtu(IP_V6, 1400), 1340);
	cr_assert_eq(mss_for_mtu(IP_V4, 1400), 1360);
	cr_assert_eq(mss_for_mtu(IP_V4, 40), 0);
	cr_assert_eq(mss_for_mtu(IP_V4, 200000), 0xffff);
}

Test(mss_clamp, within_limit_or_absent_kept)
{
	uint8_t p[200], before[200];
	size_t n = mk_tcp(p, IP_V4, PKT_TCP_SYN, syn_opts, sizeof(syn_opts), 0);
	memcpy(before, p, n);
	cr_assert_eq(mss_clamp(p, n, 1500, false), MSS_KEPT); /* 1460 == limit */
	cr_assert_arr_eq(p, before, n);
	const uint8_t no_mss[4] = {1, 1, 4, 2};
	n = mk_tcp(p, IP_V4, PKT_TCP_SYN, no_mss, sizeof(no_mss), 0);
	memcpy(before, p, n);
	cr_assert_eq(mss_clamp(p, n, 1000, false), MSS_KEPT);
	cr_assert_arr_eq(p, before, n);

	/* an MTU below the minimum counts as the minimum: IPv4 68 -> MSS 28, IPv6 1280 -> 1220 */
	n = mk_tcp(p, IP_V4, PKT_TCP_SYN, syn_opts, sizeof(syn_opts), 0);
	cr_assert_eq(mss_clamp(p, n, 10, false), MSS_CLAMPED);
	cr_assert_eq(pkt_get16(p + 42), 28);
	cr_assert(tcp_ok(p, n));
	n = mk_tcp(p, IP_V6, PKT_TCP_SYN, syn_opts, sizeof(syn_opts), 0);
	cr_assert_eq(mss_clamp(p, n, 600, false), MSS_CLAMPED);
	cr_assert_eq(pkt_get16(p + 62), 1220);
}

Test(mss_clamp, odd_offset_option)
{
	/* NOP, MSS, NOP NOP NOP: the value sits at TCP offset 23 */
	const uint8_t opt[8] = {1, 2, 4, 0x23, 0x28, 1, 1, 1};
	uint8_t p[200];
	size_t n = mk_tcp(p, IP_V4, PKT_TCP_SYN | PKT_TCP_ACK, opt, sizeof(opt), 0);
	cr_assert_eq(mss_clamp(p, n, 1280, false), MSS_CLAMPED);
	cr_assert_eq(pkt_get16(p + 20 + 23), 1240);
	cr_assert(tcp_ok(p, n));
}

Test(mss_clamp, others_untouched)
{
	uint8_t p[200], before[200];
	size_t n = mk_tcp(p, IP_V4, PKT_TCP_ACK, syn_opts, sizeof(syn_opts), 10);
	memcpy(before, p, n);
	cr_assert_eq(mss_clamp(p, n, 576, false), MSS_NOT_SYN);
	n = mk_tcp(p, IP_V4, PKT_TCP_SYN | PKT_TCP_RST, syn_opts, sizeof(syn_opts), 0);
	cr_assert_eq(mss_clamp(p, n, 576, false), MSS_NOT_SYN);
	n = mk_tcp(p, IP_V4, PKT_TCP_SYN, syn_opts, sizeof(syn_opts), 0);
	p[9] = PKT_PROTO_UDP;
	cr_assert_eq(mss_clamp(p, n, 576, false), MSS_NOT_SYN);
	p[9] = PKT_PROTO_TCP;
	pkt_put16(p + 6, PKT_IP4_MF);
	cr_assert_eq(mss_clamp(p, n, 576, false), MSS_NOT_SYN);
	cr_assert_eq(mss_clamp(p, 10, 576, false), MSS_MALFORMED);
}

Test(mss_clamp, malformed_options_untouched)
{
	const uint8_t bad[][8] = {
		{2, 3, 5, 0xb4, 1, 1, 1, 1}, /* MSS of length 3 */
		{1, 1, 8, 0, 0, 0, 0, 0},    /* length 0 */
		{1, 1, 1, 1, 1, 1, 3, 9},    /* runs past the header */
		{1, 1, 1, 1, 1, 1, 1, 2},    /* kind without length at the end */
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		uint8_t p[200], before[200];
		size_t n = mk_tcp(p, IP_V4, PKT_TCP_SYN, bad[k], 8, 0);
		memcpy(before, p, n);
		require(mss_clamp(p, n, 576, false) == MSS_MALFORMED, "malformed", (long long)k);
		require(memcmp(p, before, n) == 0, "unchanged", (long long)k);
	}
	/* after End of Option List nothing is parsed */
	const uint8_t eol[8] = {2, 4, 0x05, 0xb4, 0, 9, 9, 9};
	uint8_t p[200];
	size_t n = mk_tcp(p, IP_V4, PKT_TCP_SYN, eol, 8, 0);
	cr_assert_eq(mss_clamp(p, n, 576, false), MSS_CLAMPED);
	cr_assert(tcp_ok(p, n));
}

Test(mss_clamp, partial_checksum_left_alone)
{
	uint8_t p[200];
	size_t n = mk_tcp(p, IP_V6, PKT_TCP_SYN, syn_opts, sizeof(syn_opts), 0);
	uint16_t seed = (uint16_t)ref_pseudo(p, PKT_PROTO_TCP, n - 40);
	pkt_put16(p + 56, seed); /* as read from the TUN with NEEDS_CSUM */
	cr_assert_eq(mss_clamp(p, n, 1300, true), MSS_CLAMPED);
	cr_assert_eq(pkt_get16(p + 62), 1240);
	cr_assert_eq(pkt_get16(p + 56), seed);
}

Test(mss_clamp, random_option_layouts)
{
	struct rng r = {0x3355};
	for (int it = 0; it < 20000; it++) {
		/* NOPs, SACK-permitted, window scale, timestamps and one or two MSS options in a
		 * random order, padded with NOPs to a multiple of 4 */
		uint8_t opt[40];
		size_t n = 0;
		uint16_t mss[2] = {0, 0};
		size_t at[2] = {0, 0};
		int nmss = 0;
		while (n < 28) {
			unsigned pick = rng_below(&r, 6);
			if (pick == 0 && nmss < 2) {
				mss[nmss] = (uint16_t)rng_next(&r);
				opt[n++] = 2;
				opt[n++] = 4;
				at[nmss] = 20 + n;
				pkt_put16(opt + n, mss[nmss++]);
				n += 2;
			} else if (pick == 1) {
				opt[n++] = 4;
				opt[n++] = 2;
			} else if (pick == 2) {
				opt[n++] = 3;
				opt[n++] = 3;
				opt[n++] = (uint8_t)rng_below(&r, 15);
			} else if (pick == 3 && n + 10 <= 28) {
				opt[n++] = 8;
				opt[n++] = 10;
				for (int j = 0; j < 8; j++)
					opt[n++] = (uint8_t)rng_next(&r);
			} else {
				opt[n++] = 1;
			}
		}
		while (n % 4)
			opt[n++] = 1;
		uint8_t family = rng_below(&r, 2) ? IP_V4 : IP_V6;
		unsigned mtu = 576 + rng_below(&r, 9000);
		uint8_t p[200];
		size_t len = mk_tcp(p, family, PKT_TCP_SYN, opt, n, rng_below(&r, 20));
		unsigned floor = family == IP_V4 ? MSS_ICMP4_MTU_MIN : MSS_ICMP6_MTU_MIN;
		uint16_t limit = mss_for_mtu(family, mtu < floor ? floor : mtu);
		bool need = (nmss > 0 && mss[0] > limit) || (nmss > 1 && mss[1] > limit);
		enum mss_verdict v = mss_clamp(p, len, mtu, false);
		require(v == (need ? MSS_CLAMPED : MSS_KEPT), "verdict", it);
		require(tcp_ok(p, len), "checksum after clamping", it);
		const uint8_t *t = p + (family == IP_V4 ? 20 : 40);
		for (int i = 0; i < nmss; i++) {
			uint16_t want = mss[i] > limit ? limit : mss[i];
			require(pkt_get16(t + at[i]) == want, "MSS value", pkt_get16(t + at[i]));
		}
	}
}

/* ---- ICMP ---- */

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	require(ip_addr_parse(s, &a) == 0, "address", 0);
	return a;
}

/* An IPv4 UDP packet of len octets from 192.0.2.10 to 198.51.100.20 with the given frag field. */
static size_t mk_v4(uint8_t *p, size_t len, uint16_t frag, uint8_t proto)
{
	memset(p, 0, len);
	p[0] = 0x45;
	pkt_put16(p + 2, (uint16_t)len);
	pkt_put16(p + 6, frag);
	p[8] = 64;
	p[9] = proto;
	const uint8_t a[8] = {192, 0, 2, 10, 198, 51, 100, 20};
	memcpy(p + 12, a, 8);
	for (size_t i = 20; i < len; i++)
		p[i] = (uint8_t)(i * 3);
	if (proto == PKT_PROTO_UDP)
		pkt_put16(p + 24, (uint16_t)(len - 20));
	pkt_ip4_csum_set(p, 20);
	return len;
}

static size_t mk_v6(uint8_t *p, size_t len, uint8_t next)
{
	memset(p, 0, len);
	p[0] = 0x60;
	pkt_put16(p + 4, (uint16_t)(len - 40));
	p[6] = next;
	p[7] = 64;
	p[8] = 0x20;
	p[9] = 0x01;
	p[10] = 0x0d;
	p[11] = 0xb8;
	p[23] = 0x10;
	p[24] = 0x20;
	p[25] = 0x01;
	p[26] = 0x0d;
	p[27] = 0xb8;
	p[28] = 0x02;
	p[39] = 0x20;
	for (size_t i = 40; i < len; i++)
		p[i] = (uint8_t)(i * 5);
	if (next == PKT_PROTO_UDP)
		pkt_put16(p + 44, (uint16_t)(len - 40));
	return len;
}

static uint8_t pkt_buf[3000];
static uint8_t reply[2000];

Test(mss_icmp, ipv4_fragmentation_needed)
{
	struct ip_addr local = addr("10.0.0.1");
	size_t n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_UDP), rlen;
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 576, "RFC 1812: as much as fits in 576 octets");
	struct pkt_ip ip;
	cr_assert_eq(pkt_parse(reply, rlen, &ip), 0);
	cr_assert_eq(ip.proto, PKT_PROTO_ICMP);
	cr_assert_eq(ip.len, 576);
	cr_assert_eq(ref_sum(0, reply, 20), 0xffff, "IPv4 header checksum");
	cr_assert_eq(ref_sum(0, reply + 20, rlen - 20), 0xffff, "ICMP checksum");
	cr_assert(pkt_l4_csum_ok(reply, &ip));
	cr_assert_eq(reply[8], 64);
	cr_assert_arr_eq(reply + 12, local.bytes, 4);
	cr_assert_arr_eq(reply + 16, pkt_buf + 12, 4, "to the packet's source");
	cr_assert_eq(reply[20], 3);
	cr_assert_eq(reply[21], 4);
	cr_assert_eq(pkt_get16(reply + 24), 0, "unused");
	cr_assert_eq(pkt_get16(reply + 26), 1400, "next-hop MTU");
	cr_assert_arr_eq(reply + 28, pkt_buf, 548, "the quote");

	/* a short packet is quoted whole */
	n = mk_v4(pkt_buf, 200, PKT_IP4_DF, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 100, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 28 + 200);
	cr_assert_arr_eq(reply + 28, pkt_buf, 200);
	cr_assert_eq(ref_sum(0, reply + 20, rlen - 20), 0xffff);

	/* a small buffer quotes less, down to the header and 8 octets */
	n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, 56, &rlen), MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 56);
	cr_assert_eq(ref_sum(0, reply + 20, rlen - 20), 0xffff);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, 55, &rlen),
		     MSS_ICMP_INVALID);
}

Test(mss_icmp, ipv4_no_reply_cases)
{
	struct ip_addr local = addr("10.0.0.1"), local6 = addr("fd00::1");
	size_t rlen;
	size_t n = mk_v4(pkt_buf, 1500, 0, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_FRAGMENT);
	n = mk_v4(pkt_buf, 1400, PKT_IP4_DF, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_FITS);
	cr_assert_eq(rlen, 0);

	/* ICMP errors are not answered; queries are */
	n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_ICMP);
	const uint8_t errors[5] = {3, 4, 5, 11, 12};
	for (int i = 0; i < 5; i++) {
		pkt_buf[20] = errors[i];
		require(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen) ==
				MSS_ICMP_SILENT,
			"ICMP error", errors[i]);
	}
	pkt_buf[20] = 8;
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);

	/* non-first fragment; multicast or broadcast destination; odd sources */
	n = mk_v4(pkt_buf, 1500, PKT_IP4_DF | 185, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_SILENT);
	const uint8_t dsts[2][4] = {{224, 0, 0, 5}, {255, 255, 255, 255}};
	const uint8_t srcs[4][4] = {
		{0, 0, 0, 0}, {127, 0, 0, 1}, {239, 1, 1, 1}, {255, 255, 255, 255}};
	for (int i = 0; i < 2; i++) {
		n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_UDP);
		memcpy(pkt_buf + 16, dsts[i], 4);
		require(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen) ==
				MSS_ICMP_SILENT,
			"destination", i);
	}
	for (int i = 0; i < 4; i++) {
		n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_UDP);
		memcpy(pkt_buf + 12, srcs[i], 4);
		require(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen) ==
				MSS_ICMP_SILENT,
			"source", i);
	}

	/* invalid arguments */
	n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local6, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 67, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 70000, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n - 1, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID);
}

Test(mss_icmp, ipv6_packet_too_big)
{
	struct ip_addr local = addr("fd00::1");
	size_t n = mk_v6(pkt_buf, 2000, PKT_PROTO_UDP), rlen;
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 1280, "RFC 4443 2.4(c): up to the minimum MTU");
	struct pkt_ip ip;
	cr_assert_eq(pkt_parse(reply, rlen, &ip), 0);
	cr_assert_eq(ip.proto, PKT_PROTO_ICMPV6);
	cr_assert_eq(reply[7], 64);
	cr_assert_arr_eq(reply + 8, local.bytes, 16);
	cr_assert_arr_eq(reply + 24, pkt_buf + 8, 16);
	cr_assert_eq(reply[40], 2);
	cr_assert_eq(reply[41], 0);
	cr_assert_eq(pkt_get32(reply + 44), 1400);
	cr_assert_eq(ref_sum(ref_pseudo(reply, PKT_PROTO_ICMPV6, rlen - 40), reply + 40, rlen - 40),
		     0xffff, "ICMPv6 checksum with pseudo-header");
	cr_assert(pkt_l4_csum_ok(reply, &ip));
	cr_assert_arr_eq(reply + 48, pkt_buf, 1232, "the quote");

	/* multicast destinations get Packet Too Big too (RFC 4443 2.4(e.3)) */
	pkt_buf[24] = 0xff;
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	/* short packet quoted whole */
	n = mk_v6(pkt_buf, 1300, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1280, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 1280);
	n = mk_v6(pkt_buf, 1290, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1280, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 48 + 1232);
	n = mk_v6(pkt_buf, 1281, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1280, &local, reply, 48 + 200, &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 48 + 200);
	cr_assert_eq(ref_sum(ref_pseudo(reply, PKT_PROTO_ICMPV6, 208), reply + 40, 208), 0xffff);
}

Test(mss_icmp, ipv6_no_reply_cases)
{
	struct ip_addr local = addr("fd00::1"), local4 = addr("10.0.0.1");
	size_t rlen;
	size_t n = mk_v6(pkt_buf, 2000, PKT_PROTO_ICMPV6);
	for (unsigned type = 0; type < 256; type++) {
		pkt_buf[40] = (uint8_t)type;
		enum mss_icmp_verdict want =
			type < 128 || type == 137 ? MSS_ICMP_SILENT : MSS_ICMP_REPLY;
		require(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen) ==
				want,
			"ICMPv6 type", type);
	}
	n = mk_v6(pkt_buf, 2000, PKT_PROTO_UDP);
	pkt_buf[8] = 0xff; /* multicast source */
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_SILENT);
	memset(pkt_buf + 8, 0, 16); /* unspecified source */
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_SILENT);
	n = mk_v6(pkt_buf, 2000, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1279, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local4, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 2000, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_FITS);
	cr_assert_eq(mss_icmp_too_big(pkt_buf, n, 1400, &local, reply, 87, &rlen),
		     MSS_ICMP_INVALID);
}

Test(mss_icmp, destination_unreachable_both_families)
{
	struct ip_addr local = addr("10.0.0.1"), local6 = addr("fd00::1");
	size_t n = mk_v4(pkt_buf, 84, 0, PKT_PROTO_UDP), rlen;
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 28 + 84, "a short packet is quoted whole");
	cr_assert_eq(ref_sum(0, reply, 20), 0xffff, "IPv4 header checksum");
	cr_assert_eq(ref_sum(0, reply + 20, rlen - 20), 0xffff, "ICMP checksum");
	cr_assert_arr_eq(reply + 12, local.bytes, 4);
	cr_assert_arr_eq(reply + 16, pkt_buf + 12, 4, "to the packet's source");
	cr_assert_eq(reply[20], 3, "destination unreachable");
	cr_assert_eq(reply[21], 1, "host unreachable");
	cr_assert_eq(pkt_get32(reply + 24), 0, "unused");
	cr_assert_arr_eq(reply + 28, pkt_buf, 84);
	/* DF or not, big or small: every packet of a site nobody reaches gets one ... */
	n = mk_v4(pkt_buf, 1500, PKT_IP4_DF, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 576);
	/* ... but never an ICMP error, a later fragment or a broadcast */
	n = mk_v4(pkt_buf, 84, 0, PKT_PROTO_ICMP);
	pkt_buf[20] = 3;
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_SILENT);
	n = mk_v4(pkt_buf, 84, 100, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local, reply, sizeof(reply), &rlen),
		     MSS_ICMP_SILENT);
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local6, reply, sizeof(reply), &rlen),
		     MSS_ICMP_INVALID, "an address of the other family");

	n = mk_v6(pkt_buf, 104, PKT_PROTO_UDP);
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local6, reply, sizeof(reply), &rlen),
		     MSS_ICMP_REPLY);
	cr_assert_eq(rlen, 48 + 104);
	cr_assert_eq(reply[40], 1, "destination unreachable");
	cr_assert_eq(reply[41], 0, "no route to destination");
	cr_assert_eq(ref_sum(ref_pseudo(reply, PKT_PROTO_ICMPV6, rlen - 40), reply + 40, rlen - 40),
		     0xffff, "ICMPv6 checksum with pseudo-header");
	cr_assert_arr_eq(reply + 24, pkt_buf + 8, 16, "to the packet's source");
	pkt_buf[24] = 0xff; /* a multicast destination: only Packet Too Big may answer it */
	cr_assert_eq(mss_icmp_unreachable(pkt_buf, n, &local6, reply, sizeof(reply), &rlen),
		     MSS_ICMP_SILENT);
}
