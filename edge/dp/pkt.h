/*
 * Inner IP packets as the data plane sees them on the TUN device: validation, addresses,
 * Internet checksums and the virtio-net header that precedes every TUN read and write.
 *
 * Everything here is pure and allocation-free, works on caller-owned bytes and may run on any
 * thread. Fields are read and written at explicit byte offsets (network byte order), never by
 * casting a packet pointer to a struct.
 *
 * IPv4 header (RFC 791 §3.1)                    IPv6 header (RFC 8200 §3)
 *    0       4       8              16      24      32    0       4         12      16      24 32
 *   +-------+-------+---------------+-------------------+  +-------+---------+--------------------+
 *   |Version|  IHL  |  DSCP / ECN   |   Total Length    |  |Version| Traffic |    Flow Label      |
 *   +-------+-------+---------------+-+-+-+-------------+  +-------+---------+-------+------------+
 *   |        Identification         |0|D|M| Frag Offset |  |  Payload Length | Next  | Hop Limit  |
 *   +---------------+---------------+-+-+-+-------------+  +-----------------+-------+------------+
 *   |     TTL       |   Protocol    |  Header Checksum  |  |   Source Address (16 octets, at 8)   |
 *   +---------------+---------------+-------------------+  +--------------------------------------+
 *   |            Source Address (at 12)                 |  | Destination Address (16 octets, 24)  |
 *   |          Destination Address (at 16)              |  +--------------------------------------+
 *   |            Options (IHL > 5) ...                  |  | extension headers (RFC 8200 §4) ...  |
 *   +---------------------------------------------------+  +--------------------------------------+
 *
 * TCP header (RFC 9293 §3.1): ports at 0 and 2, sequence number at 4, acknowledgment at 8, data
 * offset (4 bits) at 12, flags at 13, window at 14, checksum at 16, urgent pointer at 18,
 * options up to the data offset. UDP header (RFC 768): ports, length at 4, checksum at 6.
 */
#ifndef SDWAN_EDGE_DP_PKT_H
#define SDWAN_EDGE_DP_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"

/* Fixed sizes and limits (octets). */
enum pkt_len {
	PKT_VNET_HDR_LEN = 10, /* struct virtio_net_hdr without num_buffers */
	PKT_IPV4_HDR_MIN = 20, /* RFC 791 §3.1: IHL 5 */
	PKT_IPV4_HDR_MAX = 60, /* IHL 15 */
	PKT_IPV6_HDR_LEN = 40, /* RFC 8200 §3 */
	PKT_TCP_HDR_MIN = 20,  /* RFC 9293 §3.1: data offset 5 */
	PKT_TCP_HDR_MAX = 60,  /* data offset 15 */
	PKT_UDP_HDR_LEN = 8,   /* RFC 768 */
	PKT_ICMP_HDR_LEN = 8,  /* RFC 792 / RFC 4443 §2.1: type, code, checksum, 4 more octets */
	PKT_IP_MAX = 65535,    /* the longest packet handled (no jumbograms) */
	PKT_IPV6_EXT_MAX = 8,  /* extension headers walked before the packet is refused */
};

/* IANA protocol numbers (next header values) this code knows. */
enum pkt_proto {
	PKT_PROTO_HOPOPTS = 0,   /* RFC 8200 §4.3 */
	PKT_PROTO_ICMP = 1,      /* RFC 792 */
	PKT_PROTO_TCP = 6,       /* RFC 9293 */
	PKT_PROTO_UDP = 17,      /* RFC 768 */
	PKT_PROTO_ROUTING = 43,  /* RFC 8200 §4.4 */
	PKT_PROTO_FRAGMENT = 44, /* RFC 8200 §4.5 */
	PKT_PROTO_AH = 51,       /* RFC 4302 §2: length in 4-octet units minus 2 */
	PKT_PROTO_ICMPV6 = 58,   /* RFC 4443 */
	PKT_PROTO_NONE = 59,     /* RFC 8200 §4.7 */
	PKT_PROTO_DSTOPTS = 60,  /* RFC 8200 §4.6 */
};

/* Byte offsets of header fields, from the start of their header. */
enum pkt_off {
	PKT_OFF_IP4_TOS = 1,
	PKT_OFF_IP4_TOT_LEN = 2,
	PKT_OFF_IP4_ID = 4,
	PKT_OFF_IP4_FRAG = 6, /* flags (3 bits) and fragment offset (13 bits) */
	PKT_OFF_IP4_TTL = 8,
	PKT_OFF_IP4_PROTO = 9,
	PKT_OFF_IP4_CSUM = 10,
	PKT_OFF_IP4_SRC = 12,
	PKT_OFF_IP4_DST = 16,
	PKT_OFF_IP6_PLEN = 4,
	PKT_OFF_IP6_NEXT = 6,
	PKT_OFF_IP6_HLIM = 7,
	PKT_OFF_IP6_SRC = 8,
	PKT_OFF_IP6_DST = 24,
	PKT_OFF_TCP_SEQ = 4,
	PKT_OFF_TCP_ACK = 8,
	PKT_OFF_TCP_DOFF = 12,
	PKT_OFF_TCP_FLAGS = 13,
	PKT_OFF_TCP_WIN = 14,
	PKT_OFF_TCP_CSUM = 16,
	PKT_OFF_TCP_URG = 18,
	PKT_OFF_UDP_LEN = 4,
	PKT_OFF_UDP_CSUM = 6,
	PKT_OFF_ICMP_CSUM = 2,
};

/* IPv4 flags and fragment offset (RFC 791 §3.1), as a 16-bit value at PKT_OFF_IP4_FRAG. */
enum pkt_ip4_frag {
	PKT_IP4_DF = 0x4000,
	PKT_IP4_MF = 0x2000,
	PKT_IP4_OFFMASK = 0x1fff,
};

/* TCP flags, the octet at PKT_OFF_TCP_FLAGS (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR). */
enum pkt_tcp_flag {
	PKT_TCP_FIN = 0x01,
	PKT_TCP_SYN = 0x02,
	PKT_TCP_RST = 0x04,
	PKT_TCP_PSH = 0x08,
	PKT_TCP_ACK = 0x10,
	PKT_TCP_URG = 0x20,
	PKT_TCP_ECE = 0x40,
	PKT_TCP_CWR = 0x80,
};

/* What pkt_parse() learnt about a valid packet. */
struct pkt_ip {
	uint8_t family;   /* IP_V4 or IP_V6 */
	uint8_t proto;    /* upper-layer protocol, after any IPv6 extension headers */
	bool frag;        /* part of a fragmented datagram: the transport header is not checked
			   * (and absent from every fragment but the first) */
	uint8_t l4_hlen;  /* transport header length (TCP data offset, 8 for UDP), 0 if unchecked */
	uint16_t l4_off;  /* offset of the transport header (IP + extension headers) */
	uint16_t len;     /* the packet's length by its IP header; trailing octets are not part */
	uint16_t dst_off; /* offset of the destination address the transport checksum covers: the
			   * final one of an IPv6 routing header (RFC 8200 §8.1); IPv4 source
			   * route options are not followed */
};

/*
 * Validate the IP packet in p[0..len) and describe it in *out.
 *
 * Checks the version, the IPv4 header length (5..15 words) and total length (header to len),
 * the IPv6 payload length (to len; 0, a jumbogram, is refused) and walks IPv6 hop-by-hop,
 * routing, destination options, fragment and AH headers (at most PKT_IPV6_EXT_MAX, each inside
 * the packet) to the upper-layer protocol. Unless the packet is a fragment, a TCP header must
 * fit (data offset 5..15) and so must a UDP header. The IPv4 header checksum is not verified
 * (pkt_ip4_csum_ok() does that). Octets past the IP length (link padding) are allowed.
 *
 * Returns 0, -EAFNOSUPPORT (version neither 4 nor 6), -EBADMSG (a length or header that does
 * not fit), or -ELOOP (more than PKT_IPV6_EXT_MAX extension headers).
 */
int pkt_parse(const uint8_t *p, size_t len, struct pkt_ip *out) __attribute__((warn_unused_result));

/* Source and destination addresses of a packet pkt_parse() accepted; either may be NULL. The
 * destination is the one in the IP header (not a routing header's final one). */
void pkt_addrs(const uint8_t *p, const struct pkt_ip *ip, struct ip_addr *src, struct ip_addr *dst);

/* Read a big-endian 16-bit value at p. */
static inline uint16_t pkt_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Read a big-endian 32-bit value at p. */
static inline uint32_t pkt_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Write v big-endian at p. */
static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Write v big-endian at p. */
static inline void pkt_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Internet checksum (RFC 1071). A partial sum is a 32-bit one's complement accumulator of
 * big-endian 16-bit words; fold it to 16 bits and complement it for the checksum field.
 *
 *   sum = pkt_pseudo_v4(...);            seed with the pseudo-header
 *   sum = pkt_csum_add(sum, hdr, n);     add each piece: all but the last of even length
 *   pkt_put16(field, pkt_csum_finish(sum));
 *
 * A region that holds its own correct checksum sums (folded) to 0xffff.
 */

/* Add p[0..len) to sum. An odd len pads with one zero octet, so only the last piece of a
 * checksummed region may have an odd length. Sums 8 octets at a time. */
uint32_t pkt_csum_add(uint32_t sum, const uint8_t *p, size_t len);

/* Copy src[0..len) to dst (the regions must not overlap) and add it to sum, in one pass. */
uint32_t pkt_csum_copy(uint32_t sum, uint8_t *dst, const uint8_t *src, size_t len);

/* Fold a partial sum to 16 bits (not complemented): what a NEEDS_CSUM checksum field holds. */
uint16_t pkt_csum_fold(uint32_t sum);

/* The checksum field value for a partial sum: the complement of its fold. */
uint16_t pkt_csum_finish(uint32_t sum);

/* Add two partial sums (one's complement). */
uint32_t pkt_csum_combine(uint32_t a, uint32_t b);

/*
 * Incremental update (RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m')): the new value of checksum
 * field `csum` after a 16-bit word covered by it changed from `from` to `to`. Gives the same
 * field a full recomputation would, including for a region whose checksum is 0xffff/0.
 */
uint16_t pkt_csum_update16(uint16_t csum, uint16_t from, uint16_t to);

/* As pkt_csum_update16() for an aligned 32-bit word (two 16-bit words). */
uint16_t pkt_csum_update32(uint16_t csum, uint32_t from, uint32_t to);

/* Partial sum of the TCP/UDP/ICMPv6 pseudo-header over IPv4 (RFC 9293 §3.1, RFC 768). */
uint32_t pkt_pseudo_v4(const uint8_t src[static 4], const uint8_t dst[static 4], uint8_t proto,
		       uint16_t l4_len);

/* Partial sum of the upper-layer pseudo-header over IPv6 (RFC 8200 §8.1). */
uint32_t pkt_pseudo_v6(const uint8_t src[static 16], const uint8_t dst[static 16], uint8_t proto,
		       uint32_t l4_len);

/* The pseudo-header of a parsed packet for protocol `proto` and transport length l4_len: its
 * source, and its destination at ip->dst_off. */
uint32_t pkt_pseudo(const uint8_t *p, const struct pkt_ip *ip, uint8_t proto, uint32_t l4_len);

/* Compute and store the IPv4 header checksum of the hlen-octet header at p. */
void pkt_ip4_csum_set(uint8_t *p, size_t hlen);

/* Whether the IPv4 header checksum of a parsed packet verifies. */
bool pkt_ip4_csum_ok(const uint8_t *p, const struct pkt_ip *ip);

/*
 * Whether the transport checksum of a parsed, unfragmented TCP, UDP, ICMP or ICMPv6 packet
 * verifies over the whole transport segment (header, payload and, but for ICMP, the
 * pseudo-header). A UDP checksum of 0 over IPv4 means "none" and is accepted (RFC 768). False
 * for other protocols and for fragments.
 */
bool pkt_l4_csum_ok(const uint8_t *p, const struct pkt_ip *ip);

/*
 * The virtio-net header (struct virtio_net_hdr, <linux/virtio_net.h>) before every packet read
 * from or written to a TUN opened with IFF_VNET_HDR. A TUN uses the legacy header, whose 16-bit
 * fields are in the host's byte order (no TUNSETVNETLE/BE is set).
 *
 *   0        1          2         4          6            8             10
 *   | flags  | gso_type | hdr_len | gso_size | csum_start | csum_offset |
 */
struct pkt_vnet_hdr {
	uint8_t flags;        /* PKT_VNET_F_* */
	uint8_t gso_type;     /* PKT_VNET_GSO_*, possibly with PKT_VNET_GSO_ECN */
	uint16_t hdr_len;     /* IP + transport headers; from the kernel, only a hint */
	uint16_t gso_size;    /* payload octets per segment */
	uint16_t csum_start;  /* where checksumming starts (the transport header) */
	uint16_t csum_offset; /* where, after csum_start, the checksum goes */
};

/* virtio_net_hdr flags. */
enum pkt_vnet_flag {
	PKT_VNET_F_NEEDS_CSUM = 1, /* complete the checksum at csum_start + csum_offset */
	PKT_VNET_F_DATA_VALID = 2, /* the checksum was verified */
};

/* virtio_net_hdr GSO types. */
enum pkt_vnet_gso {
	PKT_VNET_GSO_NONE = 0,
	PKT_VNET_GSO_TCPV4 = 1,
	PKT_VNET_GSO_UDP = 3, /* UFO (IP fragmentation): never negotiated here */
	PKT_VNET_GSO_TCPV6 = 4,
	PKT_VNET_GSO_UDP_L4 = 5, /* USO, Linux 6.2 (not in every distribution's headers) */
	PKT_VNET_GSO_ECN = 0x80, /* flag: the TCP segments carry ECN (CWR on the first) */
};

/* Decode the PKT_VNET_HDR_LEN octets at p. */
void pkt_vnet_hdr_read(const uint8_t *p, struct pkt_vnet_hdr *out);

/* Encode h into the PKT_VNET_HDR_LEN octets at p. */
void pkt_vnet_hdr_write(const struct pkt_vnet_hdr *h, uint8_t *p);

#endif
