#include "controller/export_clab.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/prefix.h"

/* Addresses of the lab's own plumbing, outside anything a topology should use for sites:
 * the router answers every site's link as 169.254.0.1 (IPv4 link-local) / fe80::1, and a
 * dynamic site k sits at 100.64.0.k (shared address space, RFC 6598) behind a NAT whose
 * public side is 198.18.0.k (benchmarking range, RFC 2544). */
#define GW4      "169.254.0.1"
#define GW6      "fe80::1"
#define SITE_LL6 "fe80::2"

enum {
	MAX_SITES = 250, /* one /32 of 100.64.0.0/24 and 198.18.0.0/24 per dynamic site */
	LAN_IF = 2       /* eth1 underlay, eth2 LAN */
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t len, const char *fmt,
							  ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Port of "tcp://HOST:PORT" (the loader checked the form); 0 when absent. */
static unsigned endpoint_port(const char *ep)
{
	const char *colon = ep ? strrchr(ep, ':') : NULL;
	return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

/* The n-th address of a prefix (n small), into buf; false when the prefix has no room. */
static bool nth_host(const struct prefix *pf, unsigned n, char buf[static IP_ADDR_STRLEN])
{
	unsigned bits = ip_family_bits(pf->addr.family);
	if (bits - pf->len < 2)
		return false; /* /31, /32, /127, /128: no two hosts */
	struct ip_addr a = pf->addr;
	unsigned last = bits / 8 - 1;
	a.bytes[last] = (uint8_t)(a.bytes[last] + n);
	ip_addr_format(&a, buf);
	return true;
}

static void write_header(FILE *out, const struct topo *t, const char *image)
{
	fprintf(out,
		"# containerlab topology of WAN '%s', written by 'sdwanctl export containerlab'.\n"
		"# Image: deploy/docker/Dockerfile (docker build -t %s -f deploy/docker/Dockerfile "
		".).\n"
		"# Deploy: containerlab deploy -t THIS_FILE. Enrollment tokens are made at deploy "
		"time\n"
		"# by the controller node's exec and handed to each edge through the shared folder\n"
		"# %s-lab/ next to this file (docs/export.md).\n",
		t->wan, image, t->wan);
	fprintf(out, "name: %s\n\ntopology:\n  defaults:\n    kind: linux\n    image: %s\n", t->wan,
		image);
	fputs("  nodes:\n", out);
}

static void write_controller(FILE *out, const struct plan *p, const struct export_clab_options *o)
{
	const struct topo *t = p->topo;
	unsigned port = endpoint_port(t->controller_endpoint);
	/* Enrollment where the topology says (contract: default the control port + 1). */
	unsigned enroll = t->enroll_endpoint ? endpoint_port(t->enroll_endpoint) : port + 1;
	fputs("    controller:\n", out);
	fprintf(out, "      binds:\n        - %s%s:/etc/sdwan/wan.yaml:ro\n",
		o->topology_file[0] == '/' ? "" : "./", o->topology_file);
	fprintf(out, "        - ./%s-lab:/run/sdwan-lab\n", t->wan);
	fprintf(out,
		"      cmd: sdwan-controller --topology /etc/sdwan/wan.yaml --state /var/lib/sdwan "
		"--listen tcp://0.0.0.0:%u --enroll-listen tcp://0.0.0.0:%u --admin "
		"/run/sdwan/admin.sock\n",
		port, enroll);
	fputs("      exec:\n", out);
	/* One token per edge, retried until the controller answers; written under a temporary
	 * name and renamed so an edge never reads half a token. */
	fputs("        - mkdir -p /run/sdwan-lab/tokens /run/sdwan-lab/swanctl\n", out);
	for (uint32_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		if (topo_site_is_external(s))
			fprintf(out,
				"        - sh -c 'n=0; until sdwanctl export swanctl %s --topology "
				"/etc/sdwan/wan.yaml --state /var/lib/sdwan --out "
				"/run/sdwan-lab/swanctl/%s; do n=$((n+1)); [ $n -lt 60 ] || exit 1; "
				"sleep 1; done'\n",
				s->name, s->name);
		else
			fprintf(out,
				"        - sh -c 'n=0; until sdwanctl --admin /run/sdwan/admin.sock "
				"token create %s --json | jq -er .token > /run/sdwan-lab/tokens/%s.tmp; "
				"do n=$((n+1)); [ $n -lt 60 ] || exit 1; sleep 1; done; mv "
				"/run/sdwan-lab/tokens/%s.tmp /run/sdwan-lab/tokens/%s'\n",
				s->name, s->name, s->name, s->name);
	}
}

/* The router standing in for the Internet: forwarding, and NAT for dynamic sites. */
static void write_wan_router(FILE *out, const struct topo *t)
{
	fputs("    wan:\n      cap-add: [NET_ADMIN]\n", out);
	fputs("      sysctls:\n        net.ipv4.ip_forward: 1\n"
	      "        net.ipv6.conf.all.forwarding: 1\n",
	      out);
	fputs("      exec:\n", out);
	fputs("        - nft add table ip nat\n"
	      "        - nft 'add chain ip nat post { type nat hook postrouting priority 100; }'\n",
	      out);
	unsigned dyn = 0;
	char a[IP_ADDR_STRLEN];
	for (uint32_t i = 0; i < t->n_sites; i++) {
		const struct topo_site *s = &t->sites[i];
		unsigned ifn = i + 1;
		fprintf(out, "        - ip addr add %s/32 dev eth%u\n", GW4, ifn);
		fprintf(out, "        - ip -6 addr add %s/64 dev eth%u\n", GW6, ifn);
		if (topo_site_is_dynamic(s)) {
			dyn++;
			fprintf(out, "        - ip route add 100.64.0.%u/32 dev eth%u\n", dyn, ifn);
			fprintf(out, "        - ip addr add 198.18.0.%u/32 dev lo\n", dyn);
			fprintf(out,
				"        - nft add rule ip nat post ip saddr 100.64.0.%u snat to "
				"198.18.0.%u\n",
				dyn, dyn);
		}
		for (size_t l = 0; l < s->n_links; l++) {
			const struct topo_link *k = &s->links[l];
			if (k->dynamic)
				continue;
			if (k->addr.family == IP_V4)
				fprintf(out, "        - ip route add %s/32 dev eth%u\n",
					ip_addr_format(&k->addr, a), ifn);
			else
				fprintf(out, "        - ip -6 route add %s/128 via %s dev eth%u\n",
					ip_addr_format(&k->addr, a), SITE_LL6, ifn);
		}
	}
}

/* The site's underlay: every static address of its links on its one link to the router (the
 * lab does not model separate access networks), or a NATed address when it has none. */
static void write_site_addressing(FILE *out, const struct topo_site *s, unsigned *dyn)
{
	char a[IP_ADDR_STRLEN];
	unsigned fam = 0;
	fputs("        - ip link set eth1 up\n", out);
	fprintf(out, "        - ip -6 addr add %s/64 dev eth1\n", SITE_LL6);
	if (topo_site_is_dynamic(s)) {
		fprintf(out, "        - ip addr add 100.64.0.%u/32 dev eth1\n", ++*dyn);
		fam |= 1u << IP_V4;
	}
	for (size_t l = 0; l < s->n_links; l++) {
		const struct topo_link *k = &s->links[l];
		if (k->dynamic)
			continue;
		bool v6 = k->addr.family == IP_V6;
		fprintf(out, "        - ip %saddr add %s/%u dev eth1\n", v6 ? "-6 " : "",
			ip_addr_format(&k->addr, a), v6 ? 128u : 32u);
		fam |= 1u << k->addr.family;
	}
	if (fam & 1u << IP_V4) {
		fprintf(out, "        - ip route add %s/32 dev eth1\n", GW4);
		/* Replace the management network's default route: the underlay is the Internet. */
		fprintf(out, "        - ip route replace default via %s dev eth1\n", GW4);
	}
	if (fam & 1u << IP_V6)
		fprintf(out, "        - ip -6 route replace default via %s dev eth1\n", GW6);
	for (size_t j = 0; j < s->n_subnets; j++)
		if (nth_host(&s->subnets[j].prefix, 1, a))
			fprintf(out, "        - ip addr add %s/%u dev eth%u\n", a,
				s->subnets[j].prefix.len, (unsigned)LAN_IF);
}

static void write_site(FILE *out, const struct plan *p, uint32_t i, unsigned *dyn)
{
	const struct topo *t = p->topo;
	const struct topo_site *s = &t->sites[i];
	unsigned port = endpoint_port(t->controller_endpoint);
	fprintf(out, "    %s:\n", s->name);
	if (topo_site_is_external(s))
		/* An external gateway: strongSwan, configured from the export. */
		fprintf(out,
			"      cmd: sh -c 'until [ -s /run/sdwan-lab/swanctl/%s/swanctl.conf ]; do "
			"sleep 1; done; cp -r /run/sdwan-lab/swanctl/%s/. /etc/swanctl/; "
			"cp /run/sdwan-lab/swanctl/%s/strongswan.d/*.conf /etc/strongswan.d/; "
			"/usr/lib/ipsec/charon & sleep 2; swanctl --load-all; wait'\n",
			s->name, s->name, s->name);
	else
		fprintf(out,
			"      cmd: sh -c 'until [ -s /run/sdwan-lab/tokens/%s ] && ip -o addr show "
			"dev eth1 | grep -q inet; do sleep 1; done; exec sdwan-edge --controller "
			"tcp://clab-%s-controller:%u --token \"$(cat /run/sdwan-lab/tokens/%s)\" "
			"--state /var/lib/sdwan'\n",
			s->name, t->wan, port, s->name);
	fprintf(out, "      binds:\n        - ./%s-lab:/run/sdwan-lab\n", t->wan);
	fputs("      cap-add: [NET_ADMIN]\n", out);
	fputs("      devices: [/dev/net/tun]\n", out);
	fputs("      sysctls:\n        net.ipv4.ip_forward: 1\n"
	      "        net.ipv6.conf.all.forwarding: 1\n",
	      out);
	fputs("      exec:\n", out);
	write_site_addressing(out, s, dyn);
	if (s->n_subnets == 0)
		return;
	fprintf(out, "    %s-host:\n      cap-add: [NET_ADMIN]\n      exec:\n", s->name);
	char a[IP_ADDR_STRLEN], gw[IP_ADDR_STRLEN];
	for (size_t j = 0; j < s->n_subnets; j++) {
		const struct prefix *pf = &s->subnets[j].prefix;
		if (!nth_host(pf, 2, a) || !nth_host(pf, 1, gw))
			continue;
		bool v6 = pf->addr.family == IP_V6;
		fprintf(out, "        - ip %saddr add %s/%u dev eth1\n", v6 ? "-6 " : "", a,
			pf->len);
		fprintf(out, "        - ip %sroute replace default via %s dev eth1\n",
			v6 ? "-6 " : "", gw);
	}
}

static void write_links(FILE *out, const struct topo *t)
{
	fputs("  links:\n", out);
	for (uint32_t i = 0; i < t->n_sites; i++)
		fprintf(out, "    - endpoints: [\"wan:eth%u\", \"%s:eth1\"]\n", i + 1,
			t->sites[i].name);
	for (uint32_t i = 0; i < t->n_sites; i++)
		if (t->sites[i].n_subnets)
			fprintf(out, "    - endpoints: [\"%s:eth%u\", \"%s-host:eth1\"]\n",
				t->sites[i].name, (unsigned)LAN_IF, t->sites[i].name);
}

int export_clab_write(const struct plan *p, const struct export_clab_options *o, FILE *out,
		      char *err, size_t err_len)
{
	const struct topo *t = p->topo;
	if (t->n_sites > MAX_SITES) {
		set_err(err, err_len, "a lab holds at most %d sites; this WAN has %zu", MAX_SITES,
			t->n_sites);
		return -EINVAL;
	}
	unsigned port = endpoint_port(t->controller_endpoint);
	if (port == 0 || port >= 65535) {
		set_err(err, err_len, "controller endpoint '%s' has no usable port",
			t->controller_endpoint ? t->controller_endpoint : "");
		return -EINVAL;
	}
	const char *image = o->image ? o->image : EXPORT_CLAB_IMAGE;
	write_header(out, t, image);
	write_controller(out, p, o);
	write_wan_router(out, t);
	unsigned dyn = 0;
	for (uint32_t i = 0; i < t->n_sites; i++)
		write_site(out, p, i, &dyn);
	write_links(out, t);
	if (fflush(out) != 0 || ferror(out)) {
		set_err(err, err_len, "write failed: %s", sdw_strerror(errno));
		return -EIO;
	}
	return 0;
}
