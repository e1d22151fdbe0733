#include "edge/dp/gro.h"

#include <errno.h>
#include <string.h>

/* What a merge attempt did. */
enum merge {
	MERGE_NO,   /* the segment does not join: end the flow's super-packet */
	MERGE_OPEN, /* joined; more may follow */
	MERGE_LAST, /* joined as the last segment (short or PSH): end the super-packet */
};

int gro_init(struct gro *g, const struct gro_config *cfg)
{
	memset(g, 0, sizeof(*g));
	if (!cfg->out || cfg->out_cap == 0 || cfg->max_flows == 0 ||
	    cfg->max_flows > GRO_FLOWS_MAX ||
	    (cfg->nbufs != 0 && (!cfg->bufs || cfg->buf_cap < GRO_SUPER_MAX)))
		return -EINVAL;
	g->cfg = *cfg;
	return 0;
}

void gro_begin(struct gro *g)
{
	g->n_out = 0;
	g->bufs_used = 0;
	g->nflows = 0;
}

static bool is_v4(const uint8_t *p)
{
	return (p[0] >> 4) == 4;
}

static uint32_t pseudo_tcp(const uint8_t *p, size_t l4_off, size_t len)
{
	if (is_v4(p))
		return pkt_pseudo_v4(p + PKT_OFF_IP4_SRC, p + PKT_OFF_IP4_DST, PKT_PROTO_TCP,
				     (uint16_t)(len - l4_off));
	return pkt_pseudo_v6(p + PKT_OFF_IP6_SRC, p + PKT_OFF_IP6_DST, PKT_PROTO_TCP,
			     (uint32_t)(len - l4_off));
}

/* The first octets of the flow's super-packet: in its buffer, or the caller's first packet. */
static const uint8_t *flow_head(const struct gro *g, const struct gro_flow *f)
{
	return f->buf ? f->buf : g->cfg.out[f->item].data;
}

/* Turn a flow's output entry into a super-packet (if it took more than one segment). */
static void flow_finish(struct gro *g, const struct gro_flow *f)
{
	struct gro_pkt *o = &g->cfg.out[f->item];
	if (o->segs < 2)
		return;

	uint8_t *b = f->buf;
	uint8_t *t = b + f->l4_off;
	const bool v4 = is_v4(b);
	if (v4) {
		pkt_put16(b + PKT_OFF_IP4_TOT_LEN, (uint16_t)o->len);
		pkt_ip4_csum_set(b, f->l4_off);
	} else {
		pkt_put16(b + PKT_OFF_IP6_PLEN, (uint16_t)(o->len - PKT_IPV6_HDR_LEN));
	}
	/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented. */
	pkt_put16(t + PKT_OFF_TCP_CSUM, pkt_csum_fold(pseudo_tcp(b, f->l4_off, o->len)));

	struct pkt_vnet_hdr vh = {
		.flags = PKT_VNET_F_NEEDS_CSUM,
		.gso_type = v4 ? PKT_VNET_GSO_TCPV4 : PKT_VNET_GSO_TCPV6,
		.hdr_len = f->hdr_len,
		.gso_size = f->gso_size,
		.csum_start = f->l4_off,
		.csum_offset = PKT_OFF_TCP_CSUM,
	};
	if (t[PKT_OFF_TCP_FLAGS] & PKT_TCP_CWR)
		vh.gso_type |= PKT_VNET_GSO_ECN;
	pkt_vnet_hdr_write(&vh, o->vnet);
}

static void flow_remove(struct gro *g, unsigned i)
{
	flow_finish(g, &g->flows[i]);
	memmove(&g->flows[i], &g->flows[i + 1], (g->nflows - i - 1) * sizeof(g->flows[0]));
	g->nflows--;
}

/* The flow (same addresses and ports) of a TCP packet, or -1. */
static int flow_find(const struct gro *g, const uint8_t *p, const struct pkt_ip *ip)
{
	const size_t ao = ip->family == IP_V4 ? PKT_OFF_IP4_SRC : PKT_OFF_IP6_SRC;
	const size_t an = ip->family == IP_V4 ? 8 : 32;
	const uint8_t *ports = p + ip->l4_off;

	for (unsigned i = 0; i < g->nflows; i++) {
		const struct gro_flow *f = &g->flows[i];
		const uint8_t *h = flow_head(g, f);
		if ((h[0] >> 4) == (p[0] >> 4) && memcmp(h + f->l4_off, ports, 4) == 0 &&
		    memcmp(h + ao, p + ao, an) == 0)
			return (int)i;
	}
	return -1;
}

/* A TCP segment that may take part in a super-packet at all. */
static bool is_candidate(const uint8_t *p, const struct pkt_ip *ip)
{
	const size_t plain = ip->family == IP_V4 ? PKT_IPV4_HDR_MIN : PKT_IPV6_HDR_LEN;

	return ip->proto == PKT_PROTO_TCP && !ip->frag && ip->l4_off == plain &&
	       ip->len > ip->l4_off + ip->l4_hlen &&
	       !(p[ip->l4_off + PKT_OFF_TCP_FLAGS] &
		 (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST | PKT_TCP_URG));
}

/* Whether p's headers match the super-packet's first segment h (see gro.h). */
static bool headers_match(const uint8_t *h, const uint8_t *p, const struct gro_flow *f,
			  const struct pkt_ip *ip)
{
	const uint8_t *th = h + f->l4_off, *tp = p + ip->l4_off;
	const size_t thl = ip->l4_hlen;
	const uint8_t hf = th[PKT_OFF_TCP_FLAGS], pf = tp[PKT_OFF_TCP_FLAGS];

	if (thl != (size_t)(f->hdr_len - f->l4_off))
		return false;
	if (ip->family == IP_V4) {
		/* version/IHL, DSCP/ECN; flags/fragment offset, TTL, protocol */
		if (memcmp(h, p, 2) != 0 ||
		    memcmp(h + PKT_OFF_IP4_FRAG, p + PKT_OFF_IP4_FRAG, 4) != 0)
			return false;
	} else {
		/* version, traffic class, flow label; next header, hop limit */
		if (memcmp(h, p, 4) != 0 ||
		    memcmp(h + PKT_OFF_IP6_NEXT, p + PKT_OFF_IP6_NEXT, 2) != 0)
			return false;
	}
	if ((pf & PKT_TCP_CWR) || (pf & ~PKT_TCP_PSH) != (hf & ~(PKT_TCP_PSH | PKT_TCP_CWR)))
		return false;
	/* ACK number and data offset; window; urgent pointer and options */
	return memcmp(th + PKT_OFF_TCP_ACK, tp + PKT_OFF_TCP_ACK, 5) == 0 &&
	       memcmp(th + PKT_OFF_TCP_WIN, tp + PKT_OFF_TCP_WIN, 2) == 0 &&
	       memcmp(th + PKT_OFF_TCP_URG, tp + PKT_OFF_TCP_URG, thl - PKT_OFF_TCP_URG) == 0;
}

/* Copy the flow's first packet into a coalescing buffer, verifying its TCP checksum on the way.
 * False (and no buffer used) when none is free or the checksum is wrong. */
static bool start_buffer(struct gro *g, struct gro_flow *f)
{
	struct gro_pkt *o = &g->cfg.out[f->item];
	if (g->bufs_used == g->cfg.nbufs)
		return false;

	uint8_t *b = g->cfg.bufs[g->bufs_used];
	const uint8_t *src = o->data;
	memcpy(b, src, f->l4_off);
	uint32_t sum = pseudo_tcp(src, f->l4_off, o->len);
	sum = pkt_csum_copy(sum, b + f->l4_off, src + f->l4_off, o->len - f->l4_off);
	if (pkt_csum_fold(sum) != 0xffff)
		return false;
	g->bufs_used++;
	f->buf = b;
	o->data = b;
	return true;
}

static enum merge try_merge(struct gro *g, struct gro_flow *f, const uint8_t *p,
			    const struct pkt_ip *ip)
{
	struct gro_pkt *o = &g->cfg.out[f->item];
	const uint8_t *tp = p + ip->l4_off;
	const size_t thl = ip->l4_hlen;
	const size_t pay = (size_t)ip->len - ip->l4_off - thl;

	if (pkt_get32(tp + PKT_OFF_TCP_SEQ) != f->next_seq || pay > f->gso_size ||
	    o->len + pay > GRO_SUPER_MAX || !headers_match(flow_head(g, f), p, f, ip))
		return MERGE_NO;
	if (!f->buf && !start_buffer(g, f))
		return MERGE_NO;

	/* Append the payload, verifying the segment's checksum in the same pass; a failed
	 * segment leaves only octets past the super-packet's end behind. */
	uint32_t sum = pseudo_tcp(p, ip->l4_off, ip->len);
	sum = pkt_csum_add(sum, tp, thl);
	sum = pkt_csum_copy(sum, f->buf + o->len, tp + thl, pay);
	if (pkt_csum_fold(sum) != 0xffff)
		return MERGE_NO;
	o->len += pay;
	o->segs++;
	f->next_seq += (uint32_t)pay;
	if (tp[PKT_OFF_TCP_FLAGS] & PKT_TCP_PSH) {
		f->buf[f->l4_off + PKT_OFF_TCP_FLAGS] |= PKT_TCP_PSH;
		return MERGE_LAST;
	}
	return pay < f->gso_size ? MERGE_LAST : MERGE_OPEN;
}

/* Start a flow on the packet just queued at out[item]; the oldest flow gives way if needed. */
static void flow_start(struct gro *g, const uint8_t *p, const struct pkt_ip *ip, size_t item)
{
	if (g->nflows == g->cfg.max_flows)
		flow_remove(g, 0);
	const size_t pay = (size_t)ip->len - ip->l4_off - ip->l4_hlen;
	struct gro_flow *f = &g->flows[g->nflows++];
	f->buf = NULL;
	f->next_seq = pkt_get32(p + ip->l4_off + PKT_OFF_TCP_SEQ) + (uint32_t)pay;
	f->item = (uint16_t)item;
	f->gso_size = (uint16_t)pay;
	f->l4_off = ip->l4_off;
	f->hdr_len = (uint16_t)(ip->l4_off + ip->l4_hlen);
}

enum gro_verdict gro_add(struct gro *g, const uint8_t *pkt, size_t len)
{
	struct pkt_ip ip;

	if (g->n_out == g->cfg.out_cap)
		return GRO_FULL;
	if (pkt_parse(pkt, len, &ip) != 0)
		return GRO_MALFORMED;

	const bool tcp = ip.proto == PKT_PROTO_TCP && !ip.frag;
	const bool cand = tcp && is_candidate(pkt, &ip);
	const int fi = tcp ? flow_find(g, pkt, &ip) : -1;
	if (fi >= 0) {
		enum merge m = cand ? try_merge(g, &g->flows[fi], pkt, &ip) : MERGE_NO;
		if (m != MERGE_OPEN)
			flow_remove(g, (unsigned)fi);
		if (m != MERGE_NO)
			return GRO_MERGED;
	}

	struct gro_pkt *o = &g->cfg.out[g->n_out];
	memset(o->vnet, 0, sizeof(o->vnet));
	o->segs = 1;
	o->data = pkt;
	o->len = ip.len;
	/* A PSH segment ends a super-packet, so it cannot start one; nor can anything once every
	 * coalescing buffer is taken. */
	if (cand && !(pkt[ip.l4_off + PKT_OFF_TCP_FLAGS] & PKT_TCP_PSH) &&
	    g->bufs_used < g->cfg.nbufs)
		flow_start(g, pkt, &ip, g->n_out);
	g->n_out++;
	return GRO_QUEUED;
}

size_t gro_flush(struct gro *g)
{
	while (g->nflows)
		flow_remove(g, g->nflows - 1);
	return g->n_out;
}
