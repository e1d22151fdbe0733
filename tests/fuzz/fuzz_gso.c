/*
 * libFuzzer target: segmentation of one TUN read (edge/dp/gso.h) on arbitrary input.
 *
 * Input layout: exactly what a TUN read returns: 10 octets of virtio-net header (host byte
 * order), then the packet. The seed corpus (corpus/gso/) holds TCP and UDP super-packets over
 * IPv4 and IPv6 (with extension headers), checksum-only and plain packets.
 *
 * Segments are laid out back to back in one allocation of exactly the planned size, each with
 * ESP's headroom (16) and tailroom (21) filled with a sentinel. Besides memory errors, the target
 * traps when an invariant breaks:
 *   - gso_segment() and gso_prepare() + gso_split() agree; too small an array is -ENOBUFS;
 *   - no octet outside a segment (headroom, tailroom) is written; the input is not changed;
 *   - TCP/UDP: every segment is a valid IP packet of its length with the super-packet's family,
 *     protocol and header length, whose IPv4 header checksum and transport checksum verify by
 *     an independent byte-at-a-time computation; TCP sequence numbers advance by the payload;
 *     the payloads concatenate to the super-packet's;
 *   - CSUM: only the checksum field changes, and the region then sums with the seed the field
 *     held to 0xffff; gso_csum_in_place() gives the same octets;
 *   - PASS: the packet is copied unchanged.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/dp/gso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	HEADROOM = 16,
	TAILROOM = 21,
	SENTINEL = 0x5a,
	MAX_SEGS = 4096,
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

/* The transport checksum of segment p verifies (pseudo-header destination at dst_off). */
static bool ref_l4_ok(const uint8_t *p, const struct pkt_ip *ip)
{
	uint8_t ph[40] = {0};
	size_t l4_len = (size_t)ip->len - ip->l4_off, n;
	if (ip->family == IP_V4) {
		memcpy(ph, p + 12, 4);
		memcpy(ph + 4, p + ip->dst_off, 4);
		ph[9] = ip->proto;
		ph[10] = (uint8_t)(l4_len >> 8);
		ph[11] = (uint8_t)l4_len;
		n = 12;
	} else {
		memcpy(ph, p + 8, 16);
		memcpy(ph + 16, p + ip->dst_off, 16);
		ph[34] = (uint8_t)(l4_len >> 8);
		ph[35] = (uint8_t)l4_len;
		ph[39] = ip->proto;
		n = 40;
	}
	return ref_sum(ref_sum(0, ph, n), p + ip->l4_off, l4_len) == 0xffff;
}

static bool untouched(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != SENTINEL)
			return false;
	return true;
}

static void check_segment(const struct gso_plan *pl, const uint8_t *pkt, const uint8_t *o, size_t i,
			  size_t *pay_off)
{
	struct pkt_ip ip;
	const size_t len = i + 1 == pl->nsegs ? pl->last_len : pl->seg_len;
	check(pkt_parse(o, len, &ip) == 0 && ip.len == len);
	check(ip.family == pl->ip.family && ip.proto == pl->ip.proto && !ip.frag);
	check(ip.l4_off == pl->ip.l4_off && ip.l4_off + ip.l4_hlen == pl->hdr_len);
	check(ip.family != IP_V4 || ref_sum(0, o, ip.l4_off) == 0xffff);
	check(ref_l4_ok(o, &ip));
	if (pl->kind == GSO_TCP)
		check(pkt_get32(o + ip.l4_off + 4) ==
		      pkt_get32(pkt + ip.l4_off + 4) + (uint32_t)*pay_off);
	else
		check(pkt_get16(o + ip.l4_off + 6) != 0);
	size_t pay = len - pl->hdr_len;
	check(memcmp(o + pl->hdr_len, pkt + pl->hdr_len + *pay_off, pay) == 0);
	*pay_off += pay;
}

static void check_single(const struct gso_plan *pl, const uint8_t *pkt, const uint8_t *o)
{
	const size_t len = pl->ip.len;
	if (pl->kind == GSO_PASS) {
		check(memcmp(o, pkt, len) == 0);
		return;
	}
	const size_t at = (size_t)pl->csum_start + pl->csum_offset;
	check(memcmp(o, pkt, at) == 0 && memcmp(o + at + 2, pkt + at + 2, len - at - 2) == 0);
	uint32_t seed = pkt_get16(pkt + at);
	check(ref_sum(seed, o + pl->csum_start, len - pl->csum_start) == 0xffff);

	uint8_t *copy = malloc(len);
	check(copy != NULL);
	memcpy(copy, pkt, len);
	check(gso_csum_in_place(pl, copy) == 0);
	check(memcmp(copy, o, len) == 0);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_vnet_hdr vh;
	struct gso_plan pl;

	if (size < PKT_VNET_HDR_LEN)
		return 0;
	pkt_vnet_hdr_read(data, &vh);
	const uint8_t *pkt = data + PKT_VNET_HDR_LEN;
	const size_t len = size - PKT_VNET_HDR_LEN;
	int rc = gso_prepare(&vh, pkt, len, &pl);
	if (rc != 0) {
		check(gso_segment(data, size, NULL, 0, HEADROOM, TAILROOM) == rc);
		return 0;
	}
	check(pl.nsegs >= 1 && pl.seg_len <= pl.ip.len && pl.last_len <= pl.seg_len);
	if (pl.nsegs > MAX_SEGS)
		return 0;

	const size_t stride = HEADROOM + (size_t)pl.seg_len + TAILROOM;
	uint8_t *mem = malloc(stride * pl.nsegs);
	struct gso_seg *segs = malloc(sizeof(*segs) * pl.nsegs);
	check(mem && segs);
	memset(mem, SENTINEL, stride * pl.nsegs);
	for (size_t i = 0; i < pl.nsegs; i++) {
		segs[i].buf = mem + i * stride;
		segs[i].cap = stride;
	}
	check(gso_split(&pl, pkt, segs, pl.nsegs - 1u, HEADROOM, TAILROOM) == -ENOBUFS);
	check(untouched(mem, stride * pl.nsegs));
	check(gso_split(&pl, pkt, segs, pl.nsegs, HEADROOM, TAILROOM) == pl.nsegs);

	size_t pay_off = 0;
	for (size_t i = 0; i < pl.nsegs; i++) {
		const uint8_t *o = segs[i].buf + HEADROOM;
		check(segs[i].len == (i + 1 == pl.nsegs ? pl.last_len : pl.seg_len));
		check(untouched(segs[i].buf, HEADROOM));
		check(untouched(o + segs[i].len, stride - HEADROOM - segs[i].len));
		if (pl.kind == GSO_TCP || pl.kind == GSO_UDP)
			check_segment(&pl, pkt, o, i, &pay_off);
		else
			check_single(&pl, pkt, o);
	}
	if (pl.kind == GSO_TCP || pl.kind == GSO_UDP)
		check(pay_off == (size_t)pl.ip.len - pl.hdr_len);

	/* the one-call form writes the same */
	uint8_t *mem2 = malloc(stride * pl.nsegs);
	check(mem2 != NULL);
	for (size_t i = 0; i < pl.nsegs; i++)
		segs[i].buf = mem2 + i * stride;
	check(gso_segment(data, size, segs, pl.nsegs, HEADROOM, TAILROOM) == pl.nsegs);
	for (size_t i = 0; i < pl.nsegs; i++)
		check(memcmp(mem2 + i * stride + HEADROOM, mem + i * stride + HEADROOM,
			     segs[i].len) == 0);
	free(mem2);
	free(mem);
	free(segs);
	return 0;
}
