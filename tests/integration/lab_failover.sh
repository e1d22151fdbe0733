#!/usr/bin/env bash
# ctest-labels: lab;integration
# Faults in the netns lab (deploy/sdwan-lab, docs/lab.md) on topologies/hub-spoke.yaml
# (DPD 100 ms / 300 ms, hold-down 10 s), real controller and edges:
#
#   branch1 (hubs: hub-east, hub-west) ---+                 +--- branch2 (hubs: hub-west, hub-east)
#                                          hub-east == hub-west
#   branch3 (behind NAT, hubs: hub-east, hub-west)
#
# Traffic: 10 ms pings branch1 -> branch2 (via hub-east, hub-east:hub-west, hub-west) and one
# iperf3 TCP stream branch1 -> branch2 across every step:
#   1. kill -9 hub-east's edge: branch1 fails over to hub-west; gap printed; restart it
#      1b. cut only the path branch1 <-> hub-west: hub-west routes to branch1 via hub-east
#   2. hub-east's underlay link down: the same by DPD on a live process
#   3. 20 % loss on branch2's underlay: traffic still gets through
#   4. recovery (link up, loss off) with `restart controller` in the middle: every tunnel up
#      again, branch1 fails back to hub-east after the hold-down
# Then: the TCP stream survived (iperf3 exit 0), the controller's events show the failovers
# and failbacks, and `down` leaves nothing behind.
set -euo pipefail
# shellcheck source=lib/lab.sh
. "${SDWAN_SOURCE_DIR:?}/tests/integration/lib/lab.sh"
lab_init fo iperf3
DST=10.10.2.2 # branch2's LAN host

# ping_start NAME: 10 ms pings branch1 -> branch2 into $tmp/NAME.txt
ping_start() {
	"$lab" --name "$NAME" exec branch1 ping -D -i 0.01 -W 1 "$DST" >"$tmp/$1.txt" 2>&1 &
	PING=$!
	BG="$BG $PING"
	sleep 0.5
}
# ping_stop NAME: stop; print "gap_ms lost sent" (largest gap between replies, lost, sent)
ping_stop() {
	kill -INT "$PING" 2>/dev/null || true
	wait "$PING" 2>/dev/null || true
	awk -F'[][]' '/bytes from/ { t = $2 * 1000; if (p && t - p > m) m = t - p; p = t
			match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
			if (s > last) last = s; n++ }
		END { printf "%d %d %d\n", m, last - n, last }' "$1"
}
reach() { # reach FROM DST: a few pings must come back
	L exec "$1" ping -q -c 5 -i 0.1 -W 1 "$2" >/dev/null ||
		L exec "$1" ping -q -c 10 -i 0.2 -W 1 "$2" >/dev/null
}
reach_all() {
	reach branch1 10.10.2.2 && reach branch2 10.10.1.2 && reach branch3 10.10.1.2 &&
		reach branch3 10.10.2.2
}

t_start=$(now_ms)
out=$(L up "$src/topologies/hub-spoke.yaml" 2>&1) || fail "up: $out"
reach_all || fail "reachability after up"
ok "hub-spoke up, spokes reach each other"

# One TCP stream across all the faults (10 Mbit/s: the 2-core CI machine also runs the edges).
"$lab" --name "$NAME" exec branch2 iperf3 -s -1 >"$tmp/iperf-server.txt" 2>&1 &
BG="$BG $!"
sleep 0.5
IPERF_S=100
"$lab" --name "$NAME" exec branch1 iperf3 -c "$DST" -t $IPERF_S -b 10M -i 5 >"$tmp/iperf.txt" 2>&1 &
IPERF=$!
BG="$BG $IPERF"

# --- 1. kill -9 of the primary hub's edge
id=$(last_id)
ping_start kill
L kill hub-east >/dev/null
wait_event branch1 failover "$id" 5 || fail "no failover event from branch1 after hub-east died"
sleep 1
reach branch1 "$DST" || fail "branch1 -> branch2 after hub-east died"
read -r gap lost sent < <(ping_stop "$tmp/kill.txt")
[ "$gap" -le 1500 ] || fail "ping gap $gap ms after kill (DPD timeout 300 ms)"
ok "kill -9 hub-east: branch1 failed over to hub-west; ping gap $gap ms, $lost of $sent pings lost (10 ms interval)"
reach_all || fail "reachability with hub-east dead"
ok "every spoke pair reachable with hub-east dead"

L start hub-east >/dev/null
L wait 40 >/dev/null || fail "tunnels back after hub-east restarted"
wait_event branch1 failback "$id" 20 || fail "branch1 did not fail back to hub-east"
reach_all || fail "reachability after hub-east returned"
ok "hub-east restarted from its state dir: every tunnel up, branch1 failed back after the hold-down"

# --- 1b. only the path branch1 <-> hub-west breaks: branch1 stays on hub-east, and hub-west
# reaches branch1 through hub-east (the hub-to-hub tunnel carries it as transit).
L path branch1 hub-west down >/dev/null
sleep 1
reach_all || fail "reachability with the path branch1 <-> hub-west cut"
reach hub-west 10.10.1.2 || fail "hub-west's LAN -> branch1 through hub-east"
L path branch1 hub-west up >/dev/null
L wait 40 >/dev/null || fail "branch1:hub-west back after the path returned"
ok "path branch1 <-> hub-west cut: hub-west reaches branch1 through hub-east; tunnel back after"

# --- 2. the primary hub's underlay link goes down (the process lives)
id=$(last_id)
ping_start link
L link hub-east down >/dev/null
wait_event branch1 failover "$id" 5 || fail "no failover event after hub-east's link went down"
sleep 1
read -r gap lost sent < <(ping_stop "$tmp/link.txt")
[ "$gap" -le 1500 ] || fail "ping gap $gap ms after link down"
reach_all || fail "reachability with hub-east's link down"
ok "link down on hub-east: failover; ping gap $gap ms, $lost of $sent pings lost"

# --- 3. 20 % loss on branch2's underlay
L loss branch2 20 >/dev/null
L exec branch1 ping -q -c 100 -i 0.02 -W 1 "$DST" >"$tmp/loss.txt" 2>&1 || true
rx=$(awk '/received/ { print $4 }' "$tmp/loss.txt")
[ "${rx:-0}" -ge 30 ] || fail "only ${rx:-0} of 100 pings through 20 % loss (each way)"
reach branch3 10.10.2.2 || fail "branch3 -> branch2 with 20 % loss"
ok "20 % loss on branch2's underlay: $rx of 100 pings came back (about 64 expected: loss both ways)"

# --- 4. recovery with a controller restart in the middle
id=$(last_id)
L loss branch2 0 >/dev/null
L link hub-east up >/dev/null
L restart controller >/dev/null || fail "restart controller"
L wait 40 >/dev/null || fail "tunnels back after recovery and controller restart"
wait_event branch1 failback "$id" 25 || fail "branch1 did not fail back after the link returned"
reach_all || fail "reachability after recovery"
ok "recovery with a controller restart: every tunnel up, branch1 back on hub-east"
st=$(L status --json)
jq -e '.converged and .running.controller' <<<"$st" >/dev/null || fail "status after recovery: $st"
ok "sdwan-lab status --json: converged, every process running"

# --- the TCP stream and the controller's record
kill -0 "$IPERF" 2>/dev/null ||
	fail "the iperf3 stream ended before the last fault did (raise IPERF_S): $(tail -3 "$tmp/iperf.txt")"
wait "$IPERF" || fail "iperf3 TCP stream did not survive (exit $?)"
IPERF=""
t_run=$((($(now_ms) - t_start) / 1000))
mbps=$(awk '/sender/ { print $7, $8 }' "$tmp/iperf.txt" | tail -1)
ok "iperf3 TCP stream survived every fault (${IPERF_S} s, sender $mbps)"
ev=$(events)
n_fo=$(jq '[.[] | select(.site == "branch1" and .kind == "failover")] | length' <<<"$ev")
n_fb=$(jq '[.[] | select(.site == "branch1" and .kind == "failback")] | length' <<<"$ev")
n_down=$(jq '[.[] | select(.kind == "tunnel-down")] | length' <<<"$ev")
[ "$n_fo" -ge 2 ] && [ "$n_fb" -ge 2 ] || fail "events: $n_fo failovers, $n_fb failbacks of branch1"
ok "controller events: branch1 $n_fo failovers, $n_fb failbacks; $n_down tunnel-down events"

L down >/dev/null || fail "down"
left=$(ip netns list | awk '{print $1}' | grep "^sdwl-$NAME-" || true)
pgrep -f "$RUN/" >/dev/null && left="$left processes: $(pgrep -f "$RUN/" | tr '\n' ' ')"
[ ! -e "$RUN" ] || left="$left $RUN"
[ -z "$left" ] || fail "left behind after down: $left"
ok "down left nothing behind (total ${t_run} s)"
echo "lab_failover: $passed checks passed"
