/*
 * bench-dataplane: run the data plane with one manually keyed tunnel, for the data-plane
 * integration tests and the throughput benchmark, before (and independently of) IKE. A test
 * harness, not a product: keys come from the command line.
 *
 *   bench-dataplane --tun NAME --addr A.B.C.D/LEN --port P --peer ADDR:PORT
 *                   --spi-in X --spi-out Y --key HEX72 --route PREFIX [--route ...]
 *                   [--allow PREFIX ...] [--mtu N] [--workers N] [--cipher aes256gcm16|...]
 *                   [--no-offload]   (TUN without virtio-net headers: no GSO/GRO)
 *
 * Runs until SIGINT/SIGTERM, then prints the tunnel's counters and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "edge/dp/dp.h"
#include "edge/dp/udp.h"
#include "edge/net/netlink.h"
#include "edge/net/tun.h"

static volatile sig_atomic_t stop_requested; /* signal flag: allowed global */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct args {
	const char *tun, *addr, *peer, *key, *cipher;
	uint16_t port;
	uint32_t spi_in, spi_out;
	unsigned mtu, workers;
	bool no_offload;
	const char *routes[16], *allow[16];
	unsigned n_routes, n_allow;
};

static int parse_peer(const char *s, struct sockaddr_in6 *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	struct ip_addr a;
	if (ip_addr_parse(host, &a) != 0)
		return -EINVAL;
	udp_sockaddr(a.bytes, a.family == IP_V4, (uint16_t)atoi(colon + 1), out);
	return 0;
}

static int build_lpm(const char *const *prefixes, unsigned n, uint32_t value, struct lpm **out)
{
	struct lpm_builder *b = lpm_builder_new();
	if (!b)
		return -ENOMEM;
	int rc = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct prefix p;
		bool host;
		rc = prefix_parse(prefixes[i], &p, &host);
		if (rc == 0)
			rc = lpm_insert(b, &p, value);
	}
	if (rc == 0)
		rc = lpm_build(b, out);
	lpm_builder_free(b);
	return rc;
}

static enum esp_cipher cipher_of(const char *s)
{
	if (s && strcmp(s, "aes128gcm16") == 0)
		return ESP_CIPHER_AES128_GCM16;
	if (s && strcmp(s, "chacha20poly1305") == 0)
		return ESP_CIPHER_CHACHA20_POLY1305;
	return ESP_CIPHER_AES256_GCM16;
}

static int setup_net(const struct args *a, const struct tun *t)
{
	struct net *n;
	int ifindex, rc = net_open(&n);
	if (rc)
		return rc;
	struct prefix p;
	bool host;
	if ((rc = net_link_index(n, t->name, &ifindex)) || (rc = net_link_up(n, ifindex, a->mtu)) ||
	    (rc = prefix_parse(a->addr, &p, &host)))
		goto out;
	struct ip_addr local;
	char abuf[64];
	snprintf(abuf, sizeof(abuf), "%.*s", (int)(strchr(a->addr, '/') - a->addr), a->addr);
	if ((rc = ip_addr_parse(abuf, &local)) || (rc = net_addr_add(n, ifindex, &local, p.len)))
		goto out;
	for (unsigned i = 0; i < a->n_routes && !rc; i++) {
		rc = prefix_parse(a->routes[i], &p, &host);
		if (!rc)
			rc = net_route_replace(n, ifindex, &p, a->mtu);
	}
out:
	net_close(n);
	return rc;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"tun", 1, NULL, 't'},        {"addr", 1, NULL, 'a'},    {"port", 1, NULL, 'p'},
		{"peer", 1, NULL, 'P'},       {"spi-in", 1, NULL, 'i'},  {"spi-out", 1, NULL, 'o'},
		{"key", 1, NULL, 'k'},        {"route", 1, NULL, 'r'},   {"allow", 1, NULL, 'A'},
		{"mtu", 1, NULL, 'm'},        {"workers", 1, NULL, 'w'}, {"cipher", 1, NULL, 'c'},
		{"no-offload", 0, NULL, 'n'}, {NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->mtu = 1438;
	a->workers = 2;
	int c;
	// NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded start-up
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->tun = optarg;
			break;
		case 'a':
			a->addr = optarg;
			break;
		case 'p':
			a->port = (uint16_t)atoi(optarg);
			break;
		case 'P':
			a->peer = optarg;
			break;
		case 'i':
			a->spi_in = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			a->spi_out = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			a->key = optarg;
			break;
		case 'r':
			if (a->n_routes < 16)
				a->routes[a->n_routes++] = optarg;
			break;
		case 'A':
			if (a->n_allow < 16)
				a->allow[a->n_allow++] = optarg;
			break;
		case 'm':
			a->mtu = (unsigned)atoi(optarg);
			break;
		case 'w':
			a->workers = (unsigned)atoi(optarg);
			break;
		case 'c':
			a->cipher = optarg;
			break;
		case 'n':
			a->no_offload = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!a->tun || !a->addr || !a->peer || !a->key || !a->port || !a->n_routes)
		return -EINVAL;
	return 0;
}

static int install(struct dp *dp, const struct args *a)
{
	uint8_t keymat[36];
	size_t klen = esp_cipher_keymat_len(cipher_of(a->cipher));
	for (size_t i = 0; i < klen; i++) {
		unsigned v;
		if (sscanf(a->key + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		keymat[i] = (uint8_t)v;
	}
	struct sockaddr_in6 peer;
	struct lpm *routes = NULL, *allowed = NULL;
	int rc = parse_peer(a->peer, &peer);
	if (!rc)
		rc = build_lpm(a->routes, a->n_routes, 0, &routes);
	if (!rc)
		rc = build_lpm(a->n_allow ? a->allow : a->routes,
			       a->n_allow ? a->n_allow : a->n_routes, DP_SRC_ALLOW, &allowed);
	if (!rc)
		rc = dp_tunnel_add(dp, 0, &peer, (uint16_t)a->mtu, &allowed);
	struct esp_sa_config cfg = {.cipher = cipher_of(a->cipher),
				    .dir = ESP_DIR_OUT,
				    .spi = a->spi_out,
				    .esn = true,
				    .keymat = keymat,
				    .keymat_len = klen};
	if (!rc)
		rc = dp_sa_out_install(dp, 0, &cfg);
	cfg.dir = ESP_DIR_IN;
	cfg.spi = a->spi_in;
	if (!rc)
		rc = dp_sa_in_install(dp, 0, &cfg);
	if (!rc)
		rc = dp_routes_set(dp, &routes);
	lpm_free(routes);
	lpm_free(allowed);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a;
	if (parse_args(argc, argv, &a) != 0) {
		fprintf(stderr,
			"usage: see the comment at the top of tests/bench/dataplane/dp_static.c\n");
		return 2;
	}
	log_configure(LOG_LEVEL_NOTICE, LOG_FORMAT_TEXT, NULL);
	struct tun t;
	struct udp_group g;
	struct dp *dp = NULL;
	int rc = tun_open(a.tun, a.workers, a.no_offload ? 0 : TUN_VNET_HDR, &t);
	if (rc)
		return 1;
	if ((rc = udp_group_open(NULL, a.port, a.workers, &g)) != 0) {
		tun_close(&t);
		return 1;
	}
	struct dp_config cfg = {.workers = a.workers,
				.tun_fds = t.fds,
				.tun_vnet_hdr = !a.no_offload,
				.udp_fds = g.fds};
	char local[64];
	snprintf(local, sizeof(local), "%.*s", (int)strcspn(a.addr, "/"), a.addr);
	if (ip_addr_parse(local, &cfg.icmp_src_v4) != 0 || cfg.icmp_src_v4.family != IP_V4)
		memset(&cfg.icmp_src_v4, 0, sizeof(cfg.icmp_src_v4));
	if ((rc = setup_net(&a, &t)) || (rc = dp_new(&cfg, &dp)) || (rc = install(dp, &a)) ||
	    (rc = dp_start(dp))) {
		fprintf(stderr, "bench-dataplane: setup failed: %s\n", strerror(-rc));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop_requested) {
		usleep(100 * 1000);
		dp_reclaim(dp);
	}
	struct dp_stats s;
	if (dp_tunnel_stats(dp, 0, &s) == 0) {
		printf("tx_packets=%llu tx_bytes=%llu rx_packets=%llu rx_bytes=%llu",
		       (unsigned long long)s.tx_packets, (unsigned long long)s.tx_bytes,
		       (unsigned long long)s.rx_packets, (unsigned long long)s.rx_bytes);
		for (int d = 0; d < DP_DROP_COUNT; d++)
			printf(" drop_%s=%llu", dp_drop_name(d), (unsigned long long)s.drops[d]);
		uint64_t g_drops[DP_DROP_COUNT];
		dp_global_drops(dp, g_drops);
		printf(" global_no_sa=%llu global_no_route=%llu\n",
		       (unsigned long long)g_drops[DP_DROP_NO_SA],
		       (unsigned long long)g_drops[DP_DROP_NO_ROUTE]);
	}
out:
	dp_free(dp);
	udp_group_close(&g);
	tun_close(&t);
	return rc ? 1 : 0;
}
