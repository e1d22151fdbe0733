#!/usr/bin/env bash
# ctest-labels: lab;integration
# Every topology in topologies/ brought up by deploy/sdwan-lab with the real daemons (controller,
# one enrolled sdwan-edge per site, strongSwan from `sdwanctl export swanctl` for external
# sites, LAN hosts, NAT for dynamic sites; docs/lab.md): once every planned tunnel is up, every
# LAN host pings every other LAN host (IPv4, and IPv6 where both sites have an IPv6 subnet);
# then `down` must leave no namespace and no process behind.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
export SDWAN_BIN_DIR=${SDWAN_BIN_DIR:?}
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root for network namespaces"
	exit 0
fi
lab=$src/deploy/sdwan-lab
NAME=rch$$
export SDWAN_LAB_DIR=${SDWAN_LAB_DIR:-/run/sdwan-lab}
L() { "$lab" --name "$NAME" "$@"; }
cleanup() { L down >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$SDWAN_LAB_DIR/$NAME"/logs/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f (tail)"
		tail -15 "$f"
	done >&2
	exit 1
}
passed=0
ok() {
	passed=$((passed + 1))
	echo "ok $passed - $*"
}

# leftovers: namespaces or processes of this lab
leftovers() {
	local n out=""
	out=$(ip netns list | awk '{print $1}' | grep "^sdwl-$NAME-" || true)
	pgrep -f "$SDWAN_LAB_DIR/$NAME/" >/dev/null && out="$out processes:$(pgrep -f "$SDWAN_LAB_DIR/$NAME/" | tr '\n' ' ')"
	# charon's command line names nothing of the lab; its environment does.
	n=$(grep -l -s -z "^STRONGSWAN_CONF=$SDWAN_LAB_DIR/$NAME/" /proc/[0-9]*/environ || true)
	[ -z "$n" ] || out="$out charon:$(echo "$n" | tr '\n' ' ')"
	[ ! -e "$SDWAN_LAB_DIR/$NAME" ] || out="$out dir:$SDWAN_LAB_DIR/$NAME"
	echo "$out"
}

for topo in "$src"/topologies/*.yaml; do
	base=$(basename "$topo")
	plan=$("$SDWAN_BIN_DIR/sdwanctl" plan --json "$topo")
	ext=$(jq -r '[.edges[] | select(.managed | not) | .site] | join(" ")' <<<"$plan")
	# External gateways run strongSwan in the lab (lab_external.sh checks them in depth).
	[ -z "$ext" ] || echo "# $base: external sites (strongSwan in the lab): $ext"
	out=$(L up "$topo" 2>&1) || fail "$base: up failed:
$out"
	grep -q "every planned tunnel is up" <<<"$out" || fail "$base: up: $out"
	ok "$base: up, every planned tunnel up ($(grep -o '([0-9]* ms' <<<"$out" | tr -d '('))"
	sites=$(jq -r '.edges[] | .site' <<<"$plan")
	# Every LAN host's address: the second host address of each subnet of its site.
	addrs=$(jq -r '.edges[] | .site as $s | .subnets[] | "\($s) \(.)"' <<<"$plan" |
		python3 -c 'import ipaddress, sys
for l in sys.stdin:
    s, p = l.split()
    print(s, ipaddress.ip_network(p).network_address + 2)')
	n=0
	for a in $sites; do
		has6=false
		L exec "$a" ip -6 addr show dev eth0 scope global | grep -q inet6 && has6=true
		dsts=""
		while read -r b d; do
			[ "$a" = "$b" ] && continue
			# IPv6 only where the source host has an IPv6 address too.
			[[ $d == *:* ]] && ! $has6 && continue
			dsts="$dsts $d"
			n=$((n + 1))
		done <<<"$addrs"
		# One exec per source host; the first unreachable destination is printed.
		bad=$(L exec "$a" bash -c 'for d; do
			ping -q -c 3 -i 0.05 -W 2 "$d" >/dev/null ||
				ping -q -c 3 -i 0.2 -W 2 "$d" >/dev/null || { echo "$d"; exit 1; }
		done' - $dsts) || fail "$base: ping from $a to $bad"
	done
	ok "$base: $n host-to-address pairs reach each other over the overlay"
	if [ "$base" = retail.yaml ]; then
		# More prefixes than IKE selectors carry: a store's config summarises the other
		# stores, and the reachability above went through those summary routes.
		r=$(ip -n "sdwl-$NAME-e-store1" route show dev sdwan0)
		grep -q '^10.20.8.0/21 ' <<<"$r" && grep -q '^10.20.16.0/22 ' <<<"$r" &&
			! grep -q '^10.20.9.0/24 ' <<<"$r" ||
			fail "$base: store1 does not route the other stores as a summary: $r"
		ok "$base: store1 routes the other stores as 10.20.8.0/21 and 10.20.16.0/22"
	fi
	# Nothing legitimate may be dropped as a source the tunnel may not carry (hubs' ICMP
	# redirects were, before the edge turned them off). Health reports come every 2 s.
	sleep 2.5
	for a in $(jq -r '.edges[] | select(.managed) | .site' <<<"$plan"); do
		pol=$(L ctl edge show "$a" --json | jq '[.tunnels[].drops_by_reason.policy] | add // 0')
		[ "$pol" = 0 ] || fail "$base: $a dropped $pol inbound packets for policy"
	done
	ok "$base: no policy drops on any edge"
	L down >/dev/null || fail "$base: down failed"
	left=$(leftovers)
	[ -z "$left" ] || fail "$base: left behind after down: $left"
	L down >/dev/null || fail "$base: a second down must succeed"
	ok "$base: down removed every namespace and process (and is idempotent)"
done
echo "lab_reachability: $passed checks passed"
