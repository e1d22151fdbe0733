#!/usr/bin/env bash
# ctest-labels: dataplane;integration
# A configuration update changes only what differs (tunnel manager, tests/bench/tmgr):
#
#   s [192.0.2.10, 10.1.0.1] --- u (bridge) --- p1 [192.0.2.1, 10.11.0.1]
#                                           --- p2 [192.0.2.2, 10.12.0.1]
#                                           --- p3 [192.0.2.3, 10.13.0.1]
#
# s runs tunnels to p1 and p2, then gets generation 2: p1 untouched, p2 with a new PSK, p3
# added. Checks: traffic to p1 never stops (10 ms pings) and its SAs stay the same; p2 is
# re-created with new SAs; p3 comes up; a configuration with a bad value is refused naming the
# tunnel and the field.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/netns.sh"
bin=${SDWAN_BIN_DIR:?}
ns_init
tmp=$(mktemp -d /tmp/sdwan-rc.XXXXXX)
trap 'ns_cleanup; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -30 "$f"; done >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
wait_for() {
	local end=$(($(now_ms) + $3))
	while [ "$(now_ms)" -lt "$end" ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}
count() { grep -c -- "$2" "$1" || true; }

ns_add u
ns_exec u ip link add br0 type bridge
ns_exec u ip link set br0 up
i=0
for n in s p1 p2 p3; do
	ns_add $n
	ns_link $n u wan0 "p-$n"
	ns_exec u ip link set "p-$n" master br0
done
ns_exec s ip addr add 192.0.2.10/24 dev wan0
# Each site's first address sits on lo (no LAN needed); pings from it cross the tunnels.
ns_exec s ip addr add 10.1.0.1/32 dev lo
for k in 1 2 3; do
	ns_exec p$k ip addr add 192.0.2.$k/24 dev wan0
	ns_exec p$k ip addr add 10.1$k.0.1/32 dev lo
done

psk1=$(openssl rand -hex 32)
psk2=$(openssl rand -hex 32)
psk2b=$(openssl rand -hex 32)
psk3=$(openssl rand -hex 32)
t() { # t PEER PSK [more]: the tunnel spec from s to PEER
	local k=${1#p}
	echo "name=s:$1,peer=$1,addr=192.0.2.$k,init=1,psk=$2,local=10.1.0.0/24,remote=10.1$k.0.0/24,dpd=200/600"
}
r() { # r PEER PSK: the peer's side
	local k=${1#p}
	echo "name=s:$1,peer=s,init=0,psk=$2,local=10.1$k.0.0/24,remote=10.1.0.0/24,dpd=200/600"
}
ns_bg s "$bin/bench-tmgr" --site s --subnet 10.1.0.0/24 --tun sdws --workers 1 --generation 1 \
	--tunnel "$(t p1 "$psk1")" --tunnel "$(t p2 "$psk2")" \
	--next --site s --subnet 10.1.0.0/24 --generation 2 \
	--tunnel "$(t p1 "$psk1")" --tunnel "$(t p2 "$psk2b")" --tunnel "$(t p3 "$psk3")" \
	>"$tmp/s.log" 2>&1
s_pid=${NS_PIDS##* }
ns_bg p1 "$bin/bench-tmgr" --site p1 --subnet 10.11.0.0/24 --tun sdwp --workers 1 \
	--tunnel "$(r p1 "$psk1")" >"$tmp/p1.log" 2>&1
p1_pid=${NS_PIDS##* }
ns_bg p2 "$bin/bench-tmgr" --site p2 --subnet 10.12.0.0/24 --tun sdwp --workers 1 \
	--tunnel "$(r p2 "$psk2")" --next --site p2 --subnet 10.12.0.0/24 \
	--tunnel "$(r p2 "$psk2b")" >"$tmp/p2.log" 2>&1
p2_pid=${NS_PIDS##* }
ns_bg p3 "$bin/bench-tmgr" --site p3 --subnet 10.13.0.0/24 --tun sdwp --workers 1 \
	--tunnel "$(r p3 "$psk3")" >"$tmp/p3.log" 2>&1
p3_pid=${NS_PIDS##* }

wait_for "$tmp/s.log" 'event=tunnel_up tunnel=s:p1' 10000 || fail "s:p1 not up"
wait_for "$tmp/s.log" 'event=tunnel_up tunnel=s:p2' 10000 || fail "s:p2 not up"
ns_exec s ping -c 2 -i 0.1 -W 2 -I 10.1.0.1 10.11.0.1 >/dev/null || fail "ping p1"
ns_exec s ping -c 2 -i 0.1 -W 2 -I 10.1.0.1 10.12.0.1 >/dev/null || fail "ping p2"
[ "$(ns_exec s ip route show proto 211 | wc -l)" -eq 2 ] || fail "routes: $(ns_exec s ip route show proto 211)"
ok "generation 1: tunnels to p1 and p2 up"

health() { # health FILE TUNNEL: the last health line of TUNNEL after a fresh report
	local n
	n=$(count "$1" "health tunnel=$2")
	kill -USR1 "$3"
	local end=$(($(now_ms) + 2000))
	while [ "$(count "$1" "health tunnel=$2")" -le "$n" ] && [ "$(now_ms)" -lt "$end" ]; do
		sleep 0.02
	done
	grep "health tunnel=$2" "$1" | tail -1
}
spi_before=$(health "$tmp/s.log" s:p1 "$s_pid" | grep -oE 'spi_in=[0-9a-f]+ spi_out=[0-9a-f]+')
[ -n "$spi_before" ] || fail "no SPIs for s:p1"

ns_exec s ping -D -i 0.01 -W 1 -I 10.1.0.1 10.11.0.1 >"$tmp/ping.txt" 2>&1 &
ping_pid=$!
sleep 0.5
ups2=$(count "$tmp/s.log" 'event=tunnel_up tunnel=s:p2')
kill -HUP "$p2_pid"
kill -HUP "$s_pid"
wait_for "$tmp/s.log" 'reload ok' 3000 || fail "generation 2 not applied"
wait_for "$tmp/s.log" 'event=tunnel_up tunnel=s:p3' 10000 || fail "s:p3 not up"
end=$(($(now_ms) + 10000))
while [ "$(count "$tmp/s.log" 'event=tunnel_up tunnel=s:p2')" -le "$ups2" ]; do
	[ "$(now_ms)" -lt "$end" ] || fail "s:p2 not re-created"
	sleep 0.05
done
sleep 0.5
kill "$ping_pid"
wait "$ping_pid" 2>/dev/null || true
grep -q 'event=tunnel_down tunnel=s:p2 detail="configuration changed"' "$tmp/s.log" ||
	fail "s:p2 was not torn down for its change"
ns_exec s ping -c 2 -i 0.1 -W 2 -I 10.1.0.1 10.12.0.1 >/dev/null || fail "ping p2 after change"
ns_exec s ping -c 2 -i 0.1 -W 2 -I 10.1.0.1 10.13.0.1 >/dev/null || fail "ping p3"
[ "$(ns_exec s ip route show proto 211 | wc -l)" -eq 3 ] || fail "routes after reload"
ok "generation 2: s:p2 re-created with its new key, s:p3 added and reachable"

grep -q 'event=tunnel_down tunnel=s:p1' "$tmp/s.log" && fail "the untouched tunnel s:p1 went down"
[ "$(count "$tmp/p1.log" 'event=tunnel_up')" -eq 1 ] || fail "p1 saw its tunnel set up again"
spi_after=$(health "$tmp/s.log" s:p1 "$s_pid" | grep -oE 'spi_in=[0-9a-f]+ spi_out=[0-9a-f]+')
[ "$spi_before" = "$spi_after" ] || fail "s:p1 SAs changed: $spi_before -> $spi_after"
gap=$(awk -F'[][]' '/bytes from/ { t = $2 * 1000; if (p && t - p > m) m = t - p; p = t }
	END { printf "%d\n", m }' "$tmp/ping.txt")
lost=$(awk '/bytes from/ { n++; split($0, a, "icmp_seq="); s = a[2] + 0 } END { print s - n }' "$tmp/ping.txt")
[ "$gap" -le 100 ] || fail "traffic to p1 paused $gap ms during the reload"
ok "the untouched tunnel s:p1 kept its SAs ($spi_after), largest ping gap $gap ms, $lost of the pings lost"

# A configuration with a bad value is refused with the tunnel and the field named.
set +e
ns_exec s "$bin/bench-tmgr" --site s --subnet 10.1.0.0/24 --tun sdwx --workers 1 \
	--ike-port 5500 --natt-port 5501 \
	--tunnel "$(t p1 "$psk1"),ike=aes256gcm16-prfsha384-modp1024" >"$tmp/bad.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "bad configuration not refused (exit $rc)"
grep -q 'config refused: code=1 tunnel=s:p1 reason=ike_proposal' "$tmp/bad.log" ||
	fail "refusal does not name tunnel and field: $(cat "$tmp/bad.log")"
ns_exec s ip link show sdwx >/dev/null 2>&1 && fail "refused start left its TUN behind"
ok "bad configuration refused: $(grep -o 'reason=.*' "$tmp/bad.log" | cut -c1-90)"

for p in s p1 p2 p3; do
	pid_var=${p}_pid
	kill -TERM "${!pid_var}"
	wait "${!pid_var}" 2>/dev/null || fail "$p did not exit cleanly"
done
echo "$passed passed, 0 failed"
