#!/usr/bin/env bash
# The main job: a live WAN on this machine. Builds topologies/hub-spoke.yaml in network
# namespaces with deploy/sdwan-lab (real controller, real edges enrolled with one-time tokens,
# IKEv2 with certificates from the controller's CA, the userspace ESP data plane), shows every
# tunnel up, pings from branch1's LAN to branch2's, then kills branch1's primary hub and shows
# the traffic moving to the backup hub with the measured gap. The lab stays up afterwards.
#
# usage: deploy/demo.sh [TOPOLOGY]     (root; build first: make)
set -euo pipefail
cd "$(dirname "$0")/.."
topo=${1:-topologies/hub-spoke.yaml}
lab=deploy/sdwan-lab
name=demo
L() { "$lab" --name "$name" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }
L down >/dev/null 2>&1 || true

step "Bringing up $topo (controller, one namespace per site, LAN hosts, NAT for dynamic sites)"
L up "$topo"

step "Every edge, as the controller sees it (sdwanctl status)"
L ctl status

step "branch1's LAN host (10.10.1.2) pings branch2's (10.10.2.2): spoke to spoke through the hubs"
L exec branch1 ping -c 3 -i 0.2 10.10.2.2

step "Failover: kill -9 hub-east (branch1's primary hub) under a 10 ms ping"
out=$(mktemp /tmp/sdwan-demo.XXXXXX)
trap 'rm -f "$out"' EXIT
L exec branch1 ping -D -i 0.01 -W 1 -c 400 10.10.2.2 >"$out" 2>&1 &
pinger=$!
sleep 1
L kill hub-east
wait "$pinger" || true
# The gap: the longest run of missing sequence numbers, times the 10 ms interval.
gap=$(sed -n 's/.*icmp_seq=\([0-9]*\).*/\1/p' "$out" | awk '
	NR > 1 && $1 - prev - 1 > worst { worst = $1 - prev - 1 }
	{ prev = $1 } END { print worst + 0 }')
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$out")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$out")
echo "pings: $recv of $sent answered; longest gap: $gap missing pings at 10 ms = ~$((gap * 10)) ms"
echo "(the topology's DPD: interval 100 ms, timeout 300 ms)"
L exec branch1 ping -c 2 -i 0.2 10.10.2.2 >/dev/null && echo "branch1 -> branch2 works through hub-west"

step "What the controller recorded (sdwanctl events)"
L ctl events --site branch1 | tail -8

step "Bringing hub-east back (traffic returns to it after the 10 s hold-down)"
L start hub-east

cat <<EOF

The lab is still running. Explore it:
  $lab --name $name status                 tunnels of every site
  $lab --name $name ctl edge show branch1  SAs, SPIs, counters, RTT, events of one edge
  $lab --name $name exec branch2 ping 10.10.1.2
  $lab --name $name link hub-west down     more faults: kill, link, loss, restart controller
Tear it down:
  $lab --name $name down
EOF
