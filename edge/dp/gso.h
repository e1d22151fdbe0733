/*
 * Segmentation of one TUN read (software GSO) for the transmit path.
 *
 * A TUN with IFF_VNET_HDR and TSO/USO offloads hands the data plane super-packets: one IP
 * header, one TCP or UDP header and up to 64 KiB of payload, described by the virtio-net header
 * that precedes it (gso_type, gso_size), with the transport checksum left partial
 * (NEEDS_CSUM: the field holds the pseudo-header sum). Every packet that leaves through a tunnel
 * must be a complete, MTU-sized IP packet, so each super-packet is cut into segments here,
 * the way the kernel's tcp_gso_segment()/__udp_gso_segment() would:
 *
 *   TCP  every segment: the IP header and extension headers, the TCP header (options too) and
 *        gso_size octets of payload (the last one: the rest). IPv4 total length, identification
 *        (first + i) and header checksum, or IPv6 payload length; sequence number (first +
 *        i * gso_size); FIN and PSH only on the last segment, CWR only on the first; a full
 *        TCP checksum.
 *   UDP  (USO) every segment is a datagram of its own: IP header, a UDP header with its length
 *        and full checksum (0 sent as 0xffff), gso_size octets of payload.
 *   CSUM no GSO but NEEDS_CSUM: the one packet's checksum is completed at csum_start +
 *        csum_offset over csum_start..end, seeded with the field, as skb_checksum_help() does.
 *   PASS neither: the packet as it is.
 *
 * The virtio header's hdr_len is only checked against the packet: kernels report the linear
 * part of the skb there, not the headers, so the header length is taken from the packet.
 *
 * Use, on a worker thread, without allocation:
 *
 *   gso_prepare(&vh, pkt, len, &plan)        validate; plan.nsegs, seg_len, last_len known
 *   (lay out plan.nsegs output buffers, e.g. back to back for UDP GSO on the underlay)
 *   gso_split(&plan, pkt, segs, n, headroom, tailroom)   write them
 *
 * Each segment is written at segs[i].buf + headroom, with at least `tailroom` octets free after
 * it, so ESP can put its header and IV in front and its padding and ICV behind and encrypt in
 * place. For PASS and CSUM plans the caller may instead use the packet where it is (with
 * gso_csum_in_place() for CSUM) and skip the copy.
 */
#ifndef SDWAN_EDGE_DP_GSO_H
#define SDWAN_EDGE_DP_GSO_H

#include <stddef.h>
#include <stdint.h>

#include "edge/dp/pkt.h"

/* What gso_split() does with a packet. */
enum gso_kind {
	GSO_PASS, /* one packet, unchanged */
	GSO_CSUM, /* one packet, checksum completed */
	GSO_TCP,  /* TCP segmentation */
	GSO_UDP,  /* UDP segmentation */
};

/* A validated super-packet and the segments it becomes. */
struct gso_plan {
	enum gso_kind kind;
	struct pkt_ip ip;     /* the super-packet (for PASS/CSUM: the packet) */
	uint16_t hdr_len;     /* TCP/UDP: octets of headers in front of every segment's payload */
	uint16_t gso_size;    /* TCP/UDP: payload octets of every segment but the last */
	uint16_t csum_start;  /* CSUM: where the checksummed region starts */
	uint16_t csum_offset; /* CSUM: where after csum_start the checksum goes */
	uint16_t nsegs;       /* number of segments (1 for PASS and CSUM) */
	uint16_t seg_len;     /* length of every segment but the last */
	uint16_t last_len;    /* length of the last segment */
};

/* One output segment. The caller sets buf and cap; gso_split() sets len. */
struct gso_seg {
	uint8_t *buf; /* caller's buffer; the packet starts at buf + headroom */
	size_t cap;   /* size of buf: at least headroom + len + tailroom */
	size_t len;   /* out: the segment's length */
};

/*
 * Validate the super-packet pkt[0..len) (the octets after the virtio-net header, as read) against
 * its header vh and describe its segmentation in *plan. Reads only; the packet is not changed.
 *
 * Returns 0, or:
 *   -EBADMSG          not a valid IP packet (pkt_parse()), or a fragment to segment
 *   -EAFNOSUPPORT     IP version neither 4 nor 6
 *   -ELOOP            too many IPv6 extension headers
 *   -EPROTONOSUPPORT  a GSO type this code does not take (UFO, unknown)
 *   -EPROTO           GSO type and packet disagree (TCPV4 on IPv6, USO on TCP, ...)
 *   -EINVAL           GSO with gso_size 0
 *   -EMSGSIZE         hdr_len beyond the packet
 *   -ERANGE           NEEDS_CSUM with csum_start/csum_offset outside the packet or an odd
 *                     csum_offset, or for GSO not at the TCP/UDP checksum
 */
int gso_prepare(const struct pkt_vnet_hdr *vh, const uint8_t *pkt, size_t len,
		struct gso_plan *plan) __attribute__((warn_unused_result));

/*
 * Write the plan's segments of pkt (the same octets gso_prepare() saw) into segs[0..n), each at
 * segs[i].buf + headroom, and set segs[i].len. Returns the number of segments (plan->nsegs), or
 * -ENOBUFS when n < plan->nsegs and -ENOSPC when a buffer's cap is below headroom + its
 * segment's length + tailroom; then nothing is written.
 */
int gso_split(const struct gso_plan *plan, const uint8_t *pkt, struct gso_seg *segs, size_t n,
	      size_t headroom, size_t tailroom) __attribute__((warn_unused_result));

/* Complete the checksum of a GSO_CSUM plan's packet where it lies (nothing for GSO_PASS).
 * Returns 0, or -EINVAL for a plan of another kind. */
int gso_csum_in_place(const struct gso_plan *plan, uint8_t *pkt)
	__attribute__((warn_unused_result));

/*
 * The whole transmit step on one TUN read buf[0..len) (virtio-net header, then the packet):
 * gso_prepare() and gso_split(). Returns the number of segments, -EBADMSG if len is shorter
 * than the virtio-net header, or any error of the two.
 */
int gso_segment(const uint8_t *buf, size_t len, struct gso_seg *segs, size_t n, size_t headroom,
		size_t tailroom) __attribute__((warn_unused_result));

#endif
