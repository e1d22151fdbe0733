#!/usr/bin/env bash
# ctest-labels: integration;export;netns
# The network plumbing of a containerlab export, without Docker: every node of the .clab.yml
# becomes a network namespace, every link a veth pair, and each node's sysctls and exec
# commands run as containerlab would run them (the daemons' cmd is not started). Then the
# underlay must work as the plan assumes: every site reaches every other site's static
# underlay addresses through the wan router (IPv4 and IPv6), sites with only dynamic links
# reach them through the NAT, and every LAN host reaches its site.
#
#   hostA --eth1  eth2-- siteA --eth1  ethN-- wan --ethM  eth1-- siteB --eth2  eth1-- hostB
#
# Runs on the shipped external-gateway and full-mesh exports and on a generated WAN with IPv6
# and dual-stack underlays.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
ctl=${SDWAN_BIN_DIR:?}/sdwanctl
. "$src/tests/integration/lib/netns.sh"
ns_init
py=/usr/bin/python3
"$py" -c 'import yaml' 2>/dev/null || { echo "FAIL: python3-yaml is required" >&2; exit 1; }
command -v nft >/dev/null || { echo "FAIL: nftables is required" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sdwan-clabns.XXXXXX)
trap 'ns_cleanup; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0

cat >"$tmp/v6.yaml" <<'YAML'
wan: vsix
controller: {endpoint: "tcp://192.0.2.100:7800"}
type: hub-and-spoke
sites:
  - {name: hub, role: hub, underlay: [{name: a, address: "2001:db8::1"}, {name: b, address: 192.0.2.1}], subnets: ["2001:db8:10::/64"]}
  - {name: s6, role: spoke, hubs: [hub], underlay: [{name: a, address: "2001:db8::2"}], subnets: ["2001:db8:20::/64"]}
  - {name: s4, role: spoke, hubs: [hub], underlay: [{name: a, address: dynamic}], subnets: [10.4.0.0/24]}
YAML

# Turn a .clab.yml into shell commands: namespaces, links, sysctls, execs; then the checks.
plumb() {
	"$py" - "$1" "$2" <<'PY'
import ipaddress, shlex, sys, yaml
clab = yaml.safe_load(open(sys.argv[1]))
plan_sites = {s["name"]: s for s in __import__("json").load(open(sys.argv[2]))["sites"]}
nodes = clab["topology"]["nodes"]
run = [n for n in nodes if n != "controller"]
q = shlex.quote
for n in run:
    print("ns_add %s" % q(n))
for link in clab["topology"]["links"]:
    (a, ia), (b, ib) = (e.split(":") for e in link["endpoints"])
    print("ns_link %s %s %s %s" % (q(a), q(b), q(ia), q(ib)))
for n in run:
    for k, v in (nodes[n].get("sysctls") or {}).items():
        print("ns_exec %s sysctl -qw %s=%s" % (q(n), k, v))
    for c in nodes[n].get("exec", []):
        print("ns_exec %s %s || fail %s" % (q(n), " ".join(q(w) for w in shlex.split(c)), q(n + ": " + c)))
# Checks: site to site over the underlay; host to its site.
static = {s: [ipaddress.ip_address(u["address"]) for u in p["underlay"] if u["address"] != "dynamic"]
          for s, p in plan_sites.items()}
for a in plan_sites:
    for b in plan_sites:
        if a == b:
            continue
        for addr in static[b]:
            fam = "-6" if addr.version == 6 else "-4"
            mine = [x for x in static[a] if x.version == addr.version]
            if not mine and not (addr.version == 4 and not static[a]):
                continue  # a has no address of that family
            print("reach %s %s %s || fail %s" %
                  (q(a), fam, addr, q("%s cannot reach %s at %s" % (a, b, addr))))
            print("checks=$((checks + 1))")
for s, p in plan_sites.items():
    for net in p["subnets"]:
        nw = ipaddress.ip_network(net)
        if nw.num_addresses < 4:
            continue
        gw = nw.network_address + 1
        fam = "-6" if nw.version == 6 else "-4"
        print("reach %s %s %s || fail %s" %
              (q(s + "-host"), fam, gw, q("%s-host cannot reach its site at %s" % (s, gw))))
        print("checks=$((checks + 1))")
PY
}

# One echo request; new IPv6 addresses stay tentative (DAD) for a moment, so up to 5 tries.
reach() { # NODE -4|-6 ADDRESS
	local i
	for i in 1 2 3 4 5; do
		ns_exec "$1" ping "$2" -c1 -W1 -q "$3" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

run_lab() { # $1: topology file
	local topo=$1 base
	base=$(basename "$topo" .yaml)
	"$ctl" export containerlab "$topo" --out "$tmp/$base.clab.yml" 2>/dev/null || fail "export $base"
	"$ctl" plan --json "$topo" >"$tmp/$base.plan.json"
	plumb "$tmp/$base.clab.yml" "$tmp/$base.plan.json" >"$tmp/$base.sh" || fail "plumbing $base"
	ns_cleanup
	NS_LIST=""
	NS=c$$${base:0:4}
	checks=0
	# shellcheck disable=SC1090
	. "$tmp/$base.sh"
	[ "$checks" -gt 0 ] || fail "$base: nothing checked"
	echo "$base: $checks reachability checks passed"
	passed=$((passed + 1))
}

run_lab "$src/topologies/external-gateway.yaml"
run_lab "$src/topologies/full-mesh.yaml"
run_lab "$tmp/v6.yaml"
echo "$passed passed, 0 failed"
