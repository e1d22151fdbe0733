/*
 * The data plane's UDP sockets: ESP-in-UDP (RFC 3948) and IKE on one port, batched.
 *
 * One socket per worker, all bound to the same address and port in one SO_REUSEPORT group. A
 * classic BPF program attached to the group steers every datagram by the first four bytes of
 * its payload: an ESP packet goes to socket (SPI % workers), so each inbound SA is only ever
 * touched by the worker that owns it (its replay window and cipher context need no lock);
 * IKE's non-ESP marker (four zero bytes) and NAT keepalives go to socket 0.
 *
 * Receiving uses UDP GRO (many same-sized datagrams from one peer arrive as one buffer plus a
 * segment size) and recvmmsg; sending uses UDP GSO (UDP_SEGMENT: one buffer of equal-sized
 * datagrams to one peer in one syscall) and sendmmsg. Sockets are IPv6 dual-stack; IPv4 peers
 * appear as v4-mapped addresses. A struct udp_group owns its descriptors. Opening and closing
 * run on the control thread; each worker then uses its own socket (sending from the control
 * thread on any socket is also safe: the kernel serialises).
 */
#ifndef SDWAN_EDGE_DP_UDP_H
#define SDWAN_EDGE_DP_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum {
	UDP_MAX_SOCKETS = 16,
	UDP_GSO_MAX_SEGMENTS = 64, /* the kernel's UDP_MAX_SEGMENTS on every supported kernel */
	UDP_GSO_MAX_BYTES = 65000, /* payload bytes in one GSO send, under the 64 KiB IP limit */
};

struct udp_group {
	int fds[UDP_MAX_SOCKETS];
	unsigned n;
	uint16_t port; /* the bound port (useful when 0 was asked for) */
	bool gro;      /* the kernel accepted UDP_GRO */
};

/*
 * Open n sockets (1..UDP_MAX_SOCKETS) on addr:port (addr NULL: any), non-blocking, in one
 * reuseport group steered by SPI. Returns 0, or -errno with nothing left open.
 */
int udp_group_open(const struct in6_addr *addr, uint16_t port, unsigned n, struct udp_group *out)
	__attribute__((warn_unused_result));

/* Close every socket. NULL-safe. */
void udp_group_close(struct udp_group *g);

/* What the first bytes of a datagram on the ESP port say it is (RFC 3948 section 2). */
enum udp_kind {
	UDP_KIND_ESP,       /* SPI >= 256 */
	UDP_KIND_IKE,       /* non-ESP marker: IKE follows the four zero bytes */
	UDP_KIND_KEEPALIVE, /* a single 0xFF byte */
	UDP_KIND_INVALID,   /* too short, or an SPI in the reserved range 1..255 */
};

/* Classify one datagram's payload. */
enum udp_kind udp_classify(const uint8_t *p, size_t len);

/* One received buffer: `len` bytes from `peer`, made of datagrams of `seg` bytes each (the last
 * may be shorter); seg == len when the kernel did not coalesce. */
struct udp_rx {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t seg;
	struct sockaddr_in6 peer;
};

/*
 * Receive up to n buffers from fd without blocking (recvmmsg, GRO). The caller provides
 * rx[i].buf/cap; each should hold 64 KiB to take a full GRO burst. Returns the number of
 * buffers filled, 0 when nothing is pending, or -errno.
 */
int udp_recv_batch(int fd, struct udp_rx *rx, unsigned n);

/* One transmit: `len` bytes of datagrams of `seg` bytes (last may be shorter; seg == len for a
 * single datagram) to `peer`, gathered from iov[0..iovcnt) when iov is set (each datagram must
 * then be exactly one element, in order), else from buf. */
struct udp_tx {
	const uint8_t *buf;
	size_t len;
	size_t seg;
	const struct sockaddr_in6 *peer;
	const struct iovec *iov;
	unsigned iovcnt;
};

/*
 * Send n transmits with one sendmmsg (UDP GSO where seg < len). Returns the number sent (a
 * short count means the socket buffer filled: retry the rest later), or -errno.
 */
int udp_send_batch(int fd, const struct udp_tx *tx, unsigned n);

/* Write an IPv4 or IPv6 underlay address and port as a (v4-mapped) IPv6 socket address. */
void udp_sockaddr(const uint8_t *addr, bool v4, uint16_t port, struct sockaddr_in6 *out);

#endif
