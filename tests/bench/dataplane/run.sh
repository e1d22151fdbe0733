#!/usr/bin/env bash
# Data-plane throughput, site to site through network namespaces, in one run:
# the bare underlay, strongSwan kernel-libipsec, wireguard-go, OpenVPN (recipes from the shared
# peers folder) and sdwan (two `sdwan-edge --config` edges: IKEv2 with a PSK, then the userspace
# ESP data plane with the negotiated SAs; SDWAN_MANUAL=1 keys the data plane by hand instead,
# with the bench-dataplane harness), iperf3 TCP with 1 and
# 4 streams, medians of RUNS runs, plus machine-wide CPU seconds per GB moved (from /proc/stat),
# which survives a noisy neighbour better than Gbit/s. Ends with the single-stream ratios.
#
# usage: tests/bench/dataplane/run.sh [SECONDS] [RUNS]      (root; build first: make)
#   SDWAN_PEERS  folder of the peer recipes (default: ../shared/peers beside the repository)
#   SDWAN_BIN    build/bin of this repository
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
peers=${SDWAN_PEERS:-$repo/../shared/peers}
bin=${SDWAN_BIN:-$repo/build/bin}
secs=${1:-5} runs=${2:-3}
export P=${P:-db$$}
[ -f "$peers/topo.sh" ] || { echo "peer recipes not found in $peers (set SDWAN_PEERS)" >&2; exit 1; }
[ -x "$bin/sdwan-edge" ] || { echo "build first: make (no $bin/sdwan-edge)" >&2; exit 1; }
. "$peers/topo.sh"

cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8 }' /proc/stat; }

# One iperf3 run: prints "Gbit/s cpu_s_per_GB".
run_once() {
	local streams=$1 t0 t1 hz json="/tmp/$P-iperf.json"
	hz=$(getconf CLK_TCK)
	ip netns exec "$NS_RH" iperf3 -s -1 -D -B "$HOST_R" -p 5201 --logfile /dev/null
	sleep 0.3
	t0=$(cpu_ticks)
	ip netns exec "$NS_LH" iperf3 -c "$HOST_R" -p 5201 -t "$secs" -P "$streams" -J \
		>"$json" 2>/dev/null || true
	t1=$(cpu_ticks)
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
t0, t1, hz = (float(x) for x in sys.argv[2:5])
s = d["end"]["sum_received"]
gb = s["bytes"] / 1e9
print("%.2f %.2f" % (s["bits_per_second"] / 1e9, (t1 - t0) / hz / gb if gb > 0 else float("nan")))
' "$json" "$t0" "$t1" "$hz" 2>/dev/null || echo "fail fail"
	rm -f "$json"
}

median_col() { awk -v c="$1" '{print $c}' | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "fail")}'; }

declare -A one
measure() {
	local name=$1 key=$2 r1 r4
	r1=$(for i in $(seq "$runs"); do run_once 1; done)
	r4=$(for i in $(seq "$runs"); do run_once 4; done)
	one[$key]=$(median_col 1 <<<"$r1")
	printf '%-30s %9s %9s %12s\n' "$name" "${one[$key]}" "$(median_col 1 <<<"$r4")" \
		"$(median_col 2 <<<"$r1")"
}

# edge_yaml SITE PEER_SITE UNDERLAY PEER_UNDERLAY LAN PEER_LAN INITIATOR TUN PSK
edge_yaml() {
	cat <<EOF
site: $1
local_subnets: [$5]
tunnels:
  - name: l:r
    peer_site: $2
    peer_addresses: [$4]
    initiator: $7
    ike_proposal: aes256gcm16-prfsha384-x25519
    esp_proposal: aes256gcm16
    auth: psk
    psk: $9
    local_prefixes: [$5]
    remote_prefixes: [$6]
local:
  tun_name: $8
  listen_addr: $3
EOF
}

sdwan_up() {
	[ -z "${SDWAN_MANUAL:-}" ] || { sdwan_up_manual; return; }
	topo_up
	local psk
	psk=0x$(openssl rand -hex 32)
	(umask 077
	 edge_yaml site-l site-r "$UL_L" "$UL_R" "$NET_L" "$NET_R" true sdwl "$psk" >"/tmp/$P-l.yaml"
	 edge_yaml site-r site-l "$UL_R" "$UL_L" "$NET_R" "$NET_L" false sdwr "$psk" >"/tmp/$P-r.yaml")
	ip netns exec "$NS_R" "$bin/sdwan-edge" --config "/tmp/$P-r.yaml" >"/tmp/$P-r.log" 2>&1 &
	ip netns exec "$NS_L" "$bin/sdwan-edge" --config "/tmp/$P-l.yaml" >"/tmp/$P-l.log" 2>&1 &
	for _ in $(seq 100); do
		if grep -q event=tunnel_up "/tmp/$P-l.log" 2>/dev/null &&
			grep -q event=tunnel_up "/tmp/$P-r.log" 2>/dev/null; then
			rm -f "/tmp/$P-l.yaml" "/tmp/$P-r.yaml"
			return 0
		fi
		sleep 0.1
	done
	echo "sdwan-edge tunnel did not come up:" >&2
	tail -5 "/tmp/$P-l.log" "/tmp/$P-r.log" >&2
	return 1
}

sdwan_up_manual() {
	[ -x "$bin/bench-dataplane" ] || { echo "no $bin/bench-dataplane" >&2; return 1; }
	topo_up
	local key
	key=$(openssl rand -hex 36)
	ip netns exec "$NS_L" "$bin/bench-dataplane" --tun sdwl --addr "$GW_L/32" --port 4500 \
		--peer "$UL_R:4500" --spi-in 0x2001 --spi-out 0x1002 --key "$key" --route "$NET_R" \
		>"/tmp/$P-l.log" 2>&1 &
	ip netns exec "$NS_R" "$bin/bench-dataplane" --tun sdwr --addr "$GW_R/32" --port 4500 \
		--peer "$UL_L:4500" --spi-in 0x1002 --spi-out 0x2001 --key "$key" --route "$NET_L" \
		>"/tmp/$P-r.log" 2>&1 &
	for _ in $(seq 50); do
		grep -q ready "/tmp/$P-l.log" 2>/dev/null && grep -q ready "/tmp/$P-r.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

sdwan_peak_rss() { # the edges' VmHWM, max of the two, MiB
	local p m=0 v
	for p in $(ip netns pids "$NS_L") $(ip netns pids "$NS_R"); do
		v=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		[ "${v:-0}" -gt "$m" ] && m=$v
	done
	echo "$((m / 1024))"
}

printf '%-30s %9s %9s %12s\n' tunnel "1-stream" "4-stream" "CPU s/GB(1)"
printf '%-30s %9s %9s %12s\n' "" "Gbit/s" "Gbit/s" ""
topo_up; topo_route_plain; measure "plain underlay (no tunnel)" underlay; topo_down
"$peers/strongswan.sh" up psk >/dev/null 2>&1 && measure "strongSwan kernel-libipsec" strongswan
"$peers/strongswan.sh" down >/dev/null 2>&1 || true
"$peers/wireguard-go.sh" up >/dev/null 2>&1 && measure "wireguard-go" wireguard
"$peers/wireguard-go.sh" down >/dev/null 2>&1 || true
"$peers/openvpn.sh" up >/dev/null 2>&1 && measure "OpenVPN udp aes-256-gcm" openvpn
"$peers/openvpn.sh" down >/dev/null 2>&1 || true
if sdwan_up; then
	measure "sdwan (sdwan-edge, IKEv2 PSK, aes256gcm16)" sdwan
	echo "sdwan edge peak RSS: $(sdwan_peak_rss) MiB"
fi
topo_down

ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)))" "$1" "$2" 2>/dev/null || echo nan; }
echo "ratio_vs_wireguard_go=$(ratio "${one[sdwan]:-0}" "${one[wireguard]:-0}") ratio_vs_strongswan=$(ratio "${one[sdwan]:-0}" "${one[strongswan]:-0}") ratio_vs_underlay=$(ratio "${one[sdwan]:-0}" "${one[underlay]:-0}")"
