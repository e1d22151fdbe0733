#include "edge/dp/pkt.h"

#include <errno.h>
#include <string.h>

#include <linux/virtio_net.h>

_Static_assert(PKT_VNET_HDR_LEN == sizeof(struct virtio_net_hdr), "legacy virtio-net header");
_Static_assert(PKT_VNET_F_NEEDS_CSUM == VIRTIO_NET_HDR_F_NEEDS_CSUM, "NEEDS_CSUM");
_Static_assert(PKT_VNET_F_DATA_VALID == VIRTIO_NET_HDR_F_DATA_VALID, "DATA_VALID");
_Static_assert(PKT_VNET_GSO_TCPV4 == VIRTIO_NET_HDR_GSO_TCPV4, "GSO_TCPV4");
_Static_assert(PKT_VNET_GSO_TCPV6 == VIRTIO_NET_HDR_GSO_TCPV6, "GSO_TCPV6");
_Static_assert(PKT_VNET_GSO_UDP == VIRTIO_NET_HDR_GSO_UDP, "GSO_UDP");
_Static_assert(PKT_VNET_GSO_ECN == VIRTIO_NET_HDR_GSO_ECN, "GSO_ECN");
#ifdef VIRTIO_NET_HDR_GSO_UDP_L4
_Static_assert(PKT_VNET_GSO_UDP_L4 == VIRTIO_NET_HDR_GSO_UDP_L4, "GSO_UDP_L4");
#endif

/* ---- checksums ---- */

/*
 * RFC 1071 §2: the one's complement sum does not depend on byte order (B) and may be computed
 * over wider words, folding at the end (C). So the loop adds native 32-bit halves of 64-bit
 * loads into 64-bit accumulators, which cannot overflow below 2^32 additions (any packet), and
 * only the folded 16-bit result is swapped to big-endian word order.
 */
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	return (uint16_t)s;
}

/* A 16-bit sum of native words as the sum of big-endian words. */
static inline uint16_t native_to_be16(uint16_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

static inline uint32_t add32(uint32_t a, uint32_t b)
{
	uint64_t t = (uint64_t)a + b;
	return (uint32_t)((t & 0xffffffffu) + (t >> 32));
}

/* The tail of a region (fewer than 8 octets), zero-padded, as one native 64-bit word. */
static inline uint64_t load_tail(const uint8_t *p, size_t n)
{
	uint8_t t[8] = {0};
	memcpy(t, p, n);
	return load64(t);
}

static uint64_t sum_native(const uint8_t *p, size_t len)
{
	uint64_t a = 0, b = 0, c = 0, d = 0;

	for (; len >= 32; p += 32, len -= 32) {
		uint64_t w0 = load64(p), w1 = load64(p + 8);
		uint64_t w2 = load64(p + 16), w3 = load64(p + 24);
		a += (w0 & 0xffffffffu) + (w2 & 0xffffffffu);
		b += (w0 >> 32) + (w2 >> 32);
		c += (w1 & 0xffffffffu) + (w3 & 0xffffffffu);
		d += (w1 >> 32) + (w3 >> 32);
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w = load64(p);
		a += w & 0xffffffffu;
		b += w >> 32;
	}
	if (len) {
		uint64_t w = load_tail(p, len);
		c += w & 0xffffffffu;
		d += w >> 32;
	}
	return a + b + c + d;
}

uint32_t pkt_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	return add32(sum, native_to_be16(fold64(sum_native(p, len))));
}

uint32_t pkt_csum_copy(uint32_t sum, uint8_t *dst, const uint8_t *src, size_t len)
{
	uint64_t a = 0, b = 0, c = 0, d = 0;

	for (; len >= 32; src += 32, dst += 32, len -= 32) {
		uint64_t w0 = load64(src), w1 = load64(src + 8);
		uint64_t w2 = load64(src + 16), w3 = load64(src + 24);
		memcpy(dst, &w0, 8);
		memcpy(dst + 8, &w1, 8);
		memcpy(dst + 16, &w2, 8);
		memcpy(dst + 24, &w3, 8);
		a += (w0 & 0xffffffffu) + (w2 & 0xffffffffu);
		b += (w0 >> 32) + (w2 >> 32);
		c += (w1 & 0xffffffffu) + (w3 & 0xffffffffu);
		d += (w1 >> 32) + (w3 >> 32);
	}
	for (; len >= 8; src += 8, dst += 8, len -= 8) {
		uint64_t w = load64(src);
		memcpy(dst, &w, 8);
		a += w & 0xffffffffu;
		b += w >> 32;
	}
	if (len) {
		memcpy(dst, src, len);
		uint64_t w = load_tail(src, len);
		c += w & 0xffffffffu;
		d += w >> 32;
	}
	return add32(sum, native_to_be16(fold64(a + b + c + d)));
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t pkt_csum_finish(uint32_t sum)
{
	return (uint16_t)~pkt_csum_fold(sum);
}

uint32_t pkt_csum_combine(uint32_t a, uint32_t b)
{
	return add32(a, b);
}

uint16_t pkt_csum_update16(uint16_t csum, uint16_t from, uint16_t to)
{
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
	uint32_t s = (uint32_t)(uint16_t)~csum + (uint16_t)~from + to;
	return pkt_csum_finish(s);
}

uint16_t pkt_csum_update32(uint16_t csum, uint32_t from, uint32_t to)
{
	uint32_t s = (uint32_t)(uint16_t)~csum;
	s += (uint16_t) ~(from >> 16);
	s += (uint16_t)~from;
	s += to >> 16;
	s += to & 0xffffu;
	return pkt_csum_finish(s);
}

uint32_t pkt_pseudo_v4(const uint8_t src[static 4], const uint8_t dst[static 4], uint8_t proto,
		       uint16_t l4_len)
{
	uint32_t s = pkt_get16(src) + (uint32_t)pkt_get16(src + 2);
	s += pkt_get16(dst) + (uint32_t)pkt_get16(dst + 2);
	return s + proto + l4_len;
}

uint32_t pkt_pseudo_v6(const uint8_t src[static 16], const uint8_t dst[static 16], uint8_t proto,
		       uint32_t l4_len)
{
	uint32_t s = 0;
	for (unsigned i = 0; i < 16; i += 2)
		s += pkt_get16(src + i) + (uint32_t)pkt_get16(dst + i);
	return s + proto + (l4_len >> 16) + (l4_len & 0xffffu);
}

uint32_t pkt_pseudo(const uint8_t *p, const struct pkt_ip *ip, uint8_t proto, uint32_t l4_len)
{
	if (ip->family == IP_V4)
		return pkt_pseudo_v4(p + PKT_OFF_IP4_SRC, p + ip->dst_off, proto, (uint16_t)l4_len);
	return pkt_pseudo_v6(p + PKT_OFF_IP6_SRC, p + ip->dst_off, proto, l4_len);
}

void pkt_ip4_csum_set(uint8_t *p, size_t hlen)
{
	p[PKT_OFF_IP4_CSUM] = 0;
	p[PKT_OFF_IP4_CSUM + 1] = 0;
	pkt_put16(p + PKT_OFF_IP4_CSUM, pkt_csum_finish(pkt_csum_add(0, p, hlen)));
}

bool pkt_ip4_csum_ok(const uint8_t *p, const struct pkt_ip *ip)
{
	return ip->family == IP_V4 && pkt_csum_fold(pkt_csum_add(0, p, ip->l4_off)) == 0xffff;
}

bool pkt_l4_csum_ok(const uint8_t *p, const struct pkt_ip *ip)
{
	if (ip->frag)
		return false;
	size_t l4_len = (size_t)ip->len - ip->l4_off;
	const uint8_t *l4 = p + ip->l4_off;
	uint32_t sum;

	switch (ip->proto) {
	case PKT_PROTO_TCP:
		if (l4_len < PKT_TCP_HDR_MIN)
			return false;
		sum = pkt_pseudo(p, ip, ip->proto, (uint32_t)l4_len);
		break;
	case PKT_PROTO_UDP:
		if (l4_len < PKT_UDP_HDR_LEN)
			return false;
		if (pkt_get16(l4 + PKT_OFF_UDP_CSUM) == 0)
			return ip->family == IP_V4; /* RFC 768: none; RFC 8200 §8.1: invalid */
		sum = pkt_pseudo(p, ip, ip->proto, (uint32_t)l4_len);
		break;
	case PKT_PROTO_ICMP:
		if (ip->family != IP_V4 || l4_len < PKT_ICMP_HDR_LEN)
			return false;
		sum = 0;
		break;
	case PKT_PROTO_ICMPV6:
		if (ip->family != IP_V6 || l4_len < PKT_ICMP_HDR_LEN)
			return false;
		sum = pkt_pseudo(p, ip, ip->proto, (uint32_t)l4_len);
		break;
	default:
		return false;
	}
	return pkt_csum_fold(pkt_csum_add(sum, l4, l4_len)) == 0xffff;
}

/* ---- parsing ---- */

static int parse_v4(const uint8_t *p, size_t len, struct pkt_ip *out)
{
	if (len < PKT_IPV4_HDR_MIN)
		return -EBADMSG;
	size_t hlen = (size_t)(p[0] & 0x0f) * 4;
	size_t tot = pkt_get16(p + PKT_OFF_IP4_TOT_LEN);
	if (hlen < PKT_IPV4_HDR_MIN || tot < hlen || tot > len)
		return -EBADMSG;
	uint16_t frag = pkt_get16(p + PKT_OFF_IP4_FRAG);
	out->family = IP_V4;
	out->proto = p[PKT_OFF_IP4_PROTO];
	out->frag = (frag & (PKT_IP4_MF | PKT_IP4_OFFMASK)) != 0;
	out->l4_off = (uint16_t)hlen;
	out->len = (uint16_t)tot;
	out->dst_off = PKT_OFF_IP4_DST;
	return 0;
}

/*
 * A routing header with segments left names the final destination, which the upper-layer
 * pseudo-header uses (RFC 8200 §8.1): type 0 (RFC 8200 §4.4, deprecated) its last address, type
 * 2 (RFC 6275 §6.4) its home address, type 4 (RFC 8754 §2) Segment List[0]. Others (RPL's
 * compressed addresses) keep the header's destination.
 */
static void routing_final_dst(const uint8_t *rh, size_t rh_off, size_t rh_len, struct pkt_ip *out)
{
	uint8_t type = rh[2], left = rh[3];
	size_t naddr = (rh_len - 8) / 16;

	if (left == 0 || naddr == 0)
		return;
	if (type == 0)
		out->dst_off = (uint16_t)(rh_off + 8 + 16 * (naddr - 1));
	else if (type == 2 || type == 4)
		out->dst_off = (uint16_t)(rh_off + 8);
}

static int parse_v6(const uint8_t *p, size_t len, struct pkt_ip *out)
{
	if (len < PKT_IPV6_HDR_LEN)
		return -EBADMSG;
	size_t tot = PKT_IPV6_HDR_LEN + (size_t)pkt_get16(p + PKT_OFF_IP6_PLEN);
	if (tot > len || tot > PKT_IP_MAX)
		return -EBADMSG;
	out->family = IP_V6;
	out->len = (uint16_t)tot;
	out->dst_off = PKT_OFF_IP6_DST;

	uint8_t nh = p[PKT_OFF_IP6_NEXT];
	size_t off = PKT_IPV6_HDR_LEN;
	for (unsigned n = 0;; n++) {
		size_t hlen;
		if (nh != PKT_PROTO_HOPOPTS && nh != PKT_PROTO_ROUTING && nh != PKT_PROTO_DSTOPTS &&
		    nh != PKT_PROTO_FRAGMENT && nh != PKT_PROTO_AH)
			break;
		if (n == PKT_IPV6_EXT_MAX)
			return -ELOOP;
		if (tot - off < 8 || (nh == PKT_PROTO_HOPOPTS && n != 0))
			return -EBADMSG; /* every extension header is 8 octets at least */
		if (nh == PKT_PROTO_FRAGMENT)
			hlen = 8;
		else if (nh == PKT_PROTO_AH)
			hlen = ((size_t)p[off + 1] + 2) * 4;
		else
			hlen = ((size_t)p[off + 1] + 1) * 8;
		if (hlen > tot - off)
			return -EBADMSG;
		if (nh == PKT_PROTO_ROUTING)
			routing_final_dst(p + off, off, hlen, out);
		uint8_t next = p[off];
		if (nh == PKT_PROTO_FRAGMENT) {
			/* RFC 6946: an atomic fragment (offset 0, M 0) is a whole packet. */
			out->frag = (pkt_get16(p + off + 2) & 0xfff9) != 0;
			if (out->frag) {
				nh = next;
				off += hlen;
				break; /* what follows belongs to the reassembled datagram */
			}
		}
		nh = next;
		off += hlen;
	}
	out->proto = nh;
	out->l4_off = (uint16_t)off;
	return 0;
}

static int parse_l4(const uint8_t *p, struct pkt_ip *out)
{
	size_t left = (size_t)out->len - out->l4_off;

	if (out->frag)
		return 0;
	if (out->proto == PKT_PROTO_TCP) {
		if (left < PKT_TCP_HDR_MIN)
			return -EBADMSG;
		size_t thl = (size_t)(p[out->l4_off + PKT_OFF_TCP_DOFF] >> 4) * 4;
		if (thl < PKT_TCP_HDR_MIN || thl > left)
			return -EBADMSG;
		out->l4_hlen = (uint8_t)thl;
	} else if (out->proto == PKT_PROTO_UDP) {
		if (left < PKT_UDP_HDR_LEN)
			return -EBADMSG;
		out->l4_hlen = PKT_UDP_HDR_LEN;
	}
	return 0;
}

int pkt_parse(const uint8_t *p, size_t len, struct pkt_ip *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -EBADMSG;
	switch (p[0] >> 4) {
	case 4:
		rc = parse_v4(p, len, out);
		break;
	case 6:
		rc = parse_v6(p, len, out);
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (rc == 0)
		rc = parse_l4(p, out);
	return rc;
}

void pkt_addrs(const uint8_t *p, const struct pkt_ip *ip, struct ip_addr *src, struct ip_addr *dst)
{
	size_t n = ip->family == IP_V4 ? 4 : 16;
	size_t so = ip->family == IP_V4 ? PKT_OFF_IP4_SRC : PKT_OFF_IP6_SRC;
	size_t doff = ip->family == IP_V4 ? PKT_OFF_IP4_DST : PKT_OFF_IP6_DST;

	if (src) {
		memset(src, 0, sizeof(*src));
		src->family = ip->family;
		memcpy(src->bytes, p + so, n);
	}
	if (dst) {
		memset(dst, 0, sizeof(*dst));
		dst->family = ip->family;
		memcpy(dst->bytes, p + doff, n);
	}
}

/* ---- virtio-net header ---- */

static uint16_t get_host16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_host16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

void pkt_vnet_hdr_read(const uint8_t *p, struct pkt_vnet_hdr *out)
{
	out->flags = p[0];
	out->gso_type = p[1];
	out->hdr_len = get_host16(p + 2);
	out->gso_size = get_host16(p + 4);
	out->csum_start = get_host16(p + 6);
	out->csum_offset = get_host16(p + 8);
}

void pkt_vnet_hdr_write(const struct pkt_vnet_hdr *h, uint8_t *p)
{
	p[0] = h->flags;
	p[1] = h->gso_type;
	put_host16(p + 2, h->hdr_len);
	put_host16(p + 4, h->gso_size);
	put_host16(p + 6, h->csum_start);
	put_host16(p + 8, h->csum_offset);
}
