/*
 * Offline commands on topology files: validate and plan (and the plan diff).
 */
#include <stdio.h>
#include <string.h>

#include "common/duration.h"
#include "controller/intent.h"
#include "controller/plan_diff.h"
#include "controller/plan_json.h"
#include "controller/sdwanctl/commands.h"

enum {
	EXIT_INVALID = 2,
	EXIT_DIFFERENT = 3
};

/* Compile one file, printing its diagnostics to stderr. Returns 0 when valid. */
static int compile(const char *path, struct intent *in)
{
	struct diag_list diags = {0};
	int rc = intent_compile_file(path, in, &diags);
	diag_print(&diags, path, stderr);
	if (rc != 0 && (diags.errors || diags.warnings))
		fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", path, diags.errors,
			diags.errors == 1 ? "" : "s", diags.warnings,
			diags.warnings == 1 ? "" : "s");
	diag_list_free(&diags);
	return rc;
}

/* "2 hubs, 3 spokes, 0 peers", and ", 1 external" when the WAN has external gateways. */
static const char *describe_roles(const struct topo *t, char *buf, size_t len)
{
	size_t roles[TOPO_ROLE_COUNT] = {0};
	for (size_t i = 0; i < t->n_sites; i++)
		roles[t->sites[i].role]++;
	int n = snprintf(buf, len, "%zu hubs, %zu spokes, %zu peers", roles[TOPO_ROLE_HUB],
			 roles[TOPO_ROLE_SPOKE], roles[TOPO_ROLE_PEER]);
	if (roles[TOPO_ROLE_EXTERNAL] && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", %zu external", roles[TOPO_ROLE_EXTERNAL]);
	return buf;
}

int cmd_validate(const struct ctl_opts *o, int argc, char **argv)
{
	(void)o;
	if (argc < 1) {
		fprintf(stderr, "usage: sdwanctl validate FILE...\n");
		return 1;
	}
	int status = 0;
	for (int i = 0; i < argc; i++) {
		struct intent in;
		if (compile(argv[i], &in) == 0) {
			char roles[128];
			printf("%s: ok: WAN '%s' (%s): %zu sites (%s), %zu tunnels\n", argv[i],
			       in.topo->wan, topo_type_name(in.topo->type), in.topo->n_sites,
			       describe_roles(in.topo, roles, sizeof(roles)), in.plan->n_tunnels);
		} else {
			status = EXIT_INVALID;
		}
		intent_free(&in);
	}
	return status;
}

static void print_addresses(const struct topo_site *s, char *buf, size_t len)
{
	size_t off = 0;
	char a[IP_ADDR_STRLEN];
	buf[0] = '\0';
	for (size_t i = 0; i < s->n_links && off < len; i++) {
		const char *txt =
			s->links[i].dynamic ? "dynamic" : ip_addr_format(&s->links[i].addr, a);
		int n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", txt);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void print_subnets(const struct topo_site *s, FILE *out)
{
	char p[PREFIX_STRLEN];
	for (size_t i = 0; i < s->n_subnets; i++)
		fprintf(out, "%s%s", i ? ", " : "", prefix_format(&s->subnets[i].prefix, p));
	if (s->n_subnets == 0)
		fputs("no subnets", out);
}

static void print_edge(const struct plan *p, uint32_t site, FILE *out)
{
	const struct topo *t = p->topo;
	const struct topo_site *s = &t->sites[site];
	char addrs[256], dur[DURATION_STRLEN];
	print_addresses(s, addrs, sizeof(addrs));
	fprintf(out, "\nedge %s (%s, underlay %s, mtu %u; ", s->name, topo_role_name(s->role),
		addrs, s->effective.mtu);
	print_subnets(s, out);
	fputs(")\n", out);
	if (s->role == TOPO_ROLE_EXTERNAL)
		fprintf(out,
			"  external gateway, not run by us: configure it with 'sdwanctl export "
			"swanctl %s'\n",
			s->name);
	if (s->role == TOPO_ROLE_SPOKE)
		fprintf(out,
			"  hub preference: first live of the list below by priority; "
			"failback after %s\n",
			duration_format(s->effective.hold_down_ms, dur));
	fprintf(out, "  %-28s %-9s %-4s %-9s %-24s %-5s %-9s %s\n", "tunnel", "kind", "prio",
		"initiate", "peer underlay", "mtu", "mss v4/v6", "ike / esp");
	const struct plan_edge *e = &p->edges[site];
	for (size_t i = 0; i < e->count; i++) {
		const struct plan_tunnel *tun = &p->tunnels[p->edge_tunnels[e->first + i]];
		uint32_t peer = plan_tunnel_peer(tun, site);
		const struct plan_profile *pr = &p->profiles[tun->profile];
		char name[72], prio[8], mss[16], ike[PROPOSAL_STRLEN], esp[PROPOSAL_STRLEN];
		print_addresses(&t->sites[peer], addrs, sizeof(addrs));
		snprintf(prio, sizeof(prio), "%u", tun->hub_priority);
		snprintf(mss, sizeof(mss), "%u/%u", tun->mss_v4, tun->mss_v6);
		fprintf(out, "  %-28s %-9s %-4s %-9s %-24s %-5u %-9s %s / %s\n",
			plan_tunnel_name(p, tun, name, sizeof(name)), plan_kind_name(tun->kind),
			tun->hub_priority ? prio : "-", tun->initiator == site ? "yes" : "no",
			addrs, tun->mtu, mss, proposal_format(&pr->ike, PROPOSAL_IKE, ike),
			proposal_format(&pr->esp, PROPOSAL_ESP, esp));
	}
}

static void print_plan(const struct plan *p, FILE *out)
{
	const struct topo *t = p->topo;
	char roles[128];
	fprintf(out, "WAN %s (%s): %zu sites (%s), %zu tunnels\n", t->wan, topo_type_name(t->type),
		t->n_sites, describe_roles(t, roles, sizeof(roles)), p->n_tunnels);
	fprintf(out, "controller %s\n", t->controller_endpoint);
	for (int k = 0; k < PLAN_KIND_COUNT; k++) {
		if (!p->by_kind[k])
			continue;
		fprintf(out, "  %6zu %-9s", p->by_kind[k], plan_kind_name(k));
		if (k == PLAN_KIND_HUB_HUB)
			fprintf(out, "  why: %s", plan_hub_mesh_reason(p));
		fputc('\n', out);
	}
	for (uint32_t i = 0; i < t->n_sites; i++)
		print_edge(p, i, out);
}

static int plan_diff_files(const struct ctl_opts *o, const char *old_path, const char *new_path)
{
	struct intent a, b;
	int ra = compile(old_path, &a);
	int rb = compile(new_path, &b);
	int status = EXIT_INVALID;
	if (ra == 0 && rb == 0) {
		struct plan_diff d;
		if (plan_diff_compute(a.plan, b.plan, &d) == 0) {
			plan_diff_print(&d, stdout, o->json);
			status = plan_diff_empty(&d) ? 0 : EXIT_DIFFERENT;
			plan_diff_free(&d);
		} else {
			fprintf(stderr, "sdwanctl: out of memory\n");
			status = 1;
		}
	}
	intent_free(&a);
	intent_free(&b);
	return status;
}

int cmd_plan(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc == 2)
		return plan_diff_files(o, argv[0], argv[1]);
	if (argc != 1) {
		fprintf(stderr, "usage: sdwanctl plan FILE | sdwanctl plan OLD NEW\n");
		return 1;
	}
	struct intent in;
	int status = EXIT_INVALID;
	if (compile(argv[0], &in) == 0) {
		if (o->json)
			plan_json_write(in.plan, stdout, true);
		else
			print_plan(in.plan, stdout);
		status = 0;
	}
	intent_free(&in);
	return status;
}
