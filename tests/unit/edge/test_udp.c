/*
 * The data plane's UDP layer: payload classification, SPI steering across the reuseport group,
 * and batched GSO sends arriving as GRO bursts. Socket tests run in a private network namespace
 * over loopback (root only; skipped elsewhere).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edge/dp/udp.h"
#include "edge/net/netlink.h"

Test(udp, classify)
{
	const uint8_t ike[] = {0, 0, 0, 0, 0x11, 0x22};
	const uint8_t esp[] = {0, 0, 1, 0, 0, 0, 0, 1};
	const uint8_t reserved[] = {0, 0, 0, 255, 0, 0, 0, 1};
	const uint8_t keepalive[] = {0xff};
	cr_expect_eq(udp_classify(ike, sizeof(ike)), UDP_KIND_IKE);
	cr_expect_eq(udp_classify(esp, sizeof(esp)), UDP_KIND_ESP);
	cr_expect_eq(udp_classify(reserved, sizeof(reserved)), UDP_KIND_INVALID);
	cr_expect_eq(udp_classify(keepalive, 1), UDP_KIND_KEEPALIVE);
	cr_expect_eq(udp_classify(esp, 3), UDP_KIND_INVALID);
	cr_expect_eq(udp_classify(esp, 0), UDP_KIND_INVALID);
}

static void loopback_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("needs root for a private network namespace (%s)", strerror(errno));
	struct net *n;
	cr_assert_eq(net_open(&n), 0);
	int lo;
	cr_assert_eq(net_link_index(n, "lo", &lo), 0);
	cr_assert_eq(net_link_up(n, lo, 65536), 0);
	net_close(n);
}

static int client_socket(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	int zero = 0;
	cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	return fd;
}

static struct sockaddr_in6 to_group(const struct udp_group *g)
{
	const uint8_t v4[4] = {127, 0, 0, 1};
	struct sockaddr_in6 sa;
	udp_sockaddr(v4, true, g->port, &sa);
	return sa;
}

/* Which socket of the group (index) has a datagram waiting, or -1. */
static int ready_socket(const struct udp_group *g)
{
	struct pollfd pfd[UDP_MAX_SOCKETS];
	for (unsigned i = 0; i < g->n; i++)
		pfd[i] = (struct pollfd){g->fds[i], POLLIN, 0};
	if (poll(pfd, g->n, 1000) <= 0)
		return -1;
	for (unsigned i = 0; i < g->n; i++)
		if (pfd[i].revents & POLLIN)
			return (int)i;
	return -1;
}

Test(udp, datagrams_are_steered_by_spi)
{
	loopback_netns();
	struct udp_group g;
	cr_assert_eq(udp_group_open(NULL, 0, 4, &g), 0);
	cr_assert_neq(g.port, 0);
	int c = client_socket();
	struct sockaddr_in6 to = to_group(&g);
	const uint32_t spis[] = {0x1000, 0x1001, 0x1002, 0x1003, 0xdeadbeef, 0};
	for (size_t i = 0; i < sizeof(spis) / sizeof(spis[0]); i++) {
		uint8_t pkt[32] = {0};
		pkt[0] = (uint8_t)(spis[i] >> 24);
		pkt[1] = (uint8_t)(spis[i] >> 16);
		pkt[2] = (uint8_t)(spis[i] >> 8);
		pkt[3] = (uint8_t)spis[i];
		cr_assert_eq(sendto(c, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)),
			     32);
		int which = ready_socket(&g);
		int want = spis[i] == 0 ? 0 : (int)(spis[i] % 4);
		cr_expect_eq(which, want, "SPI %#x went to socket %d, want %d", spis[i], which,
			     want);
		uint8_t buf[64];
		if (which >= 0)
			cr_assert_eq(recv(g.fds[which], buf, sizeof(buf), 0), 32);
	}
	close(c);
	udp_group_close(&g);
}

Test(udp, gso_send_arrives_as_one_gro_burst)
{
	loopback_netns();
	struct udp_group rx, tx;
	cr_assert_eq(udp_group_open(NULL, 0, 1, &rx), 0);
	cr_assert_eq(udp_group_open(NULL, 0, 1, &tx), 0);
	struct sockaddr_in6 to = to_group(&rx);
	/* Ten 1000-byte ESP-looking datagrams and a short last one, SPI 0x100 in each. */
	static uint8_t out[10 * 1000 + 300];
	for (size_t i = 0; i < 11; i++) {
		uint8_t *p = out + i * 1000;
		size_t len = i < 10 ? 1000 : 300;
		memset(p, (int)i, len);
		p[0] = 0, p[1] = 0, p[2] = 1, p[3] = 0;
	}
	struct udp_tx t = {.buf = out, .len = sizeof(out), .seg = 1000, .peer = &to};
	cr_assert_eq(udp_send_batch(tx.fds[0], &t, 1), 1);
	cr_assert_eq(ready_socket(&rx), 0);
	static uint8_t in[2][65536];
	struct udp_rx r[2] = {{.buf = in[0], .cap = sizeof(in[0])},
			      {.buf = in[1], .cap = sizeof(in[1])}};
	size_t total = 0, buffers = 0;
	for (int tries = 0; tries < 20 && total < sizeof(out); tries++) {
		int got = udp_recv_batch(rx.fds[0], r, 2);
		cr_assert_geq(got, 0);
		for (int i = 0; i < got; i++) {
			cr_expect(r[i].seg == 1000 || r[i].len <= 1000);
			cr_expect_eq(memcmp(r[i].buf, out + total, r[i].len), 0, "bytes in order");
			total += r[i].len;
			buffers++;
		}
	}
	cr_expect_eq(total, sizeof(out), "every byte arrived");
	if (rx.gro)
		cr_expect_leq(buffers, 2, "GRO delivered the burst in at most two reads (%zu)",
			      buffers);
	udp_group_close(&rx);
	udp_group_close(&tx);
}
