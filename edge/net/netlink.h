/*
 * Links, addresses and routes of the edge, through libnl-route (never by running `ip`).
 *
 * Every route we install carries our own routing protocol number (NET_RTPROT_SDWAN), so that
 * after a crash the next start can find and remove exactly what we left behind and nothing
 * else. Routes to remote site prefixes point into the TUN device, with the tunnel's MTU as the
 * route MTU so the kernel answers oversized forwarded packets with ICMP "fragmentation needed"
 * / "packet too big" before they ever reach the data plane.
 *
 * A struct net owns one netlink socket. Control path only (the libuv loop thread); calls block
 * for one netlink round trip.
 */
#ifndef SDWAN_EDGE_NET_NETLINK_H
#define SDWAN_EDGE_NET_NETLINK_H

#include <stddef.h>

#include "common/prefix.h"

/* Our routes' rtm_protocol: unassigned in /etc/iproute2/rt_protos, shown by `ip route` as 211. */
enum {
	NET_RTPROT_SDWAN = 211
};

struct net;

/* Open a NETLINK_ROUTE socket. Returns 0 and *out (free with net_close), or -errno. */
int net_open(struct net **out) __attribute__((warn_unused_result));

/* Close the socket. NULL-safe. */
void net_close(struct net *n);

/* The interface index of ifname, or -ENODEV. */
int net_link_index(struct net *n, const char *ifname, int *ifindex)
	__attribute__((warn_unused_result));

/* Set the MTU and bring the link up. */
int net_link_up(struct net *n, int ifindex, unsigned mtu) __attribute__((warn_unused_result));

/* Add address addr/len to the link (replacing an identical one). */
int net_addr_add(struct net *n, int ifindex, const struct ip_addr *addr, unsigned prefix_len)
	__attribute__((warn_unused_result));

/* Install (or replace) a route to dst through the link, with route MTU mtu (0: the link's). */
int net_route_replace(struct net *n, int ifindex, const struct prefix *dst, unsigned mtu)
	__attribute__((warn_unused_result));

/* Remove our route to dst through the link; -ENOENT if there is none. */
int net_route_del(struct net *n, int ifindex, const struct prefix *dst)
	__attribute__((warn_unused_result));

/*
 * Remove every route carrying NET_RTPROT_SDWAN (through ifindex only, or anywhere if ifindex is
 * 0), in every table. *removed (may be NULL) receives the count. Used on clean exit and, after a
 * crash, on the next start.
 */
int net_routes_flush(struct net *n, int ifindex, size_t *removed)
	__attribute__((warn_unused_result));

/* Count our routes through ifindex (0: anywhere); for tests and status. */
int net_routes_count(struct net *n, int ifindex, size_t *count) __attribute__((warn_unused_result));

/* Delete a link by name if it exists and is a TUN device (a leftover persistent device).
 * Returns 0 when none is left, -EEXIST if the name belongs to another kind of device. */
int net_tun_remove_stale(struct net *n, const char *ifname) __attribute__((warn_unused_result));

#endif
