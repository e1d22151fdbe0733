#!/usr/bin/env bash
# Convergence of the real daemons in the netns lab (deploy/sdwan-lab, docs/lab.md): the time from
# "all edges started" to "all tunnels up" for a WAN of 2 hubs and SPOKES dual-homed spokes.
#
#   tests/bench/convergence/run.sh [SPOKES] [RESTARTS]      (root; build first: make)
#
# The WAN is generated (default 20 spokes; odd spokes prefer hub-a, even ones hub-b; DPD
# 100/300 ms on-idle as in topologies/hub-spoke.yaml), then measured twice over:
#
#   cold      `sdwan-lab up`: each edge enrolls with a one-time token, gets its configuration and
#             brings its tunnels up (the lab starts the edges one after the other)
#   restart   RESTARTS times (default 3): kill -9 of every edge at once, as after a power cut,
#             then every edge started again from its state directory
#
# t1 is the controller's record of the last tunnel-up event once every tunnel has reported up at
# both ends (2 x 41 for 20 spokes). Starting 22 edges takes seconds of its own on a small machine
# (the lab starts them one by one with a token each at first; restarts start them all in
# parallel) and most tunnels are up before the last edge is, so the figures count from the
# first edge started (the time from the last is printed too). Both clocks are the host's.
# Prints
#   convergence_s=C restart_convergence_s=median R (min A max B, n=N) spokes=S tunnels=T ...
# Target (issue 6): under 10 s.
set -euo pipefail
SPOKES=${1:-20}
RESTARTS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export SDWAN_BIN_DIR=${SDWAN_BIN_DIR:-$ROOT/build/bin}
export SDWAN_LAB_DIR=${SDWAN_LAB_DIR:-/run/sdwan-lab}
[ "$(id -u)" -eq 0 ] || {
	echo "bench-convergence: needs root (network namespaces)" >&2
	exit 1
}
lab=$ROOT/deploy/sdwan-lab
NAME=bcv$$
RUN=$SDWAN_LAB_DIR/$NAME
WORK=$(mktemp -d /tmp/bench-convergence.XXXXXX)
L() { "$lab" --name "$NAME" "$@"; }
cleanup() {
	L down >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# 2 hubs and SPOKES spokes, one /24 each, every spoke homed to both hubs.
topology() {
	cat <<EOF
wan: bench
controller:
  endpoint: tcp://203.0.113.10:7800
type: hub-and-spoke
defaults:
  ike: aes256gcm16-prfsha384-x25519
  esp: aes256gcm16-x25519
  dpd: {interval: 100ms, timeout: 300ms, mode: on-idle}
  auth: certificate
  hold-down: 10s
sites:
  - {name: hub-a, role: hub, underlay: [{name: inet, address: 192.0.2.1}], subnets: [10.0.0.0/24]}
  - {name: hub-b, role: hub, underlay: [{name: inet, address: 198.51.100.1}], subnets: [10.0.1.0/24]}
EOF
	for i in $(seq "$SPOKES"); do
		local hubs="[hub-a, hub-b]"
		[ $((i % 2)) -eq 1 ] || hubs="[hub-b, hub-a]"
		printf '  - {name: spoke%d, role: spoke, hubs: %s, underlay: [{name: inet, address: 192.0.%d.%d}], subnets: [10.20.%d.0/24]}\n' \
			"$i" "$hubs" $((2 + i / 200)) $((10 + i % 200)) "$i"
	done
}

# ends_up_after SINCE_ID: the latest tunnel-up time (Unix ms) once every tunnel end has reported
# up in an event newer than SINCE_ID; fails while some have not.
ends_up_after() {
	local site want=0 got=0 last=0 row
	while IFS=$'\t' read -r site exp; do
		want=$((want + exp))
		row=$(L ctl events --site "$site" --json | jq -r --argjson id "$1" \
			'[.[] | select(.kind == "tunnel-up" and .id > $id)] | group_by(.tunnel) |
			 "\(length) \(map(max_by(.at_ms).at_ms) | max // 0)"')
		got=$((got + ${row% *}))
		[ "${row#* }" -le "$last" ] || last=${row#* }
	done < <(awk -F'\t' '$4 == "true" { print $2 "\t" $11 }' "$RUN/sites.tsv")
	[ "$got" -ge "$want" ] || return 1
	echo "$last"
}

# measure SINCE_ID T0_MS: seconds from T0_MS to the last tunnel end up (waits up to 90 s)
measure() {
	local t0=$2 t1 end=$(($(date +%s) + 90))
	until t1=$(ends_up_after "$1"); do
		[ "$(date +%s)" -lt "$end" ] || {
			echo "bench-convergence: tunnels not all up after 90 s" >&2
			L status >&2 || true
			exit 1
		}
		sleep 0.5
	done
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) / 1000 }'
}

topology >"$WORK/bench.yaml"
n_tun=$("$SDWAN_BIN_DIR/sdwanctl" plan --json "$WORK/bench.yaml" | jq '.tunnels | length' 2>/dev/null ||
	echo "?")
echo "bench-convergence: 2 hubs, $SPOKES dual-homed spokes ($n_tun tunnels), $(nproc) cores"
SDWAN_LAB_TIMEOUT=120 L up "$WORK/bench.yaml" >"$WORK/up.txt" 2>&1 || {
	cat "$WORK/up.txt" >&2
	exit 1
}
cold=$(measure 0 "$(cat "$RUN/edges-started-ms")")
cold_first=$(measure 0 "$(cat "$RUN/edges-first-started-ms")")
echo "cold start (enrollment, configuration, tunnels): ${cold} s after the last edge started," \
	"${cold_first} s after the first"

any_alive() { # PID...: whether any of them is still there (a zombie's threads may still be
	local p # tearing its TUN device down)
	for p; do [ ! -e "/proc/$p" ] || return 0; done
	return 1
}

events_max() { L ctl events --json | jq '[.[].id] | max // 0'; }
mapfile -t sites < <(awk -F'\t' '$4 == "true" { print $2 }' "$RUN/sites.tsv")
runs=()
for r in $(seq "$RESTARTS"); do
	pids=()
	for site in "${sites[@]}"; do pids+=("$(cat "$RUN/pids/edge-$site")"); done
	kill -9 "${pids[@]}"
	# 22 processes tearing down their TUN devices at once take the kernel a few seconds.
	for _ in $(seq 300); do
		any_alive "${pids[@]}" || break
		sleep 0.1
	done
	since=$(events_max)
	t_first=$(date +%s%3N)
	for site in "${sites[@]}"; do L start "$site" >/dev/null & done
	wait
	t_last=$(date +%s%3N)
	t=$(measure "$since" "$t_first")
	echo "restart $r (kill -9 of every edge, all started again in parallel): ${t} s after the" \
		"first edge started, $(measure "$since" "$t_last") s after the last"
	runs+=("$t")
	L wait 60 >/dev/null
done
sorted=$(printf '%s\n' "${runs[@]}" | sort -n)
median=$(sed -n "$(((RESTARTS + 1) / 2))p" <<<"$sorted")
echo "convergence_s=$cold_first restart_convergence_s=$median (min $(head -1 <<<"$sorted")" \
	"max $(tail -1 <<<"$sorted"), n=$RESTARTS) spokes=$SPOKES tunnels=$n_tun" \
	"(from the first edge started; cold from the last: $cold)"
