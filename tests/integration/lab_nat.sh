#!/usr/bin/env bash
# ctest-labels: lab;integration
# A site behind NAT whose NAT gives it new public ports mid-traffic, in the netns lab
# (deploy/sdwan-lab) on topologies/hub-spoke.yaml: branch3 (underlay `dynamic`) sits behind the
# lab's carrier NAT (namespace n-branch3, nftables masquerade to 100.64.1.5).
#
#   branch3 LAN -- [e-branch3] 100.100.4.2 -- [n-branch3 NAT] 100.64.1.5:P -- internet -- hubs
#
# `sdwan-lab nat branch3 rebind` moves the NAT's UDP masquerade to a new port range and forgets
# its mappings, so every flow of branch3 leaves from a new public port P', as after a NAT reboot:
#   1. under 10 ms pings branch3 -> branch1 (branch3 starts the traffic): the pings keep
#      flowing (largest gap and loss bounded), hub-east (branch3's active hub) follows the new
#      port on the first ESP packet from it (edge show: the tunnel's peer; event peer-moved
#      "seen in ESP"), and IKE survives: the same IKE SA
#      and Child SA (SPIs unchanged, no tunnel-down, tunnel-up or auth-failure of branch3)
#   2. the same with the pings the other way, branch1 -> branch3: hub-east's answers only reach
#      branch3 once hub-east has followed the port the replies come from
#   3. the hub that carries no traffic (hub-west) follows too, on branch3's next liveness check
set -euo pipefail
# shellcheck source=lib/lab.sh
. "${SDWAN_SOURCE_DIR:?}/tests/integration/lib/lab.sh"
lab_init nat conntrack
LAB_FAIL_LOGS="$RUN/logs/edge-hub-east.log $RUN/logs/edge-branch3.log $tmp/*.txt"
B1=10.10.1.2 B3=10.10.3.2
TUN=branch3:hub-east

# peer_port HUB TUNNEL: the UDP port the hub sends that tunnel's ESP to
peer_port() {
	show "$1" | jq -r --arg t "$2" '.tunnels[] | select(.name == $t) | .peer | split(":") | last'
}
# spis HUB TUNNEL: "in out" of the tunnel's Child SA
spis() {
	show "$1" | jq -r --arg t "$2" '.tunnels[] | select(.name == $t) | .child_sas[0] |
		"\(.spi_in) \(.spi_out)"'
}
wait_port_in() { # wait_port_in HUB TUNNEL LO SECONDS: until the hub reports a peer port >= LO
	local end=$(($(date +%s) + $4)) p
	while [ "$(date +%s)" -lt "$end" ]; do
		p=$(peer_port "$1" "$2")
		[ "${p:-0}" -ge "$3" ] && [ "$p" -lt $(($3 + 1000)) ] && return 0
		sleep 0.5
	done
	echo "$1 sends $2 to port ${p:-?}, not in $3-$(($3 + 999))" >&2
	return 1
}
# branch3_events SINCE KIND...: how many events of branch3's tunnels of these kinds since SINCE
tunnel_events() {
	local id=$1
	shift
	L ctl events --json | jq --argjson id "$id" --args '[.[] | select(.id > $id and
		(.tunnel | startswith("branch3:")) and (.kind as $k | $ARGS.positional | index($k)))] |
		length' "$@"
}
# ping_stats FILE: "gap_ms lost sent" (largest gap between replies; lost by sequence number)
ping_stats() {
	awk -F'[][]' '/bytes from/ { t = $2 * 1000; if (p && t - p > m) m = t - p; p = t
			match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
			if (s > last) last = s; n++ }
		END { printf "%d %d %d\n", m, last - n, last }' "$1"
}

# rebind FROM DST NAME: 10 ms pings FROM -> DST across a NAT rebind of branch3; prints the
# new port range's first port and leaves the ping statistics in $tmp/NAME.txt
rebind() {
	"$lab" --name "$NAME" exec "$1" ping -D -i 0.01 -W 1 -c 400 "$2" >"$tmp/$3.txt" 2>&1 &
	local ping=$!
	BG="$BG $ping"
	sleep 1
	L nat branch3 rebind | sed -n 's/.*ports \([0-9]*\)-.*/\1/p'
	wait "$ping" || true
}

out=$(L up "$src/topologies/hub-spoke.yaml" 2>&1) || fail "up: $out"
L exec branch3 ping -q -c 3 -i 0.1 -W 1 "$B1" >/dev/null || fail "branch3 -> branch1 after up"
port0=$(peer_port hub-east "$TUN")
spis0=$(spis hub-east "$TUN")
[ -n "$port0" ] || fail "no peer of $TUN at hub-east"
[ "$spis0" != "null null" ] || fail "no Child SA of $TUN at hub-east"
ok "hub-spoke up; hub-east sends $TUN to branch3's NAT port $port0"

# --- 1. branch3 sends: hub-east follows the port its ESP comes from
id=$(last_id)
lo=$(rebind branch3 "$B1" out)
[ -n "$lo" ] || fail "sdwan-lab nat rebind printed no port range"
read -r gap lost sent < <(ping_stats "$tmp/out.txt")
[ "$sent" -ge 390 ] || fail "only $sent pings sent"
[ "$gap" -le 1000 ] || fail "gap $gap ms ($lost of $sent lost) across the rebind"
[ "$lost" -le 20 ] || fail "$lost of $sent lost (gap $gap ms) across the rebind"
wait_port_in hub-east "$TUN" "$lo" 5 || fail "hub-east did not follow branch3's new port"
port1=$(peer_port hub-east "$TUN")
# On ESP (within a ping interval), not on branch3's next liveness check 100 ms or more later.
L ctl events --site hub-east --json | jq -e --argjson id "$id" --arg p ":$port1 (seen in ESP)" \
	'any(.[]; .id > $id and .kind == "peer-moved" and (.detail | contains($p)))' >/dev/null ||
	fail "no peer-moved event of hub-east to port $port1 seen in ESP"
[ "$(spis hub-east "$TUN")" = "$spis0" ] || fail "the Child SA changed: $spis0 -> $(spis hub-east "$TUN")"
n=$(tunnel_events "$id" tunnel-down tunnel-up auth-failure)
[ "$n" -eq 0 ] || fail "$n tunnel-down/up/auth-failure events of branch3's tunnels"
ok "NAT rebind under pings branch3 -> branch1: largest gap $gap ms, $lost of $sent lost; hub-east follows port $port0 -> $port1 (peer-moved), same IKE and Child SA"

# --- 2. branch1 sends: branch3's replies lead hub-east to the new port
id=$(last_id)
spis1=$(spis hub-east "$TUN")
lo=$(rebind branch1 "$B3" in)
read -r gap lost sent < <(ping_stats "$tmp/in.txt")
[ "$gap" -le 1000 ] || fail "gap $gap ms ($lost of $sent lost) across the rebind"
[ "$lost" -le 20 ] || fail "$lost of $sent lost (gap $gap ms) across the rebind"
wait_port_in hub-east "$TUN" "$lo" 5 || fail "hub-east did not follow branch3's new port"
port2=$(peer_port hub-east "$TUN")
[ "$(spis hub-east "$TUN")" = "$spis1" ] || fail "the Child SA changed"
n=$(tunnel_events "$id" tunnel-down tunnel-up auth-failure)
[ "$n" -eq 0 ] || fail "$n tunnel-down/up/auth-failure events of branch3's tunnels"
ok "NAT rebind under pings branch1 -> branch3: largest gap $gap ms, $lost of $sent lost; hub-east follows port $port1 -> $port2, same IKE and Child SA"

# --- 3. the idle hub follows as well (branch3's liveness checks reach it from the new port)
wait_port_in hub-west branch3:hub-west "$lo" 10 || fail "hub-west did not follow branch3's new port"
L exec branch3 ping -q -c 3 -i 0.1 -W 1 10.0.1.2 >/dev/null || fail "branch3 -> hub-west's LAN"
ok "hub-west, which carried no traffic, follows port $(peer_port hub-west branch3:hub-west) too"

L down >/dev/null || fail "down"
echo "lab_nat: $passed checks passed"
