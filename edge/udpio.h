/*
 * The IKE socket on the IKE port (500): one non-blocking dual-stack UDP socket watched by the
 * libuv loop, reporting for every datagram both ends, the local one from IPV6_PKTINFO (an edge
 * bound to the wildcard address still learns which of its addresses a peer reached, which the
 * IKE engine needs for NAT detection and to answer from the right address).
 *
 * A struct udpio embeds a libuv handle: udpio_init/udpio_close, memory released only after the
 * close callback. Loop thread only.
 */
#ifndef SDWAN_EDGE_UDPIO_H
#define SDWAN_EDGE_UDPIO_H

#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>

#include "edge/ike/ike_sa.h"

enum {
	UDPIO_MAX = 8192, /* largest datagram read */
	UDPIO_BATCH = 32, /* datagrams read per wakeup, so one busy socket cannot starve the loop */
};

struct udpio;

/* One received datagram: payload, sender, and the local address and port it reached. */
typedef void udpio_rx_fn(void *arg, const uint8_t *buf, size_t len, const struct ike_endpoint *from,
			 const struct ike_endpoint *to);

struct udpio {
	uv_poll_t poll;
	int fd;
	uint16_t port;
	udpio_rx_fn *rx;
	void *arg;
	void (*closed)(struct udpio *u);
	uint8_t buf[UDPIO_MAX];
};

/*
 * Bind addr:port (addr NULL or family 0: every address) and start reading on loop. rx(arg,...)
 * runs for every datagram. Returns 0 or -errno (nothing left open).
 */
int udpio_init(uv_loop_t *loop, struct udpio *u, const struct ip_addr *addr, uint16_t port,
	       udpio_rx_fn *rx, void *arg) __attribute__((warn_unused_result));

/* Send head (may be NULL/0) followed by msg to `to` from socket fd (ours, or the data plane's
 * ESP port socket for IKE behind the non-ESP marker). Returns 0 or -errno. */
int udpio_sendto(int fd, const struct ike_endpoint *to, const uint8_t *head, size_t head_len,
		 const uint8_t *msg, size_t len) __attribute__((warn_unused_result));

/* udpio_sendto from this socket. */
int udpio_send(struct udpio *u, const struct ike_endpoint *to, const uint8_t *head, size_t head_len,
	       const uint8_t *msg, size_t len) __attribute__((warn_unused_result));

/* Stop, close the socket; closed(u) runs from the loop once u may be freed (may be NULL). */
void udpio_close(struct udpio *u, void (*closed)(struct udpio *u));

/* Convert between an endpoint and a (v4-mapped) IPv6 socket address. */
void udpio_to_sockaddr(const struct ike_endpoint *ep, struct sockaddr_in6 *out);
void udpio_from_sockaddr(const struct sockaddr_in6 *sa, struct ike_endpoint *out);

#endif
