/*
 * export_clab: the containerlab topology lays out what the plan says: a node per site with its
 * underlay addresses, a NAT for dynamic sites, IPv6 underlays via link-local next hops, LAN
 * hosts on each subnet's second address, one token per edge made at deploy time, external
 * sites on strongSwan, and refuses what it cannot lay out. (The schema check of the result is
 * tests/integration/export_containerlab.sh.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller/export_clab.h"
#include "tests/unit/controller/intent_helpers.h"

#define WAN                                                                                        \
	"wan: lab\n"                                                                               \
	"controller: {endpoint: \"tcp://192.0.2.100:7900\"}\n"                                     \
	"type: hub-and-spoke\n"                                                                    \
	"sites:\n"                                                                                 \
	"  - name: hub1\n    role: hub\n"                                                          \
	"    underlay: [{name: inet, address: 192.0.2.1}, {name: v6, address: \"2001:db8::1\"}]\n" \
	"    subnets: [10.0.0.0/24, \"2001:db8:1::/64\"]\n"                                        \
	"  - name: b1\n    role: spoke\n    hubs: [hub1]\n"                                        \
	"    underlay: [{name: lte, address: dynamic}]\n"                                          \
	"    subnets: [10.1.0.0/24, 10.1.1.0/31]\n"                                                \
	"  - name: b2\n    role: spoke\n    hubs: [hub1]\n"                                        \
	"    underlay: [{name: lte, address: dynamic}]\n"                                          \
	"    subnets: [10.2.0.0/24]\n"                                                             \
	"  - name: gw\n    role: external\n"                                                       \
	"    underlay: [{name: inet, address: 203.0.113.5}]\n"                                     \
	"    subnets: [172.16.0.0/16]\n"

static char *export_text(const char *yaml, const struct export_clab_options *o, int *rc, char *err,
			 size_t err_len)
{
	struct intent in;
	struct diag_list d = {0};
	int crc = compile_text(yaml, &in, &d);
	if (crc)
		dump_diags(&d);
	cr_assert_eq(crc, 0);
	diag_list_free(&d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	*rc = export_clab_write(in.plan, o, f, err, err_len);
	fclose(f);
	intent_free(&in);
	return buf;
}

/* The node block of name (up to the next node at the same indentation). */
static char *node_block(const char *text, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "\n    %s:\n", name);
	const char *at = strstr(text, key);
	cr_assert_not_null(at, "no node %s", name);
	at += 1;
	const char *end = at + strlen(key) - 1;
	while ((end = strchr(end, '\n')) && strncmp(end + 1, "      ", 6) == 0)
		end++;
	size_t n = end ? (size_t)(end - at) + 1 : strlen(at);
	char *b = malloc(n + 1);
	cr_assert_not_null(b);
	memcpy(b, at, n);
	b[n] = '\0';
	return b;
}

static void expect_in(const char *block, const char *needle)
{
	cr_expect_not_null(strstr(block, needle), "missing \"%s\" in:\n%s", needle, block);
}

Test(export_clab, lays_out_the_plan)
{
	int rc;
	char err[128];
	struct export_clab_options o = {.topology_file = "lab.yaml"};
	char *text = export_text(WAN, &o, &rc, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	expect_in(text, "name: lab\n");
	expect_in(text, "    image: sdwan:latest\n");

	char *ctl = node_block(text, "controller");
	expect_in(ctl, "./lab.yaml:/etc/sdwan/wan.yaml:ro");
	expect_in(ctl, "--listen tcp://0.0.0.0:7900 --enroll-listen tcp://0.0.0.0:7901");
	expect_in(ctl, "token create hub1 --json");
	expect_in(ctl, "token create b2 --json");
	cr_expect_null(strstr(ctl, "token create gw "), "no token for an external gateway");
	expect_in(ctl, "sdwanctl export swanctl gw --topology /etc/sdwan/wan.yaml --state");
	free(ctl);

	char *wan = node_block(text, "wan");
	expect_in(wan, "ip route add 192.0.2.1/32 dev eth1\n");
	expect_in(wan, "ip -6 route add 2001:db8::1/128 via fe80::2 dev eth1\n");
	/* The two dynamic spokes, each behind its own public NAT address. */
	expect_in(wan, "ip route add 100.64.0.1/32 dev eth2\n");
	expect_in(wan, "snat to 198.18.0.1\n");
	expect_in(wan, "ip route add 100.64.0.2/32 dev eth3\n");
	expect_in(wan, "snat to 198.18.0.2\n");
	expect_in(wan, "ip route add 203.0.113.5/32 dev eth4\n");
	free(wan);

	char *hub = node_block(text, "hub1");
	expect_in(hub, "exec sdwan-edge --controller tcp://clab-lab-controller:7900 --token");
	expect_in(hub, "ip addr add 192.0.2.1/32 dev eth1\n");
	expect_in(hub, "ip -6 addr add 2001:db8::1/128 dev eth1\n");
	expect_in(hub, "ip route replace default via 169.254.0.1 dev eth1\n");
	expect_in(hub, "ip -6 route replace default via fe80::1 dev eth1\n");
	expect_in(hub, "ip addr add 10.0.0.1/24 dev eth2\n");
	expect_in(hub, "ip addr add 2001:db8:1::1/64 dev eth2\n");
	expect_in(hub, "devices: [/dev/net/tun]");
	free(hub);

	char *b2 = node_block(text, "b2");
	expect_in(b2, "ip addr add 100.64.0.2/32 dev eth1\n");
	free(b2);

	/* A /31 leaves no room for a router and a host: the LAN host skips it. */
	char *host = node_block(text, "b1-host");
	expect_in(host, "ip addr add 10.1.0.2/24 dev eth1\n");
	expect_in(host, "ip route replace default via 10.1.0.1 dev eth1\n");
	cr_expect_null(strstr(host, "10.1.1."));
	free(host);

	char *gw = node_block(text, "gw");
	expect_in(gw, "/run/sdwan-lab/swanctl/gw/swanctl.conf");
	expect_in(gw, "swanctl --load-all");
	cr_expect_null(strstr(gw, "sdwan-edge"));
	free(gw);

	expect_in(text, "    - endpoints: [\"wan:eth4\", \"gw:eth1\"]\n");
	expect_in(text, "    - endpoints: [\"b1:eth2\", \"b1-host:eth1\"]\n");
	free(text);
}

Test(export_clab, enroll_endpoint_port_from_the_topology)
{
	int rc;
	char err[128];
	struct export_clab_options o = {.topology_file = "lab.yaml"};
	const char *yaml = "wan: lab\n"
			   "controller: {endpoint: \"tcp://192.0.2.100:7900\",\n"
			   "             enroll-endpoint: \"tcp://192.0.2.101:9100\"}\n"
			   "type: full-mesh\n"
			   "sites:\n"
			   "  - {name: a, role: peer, underlay: [{name: i, address: 192.0.2.1}]}\n"
			   "  - {name: b, role: peer, underlay: [{name: i, address: 192.0.2.2}]}\n";
	char *text = export_text(yaml, &o, &rc, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	expect_in(text, "--listen tcp://0.0.0.0:7900 --enroll-listen tcp://0.0.0.0:9100");
	cr_expect_null(strstr(text, "-host:"), "no LAN hosts for sites without subnets");
	free(text);
}

Test(export_clab, image_option)
{
	int rc;
	char err[128];
	struct export_clab_options o = {.image = "registry.example/sdwan:0.1",
					.topology_file = "/abs/lab.yaml"};
	char *text = export_text(WAN, &o, &rc, err, sizeof(err));
	cr_assert_eq(rc, 0);
	expect_in(text, "    image: registry.example/sdwan:0.1\n");
	expect_in(text, "- /abs/lab.yaml:/etc/sdwan/wan.yaml:ro");
	free(text);
}

Test(export_clab, refuses_more_sites_than_it_can_address)
{
	size_t cap = 1 << 20, off = 0;
	char *y = malloc(cap);
	cr_assert_not_null(y);
	off += (size_t)snprintf(y + off, cap - off,
				"wan: big\ncontroller: {endpoint: \"tcp://192.0.2.100:7800\"}\n"
				"type: full-mesh\nsites:\n");
	for (unsigned i = 0; i < 251; i++)
		off += (size_t)snprintf(y + off, cap - off,
					"  - {name: s%u, role: peer, underlay: [{name: a, address: "
					"100.64.%u.%u}], subnets: [10.%u.%u.0/24]}\n",
					i, i / 200, i % 200 + 1, i / 200, i % 200);
	int rc;
	char err[128] = "";
	struct export_clab_options o = {.topology_file = "big.yaml"};
	free(export_text(y, &o, &rc, err, sizeof(err)));
	cr_expect_eq(rc, -EINVAL);
	cr_expect_not_null(strstr(err, "at most 250 sites"), "%s", err);
	free(y);
}
