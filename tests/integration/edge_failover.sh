#!/usr/bin/env bash
# ctest-labels: dataplane;integration
# A spoke with two hubs (three edges run by the tunnel manager), DPD 100 ms / 300 ms:
#
#                       +-- h1 [192.0.2.1, hub priority 1] -- d1 10.9.0.2 (10.91.0.0/24 too)
#   sh 10.1.0.2 -- s ---u (bridge)
#   [192.0.2.10]        +-- h2 [192.0.2.2, hub priority 2] -- d2 10.9.0.2 (10.92.0.0/24 too)
#
# 10.9.0.0/24 sits behind both hubs and reaches the spoke only through transit, so it routes
# into the spoke's hub group. Checks: traffic starts on h1; killing h1 moves it to h2 (FAILOVER)
# with a ping gap (10 ms pings) near the DPD timeout; when h1 returns, traffic goes back to it
# (FAILBACK) only after the hold-down, without loss.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/netns.sh"
bin=${SDWAN_BIN_DIR:?}
ns_init
tmp=$(mktemp -d /tmp/sdwan-fo.XXXXXX)
trap 'ns_cleanup; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -30 "$f"; done >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
wait_for() { # wait_for FILE PATTERN MS [COUNT]: until COUNT (1) lines of FILE match
	local end=$(($(now_ms) + $3))
	while [ "$(now_ms)" -lt "$end" ]; do
		[ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "${4:-1}" ] && return 0
		sleep 0.02
	done
	return 1
}
# max_gap FILE [FROM_MS]: the largest gap in ms between consecutive replies of `ping -D`
# (only replies at or after FROM_MS, Unix ms, count)
max_gap() {
	awk -F'[][]' -v from="${2:-0}" '/bytes from/ { t = $2 * 1000; if (t < from) next
		if (p && t - p > m) m = t - p; p = t } END { printf "%d\n", m }' "$1"
}
# ts LOG_LINE: the Unix ms of a log line's timestamp
ts() { date -d "$(cut -d' ' -f1 <<<"$1" | sed 's/T/ /; s/Z$//')Z" +%s%3N; }

for n in sh s u h1 h2 d1 d2; do ns_add $n; done
ns_exec u ip link add br0 type bridge
ns_exec u ip link set br0 up
for n in s h1 h2; do
	ns_link $n u wan0 "p-$n"
	ns_exec u ip link set "p-$n" master br0
done
ns_link sh s eth0 lan0
ns_link d1 h1 eth0 lan0
ns_link d2 h2 eth0 lan0
ns_exec s ip addr add 192.0.2.10/24 dev wan0
ns_exec h1 ip addr add 192.0.2.1/24 dev wan0
ns_exec h2 ip addr add 192.0.2.2/24 dev wan0
ns_exec sh ip addr add 10.1.0.2/24 dev eth0
ns_exec sh ip route add default via 10.1.0.1
ns_exec s ip addr add 10.1.0.1/24 dev lan0
for i in 1 2; do
	ns_exec h$i ip addr add 10.9.0.1/24 dev lan0
	ns_exec h$i ip addr add 10.9$i.0.1/24 dev lan0
	ns_exec d$i ip addr add 10.9.0.2/24 dev eth0
	ns_exec d$i ip route add default via 10.9.0.1
done
for n in s h1 h2; do ns_exec $n sysctl -qw net.ipv4.ip_forward=1; done

psk1=$(openssl rand -hex 32)
psk2=$(openssl rand -hex 32)
hold_ms=2000
wan="--wan s=10.1.0.0/24 --wan dc=10.9.0.0/24 --wan h1=10.91.0.0/24 --wan h2=10.92.0.0/24"
common="dpd=100/300,esp=aes256gcm16"
ns_bg s "$bin/bench-tmgr" --site s --subnet 10.1.0.0/24 --tun sdws --workers 1 $wan \
	--hold-down $hold_ms \
	--tunnel "name=h1:s,peer=h1,addr=192.0.2.1,init=1,psk=$psk1,prio=1,rtransit=1,local=10.1.0.0/24,remote=10.91.0.0/24,$common" \
	--tunnel "name=h2:s,peer=h2,addr=192.0.2.2,init=1,psk=$psk2,prio=2,rtransit=1,local=10.1.0.0/24,remote=10.92.0.0/24,$common" \
	>"$tmp/s.log" 2>&1
s_pid=${NS_PIDS##* }
start_hub() {
	local i=$1 psk=$2
	ns_bg h$i "$bin/bench-tmgr" --site h$i --subnet 10.9.0.0/24 --subnet 10.9$i.0.0/24 \
		--tun sdwh$i --workers 1 $wan \
		--tunnel "name=h$i:s,peer=s,init=0,psk=$psk,ltransit=1,local=10.9$i.0.0/24,remote=10.1.0.0/24,$common" \
		>>"$tmp/h$i.log" 2>&1
	eval "h${i}_pid=\${NS_PIDS##* }"
}
start_hub 1 "$psk1"
start_hub 2 "$psk2"

wait_for "$tmp/s.log" 'event=tunnel_up tunnel=h1:s' 10000 || fail "tunnel to h1 not up"
wait_for "$tmp/s.log" 'event=tunnel_up tunnel=h2:s' 10000 || fail "tunnel to h2 not up"
# h1 is normally first; if h2's tunnel came up first (h1's first IKE_SA_INIT lost to a
# retransmission, as seen on a loaded machine), traffic starts on h2 and moves to h1 after the
# hold-down: both are correct.
wait_for "$tmp/s.log" 'msg="active hub" hub=h1:s\|event=failback tunnel=h1:s' 6000 ||
	fail "h1 not chosen as active hub"
ns_exec sh ping -c 3 -i 0.1 -W 2 10.9.0.2 >/dev/null || fail "ping through the active hub"
ok "both hub tunnels up, traffic on the preferred hub h1"

# Failover: kill h1 under 10 ms pings; the gap is the time to detect its death.
ns_exec sh ping -D -i 0.01 -W 1 10.9.0.2 >"$tmp/ping.txt" 2>&1 &
ping_pid=$!
sleep 1
kill -KILL "$h1_pid"
wait_for "$tmp/s.log" 'event=failover' 3000 || fail "no failover after h1 died"
grep -q 'event=failover.*h1:s -> h2:s' "$tmp/s.log" || fail "failover not to h2"
sleep 1
gap=$(max_gap "$tmp/ping.txt")
[ "$gap" -gt 0 ] && [ "$gap" -le 600 ] || fail "ping gap $gap ms on failover (DPD timeout 300 ms)"
ok "failover to h2 with a ping gap of $gap ms (10 ms pings, DPD 100/300 ms)"

# Failback: h1 returns; the spoke re-initiates, waits the hold-down, moves back. (If traffic
# started on h2, the log already holds a failback from the start: wait for one more.)
n_back=$(grep -c 'event=failback' "$tmp/s.log" || true)
start_hub 1 "$psk1"
wait_for "$tmp/s.log" "event=failback" $((20000 + hold_ms)) $((n_back + 1)) ||
	fail "no failback after h1 returned"
up_line=$(grep 'event=tunnel_up tunnel=h1:s' "$tmp/s.log" | tail -1)
back_line=$(grep 'event=failback' "$tmp/s.log" | tail -1)
held=$(($(ts "$back_line") - $(ts "$up_line")))
# Log timestamps are cut to the millisecond, so a hold-down kept exactly can read 1 ms short.
[ "$held" -ge $((hold_ms - 1)) ] || fail "failback after $held ms, before the $hold_ms ms hold-down"
grep -q 'event=failback.*h2:s -> h1:s' <<<"$back_line" || fail "failback not to h1: $back_line"
sleep 1
kill "$ping_pid"
wait "$ping_pid" 2>/dev/null || true
# The largest gap from the end of the failover on, over h1's return and the failback.
fo_ms=$(ts "$(grep 'event=failover' "$tmp/s.log" | tail -1)")
gap_back=$(max_gap "$tmp/ping.txt" $((fo_ms + 500)))
[ "$gap_back" -le 100 ] || fail "ping gap $gap_back ms around failback"
kill -USR1 "$s_pid"
wait_for "$tmp/s.log" 'health edge active_hub=h1' 2000 || fail "health does not report h1 active"
ok "failback to h1 after $held ms (hold-down $hold_ms ms), largest ping gap around it $gap_back ms"

for p in s h1 h2; do
	pid_var=${p}_pid
	kill -TERM "${!pid_var}"
	wait "${!pid_var}" 2>/dev/null || fail "$p did not exit cleanly"
done
echo "$passed passed, 0 failed"
