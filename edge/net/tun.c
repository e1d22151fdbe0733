#include "edge/net/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"

/* UDP segmentation offload on TUN arrived in Linux 6.2; Debian 12's headers predate it. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

static int open_queue(const char *name, unsigned flags, char ifname[IF_NAMESIZE])
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
	if (flags & TUN_VNET_HDR)
		ifr.ifr_flags |= IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	snprintf(ifname, IF_NAMESIZE, "%s", ifr.ifr_name);
	return fd;
}

/* Ask for the widest offload set the kernel accepts; the same set must go on every queue. */
static int negotiate_offloads(struct tun *t)
{
	const unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	const unsigned with_uso = base | TUN_F_USO4 | TUN_F_USO6;
	if (ioctl(t->fds[0], TUNSETOFFLOAD, with_uso) == 0) {
		t->offloads = with_uso;
		t->udp_gso = true;
	} else if (ioctl(t->fds[0], TUNSETOFFLOAD, base) == 0) {
		t->offloads = base;
	} else {
		return -errno;
	}
	/* The header grows to 12 bytes (num_buffers) only with mergeable buffers, which a TUN
	 * never uses: keep the 10-byte struct virtio_net_hdr. */
	int hdr_len = 10;
	if (ioctl(t->fds[0], TUNSETVNETHDRSZ, &hdr_len) != 0)
		return -errno;
	return 0;
}

int tun_open(const char *name, unsigned queues, unsigned flags, struct tun *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < TUN_MAX_QUEUES; i++)
		out->fds[i] = -1;
	if (queues == 0 || queues > TUN_MAX_QUEUES || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	int rc = 0;
	for (unsigned i = 0; i < queues; i++) {
		int fd = open_queue(i == 0 ? name : out->name, flags, out->name);
		if (fd < 0) {
			rc = fd;
			LOG_ERR(NET, "cannot open TUN queue", "dev=%s queue=%u err=\"%s\"", name, i,
				sdw_strerror(rc));
			goto err;
		}
		out->fds[i] = fd;
		out->queues++;
	}
	out->vnet_hdr = (flags & TUN_VNET_HDR) != 0;
	if (out->vnet_hdr && (rc = negotiate_offloads(out)) != 0) {
		LOG_ERR(NET, "TUN offload negotiation failed", "dev=%s err=\"%s\"", out->name,
			sdw_strerror(rc));
		goto err;
	}
	LOG_INFO(NET, "TUN device open", "dev=%s queues=%u vnet_hdr=%d udp_gso=%d", out->name,
		 out->queues, out->vnet_hdr, out->udp_gso);
	return 0;
err:
	tun_close(out);
	return rc;
}

void tun_close(struct tun *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < TUN_MAX_QUEUES; i++) {
		if (t->fds[i] >= 0)
			close(t->fds[i]);
		t->fds[i] = -1;
	}
	t->queues = 0;
}
