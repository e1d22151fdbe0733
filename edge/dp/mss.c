#include "edge/dp/mss.h"

#include <string.h>

#include "edge/dp/pkt.h"

enum {
	TCP_OPT_EOL = 0, /* RFC 9293 §3.2 */
	TCP_OPT_NOP = 1,
	TCP_OPT_MSS = 2,
	TCP_OPT_MSS_LEN = 4,
	ICMP4_DEST_UNREACH = 3, /* RFC 792 */
	ICMP4_HOST_UNREACH = 1, /* code: host unreachable (RFC 1812 §5.2.7.1) */
	ICMP4_FRAG_NEEDED = 4,  /* code: fragmentation needed and DF set */
	ICMP6_DEST_UNREACH = 1, /* RFC 4443 §3.1 */
	ICMP6_NO_ROUTE = 0,     /* code: no route to destination */
	ICMP6_PKT_TOO_BIG = 2,  /* RFC 4443 §3.2 */
	ICMP6_INFO_MIN = 128,   /* RFC 4443 §2.1: types below are errors */
	ICMP6_REDIRECT = 137,   /* RFC 4861 §4.5 */
	REPLY_TTL = 64,
	REPLY_TOS = 0xc0, /* RFC 1812 §4.3.2.5: precedence 6, internetwork control */
};

uint16_t mss_for_mtu(uint8_t family, unsigned mtu)
{
	unsigned hdrs = (family == IP_V4 ? PKT_IPV4_HDR_MIN : PKT_IPV6_HDR_LEN) + PKT_TCP_HDR_MIN;
	if (mtu <= hdrs)
		return 0;
	return mtu - hdrs > 0xffff ? 0xffff : (uint16_t)(mtu - hdrs);
}

/*
 * Write `mss` into the option value at t + v (two octets) and fix the checksum. A value at an
 * odd offset straddles two 16-bit words of the checksum: update the aligned 32-bit window
 * around it instead (the octet after the option is still inside the header: options end at a
 * multiple of 4).
 */
static void set_mss(uint8_t *t, size_t v, uint16_t mss, bool csum_partial)
{
	uint8_t *csum = t + PKT_OFF_TCP_CSUM;

	if (csum_partial) {
		pkt_put16(t + v, mss);
	} else if (v % 2 == 0) {
		uint16_t old = pkt_get16(t + v);
		pkt_put16(t + v, mss);
		pkt_put16(csum, pkt_csum_update16(pkt_get16(csum), old, mss));
	} else {
		uint32_t old = pkt_get32(t + v - 1);
		pkt_put16(t + v, mss);
		pkt_put16(csum, pkt_csum_update32(pkt_get16(csum), old, pkt_get32(t + v - 1)));
	}
}

enum mss_verdict mss_clamp(uint8_t *pkt, size_t len, unsigned mtu, bool csum_partial)
{
	struct pkt_ip ip;

	if (pkt_parse(pkt, len, &ip) != 0)
		return MSS_MALFORMED;
	if (ip.proto != PKT_PROTO_TCP || ip.frag)
		return MSS_NOT_SYN;
	uint8_t *t = pkt + ip.l4_off;
	if (!(t[PKT_OFF_TCP_FLAGS] & PKT_TCP_SYN) || (t[PKT_OFF_TCP_FLAGS] & PKT_TCP_RST))
		return MSS_NOT_SYN;

	const unsigned min_mtu = ip.family == IP_V4 ? MSS_ICMP4_MTU_MIN : MSS_ICMP6_MTU_MIN;
	const uint16_t limit = mss_for_mtu(ip.family, mtu < min_mtu ? min_mtu : mtu);
	const size_t end = ip.l4_hlen;
	enum mss_verdict verdict = MSS_KEPT;
	size_t i = PKT_TCP_HDR_MIN;
	while (i < end && t[i] != TCP_OPT_EOL) {
		if (t[i] == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (end - i < 2 || t[i + 1] < 2 || t[i + 1] > end - i)
			return MSS_MALFORMED;
		if (t[i] == TCP_OPT_MSS) {
			if (t[i + 1] != TCP_OPT_MSS_LEN)
				return MSS_MALFORMED;
			if (pkt_get16(t + i + 2) > limit) {
				set_mss(t, i + 2, limit, csum_partial);
				verdict = MSS_CLAMPED;
			}
		}
		i += t[i + 1];
	}
	return verdict;
}

static bool is_icmp4_error(const uint8_t *pkt, const struct pkt_ip *ip)
{
	if (ip->proto != PKT_PROTO_ICMP || ip->len <= ip->l4_off)
		return false;
	switch (pkt[ip->l4_off]) {
	case 3:  /* destination unreachable */
	case 4:  /* source quench */
	case 5:  /* redirect */
	case 11: /* time exceeded */
	case 12: /* parameter problem */
		return true;
	default:
		return false;
	}
}

/* RFC 1812 §4.3.2.7 (after RFC 1122 §3.2.2): no ICMP error about an ICMP error, a non-first
 * fragment, a packet to a broadcast or multicast address, or from an address that is not one
 * host (0/8, loopback, multicast, class E and broadcast). */
static bool silent_v4(const uint8_t *pkt, const struct pkt_ip *ip)
{
	const uint8_t *src = pkt + PKT_OFF_IP4_SRC, *dst = pkt + PKT_OFF_IP4_DST;
	const uint32_t d = pkt_get32(dst);

	if (pkt_get16(pkt + PKT_OFF_IP4_FRAG) & PKT_IP4_OFFMASK)
		return true;
	if (is_icmp4_error(pkt, ip))
		return true;
	if (d == 0xffffffffu || (dst[0] & 0xf0) == 0xe0)
		return true;
	return src[0] == 0 || src[0] == 127 || src[0] >= 0xe0;
}

/* RFC 4443 §2.4(e): no error about an ICMPv6 error or redirect, nor to a source that is not one
 * host (unspecified, loopback, multicast); only Packet Too Big may answer a multicast
 * destination (e.3). A fragment whose ICMPv6 type cannot be seen counts as an error, to be
 * safe. */
static bool silent_v6(const uint8_t *pkt, const struct pkt_ip *ip, bool too_big)
{
	static const uint8_t unspec[16] = {0};
	static const uint8_t loop[16] = {[15] = 1};
	const uint8_t *src = pkt + PKT_OFF_IP6_SRC;

	if (!too_big && pkt[PKT_OFF_IP6_DST] == 0xff)
		return true;
	if (ip->proto == PKT_PROTO_ICMPV6) {
		if (ip->frag || ip->len <= ip->l4_off)
			return true;
		uint8_t type = pkt[ip->l4_off];
		if (type < ICMP6_INFO_MIN || type == ICMP6_REDIRECT)
			return true;
	}
	return src[0] == 0xff || memcmp(src, unspec, 16) == 0 || memcmp(src, loop, 16) == 0;
}

/* The ICMP error to build: type, code and the 32-bit word after the checksum. */
struct icmp_kind {
	uint8_t type, code;
	uint32_t word;
};

static size_t build_v4(const uint8_t *pkt, const struct icmp_kind *k, const struct ip_addr *local,
		       uint8_t *out, size_t quote)
{
	const size_t hl = PKT_IPV4_HDR_MIN, total = hl + PKT_ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + hl;

	memset(out, 0, hl + PKT_ICMP_HDR_LEN);
	out[0] = 0x45;
	out[PKT_OFF_IP4_TOS] = REPLY_TOS;
	pkt_put16(out + PKT_OFF_IP4_TOT_LEN, (uint16_t)total);
	out[PKT_OFF_IP4_TTL] = REPLY_TTL;
	out[PKT_OFF_IP4_PROTO] = PKT_PROTO_ICMP;
	memcpy(out + PKT_OFF_IP4_SRC, local->bytes, 4);
	memcpy(out + PKT_OFF_IP4_DST, pkt + PKT_OFF_IP4_SRC, 4);
	pkt_ip4_csum_set(out, hl);

	icmp[0] = k->type;
	icmp[1] = k->code;
	pkt_put32(icmp + 4, k->word);
	memcpy(icmp + PKT_ICMP_HDR_LEN, pkt, quote);
	pkt_put16(icmp + PKT_OFF_ICMP_CSUM,
		  pkt_csum_finish(pkt_csum_add(0, icmp, PKT_ICMP_HDR_LEN + quote)));
	return total;
}

static size_t build_v6(const uint8_t *pkt, const struct icmp_kind *k, const struct ip_addr *local,
		       uint8_t *out, size_t quote)
{
	const size_t hl = PKT_IPV6_HDR_LEN, icmp_len = PKT_ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + hl;

	memset(out, 0, hl + PKT_ICMP_HDR_LEN);
	out[0] = 0x60;
	pkt_put16(out + PKT_OFF_IP6_PLEN, (uint16_t)icmp_len);
	out[PKT_OFF_IP6_NEXT] = PKT_PROTO_ICMPV6;
	out[PKT_OFF_IP6_HLIM] = REPLY_TTL;
	memcpy(out + PKT_OFF_IP6_SRC, local->bytes, 16);
	memcpy(out + PKT_OFF_IP6_DST, pkt + PKT_OFF_IP6_SRC, 16);

	icmp[0] = k->type;
	icmp[1] = k->code;
	pkt_put32(icmp + 4, k->word);
	memcpy(icmp + PKT_ICMP_HDR_LEN, pkt, quote);
	uint32_t sum = pkt_pseudo_v6(out + PKT_OFF_IP6_SRC, out + PKT_OFF_IP6_DST, PKT_PROTO_ICMPV6,
				     (uint32_t)icmp_len);
	pkt_put16(icmp + PKT_OFF_ICMP_CSUM, pkt_csum_finish(pkt_csum_add(sum, icmp, icmp_len)));
	return hl + icmp_len;
}

/* Build the ICMP error k answering the parsed packet pkt into out[0..cap): quote as much as the
 * reply limit and the buffer allow, but at least the packet's IP header and 8 octets (RFC
 * 792), or all of a shorter packet. */
static enum mss_icmp_verdict icmp_error(const uint8_t *pkt, const struct pkt_ip *ip,
					const struct icmp_kind *k, const struct ip_addr *local,
					uint8_t *out, size_t cap, size_t *out_len)
{
	const bool v4 = ip->family == IP_V4;
	const size_t hdrs = (v4 ? PKT_IPV4_HDR_MIN : PKT_IPV6_HDR_LEN) + PKT_ICMP_HDR_LEN;
	const size_t limit = v4 ? MSS_ICMP4_REPLY_MAX : MSS_ICMP6_REPLY_MAX;
	const size_t ip_hl = v4 ? (size_t)(pkt[0] & 0x0f) * 4 : PKT_IPV6_HDR_LEN;
	const size_t need = ip->len < ip_hl + 8 ? ip->len : ip_hl + 8;
	size_t quote = ip->len < limit - hdrs ? ip->len : limit - hdrs;
	if (cap < hdrs + need)
		return MSS_ICMP_INVALID;
	if (quote > cap - hdrs)
		quote = cap - hdrs;
	*out_len = v4 ? build_v4(pkt, k, local, out, quote) : build_v6(pkt, k, local, out, quote);
	return MSS_ICMP_REPLY;
}

enum mss_icmp_verdict mss_icmp_too_big(const uint8_t *pkt, size_t len, unsigned mtu,
				       const struct ip_addr *local, uint8_t *out, size_t cap,
				       size_t *out_len)
{
	struct pkt_ip ip;

	*out_len = 0;
	if (pkt_parse(pkt, len, &ip) != 0 || local->family != ip.family || mtu > 0xffff)
		return MSS_ICMP_INVALID;
	const bool v4 = ip.family == IP_V4;
	if (mtu < (unsigned)(v4 ? MSS_ICMP4_MTU_MIN : MSS_ICMP6_MTU_MIN))
		return MSS_ICMP_INVALID;
	if (ip.len <= mtu)
		return MSS_ICMP_FITS;
	if (v4 && !(pkt_get16(pkt + PKT_OFF_IP4_FRAG) & PKT_IP4_DF))
		return MSS_ICMP_FRAGMENT;
	if (v4 ? silent_v4(pkt, &ip) : silent_v6(pkt, &ip, true))
		return MSS_ICMP_SILENT;
	/* RFC 1191 §4: the Next-Hop MTU in the low 16 bits; RFC 4443 §3.2: the MTU, 32 bits. */
	const struct icmp_kind k =
		v4 ? (struct icmp_kind){ICMP4_DEST_UNREACH, ICMP4_FRAG_NEEDED, mtu}
		   : (struct icmp_kind){ICMP6_PKT_TOO_BIG, 0, mtu};
	return icmp_error(pkt, &ip, &k, local, out, cap, out_len);
}

enum mss_icmp_verdict mss_icmp_unreachable(const uint8_t *pkt, size_t len,
					   const struct ip_addr *local, uint8_t *out, size_t cap,
					   size_t *out_len)
{
	struct pkt_ip ip;

	*out_len = 0;
	if (pkt_parse(pkt, len, &ip) != 0 || local->family != ip.family)
		return MSS_ICMP_INVALID;
	const bool v4 = ip.family == IP_V4;
	if (v4 ? silent_v4(pkt, &ip) : silent_v6(pkt, &ip, false))
		return MSS_ICMP_SILENT;
	const struct icmp_kind k =
		v4 ? (struct icmp_kind){ICMP4_DEST_UNREACH, ICMP4_HOST_UNREACH, 0}
		   : (struct icmp_kind){ICMP6_DEST_UNREACH, ICMP6_NO_ROUTE, 0};
	return icmp_error(pkt, &ip, &k, local, out, cap, out_len);
}
