/* The IKE socket; see udpio.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "edge/dp/udp.h"
#include "edge/udpio.h"

void udpio_to_sockaddr(const struct ike_endpoint *ep, struct sockaddr_in6 *out)
{
	udp_sockaddr(ep->addr.bytes, ep->addr.family == IP_V4, ep->port, out);
}

static void addr_from_in6(const struct in6_addr *a, struct ip_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		out->family = IP_V4;
		memcpy(out->bytes, &a->s6_addr[12], 4);
	} else {
		out->family = IP_V6;
		memcpy(out->bytes, a->s6_addr, 16);
	}
}

void udpio_from_sockaddr(const struct sockaddr_in6 *sa, struct ike_endpoint *out)
{
	addr_from_in6(&sa->sin6_addr, &out->addr);
	out->port = ntohs(sa->sin6_port);
}

/* Read one datagram; 1 when one was handled, 0 when none is pending, -errno on error. */
static int read_one(struct udpio *u)
{
	struct sockaddr_in6 from;
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctl;
	struct iovec iov = {.iov_base = u->buf, .iov_len = sizeof(u->buf)};
	struct msghdr mh = {.msg_name = &from,
			    .msg_namelen = sizeof(from),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(u->fd, &mh, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	struct ike_endpoint src, dst = {.port = u->port};
	udpio_from_sockaddr(&from, &src);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			addr_from_in6(&pi.ipi6_addr, &dst.addr);
		}
	}
	if (!(mh.msg_flags & MSG_TRUNC))
		u->rx(u->arg, u->buf, (size_t)n, &src, &dst);
	return 1;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct udpio *u = h->data;

	if (status < 0 || !(events & UV_READABLE))
		return;
	for (int i = 0; i < UDPIO_BATCH; i++) {
		int rc = read_one(u);
		if (rc <= 0) {
			if (rc < 0)
				LOG_WARN(NET, "IKE socket read failed", "error=\"%s\"",
					 sdw_strerror(rc));
			break;
		}
	}
}

static int open_socket(const struct ip_addr *addr, uint16_t port, int *out)
{
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	if (addr && (addr->family == IP_V4 || addr->family == IP_V6)) {
		struct ike_endpoint ep = {.addr = *addr, .port = port};
		udpio_to_sockaddr(&ep, &sa);
	}
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

int udpio_init(uv_loop_t *loop, struct udpio *u, const struct ip_addr *addr, uint16_t port,
	       udpio_rx_fn *rx, void *arg)
{
	int rc = open_socket(addr, port, &u->fd);

	if (rc)
		return rc;
	u->port = port;
	u->rx = rx;
	u->arg = arg;
	u->closed = NULL;
	rc = uv_poll_init(loop, &u->poll, u->fd);
	if (rc == 0) {
		u->poll.data = u;
		rc = uv_poll_start(&u->poll, UV_READABLE, on_readable);
		if (rc != 0)
			uv_close((uv_handle_t *)&u->poll, NULL);
	}
	if (rc != 0) {
		close(u->fd);
		u->fd = -1;
		return rc;
	}
	return 0;
}

int udpio_sendto(int fd, const struct ike_endpoint *to, const uint8_t *head, size_t head_len,
		 const uint8_t *msg, size_t len)
{
	struct sockaddr_in6 sa;
	struct iovec iov[2] = {{.iov_base = (void *)head, .iov_len = head_len},
			       {.iov_base = (void *)msg, .iov_len = len}};
	struct msghdr mh = {.msg_name = &sa,
			    .msg_namelen = sizeof(sa),
			    .msg_iov = head_len ? iov : iov + 1,
			    .msg_iovlen = head_len ? 2 : 1};

	udpio_to_sockaddr(to, &sa);
	return sendmsg(fd, &mh, MSG_DONTWAIT) < 0 ? -errno : 0;
}

int udpio_send(struct udpio *u, const struct ike_endpoint *to, const uint8_t *head, size_t head_len,
	       const uint8_t *msg, size_t len)
{
	return udpio_sendto(u->fd, to, head, head_len, msg, len);
}

static void on_closed(uv_handle_t *h)
{
	struct udpio *u = h->data;

	close(u->fd);
	u->fd = -1;
	if (u->closed)
		u->closed(u);
}

void udpio_close(struct udpio *u, void (*closed)(struct udpio *u))
{
	u->closed = closed;
	uv_poll_stop(&u->poll);
	uv_close((uv_handle_t *)&u->poll, on_closed);
}
