#!/usr/bin/env bash
# The main job: a live WAN on this machine. Builds topologies/hub-spoke.yaml in network
# namespaces with deploy/sdwan-lab (real controller, real edges enrolled with one-time tokens,
# IKEv2 with certificates from the controller's CA, the userspace ESP data plane), shows every
# tunnel up, pings from branch1's LAN to branch2's, then kills branch1's primary hub and shows
# the traffic moving to the backup hub with the measured gap. The lab stays up afterwards.
#
# usage: deploy/demo.sh      (root; build first: make)
#
# The lab is named "demo" ($SDWAN_DEMO_NAME changes it). A demo lab left up by an earlier run
# is torn down first, and the demo says so.
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
root=$PWD
topo=topologies/hub-spoke.yaml
name=${SDWAN_DEMO_NAME:-demo}
# The sites of hub-spoke.yaml the demo works with: branch1 prefers hub-east, then hub-west.
spoke=branch1 dst_site=branch2 dst=10.10.2.2 hub=hub-east backup=hub-west
bin=${SDWAN_BIN_DIR:-$root/build/bin}
# The commands printed for the user work from the folder `make demo` ran in.
if [ "$here" = "$root" ]; then lab=deploy/sdwan-lab; else lab=$root/deploy/sdwan-lab; fi
L() { "$root/deploy/sdwan-lab" --name "$name" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(id -u)" -eq 0 ] || {
	echo "demo: run as root (network namespaces)" >&2
	exit 1
}
[ -x "$bin/sdwanctl" ] || {
	echo "demo: $bin/sdwanctl is missing: build first (make)" >&2
	exit 1
}

out=$(mktemp /tmp/sdwan-demo.XXXXXX)
pinger=""
finish() {
	local rc=$?
	[ -z "$pinger" ] || kill "$pinger" 2>/dev/null || true
	rm -f "$out"
	if [ "$rc" -ne 0 ]; then
		echo >&2
		echo "demo: failed (exit $rc). What is up stays up for a look:" >&2
		echo "  $lab --name $name status" >&2
		echo "  logs: ${SDWAN_LAB_DIR:-/run/sdwan-lab}/$name/logs/" >&2
		echo "Tear it down: $lab --name $name down" >&2
	fi
}
trap finish EXIT

if ip netns list | grep -q "^sdwl-$name-" || [ -e "${SDWAN_LAB_DIR:-/run/sdwan-lab}/$name" ]; then
	step "A lab named '$name' is up already (an earlier demo): tearing it down to start over"
	L down
fi

# The failover figures depend on the topology's DPD and hold-down: read them from the plan.
read -r dpd_i dpd_t hold < <("$bin/sdwanctl" plan --json "$topo" | jq -r \
	--arg s "$spoke" --arg h "$hub" '.edges[] | select(.site == $s) |
	"\(.tunnels[] | select(.peer == $h) | "\(.dpd.interval_ms) \(.dpd.timeout_ms)") \(.hold_down_ms)"')

step "Bringing up $topo (controller, one namespace per site, LAN hosts, NAT for dynamic sites)"
L up "$topo"

step "Every edge, as the controller sees it (sdwanctl status)"
L ctl status

step "$spoke's LAN host pings $dst_site's ($dst): spoke to spoke through the hubs"
L exec "$spoke" ping -c 3 -i 0.2 "$dst"

step "Failover: kill -9 $hub ($spoke's primary hub) under a 10 ms ping"
since=$(L ctl events --json | jq '[.[].id] | max // 0')
# Not through L: $! must be ping itself (sdwan-lab and ip netns exec exec it) for SIGINT.
"$root/deploy/sdwan-lab" --name "$name" exec "$spoke" ping -D -i 0.01 -W 1 "$dst" >"$out" 2>&1 &
pinger=$!
sleep 1
L kill "$hub"
# Until the spoke reports its failover (at most 10 s), then one more second of pings.
for _ in $(seq 100); do
	L ctl events --site "$spoke" --json | jq -e --argjson id "$since" \
		'any(.[]; .id > $id and .kind == "failover")' >/dev/null && break
	sleep 0.1
done
sleep 1
kill -INT "$pinger" 2>/dev/null || true
wait "$pinger" || true
pinger=""
# The gap is the longest time between two replies (ping -D stamps each); pings lost are the
# sequence numbers sent but never answered.
read -r gap lost sent < <(awk -F'[][]' '/bytes from/ {
		t = $2 * 1000; if (n && t - p > m) m = t - p; p = t; n++
		match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
		if (s > last) last = s }
	END { printf "%d %d %d\n", m, last - n, last }' "$out")
echo "longest gap between two replies: $gap ms; $lost of $sent pings lost"
echo "($hub is declared dead after $dpd_t ms without an authenticated packet from it; DPD" \
	"probes every $dpd_i ms when idle)"

step "$spoke's traffic now goes through $backup (status: ACTIVE HUB, $hub down)"
# Events arrive at once; status shows each edge's last health report (every 2 s): wait for it.
for _ in $(seq 50); do
	L ctl status --json | jq -e --arg s "$spoke" --arg b "$backup" \
		'any(.sites[]; .site == $s and .active_hub == $b)' >/dev/null && break
	sleep 0.1
done
L ctl status
L exec "$spoke" ping -c 3 -i 0.2 "$dst"

step "What the controller recorded for $spoke (sdwanctl events --site $spoke)"
L ctl events --site "$spoke" | tail -4

step "Bringing $hub back"
L start "$hub"
L wait 60
echo "every planned tunnel is up again; $spoke fails back to $hub once it has stayed up for" \
	"the $((hold / 1000)) s hold-down ($lab --name $name ctl events --follow)"

cat <<EOF

The lab is still running. Explore it:
  $lab --name $name status                  processes, tunnels of every site
  $lab --name $name ctl edge show $spoke   SAs, SPIs, counters, drops, RTT, events of one edge
  $lab --name $name ctl events --follow     tunnel up/down, failover, failback as they happen
  $lab --name $name exec $dst_site ping 10.10.1.2
  $lab --name $name link $backup down      more faults: kill, start, link, loss, path, restart controller
  (docs/lab.md: every command; docs/operations.md: what the sdwanctl output means)
Tear it down:
  $lab --name $name down
EOF
