#!/usr/bin/env bash
# ctest-labels: lab;integration
# Controller-driven reachability for hubs (docs/edge-managed.md, "Routes from the controller") in
# the netns lab (deploy/sdwan-lab) on topologies/hub-spoke.yaml, real controller and edges:
#
#   branch1 (hubs: hub-east, hub-west) ---+                 +--- branch2 (hubs: hub-west, hub-east)
#                                          hub-east == hub-west
#   branch3 (behind NAT, hubs: hub-east, hub-west) ---------+
#
#   1. only the path branch1 <-> hub-east is cut while branch3 still uses hub-east: branch3's LAN
#      host reaches branch1's through hub-east -> hub-west; hub-east got the controller's
#      "branch1 via hub-west" (controller event routes-sent, hub event reroute, edge show); no
#      other hub got a list and no other tunnel went down
#   2. the same mirrored: only branch1 <-> hub-west cut while branch2 uses hub-west
#   3. branch1 loses both hubs: branch2's pings get "Destination Host Unreachable" from hub-west
#      within 2 s of the cut; hub-west counts them as unreachable drops; the hub-to-hub tunnel
#      carries no more than a few of them (no TTL loop); both hubs hold "branch1 unreachable"
#   4. the same with the controller dead: each hub's own routing sends branch1's traffic over
#      the backbone at most once, where the other hub drops it as loop (split horizon)
#   5. recovery: the hubs' lists empty again, every spoke pair reachable; `down` is clean
set -euo pipefail
# shellcheck source=lib/lab.sh
. "${SDWAN_SOURCE_DIR:?}/tests/integration/lib/lab.sh"
lab_init rr
LAB_FAIL_LOGS="$RUN/logs/controller.log $RUN/logs/edge-hub-*.log $tmp/*.txt"
B1=10.10.1.2 B2=10.10.2.2 B3=10.10.3.2

reach() { # reach FROM DST: a few pings must come back
	L exec "$1" ping -q -c 5 -i 0.1 -W 1 "$2" >/dev/null ||
		L exec "$1" ping -q -c 10 -i 0.2 -W 1 "$2" >/dev/null
}
reach_all() {
	reach branch1 "$B2" && reach branch2 "$B1" && reach branch3 "$B1" && reach branch3 "$B2"
}
# hub_routes HUB: its controller routes as "site>via" words ("" for unreachable), sorted
hub_routes() {
	show "$1" | jq -r '[.controller_routes.routes[] | "\(.site)>\(.via_hub)"] | sort | join(" ")'
}
wait_routes() { # wait_routes HUB WANT SECONDS: until the hub's health report shows them
	local end=$(($(date +%s) + $3)) got=""
	while [ "$(date +%s)" -lt "$end" ]; do
		got=$(hub_routes "$1")
		[ "$got" = "$2" ] && return 0
		sleep 0.5
	done
	echo "$1 holds \"$got\", wanted \"$2\"" >&2
	return 1
}
# backbone HUB FIELD: a counter of the hub's hub-east:hub-west tunnel (packets_out, or loop)
backbone() {
	show "$1" | jq -r --arg f "$2" '.tunnels[] | select(.name == "hub-east:hub-west") |
		if $f == "loop" then .drops_by_reason.loop else .[$f] end'
}
# fresh_report HUB: wait for a health report newer than now (counters then are current)
fresh_report() {
	local t
	t=$(now_ms)
	for _ in $(seq 50); do
		[ "$(show "$1" | jq '.health_received_ms')" -gt "$t" ] && return 0
		sleep 0.2
	done
	return 1
}

out=$(L up "$src/topologies/hub-spoke.yaml" 2>&1) || fail "up: $out"
reach_all || fail "reachability after up"
wait_routes hub-east "" 5 || fail "hub-east holds routes with all up"
wait_routes hub-west "" 5 || fail "hub-west holds routes with all up"
ok "hub-spoke up, spokes reach each other, no hub holds controller routes"

# --- 1. partial failure: branch1 loses only hub-east, branch3 keeps using hub-east
id=$(last_id)
L path branch1 hub-east down >/dev/null
wait_event hub-east reroute "$id" 5 "branch1 via hub-west" ||
	fail "hub-east did not apply the controller's route to branch1 via hub-west"
wait_event hub-east routes-sent "$id" 1 "branch1 via hub-west" ||
	fail "no routes-sent event of the controller for hub-east"
reach branch3 "$B1" || fail "branch3 (on hub-east) -> branch1 with branch1 <-> hub-east cut"
reach branch1 "$B3" || fail "branch1 -> branch3 with branch1 <-> hub-east cut"
[ "$(show branch3 | jq -r .status.active_hub)" = hub-east ] || fail "branch3 left hub-east"
wait_routes hub-east "branch1>hub-west" 5 || fail "edge show hub-east: controller routes"
wait_routes hub-west "" 1 || fail "hub-west got routes it does not need"
[ "$(since "$id" hub-west routes-sent)" = "[]" ] || fail "hub-west was sent a list: $(since "$id" hub-west routes-sent)"
downs=$(events | jq -r --argjson id "$id" '[.[] | select(.id > $id and .kind == "tunnel-down") |
	.tunnel] | unique | join(" ")')
[ "$downs" = "branch1:hub-east" ] || fail "tunnels down besides branch1:hub-east: $downs"
ok "branch1 <-> hub-east cut: hub-east took 'branch1 via hub-west' from the controller, branch3 reaches branch1 through hub-east -> hub-west; only hub-east was sent a list, only the cut tunnel went down"
L path branch1 hub-east up >/dev/null
L wait 40 >/dev/null || fail "branch1:hub-east back"
wait_routes hub-east "" 10 || fail "hub-east's route withdrawn after recovery"

# --- 2. mirrored: branch1 loses only hub-west, branch2 keeps using hub-west
id=$(last_id)
L path branch1 hub-west down >/dev/null
wait_event hub-west reroute "$id" 5 "branch1 via hub-east" ||
	fail "hub-west did not apply the controller's route to branch1 via hub-east"
reach branch2 "$B1" || fail "branch2 (on hub-west) -> branch1 with branch1 <-> hub-west cut"
[ "$(show branch2 | jq -r .status.active_hub)" = hub-west ] || fail "branch2 left hub-west"
wait_routes hub-west "branch1>hub-east" 5 || fail "edge show hub-west: controller routes"
ok "branch1 <-> hub-west cut: hub-west took 'branch1 via hub-east', branch2 reaches branch1 through hub-west -> hub-east"

# --- 3. branch1 loses both hubs: unreachable at once, no loop between the hubs
fresh_report hub-west || fail "no health report from hub-west"
bb_before=$(backbone hub-west packets_out)
unreach_before=$(show hub-west | jq '.edge_drops_by_reason.unreachable')
t_cut=$(now_ms)
L path branch1 hub-east down >/dev/null
L exec branch2 ping -D -i 0.05 -W 1 -c 60 "$B1" >"$tmp/unreach.txt" 2>&1 || true
grep -q 'Destination Host Unreachable' "$tmp/unreach.txt" || fail "no ICMP unreachable for branch2"
# (%.0f: mawk's %d stops at 2^31)
t_first=$(awk -F'[][]' '/Unreachable/ { printf "%.0f\n", $2 * 1000; exit }' "$tmp/unreach.txt")
[ "${t_first:-0}" -ge "$t_cut" ] || fail "no time of the first unreachable"
n_unreach=$(grep -c 'Destination Host Unreachable' "$tmp/unreach.txt")
[ $((t_first - t_cut)) -lt 2000 ] || fail "first unreachable $((t_first - t_cut)) ms after the cut"
grep -q 'From 10.0.1.1 ' "$tmp/unreach.txt" || fail "the unreachable did not come from hub-west"
wait_routes hub-west "branch1>" 5 || fail "hub-west does not hold 'branch1 unreachable'"
wait_routes hub-east "branch1>" 5 || fail "hub-east does not hold 'branch1 unreachable'"
fresh_report hub-west || fail "no health report from hub-west"
bb=$(($(backbone hub-west packets_out) - bb_before))
unreach=$(($(show hub-west | jq '.edge_drops_by_reason.unreachable') - unreach_before))
[ "$unreach" -ge "$n_unreach" ] || fail "hub-west counted $unreach unreachable drops, $n_unreach ICMP errors arrived"
# Before the controller's word arrives (DPD 300 ms + an event), hub-west's own routing may send
# a few to hub-east, which drops them (split horizon); a loop would be 60 x 60 packets.
[ "$bb" -le 20 ] || fail "hub-west sent $bb packets into the hub-to-hub tunnel (a loop?)"
ok "branch1 lost both hubs: ICMP unreachable from hub-west $((t_first - t_cut)) ms after the cut ($n_unreach of 60 pings answered so), $unreach unreachable drops counted, $bb packets into the hub-to-hub tunnel; both hubs hold 'branch1 unreachable'"

# --- 4. the same without the controller: split horizon alone prevents the loop
L path branch1 hub-east up >/dev/null
L path branch1 hub-west up >/dev/null
L wait 40 >/dev/null || fail "branch1's tunnels back"
wait_routes hub-east "" 10 || fail "hub-east's routes not withdrawn after recovery"
wait_routes hub-west "" 10 || fail "hub-west's routes not withdrawn after recovery"
fresh_report hub-west || fail "no health report from hub-west"
fresh_report hub-east || fail "no health report from hub-east"
bb_before=$(backbone hub-west packets_out)
loop_before=$(backbone hub-east loop)
kill -9 "$(cat "$RUN/pids/controller")"
L path branch1 hub-east down >/dev/null
L path branch1 hub-west down >/dev/null
sleep 1.5 # both tunnels dead (DPD 300 ms); the hubs route on their own
L exec branch2 ping -q -c 20 -i 0.05 -W 1 "$B1" >"$tmp/loop.txt" 2>&1 || true
L restart controller >/dev/null || fail "controller restart"
fresh_report hub-west || fail "no health report from hub-west after the restart"
fresh_report hub-east || fail "no health report from hub-east after the restart"
bb=$(($(backbone hub-west packets_out) - bb_before))
loops=$(($(backbone hub-east loop) - loop_before))
[ "$loops" -ge 15 ] || fail "hub-east dropped $loops packets as loop (20 pings through hub-west)"
[ "$bb" -le 25 ] || fail "hub-west sent $bb packets into the hub-to-hub tunnel for 20 pings"
ok "controller dead, branch1 lost both hubs: hub-west sent the 20 pings over the backbone once ($bb packets), hub-east dropped $loops as loop (split horizon); no TTL loop"

# --- 5. recovery
L path branch1 hub-east up >/dev/null
L path branch1 hub-west up >/dev/null
L wait 40 >/dev/null || fail "tunnels back after the last cut"
wait_routes hub-east "" 10 || fail "hub-east's routes not withdrawn after recovery"
wait_routes hub-west "" 10 || fail "hub-west's routes not withdrawn after recovery"
reach_all || fail "reachability after recovery"
ok "recovery: every tunnel up, the hubs' lists empty, every spoke pair reachable"

L down >/dev/null || fail "down"
left=$(ip netns list | awk '{print $1}' | grep "^sdwl-$NAME-" || true)
pgrep -f "$RUN/" >/dev/null && left="$left processes: $(pgrep -f "$RUN/" | tr '\n' ' ')"
[ ! -e "$RUN" ] || left="$left $RUN"
[ -z "$left" ] || fail "left behind after down: $left"
ok "down left nothing behind"
echo "lab_reroute: $passed checks passed"
