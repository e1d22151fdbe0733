/*
 * Keeping inner packets within the tunnel's MTU: TCP MSS clamping and ICMP "packet too big".
 *
 * The tunnel's inner MTU is smaller than the sites' LAN MTU (ESP, UDP and the outer IP header
 * take their share), and Path MTU Discovery through the tunnel fails wherever ICMP is filtered.
 * So the data plane lowers the MSS option of every TCP SYN and SYN-ACK it carries, in both
 * directions, to what fits the tunnel (mss_clamp()), and answers a packet that still does not
 * fit with the ICMP error PMTUD expects (mss_icmp_too_big()):
 *
 *   IPv4  Destination Unreachable, code 4 "fragmentation needed and DF set", with the next-hop
 *         MTU (RFC 792, RFC 1191 §4), quoting as much of the packet as keeps the reply within
 *         576 octets (RFC 1812 §4.3.2.3);
 *   IPv6  Packet Too Big with the MTU (RFC 4443 §3.2), quoting as much as keeps the reply
 *         within the minimum MTU of 1280 octets (RFC 4443 §2.4(c)).
 *
 * The same builder answers a packet whose destination no hub reaches (the controller said so,
 * docs/edge-managed.md) with Destination Unreachable, mss_icmp_unreachable(): IPv4 code 1
 * "host unreachable" (RFC 1812 §5.2.7.1), IPv6 code 0 "no route to destination" (RFC 4443
 * §3.1), so that the sender learns it at once instead of waiting for a timeout.
 *
 * ICMP error (v4), or Packet Too Big (v6), after an IP header from the edge's own address:
 *
 *    0               1               2               3
 *   +---------------+---------------+-------------------------------+
 *   | Type 3 / 2    | Code 4 / 0    |          Checksum             |
 *   +---------------+---------------+-------------------------------+
 *   | v4: unused (0)                | v4: Next-Hop MTU              |
 *   | v6: MTU (32 bits)                                             |
 *   +---------------------------------------------------------------+
 *   |      as much of the invoking packet as the limit allows       |
 *
 * Pure functions on caller-owned buffers: no allocation, any thread.
 */
#ifndef SDWAN_EDGE_DP_MSS_H
#define SDWAN_EDGE_DP_MSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"

/* Limits of the ICMP replies (octets). */
enum mss_icmp_len {
	MSS_ICMP4_REPLY_MAX = 576,  /* RFC 1812 §4.3.2.3 */
	MSS_ICMP6_REPLY_MAX = 1280, /* RFC 4443 §2.4(c) */
	MSS_ICMP4_MTU_MIN = 68,     /* RFC 791: every IPv4 link carries 68 octets */
	MSS_ICMP6_MTU_MIN = 1280,   /* RFC 8200 §5 */
};

/* What mss_clamp() did. */
enum mss_verdict {
	MSS_NOT_SYN, /* not a TCP SYN (or SYN-ACK), or a fragment: unchanged */
	MSS_KEPT,    /* a SYN whose MSS options are within the limit, or that has none: unchanged */
	MSS_CLAMPED, /* every MSS option above the limit now says the limit */
	MSS_MALFORMED, /* not a valid IP packet, or TCP options that do not parse: unchanged */
};

/* The largest MSS whose segments fit an inner MTU: mtu minus the IPv4 (20) or IPv6 (40) header
 * and the TCP header (20), 0 if the MTU is smaller than that. */
uint16_t mss_for_mtu(uint8_t family, unsigned mtu);

/*
 * Lower the MSS option (RFC 9293 §3.7.1) of the TCP SYN or SYN-ACK in pkt[0..len) to
 * mss_for_mtu(family, mtu) if it is larger, and update the TCP checksum incrementally
 * (RFC 1624). With csum_partial (the packet came from the TUN with NEEDS_CSUM, so its checksum
 * field holds only the pseudo-header sum, which does not cover the options) the checksum field
 * is left alone. A SYN without an MSS option is left alone too: its peer then assumes 536 or
 * 1220 octets (RFC 9293 §3.7.1), below any tunnel's limit. An mtu below the family's minimum
 * (MSS_ICMP4_MTU_MIN, MSS_ICMP6_MTU_MIN) counts as that minimum, so the MSS never drops below
 * what every path carries.
 */
enum mss_verdict mss_clamp(uint8_t *pkt, size_t len, unsigned mtu, bool csum_partial);

/* What mss_icmp_too_big() did. */
enum mss_icmp_verdict {
	MSS_ICMP_REPLY,    /* the reply is in out[0..*out_len): send it back into the TUN */
	MSS_ICMP_FITS,     /* the packet is not larger than mtu: forward it */
	MSS_ICMP_FRAGMENT, /* IPv4 without DF: it may be fragmented instead (no reply) */
	MSS_ICMP_SILENT,   /* too big, but no error may answer it: an ICMP error itself, a
			    * non-first IPv4 fragment, a source that is not one host, an IPv4
			    * broadcast or multicast destination (RFC 1812 §4.3.2.7, RFC 4443
			    * §2.4(e)); drop it */
	MSS_ICMP_INVALID,  /* not a valid IP packet, `local` of the other family, mtu below
			    * the family's minimum or above 65535, or cap too small for the IP and
			    * ICMP headers and the packet's IP header plus 8 octets */
};

/*
 * If the IP packet pkt[0..len) is larger than mtu, build the ICMP error that tells its sender
 * the MTU, from address `local` (an address of this edge, of the packet's family) to the
 * packet's source, into out[0..cap), with correct IP and ICMP checksums. A cap of
 * MSS_ICMP6_REPLY_MAX always suffices for the fullest quote.
 */
enum mss_icmp_verdict mss_icmp_too_big(const uint8_t *pkt, size_t len, unsigned mtu,
				       const struct ip_addr *local, uint8_t *out, size_t cap,
				       size_t *out_len) __attribute__((warn_unused_result));

/*
 * Build the Destination Unreachable error answering the IP packet pkt[0..len) (see above), from
 * `local` to the packet's source, into out[0..cap). Returns MSS_ICMP_REPLY (out[0..*out_len)),
 * MSS_ICMP_SILENT (no error may answer it, as for mss_icmp_too_big, and neither may one answer
 * an IPv6 multicast destination) or MSS_ICMP_INVALID.
 */
enum mss_icmp_verdict mss_icmp_unreachable(const uint8_t *pkt, size_t len,
					   const struct ip_addr *local, uint8_t *out, size_t cap,
					   size_t *out_len) __attribute__((warn_unused_result));

#endif
