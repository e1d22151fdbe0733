#!/usr/bin/env bash
# Failover gap of the real daemons in the netns lab (deploy/sdwan-lab, docs/lab.md).
#
#   tests/bench/failover/run.sh [N] [TOPOLOGY]      (root; build first: make)
#
# Brings TOPOLOGY (default topologies/hub-spoke.yaml, DPD and hold-down as the file says) up,
# then N times (default 5): 10 ms pings from branch1's LAN host to branch2's, kill -9 of
# branch1's preferred hub (hub-east), wait for branch1's failover event, measure, restart the
# hub from its state directory and wait for every tunnel and for branch1's failback. Printed
# per kill: the largest gap between two ping replies (ms) and the pings lost (by sequence
# number); then the median and the range of the gaps:
#   failover_gap_ms median=M min=A max=B n=N dpd_interval_ms=I dpd_timeout_ms=T
# The gap includes one ping interval (10 ms); with on-idle DPD it is bounded by the DPD timeout
# counted from the hub's last packet, plus the time the spoke's timer takes to notice.
set -euo pipefail
N=${1:-5}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TOPO=${2:-$ROOT/topologies/hub-spoke.yaml}
export SDWAN_BIN_DIR=${SDWAN_BIN_DIR:-$ROOT/build/bin}
[ "$(id -u)" -eq 0 ] || {
	echo "bench-failover: needs root (network namespaces)" >&2
	exit 1
}
lab=$ROOT/deploy/sdwan-lab
NAME=bfo$$
WORK=$(mktemp -d /tmp/bench-failover.XXXXXX)
L() { "$lab" --name "$NAME" "$@"; }
PING=""
cleanup() {
	[ -z "$PING" ] || kill "$PING" 2>/dev/null || true
	L down >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
HUB=hub-east SPOKE=branch1 DST=10.10.2.2

plan=$("$SDWAN_BIN_DIR/sdwanctl" plan --json "$TOPO")
dpd=$(jq -r --arg s "$SPOKE" --arg h "$HUB" \
	'.edges[] | select(.site == $s) | .tunnels[] | select(.peer == $h) |
	 "\(.dpd.interval_ms) \(.dpd.timeout_ms) \(.dpd.mode)"' <<<"$plan")
read -r dpd_i dpd_t dpd_m <<<"$dpd"
hold=$(jq -r --arg s "$SPOKE" '.edges[] | select(.site == $s) | .hold_down_ms' <<<"$plan")
echo "bench-failover: $(basename "$TOPO"), kill -9 of $HUB under 10 ms pings $SPOKE -> $DST;" \
	"DPD ${dpd_i}/${dpd_t} ms $dpd_m, hold-down $hold ms, $N kills"
L up "$TOPO" >"$WORK/up.txt" 2>&1 || {
	cat "$WORK/up.txt" >&2
	exit 1
}
grep 'every planned tunnel' "$WORK/up.txt"

events() { L ctl events --json; }
last_id() { events | jq '[.[].id] | max // 0'; }
wait_event() { # SITE KIND SINCE_ID SECONDS
	local end=$(($(date +%s) + $4))
	while [ "$(date +%s)" -lt "$end" ]; do
		events | jq -e --arg s "$1" --arg k "$2" --argjson id "$3" \
			'any(.[]; .site == $s and .kind == $k and .id > $id)' >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

gaps=()
for i in $(seq "$N"); do
	id=$(last_id)
	"$lab" --name "$NAME" exec "$SPOKE" ping -D -i 0.01 -W 1 "$DST" >"$WORK/ping$i.txt" 2>&1 &
	PING=$!
	sleep 1
	L kill "$HUB" >/dev/null
	wait_event "$SPOKE" failover "$id" 10 || {
		echo "kill $i: no failover event" >&2
		exit 1
	}
	sleep 1
	kill -INT "$PING"
	wait "$PING" 2>/dev/null || true
	PING=""
	read -r gap lost sent < <(awk -F'[][]' '/bytes from/ {
			t = $2 * 1000; if (p && t - p > m) m = t - p; p = t
			match($0, /icmp_seq=[0-9]+/); s = substr($0, RSTART + 9, RLENGTH - 9) + 0
			if (s > last) last = s; n++ }
		END { printf "%d %d %d\n", m, last - n, last }' "$WORK/ping$i.txt")
	printf 'kill %d: gap %d ms, %d of %d pings lost\n' "$i" "$gap" "$lost" "$sent"
	gaps+=("$gap")
	id=$(last_id)
	L start "$HUB" >/dev/null
	L wait 60 >/dev/null
	wait_event "$SPOKE" failback "$id" $((hold / 1000 + 20)) || {
		echo "kill $i: no failback" >&2
		exit 1
	}
done
sorted=$(printf '%s\n' "${gaps[@]}" | sort -n)
median=$(sed -n "$(((N + 1) / 2))p" <<<"$sorted")
echo "failover_gap_ms median=$median min=$(head -1 <<<"$sorted") max=$(tail -1 <<<"$sorted")" \
	"n=$N dpd_interval_ms=$dpd_i dpd_timeout_ms=$dpd_t"
