/*
 * libFuzzer target: coalescing of received packets (edge/dp/gro.h) on arbitrary batches.
 *
 * Input layout:
 *   octet 0    bits 0-3: max_flows - 1; bit 4: fix checksums (IPv4 header and TCP checksum of
 *              every packet that parses as unfragmented TCP are made correct, so that mutated
 *              headers still reach the merge logic); bits 5-7: coalescing buffers (0-7)
 *   then       records of a 2-octet big-endian length and that many octets, one packet each
 *              (at most MAX_PKTS; a record cut short takes what is left)
 *
 * Each packet gets an allocation of its own exact size. The seed corpus (corpus/gro/) holds
 * trains of segments cut from TCP super-packets, interleaved flows, out-of-order and mixed
 * batches. Besides memory errors, the target traps when an invariant breaks:
 *   - gro_add() says MALFORMED exactly for what pkt_parse() refuses, and never FULL here;
 *   - the outputs carry every accepted packet exactly once;
 *   - a plain output (one packet, all-zero virtio-net header) is an input's octets;
 *   - a super-packet has a consistent virtio-net header (NEEDS_CSUM, TCPV4/TCPV6, csum_start at
 *     the TCP header, csum_offset 16, gso_size its first segment's payload), is at most 65535
 *     octets, and segmenting it again (gso.h) gives back exactly the packets it took, octet for
 *     octet but for the IPv4 identification and header checksum;
 *   - packets of one TCP flow leave in the order they came.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/dp/gro.h"
#include "edge/dp/gso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MAX_PKTS = 128,
	BUF_CAP = GRO_SUPER_MAX,
	MAX_BUFS = 7,
};

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* RFC 1071 one word at a time, independent of pkt.c. */
static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

struct batch {
	uint8_t *pkt[MAX_PKTS];
	size_t len[MAX_PKTS];
	struct pkt_ip ip[MAX_PKTS];
	bool valid[MAX_PKTS];
	bool used[MAX_PKTS];
	int order[MAX_PKTS]; /* input indices in output order */
	size_t n, norder;
};

/* Make the IPv4 header and TCP checksums of an unfragmented TCP packet correct. */
static void fix_checksums(uint8_t *p, const struct pkt_ip *ip)
{
	if (ip->family == IP_V4)
		pkt_ip4_csum_set(p, ip->l4_off);
	if (ip->proto != PKT_PROTO_TCP || ip->frag)
		return;
	uint8_t *t = p + ip->l4_off;
	t[16] = t[17] = 0;
	uint32_t s = pkt_pseudo(p, ip, PKT_PROTO_TCP, (uint32_t)(ip->len - ip->l4_off));
	pkt_put16(t + 16, (uint16_t)~ref_sum(pkt_csum_fold(s), t, (size_t)ip->len - ip->l4_off));
}

static void read_batch(const uint8_t *data, size_t size, bool fix, struct batch *b)
{
	size_t off = 0;
	while (off + 2 <= size && b->n < MAX_PKTS) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		uint8_t *p = malloc(len ? len : 1);
		check(p != NULL);
		memcpy(p, data + off, len);
		off += len;
		b->valid[b->n] = pkt_parse(p, len, &b->ip[b->n]) == 0;
		if (fix && b->valid[b->n])
			fix_checksums(p, &b->ip[b->n]);
		b->pkt[b->n] = p;
		b->len[b->n++] = len;
	}
}

/* The first unused input equal to o[0..len), ignoring IPv4 identification and checksum if
 * loose; -1 if none. */
static int match(struct batch *b, const uint8_t *o, size_t len, bool loose)
{
	for (size_t j = 0; j < b->n; j++) {
		const uint8_t *p = b->pkt[j];
		if (!b->valid[j] || b->used[j] || b->ip[j].len != len)
			continue;
		bool eq = loose && (p[0] >> 4) == 4
				  ? memcmp(p, o, 4) == 0 && memcmp(p + 6, o + 6, 4) == 0 &&
					    memcmp(p + 12, o + 12, len - 12) == 0
				  : memcmp(p, o, len) == 0;
		if (eq) {
			b->used[j] = true;
			b->order[b->norder++] = (int)j;
			return (int)j;
		}
	}
	return -1;
}

static void check_super(struct batch *b, const struct gro_pkt *o)
{
	struct pkt_vnet_hdr vh;
	struct gso_plan pl;
	struct gso_seg segs[MAX_PKTS];
	pkt_vnet_hdr_read(o->vnet, &vh);
	check(vh.flags == PKT_VNET_F_NEEDS_CSUM && vh.csum_offset == 16 && o->len <= 65535);
	check(gso_prepare(&vh, o->data, o->len, &pl) == 0);
	check(pl.kind == GSO_TCP && pl.nsegs == o->segs && o->segs <= MAX_PKTS);
	check(vh.csum_start == pl.ip.l4_off && vh.hdr_len == pl.hdr_len);
	check(vh.gso_size == pl.seg_len - pl.hdr_len);

	/* every segment but the last has seg_len octets, so this is about the packet's size */
	uint8_t *mem = malloc((size_t)pl.nsegs * pl.seg_len);
	check(mem != NULL);
	for (size_t i = 0; i < o->segs; i++) {
		segs[i].buf = mem + i * pl.seg_len;
		segs[i].cap = pl.seg_len;
	}
	check(gso_split(&pl, o->data, segs, o->segs, 0, 0) == o->segs);
	for (size_t i = 0; i < o->segs; i++)
		check(match(b, segs[i].buf, segs[i].len, true) >= 0);
	free(mem);
}

/* Two packets of the same TCP flow (addresses and ports). */
static bool same_flow(const struct batch *b, size_t i, size_t j)
{
	const struct pkt_ip *a = &b->ip[i], *c = &b->ip[j];
	if (a->proto != PKT_PROTO_TCP || c->proto != PKT_PROTO_TCP || a->frag || c->frag ||
	    a->family != c->family)
		return false;
	size_t ao = a->family == IP_V4 ? 12 : 8, an = a->family == IP_V4 ? 8 : 32;
	return memcmp(b->pkt[i] + ao, b->pkt[j] + ao, an) == 0 &&
	       memcmp(b->pkt[i] + a->l4_off, b->pkt[j] + c->l4_off, 4) == 0;
}

static void check_order(const struct batch *b)
{
	for (size_t x = 0; x < b->norder; x++)
		for (size_t y = x + 1; y < b->norder; y++)
			if (same_flow(b, (size_t)b->order[x], (size_t)b->order[y]))
				check(b->order[x] < b->order[y]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gro_pkt out[MAX_PKTS];
	struct batch *b = calloc(1, sizeof(*b));
	uint8_t *bufs[MAX_BUFS];
	check(b != NULL);
	if (size < 1)
		goto out;

	const unsigned max_flows = (data[0] & 0x0f) + 1u;
	const size_t nbufs = data[0] >> 5;
	for (size_t i = 0; i < nbufs; i++) {
		bufs[i] = malloc(BUF_CAP);
		check(bufs[i] != NULL);
	}
	read_batch(data + 1, size - 1, data[0] & 0x10, b);

	struct gro g;
	struct gro_config cfg = {.out = out,
				 .out_cap = MAX_PKTS,
				 .bufs = bufs,
				 .nbufs = nbufs,
				 .buf_cap = BUF_CAP,
				 .max_flows = max_flows};
	check(gro_init(&g, &cfg) == 0);
	size_t accepted = 0;
	for (size_t i = 0; i < b->n; i++) {
		enum gro_verdict v = gro_add(&g, b->pkt[i], b->len[i]);
		check(v != GRO_FULL && (v == GRO_MALFORMED) == !b->valid[i]);
		accepted += v != GRO_MALFORMED;
	}
	size_t n = gro_flush(&g), segs = 0;
	for (size_t k = 0; k < n; k++) {
		static const uint8_t zero[PKT_VNET_HDR_LEN];
		segs += out[k].segs;
		if (out[k].segs == 1) {
			check(memcmp(out[k].vnet, zero, sizeof(zero)) == 0);
			check(match(b, out[k].data, out[k].len, false) >= 0);
		} else {
			check_super(b, &out[k]);
		}
	}
	check(segs == accepted && b->norder <= accepted);
	check_order(b);
	for (size_t i = 0; i < nbufs; i++)
		free(bufs[i]);
out:
	for (size_t i = 0; i < b->n; i++)
		free(b->pkt[i]);
	free(b);
	return 0;
}
