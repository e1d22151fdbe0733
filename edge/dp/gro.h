/*
 * Coalescing of received TCP segments into super-packets (software GRO) for the receive path.
 *
 * After decryption the data plane holds many MTU-sized inner packets; writing each to the TUN
 * costs a system call and a trip through the stack. A batch of them goes through a struct gro
 * instead: consecutive in-order segments of one TCP flow become one super-packet behind a
 * virtio-net header with gso_type TCPV4/TCPV6 and gso_size, which the kernel takes in one
 * write and, if it forwards it, segments again exactly as the sender's packets were.
 *
 * A segment joins the super-packet of its flow (same addresses and ports) when
 *   - both are IPv4 without options or IPv6 without extension headers, not fragments;
 *   - the IP headers agree but for length, identification and checksum (IPv4: DSCP/ECN, flags,
 *     TTL; IPv6: traffic class, flow label, hop limit);
 *   - the TCP headers agree but for sequence number, checksum and PSH (data offset, ACK
 *     number, window, urgent pointer, options octet for octet), no SYN, FIN, RST or URG, and no
 *     CWR but on the first segment;
 *   - its sequence number continues the super-packet's, its payload is not empty and not
 *     longer than the first segment's (gso_size); a shorter one or one with PSH ends it;
 *   - its TCP checksum and that of the first segment verify (the super-packet goes to the
 *     kernel with a partial checksum, which would hide a corrupt segment otherwise);
 *   - the super-packet stays within 65535 octets and a coalescing buffer was free.
 * A segment of the flow that does not join ends the super-packet, so a flow's packets leave in
 * the order they came. Everything else passes through untouched behind a plain virtio-net
 * header (gso NONE, no flags: its checksum is complete).
 *
 * A super-packet's header: NEEDS_CSUM with csum_start at the TCP header, csum_offset 16, the
 * pseudo-header sum (total TCP length) in the checksum field, IPv4 total length and header
 * checksum or IPv6 payload length updated, PSH if its last segment had it, GSO_ECN if its first
 * has CWR, hdr_len the IP and TCP headers.
 *
 * Use, on one worker thread, without allocation and without locks:
 *
 *   gro_init(&g, &cfg)              once: output list, coalescing buffers, flow limit
 *   gro_begin(&g)                   per batch
 *   gro_add(&g, pkt, len) ...       each decrypted packet, in arrival order
 *   n = gro_flush(&g)               cfg.out[0..n) to write, each as writev(vnet, data)
 *
 * The packets given to gro_add() are referenced, not copied, unless they join a super-packet:
 * they must stay unchanged until the flushed list has been written.
 */
#ifndef SDWAN_EDGE_DP_GRO_H
#define SDWAN_EDGE_DP_GRO_H

#include <stddef.h>
#include <stdint.h>

#include "edge/dp/pkt.h"

enum {
	GRO_FLOWS_MAX = 16,         /* flows coalescing at once, at most */
	GRO_SUPER_MAX = PKT_IP_MAX, /* octets of IP packet per super-packet */
};

/* What gro_add() did with a packet. */
enum gro_verdict {
	GRO_MERGED,    /* appended to a super-packet in progress */
	GRO_QUEUED,    /* queued as a packet of its own, which may start a super-packet */
	GRO_FULL,      /* the output list is full: nothing done; flush, write, begin, add again */
	GRO_MALFORMED, /* not a valid IP packet (pkt_parse()): nothing done, drop it */
};

/* One packet to write to the TUN: the virtio-net header, then data[0..len). */
struct gro_pkt {
	uint8_t vnet[PKT_VNET_HDR_LEN];
	uint16_t segs;       /* packets it carries (1: passed through) */
	const uint8_t *data; /* the caller's packet, or a coalescing buffer */
	size_t len;
};

/* A flow being coalesced. Private to gro.c; public only so that struct gro can be embedded. */
struct gro_flow {
	uint8_t *buf; /* the super-packet in its coalescing buffer, NULL before the 2nd segment */
	uint32_t next_seq; /* sequence number the next segment must have */
	uint16_t item;     /* index of the super-packet in the output list */
	uint16_t gso_size; /* payload of the first segment */
	uint16_t l4_off;   /* IP header length */
	uint16_t hdr_len;  /* IP + TCP header length */
};

/* Where a struct gro puts its results. */
struct gro_config {
	struct gro_pkt *out;  /* output list: one entry per packet to write */
	size_t out_cap;       /* its entries (a batch of gro_add()s needs at most one each) */
	uint8_t *const *bufs; /* coalescing buffers, one per super-packet of a batch */
	size_t nbufs;
	size_t buf_cap;     /* size of each, at least GRO_SUPER_MAX */
	unsigned max_flows; /* flows coalescing at once, 1..GRO_FLOWS_MAX */
};

/* A coalescer. Caller-owned memory, used by one thread; fields private to gro.c. */
struct gro {
	struct gro_config cfg;
	size_t n_out;
	size_t bufs_used;
	unsigned nflows;
	struct gro_flow flows[GRO_FLOWS_MAX];
};

/* Set up g over cfg's output list and buffers (which must outlive it) and begin a batch.
 * Returns 0, or -EINVAL for an empty output list, buf_cap below GRO_SUPER_MAX or max_flows
 * outside 1..GRO_FLOWS_MAX. */
int gro_init(struct gro *g, const struct gro_config *cfg) __attribute__((warn_unused_result));

/* Begin a new batch: forget the previous output list and reuse every coalescing buffer. */
void gro_begin(struct gro *g);

/* Add the decrypted packet pkt[0..len) (only its IP length is used) to the batch. */
enum gro_verdict gro_add(struct gro *g, const uint8_t *pkt, size_t len)
	__attribute__((warn_unused_result));

/* Finish every super-packet of the batch and return the number of entries of cfg.out to write,
 * in order. They stay valid until the next gro_begin(). */
size_t gro_flush(struct gro *g) __attribute__((warn_unused_result));

#endif
