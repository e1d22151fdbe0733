#include "edge/dp/gso.h"

#include <errno.h>
#include <string.h>

/* A computed transport checksum of 0 goes out as 0xffff: for UDP 0 means "none" (RFC 768), for
 * TCP both are the same one's complement zero; skb_checksum_help() does the same. */
static uint16_t csum_field(uint32_t sum)
{
	uint16_t c = pkt_csum_finish(sum);
	return c ? c : 0xffff;
}

static int prepare_single(const struct pkt_vnet_hdr *vh, struct gso_plan *plan)
{
	const size_t len = plan->ip.len;

	plan->nsegs = 1;
	plan->seg_len = plan->last_len = plan->ip.len;
	if (!(vh->flags & PKT_VNET_F_NEEDS_CSUM)) {
		plan->kind = GSO_PASS;
		return 0;
	}
	/* An odd offset would straddle two of the summed 16-bit words: no checksum fits there. */
	if (vh->csum_start > len || (size_t)vh->csum_offset + 2 > len - vh->csum_start ||
	    vh->csum_offset % 2 != 0)
		return -ERANGE;
	plan->kind = GSO_CSUM;
	plan->csum_start = vh->csum_start;
	plan->csum_offset = vh->csum_offset;
	return 0;
}

static int prepare_gso(const struct pkt_vnet_hdr *vh, uint8_t type, struct gso_plan *plan)
{
	const struct pkt_ip *ip = &plan->ip;
	uint16_t csum_off;

	switch (type) {
	case PKT_VNET_GSO_TCPV4:
	case PKT_VNET_GSO_TCPV6:
		if (ip->proto != PKT_PROTO_TCP ||
		    ip->family != (type == PKT_VNET_GSO_TCPV4 ? IP_V4 : IP_V6))
			return -EPROTO;
		plan->kind = GSO_TCP;
		csum_off = PKT_OFF_TCP_CSUM;
		break;
	case PKT_VNET_GSO_UDP_L4:
		if (ip->proto != PKT_PROTO_UDP)
			return -EPROTO;
		plan->kind = GSO_UDP;
		csum_off = PKT_OFF_UDP_CSUM;
		break;
	default:
		return -EPROTONOSUPPORT;
	}
	if (ip->frag)
		return -EBADMSG;
	if (vh->gso_size == 0)
		return -EINVAL;
	if ((vh->flags & PKT_VNET_F_NEEDS_CSUM) &&
	    (vh->csum_start != ip->l4_off || vh->csum_offset != csum_off))
		return -ERANGE;

	size_t hdr_len = (size_t)ip->l4_off + ip->l4_hlen;
	size_t payload = ip->len - hdr_len;
	size_t nsegs = payload ? (payload + vh->gso_size - 1) / vh->gso_size : 1;
	size_t first = payload < vh->gso_size ? payload : vh->gso_size;
	plan->hdr_len = (uint16_t)hdr_len;
	plan->gso_size = vh->gso_size;
	plan->nsegs = (uint16_t)nsegs;
	plan->seg_len = (uint16_t)(hdr_len + first);
	plan->last_len = (uint16_t)(hdr_len + payload - (nsegs - 1) * vh->gso_size);
	return 0;
}

int gso_prepare(const struct pkt_vnet_hdr *vh, const uint8_t *pkt, size_t len,
		struct gso_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	int rc = pkt_parse(pkt, len, &plan->ip);
	if (rc != 0)
		return rc;
	if (vh->hdr_len > len)
		return -EMSGSIZE;
	uint8_t type = vh->gso_type & (uint8_t)~PKT_VNET_GSO_ECN;
	if (type == PKT_VNET_GSO_NONE)
		return prepare_single(vh, plan);
	return prepare_gso(vh, type, plan);
}

/* IP header of segment `i` (its headers already copied to o): lengths, IPv4 ID and checksum. */
static void fix_ip(uint8_t *o, const struct gso_plan *pl, size_t seg_len, uint16_t id)
{
	if (pl->ip.family == IP_V4) {
		pkt_put16(o + PKT_OFF_IP4_TOT_LEN, (uint16_t)seg_len);
		pkt_put16(o + PKT_OFF_IP4_ID, id);
		pkt_ip4_csum_set(o, (size_t)(o[0] & 0x0f) * 4);
	} else {
		pkt_put16(o + PKT_OFF_IP6_PLEN, (uint16_t)(seg_len - PKT_IPV6_HDR_LEN));
	}
}

static void split_tcp(const struct gso_plan *pl, const uint8_t *pkt, struct gso_seg *segs,
		      size_t headroom)
{
	const size_t l4 = pl->ip.l4_off, thl = pl->ip.l4_hlen, hl = pl->hdr_len;
	const uint32_t seq = pkt_get32(pkt + l4 + PKT_OFF_TCP_SEQ);
	const uint16_t id = pl->ip.family == IP_V4 ? pkt_get16(pkt + PKT_OFF_IP4_ID) : 0;
	const uint8_t flags = pkt[l4 + PKT_OFF_TCP_FLAGS];
	const uint32_t pseudo = pkt_pseudo(pkt, &pl->ip, PKT_PROTO_TCP, 0);

	for (size_t i = 0; i < pl->nsegs; i++) {
		const bool last = i + 1 == pl->nsegs;
		const size_t seg_len = last ? pl->last_len : pl->seg_len;
		uint8_t *o = segs[i].buf + headroom;
		uint8_t *t = o + l4;
		uint8_t f = flags;

		memcpy(o, pkt, hl);
		fix_ip(o, pl, seg_len, (uint16_t)(id + i));
		pkt_put32(t + PKT_OFF_TCP_SEQ, seq + (uint32_t)(i * pl->gso_size));
		if (!last)
			f &= (uint8_t) ~(PKT_TCP_FIN | PKT_TCP_PSH);
		if (i != 0)
			f &= (uint8_t)~PKT_TCP_CWR;
		t[PKT_OFF_TCP_FLAGS] = f;
		t[PKT_OFF_TCP_CSUM] = t[PKT_OFF_TCP_CSUM + 1] = 0;

		uint32_t sum = pkt_csum_combine(pseudo, (uint32_t)(seg_len - l4));
		sum = pkt_csum_add(sum, t, thl);
		sum = pkt_csum_copy(sum, o + hl, pkt + hl + i * pl->gso_size, seg_len - hl);
		pkt_put16(t + PKT_OFF_TCP_CSUM, pkt_csum_finish(sum));
		segs[i].len = seg_len;
	}
}

static void split_udp(const struct gso_plan *pl, const uint8_t *pkt, struct gso_seg *segs,
		      size_t headroom)
{
	const size_t l4 = pl->ip.l4_off, hl = pl->hdr_len;
	const uint16_t id = pl->ip.family == IP_V4 ? pkt_get16(pkt + PKT_OFF_IP4_ID) : 0;
	const uint32_t pseudo = pkt_pseudo(pkt, &pl->ip, PKT_PROTO_UDP, 0);

	for (size_t i = 0; i < pl->nsegs; i++) {
		const size_t seg_len = i + 1 == pl->nsegs ? pl->last_len : pl->seg_len;
		const uint16_t udp_len = (uint16_t)(seg_len - l4);
		uint8_t *o = segs[i].buf + headroom;
		uint8_t *u = o + l4;

		memcpy(o, pkt, hl);
		fix_ip(o, pl, seg_len, (uint16_t)(id + i));
		pkt_put16(u + PKT_OFF_UDP_LEN, udp_len);
		u[PKT_OFF_UDP_CSUM] = u[PKT_OFF_UDP_CSUM + 1] = 0;

		uint32_t sum = pkt_csum_combine(pseudo, udp_len);
		sum = pkt_csum_add(sum, u, PKT_UDP_HDR_LEN);
		sum = pkt_csum_copy(sum, o + hl, pkt + hl + i * pl->gso_size, seg_len - hl);
		pkt_put16(u + PKT_OFF_UDP_CSUM, csum_field(sum));
		segs[i].len = seg_len;
	}
}

/* skb_checksum_help(): the field holds the seed (the pseudo-header sum), summed along. */
static void csum_single(const struct gso_plan *pl, uint8_t *o, const uint8_t *pkt)
{
	const size_t cs = pl->csum_start, len = pl->ip.len;

	if (o != pkt)
		memcpy(o, pkt, cs);
	uint32_t sum = o != pkt ? pkt_csum_copy(0, o + cs, pkt + cs, len - cs)
				: pkt_csum_add(0, o + cs, len - cs);
	pkt_put16(o + cs + pl->csum_offset, csum_field(sum));
}

static bool seg_fits(const struct gso_seg *s, size_t headroom, size_t len, size_t tailroom)
{
	return s->cap >= headroom && s->cap - headroom >= len &&
	       s->cap - headroom - len >= tailroom;
}

int gso_split(const struct gso_plan *plan, const uint8_t *pkt, struct gso_seg *segs, size_t n,
	      size_t headroom, size_t tailroom)
{
	if (n < plan->nsegs)
		return -ENOBUFS;
	for (size_t i = 0; i < plan->nsegs; i++) {
		size_t len = i + 1 == plan->nsegs ? plan->last_len : plan->seg_len;
		if (!seg_fits(&segs[i], headroom, len, tailroom))
			return -ENOSPC;
	}
	switch (plan->kind) {
	case GSO_TCP:
		split_tcp(plan, pkt, segs, headroom);
		break;
	case GSO_UDP:
		split_udp(plan, pkt, segs, headroom);
		break;
	case GSO_CSUM:
		csum_single(plan, segs[0].buf + headroom, pkt);
		segs[0].len = plan->ip.len;
		break;
	case GSO_PASS:
		memcpy(segs[0].buf + headroom, pkt, plan->ip.len);
		segs[0].len = plan->ip.len;
		break;
	}
	return plan->nsegs;
}

int gso_csum_in_place(const struct gso_plan *plan, uint8_t *pkt)
{
	if (plan->kind == GSO_PASS)
		return 0;
	if (plan->kind != GSO_CSUM)
		return -EINVAL;
	csum_single(plan, pkt, pkt);
	return 0;
}

int gso_segment(const uint8_t *buf, size_t len, struct gso_seg *segs, size_t n, size_t headroom,
		size_t tailroom)
{
	struct pkt_vnet_hdr vh;
	struct gso_plan plan;

	if (len < PKT_VNET_HDR_LEN)
		return -EBADMSG;
	pkt_vnet_hdr_read(buf, &vh);
	int rc = gso_prepare(&vh, buf + PKT_VNET_HDR_LEN, len - PKT_VNET_HDR_LEN, &plan);
	if (rc != 0)
		return rc;
	return gso_split(&plan, buf + PKT_VNET_HDR_LEN, segs, n, headroom, tailroom);
}
