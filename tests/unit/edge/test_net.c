/*
 * TUN device and netlink: each test runs in a network namespace of its own (root only; the
 * tests skip themselves elsewhere), creates the edge's interface, addresses and routes, checks
 * them through the kernel's own dump, and removes them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edge/net/netlink.h"
#include "edge/net/tun.h"

static void enter_private_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("needs root for a private network namespace (%s)", strerror(errno));
}

static struct prefix P(const char *s) {
	struct prefix p;
	bool host;
	cr_assert_eq(prefix_parse(s, &p, &host), 0);
	return p;
}

static struct ip_addr
A(const char *s) {
	struct ip_addr a;
	cr_assert_eq(ip_addr_parse(s, &a), 0);
	return a;
}

/* The kernel unregisters a closed TUN device asynchronously: wait (at most 3 s) for it to go. */
static bool
link_gone(struct net *n, const char *name)
{
	int ifindex;
	for (int i = 0; i < 300; i++) {
		if (net_link_index(n, name, &ifindex) == -ENODEV)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* TUN up with 10.10.1.1/24 and 2001:db8:1::1/64, routes to 10.20.0.0/16 and 2001:db8:2::/64. */
static void setup(struct net **n, struct tun *t, int *ifindex, unsigned queues)
{
	enter_private_netns();
	cr_assert_eq(net_open(n), 0);
	cr_assert_eq(tun_open("sdw-test0", queues, TUN_VNET_HDR, t), 0);
	cr_assert_eq(net_link_index(*n, "sdw-test0", ifindex), 0);
	cr_assert_eq(net_link_up(*n, *ifindex, 1438), 0);
	struct ip_addr a4 = A("10.10.1.1"), a6 = A("2001:db8:1::1");
	cr_assert_eq(net_addr_add(*n, *ifindex, &a4, 24), 0);
	cr_assert_eq(net_addr_add(*n, *ifindex, &a6, 64), 0);
	struct prefix r4 = P("10.20.0.0/16"), r6 = P("2001:db8:2::/64");
	cr_assert_eq(net_route_replace(*n, *ifindex, &r4, 1400), 0);
	cr_assert_eq(net_route_replace(*n, *ifindex, &r6, 1400), 0);
}

Test(net, routes_are_ours_and_removable)
{
	struct net *n;
	struct tun t;
	int ifindex;
	setup(&n, &t, &ifindex, 2);
	cr_expect_eq(t.queues, 2);
	cr_expect(t.vnet_hdr);
	size_t count = 0;
	cr_assert_eq(net_routes_count(n, ifindex, &count), 0);
	cr_expect_eq(count, 2, "two routes carry our protocol");
	struct prefix r4 = P("10.20.0.0/16");
	cr_expect_eq(net_route_replace(n, ifindex, &r4, 1380), 0, "replace is idempotent");
	cr_assert_eq(net_routes_count(n, ifindex, &count), 0);
	cr_expect_eq(count, 2);
	cr_expect_eq(net_route_del(n, ifindex, &r4), 0);
	cr_expect_eq(net_route_del(n, ifindex, &r4), -ENOENT);
	size_t removed = 0;
	cr_assert_eq(net_routes_flush(n, 0, &removed), 0);
	cr_expect_eq(removed, 1);
	cr_assert_eq(net_routes_count(n, 0, &count), 0);
	cr_expect_eq(count, 0);
	tun_close(&t);
	cr_expect(link_gone(n, "sdw-test0"), "the device goes with its last queue");
	net_close(n);
}

Test(net, routed_packets_arrive_on_the_tun_with_a_virtio_header)
{
	struct net *n;
	struct tun t;
	int ifindex;
	setup(&n, &t, &ifindex, 2);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	inet_pton(AF_INET, "10.20.0.5", &to.sin_addr);
	const char payload[] = "sdwan-probe";
	cr_assert_eq(sendto(s, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)),
		     (ssize_t)sizeof(payload));
	/* The kernel picks a queue by flow hash, and IPv6 router solicitations or MLD reports
	 * may arrive too: read from whichever queue is ready until our IPv4 packet shows up. */
	uint8_t buf[2048];
	ssize_t len = -1;
	for (int tries = 0; tries < 20; tries++) {
		struct pollfd pfd[2] = {{t.fds[0], POLLIN, 0}, {t.fds[1], POLLIN, 0}};
		if (poll(pfd, 2, 500) <= 0)
			continue;
		int fd = pfd[0].revents & POLLIN ? t.fds[0] : t.fds[1];
		len = read(fd, buf, sizeof(buf));
		if (len > 10 + 20 + 8 && (buf[10] >> 4) == 4)
			break;
		len = -1;
	}
	const uint8_t *ip = buf + 10; /* after struct virtio_net_hdr */
	cr_expect_eq(ip[0] >> 4, 4);
	cr_expect_eq(ip[9], IPPROTO_UDP);
	cr_expect_eq(memcmp(ip + 16, &to.sin_addr, 4), 0, "destination 10.20.0.5");
	cr_expect_eq(memcmp(ip + 28, payload, sizeof(payload)), 0);
	close(s);
	tun_close(&t);
	net_close(n);
}

Test(net, route_mtu_is_enforced_by_the_kernel)
{
	struct net *n;
	struct tun t;
	int ifindex;
	setup(&n, &t, &ifindex, 1);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int pmtu = IP_PMTUDISC_DO;
	cr_assert_eq(setsockopt(s, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)), 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	inet_pton(AF_INET, "10.20.0.5", &to.sin_addr);
	static char big[1500];
	/* 1400-byte route MTU: 1372 bytes of UDP payload fit, 1373 do not. */
	cr_expect_eq(sendto(s, big, 1372, 0, (struct sockaddr *)&to, sizeof(to)), 1372);
	cr_expect_eq(sendto(s, big, 1373, 0, (struct sockaddr *)&to, sizeof(to)), -1);
	cr_expect_eq(errno, EMSGSIZE);
	close(s);
	tun_close(&t);
	net_close(n);
}

Test(net, a_crash_leaves_nothing_and_stale_devices_are_removed)
{
	enter_private_netns();
	struct net *n;
	cr_assert_eq(net_open(&n), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct net *cn;
		struct tun t;
		int ifindex;
		if (net_open(&cn) || tun_open("sdw-crash", 1, TUN_VNET_HDR, &t) ||
		    net_link_index(cn, "sdw-crash", &ifindex) || net_link_up(cn, ifindex, 1400))
			_exit(1);
		struct prefix r = P("10.99.0.0/16");
		_exit(net_route_replace(cn, ifindex, &r, 0) ? 1 : 0); /* no cleanup: a crash */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int ifindex;
	cr_expect(link_gone(n, "sdw-crash"), "the kernel removes a crashed edge's device");
	size_t count = 1;
	cr_assert_eq(net_routes_count(n, 0, &count), 0);
	cr_expect_eq(count, 0, "the kernel removed the routes with the device");

	/* A persistent TUN of our name (left by something else) is removed at start. */
	int fd = open("/dev/net/tun", O_RDWR);
	cr_assert_geq(fd, 0);
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "sdw-stale");
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	cr_assert_eq(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);
	cr_assert_eq(net_link_index(n, "sdw-stale", &ifindex), 0, "still there after close");
	cr_expect_eq(net_tun_remove_stale(n, "sdw-stale"), 0);
	cr_expect(link_gone(n, "sdw-stale"));
	cr_expect_eq(net_tun_remove_stale(n, "sdw-stale"), 0, "idempotent");
	cr_expect_eq(net_tun_remove_stale(n, "lo"), -EEXIST, "never another kind of device");
	net_close(n);
}
