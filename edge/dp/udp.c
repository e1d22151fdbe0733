#include "edge/dp/udp.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "edge/esp/esp_wire.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/*
 * Reuseport steering, run by the kernel on the UDP payload:
 *   A = payload[0..4)                  SPI, or the non-ESP marker 0
 *   if A == 0: return 0                IKE -> socket 0
 *   return A % n                       ESP -> the SPI's owner
 * A load past the end (a 1-byte keepalive) ends the program with 0: socket 0.
 */
static int attach_steering(int fd, unsigned n)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),          BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0)
		return -errno;
	return 0;
}

static int open_one(const struct in6_addr *addr, uint16_t port, bool *gro)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	/* Large buffers absorb the bursts that batching produces. */
	int bufsz = 8 << 20;
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	if (addr)
		sa.sin6_addr = *addr;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto err;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	*gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto err;
	return fd;
err:;
	int err = -errno;
	close(fd);
	return err;
}

int udp_group_open(const struct in6_addr *addr, uint16_t port, unsigned n, struct udp_group *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < UDP_MAX_SOCKETS; i++)
		out->fds[i] = -1;
	if (n == 0 || n > UDP_MAX_SOCKETS)
		return -EINVAL;
	int rc = 0;
	bool all_gro = true;
	for (unsigned i = 0; i < n; i++) {
		bool gro = false;
		/* The first socket may pick the port; the rest join it. */
		int fd = open_one(addr, i == 0 ? port : out->port, &gro);
		if (fd < 0) {
			rc = fd;
			goto err;
		}
		out->fds[out->n++] = fd;
		all_gro &= gro;
		if (i == 0) {
			struct sockaddr_in6 bound;
			socklen_t blen = sizeof(bound);
			if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
				rc = -errno;
				goto err;
			}
			out->port = ntohs(bound.sin6_port);
		}
	}
	if ((rc = attach_steering(out->fds[0], n)) != 0)
		goto err;
	out->gro = all_gro;
	LOG_INFO(DP, "UDP sockets open", "port=%u sockets=%u gro=%d", out->port, n, out->gro);
	return 0;
err:
	LOG_ERR(DP, "cannot open the ESP/IKE UDP sockets", "port=%u err=\"%s\"", port,
		sdw_strerror(rc));
	udp_group_close(out);
	return rc;
}

void udp_group_close(struct udp_group *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < UDP_MAX_SOCKETS; i++) {
		if (g->fds[i] >= 0)
			close(g->fds[i]);
		g->fds[i] = -1;
	}
	g->n = 0;
}

enum udp_kind udp_classify(const uint8_t *p, size_t len)
{
	if (len == 1 && p[0] == 0xff)
		return UDP_KIND_KEEPALIVE;
	if (len < 4)
		return UDP_KIND_INVALID;
	uint32_t first = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (first == 0)
		return UDP_KIND_IKE;
	return first < 256 ? UDP_KIND_INVALID : UDP_KIND_ESP;
}

enum {
	UDP_BATCH_MAX = 64
};

/* Control message space for one UDP_GRO / UDP_SEGMENT value. */
union udp_cmsg {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

int udp_recv_batch(int fd, struct udp_rx *rx, unsigned n)
{
	struct mmsghdr msgs[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union udp_cmsg ctl[UDP_BATCH_MAX];
	if (n > UDP_BATCH_MAX)
		n = UDP_BATCH_MAX;
	memset(ctl, 0, n * sizeof(ctl[0]));
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){rx[i].buf, rx[i].cap};
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &rx[i].peer,
			.msg_namelen = sizeof(rx[i].peer),
			.msg_iov = &iov[i],
			.msg_iovlen = 1,
			.msg_control = ctl[i].buf,
			.msg_controllen = sizeof(ctl[i].buf),
		};
		msgs[i].msg_len = 0;
	}
	int got;
	do {
		got = recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL);
	} while (got < 0 && errno == EINTR);
	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	for (int i = 0; i < got; i++) {
		rx[i].len = msgs[i].msg_len;
		rx[i].seg = rx[i].len;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
		     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
			if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
				int seg;
				memcpy(&seg, CMSG_DATA(c), sizeof(seg));
				if (seg > 0 && (size_t)seg < rx[i].len)
					rx[i].seg = (size_t)seg;
			}
		}
	}
	return got;
}

int udp_send_batch(int fd, const struct udp_tx *tx, unsigned n)
{
	struct mmsghdr msgs[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union udp_cmsg ctl[UDP_BATCH_MAX];
	if (n > UDP_BATCH_MAX)
		n = UDP_BATCH_MAX;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){(void *)tx[i].buf, tx[i].len};
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = (void *)tx[i].peer,
			.msg_namelen = sizeof(*tx[i].peer),
			.msg_iov = tx[i].iov ? (struct iovec *)tx[i].iov : &iov[i],
			.msg_iovlen = tx[i].iov ? tx[i].iovcnt : 1,
		};
		if (tx[i].seg < tx[i].len) {
			memset(&ctl[i], 0, sizeof(ctl[i]));
			msgs[i].msg_hdr.msg_control = ctl[i].buf;
			msgs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t seg = (uint16_t)tx[i].seg;
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
	}
	int sent;
	do {
		sent = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
	} while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return sent;
}

void udp_sockaddr(const uint8_t *addr, bool v4, uint16_t port, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = htons(port);
	if (v4) {
		out->sin6_addr.s6_addr[10] = 0xff;
		out->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->sin6_addr.s6_addr[12], addr, 4);
	} else {
		memcpy(&out->sin6_addr, addr, 16);
	}
}
