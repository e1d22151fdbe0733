/*
 * The edge's TUN device: one multi-queue interface, one file descriptor per data-plane worker.
 *
 * With TUN_VNET_HDR every packet read or written is preceded by a struct virtio_net_hdr, and the
 * kernel is told (TUNSETOFFLOAD) that we handle checksum and segmentation offloads: a single
 * read then yields a TCP (or UDP, on kernels with USO) super-packet of up to 64 KiB instead of
 * one MTU-sized packet, which is where the userspace data plane's speed comes from.
 *
 * The device is not persistent: if the process dies, the kernel removes it together with its
 * addresses and routes. A struct tun owns its descriptors; tun_close() closes them. Control
 * path only (workers use the descriptors).
 */
#ifndef SDWAN_EDGE_NET_TUN_H
#define SDWAN_EDGE_NET_TUN_H

#include <net/if.h>
#include <stdbool.h>

enum {
	TUN_MAX_QUEUES = 16
};

enum tun_flags {
	TUN_VNET_HDR = 1u << 0, /* virtio-net header on every packet, with offloads */
};

/* Offloads the kernel accepted (TUN_F_* bits from <linux/if_tun.h>). */
struct tun {
	char name[IF_NAMESIZE];
	int fds[TUN_MAX_QUEUES];
	unsigned queues;
	bool vnet_hdr;
	unsigned offloads;
	bool udp_gso; /* the kernel took USO (Linux >= 6.2) */
};

/*
 * Create (or attach to) TUN device `name` with `queues` queues (1..TUN_MAX_QUEUES), non-blocking
 * descriptors. With TUN_VNET_HDR, negotiates checksum, TSO and, where the kernel has it, USO.
 * Returns 0, or -errno (-EPERM without CAP_NET_ADMIN, -EBUSY if the name is taken by another
 * kind of device). On failure nothing is left open.
 */
int tun_open(const char *name, unsigned queues, unsigned flags, struct tun *out)
	__attribute__((warn_unused_result));

/* Close every queue; the kernel removes the device with the last one. NULL-safe. */
void tun_close(struct tun *t);

#endif
