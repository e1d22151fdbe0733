#!/usr/bin/env bash
# ctest-labels: dataplane;integration
# Two edges run by the tunnel manager (edge/tmgr through tests/bench/tmgr), IKEv2 with a PSK:
#
#   lh 10.1.0.2 -- l [10.1.0.1 | sdwl | 192.0.2.1] == wan0 == [192.0.2.2 | sdwr | 10.2.0.1] r -- rh 10.2.0.2
#                    site a, initiator                          site b, responder
#
# Checks: the tunnel comes up by itself; ping both ways; a TCP transfer whose SHA-256 matches;
# the underlay carries only ESP-in-UDP while traffic flows (no inner address, no plaintext);
# health shows the Child SA and counters; killing r takes l's tunnel down within the DPD
# timeout; a restarted r is found again by l's re-initiation; SIGTERM removes TUN and routes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/netns.sh"
bin=${SDWAN_BIN_DIR:?}
ns_init
tmp=$(mktemp -d /tmp/sdwan-edge.XXXXXX)
trap 'ns_cleanup; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -40 "$f"; done >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_for FILE PATTERN TIMEOUT_MS: succeed once PATTERN appears in FILE
wait_for() {
	local end=$(($(now_ms) + $3))
	while [ "$(now_ms)" -lt "$end" ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

for n in lh l r rh; do ns_add $n; done
ns_link lh l eth0 lan0
ns_link l r wan0 wan0
ns_link r rh lan0 eth0
ns_exec lh ip addr add 10.1.0.2/24 dev eth0
ns_exec lh ip route add default via 10.1.0.1
ns_exec l ip addr add 10.1.0.1/24 dev lan0
ns_exec l ip addr add 192.0.2.1/24 dev wan0
ns_exec r ip addr add 192.0.2.2/24 dev wan0
ns_exec r ip addr add 10.2.0.1/24 dev lan0
ns_exec rh ip addr add 10.2.0.2/24 dev eth0
ns_exec rh ip route add default via 10.2.0.1
for n in l r; do ns_exec $n sysctl -qw net.ipv4.ip_forward=1; done

psk=$(openssl rand -hex 32)
dpd_ms=200
timeout_ms=600
tunnel="ike=aes256gcm16-prfsha384-x25519,esp=aes256gcm16,psk=$psk,dpd=$dpd_ms/$timeout_ms"
start_l() {
	ns_bg l "$bin/bench-tmgr" --site a --subnet 10.1.0.0/24 --tun sdwl --workers 2 \
		--tunnel "name=a:b,peer=b,addr=192.0.2.2,init=1,local=10.1.0.0/24,remote=10.2.0.0/24,$tunnel" \
		>>"$tmp/l.log" 2>&1
	l_pid=${NS_PIDS##* }
}
start_r() {
	ns_bg r "$bin/bench-tmgr" --site b --subnet 10.2.0.0/24 --tun sdwr --workers 2 \
		--tunnel "name=a:b,peer=a,init=0,local=10.2.0.0/24,remote=10.1.0.0/24,$tunnel" \
		>>"$tmp/r.log" 2>&1
	r_pid=${NS_PIDS##* }
}
start_r
start_l

# 1. IKE brings the tunnel up by itself on both sides.
wait_for "$tmp/l.log" 'event=tunnel_up' 10000 || fail "initiator: tunnel not up"
wait_for "$tmp/r.log" 'event=tunnel_up' 5000 || fail "responder: tunnel not up"
ok "IKE (PSK) brought the tunnel up on both edges"

# 2. Ping both ways.
ns_exec lh ping -c 5 -i 0.1 -W 2 10.2.0.2 >/dev/null || fail "ping lh -> rh"
ns_exec rh ping -c 5 -i 0.1 -W 2 10.1.0.2 >/dev/null || fail "ping rh -> lh"
ok "LAN to LAN ping both ways"

# 3. TCP transfer with matching checksum.
head -c 8388608 /dev/urandom >"$tmp/blob"
want=$(sha256sum <"$tmp/blob" | cut -d' ' -f1)
ns_bg rh python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.2.0.2", 5001)); s.listen(1); c, _ = s.accept(); h = hashlib.sha256()
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b)
open(sys.argv[1], "w").write(h.hexdigest())' "$tmp/got"
srv_pid=${NS_PIDS##* }
sleep 0.3
ns_exec lh python3 -c '
import socket, sys
s = socket.create_connection(("10.2.0.2", 5001), timeout=20)
s.sendall(open(sys.argv[1], "rb").read()); s.close()' "$tmp/blob" || fail "TCP transfer"
wait "$srv_pid" 2>/dev/null || true
[ "$(cat "$tmp/got" 2>/dev/null)" = "$want" ] || fail "TCP checksum mismatch"
ok "8 MiB over TCP with matching SHA-256"

# 4. The wire while traffic flows: ESP-in-UDP only, nothing of the inside visible. (An idle
# tunnel also carries IKE liveness checks on port 500; steady traffic makes them unneeded, as
# authenticated ESP is proof of life.)
ns_bg lh ping -i 0.02 -W 1 10.2.0.2 >/dev/null 2>&1
bg_ping=${NS_PIDS##* }
sleep 0.3
ns_bg l tcpdump -i wan0 -n -U -w "$tmp/wire.pcap" >/dev/null 2>&1
cap_pid=${NS_PIDS##* }
sleep 1
ns_exec lh ping -c 40 -i 0.05 -p 5344574e2d504c41494e -s 200 10.2.0.2 >/dev/null ||
	fail "ping with marker"
kill "$cap_pid"
wait "$cap_pid" 2>/dev/null || true
kill "$bg_ping" 2>/dev/null || true
tcpdump -r "$tmp/wire.pcap" -n 2>/dev/null >"$tmp/wire.txt"
grep -q 'UDP-encap' "$tmp/wire.txt" || fail "no ESP-in-UDP captured"
if grep -v -E '^[0-9:.]+ IP 192\.0\.2\.[12]\.4500 > 192\.0\.2\.[12]\.4500: UDP-encap' "$tmp/wire.txt" |
	grep -v -E 'ARP|ICMP6|IP6' | grep -q .; then
	fail "non-ESP traffic on the underlay: $(grep -v UDP-encap "$tmp/wire.txt" | head -3)"
fi
grep -q '10\.[12]\.0\.2' "$tmp/wire.txt" && fail "inner addresses visible on the wire"
tcpdump -r "$tmp/wire.pcap" -x 2>/dev/null | tr -d ' \n' | grep -qi '5344574e2d504c41494e' &&
	fail "plaintext marker visible on the wire"
ok "the underlay carries only ESP-in-UDP while traffic flows"

# 5. Health: IKE established, one Child SA, counters moving, RTT measured by DPD.
sleep 0.5 # idle: let a liveness check measure the RTT
ns_exec l kill -USR1 "$l_pid" 2>/dev/null || kill -USR1 "$l_pid"
wait_for "$tmp/l.log" 'health tunnel=a:b' 2000 || fail "no health report"
h=$(grep 'health tunnel=a:b' "$tmp/l.log" | tail -1)
grep -q 'state=3 ' <<<"$h" || fail "health: IKE not established: $h"
grep -q 'children=1 ' <<<"$h" || fail "health: no Child SA: $h"
grep -qE 'pkts_in=[1-9]' <<<"$h" && grep -qE 'pkts_out=[1-9]' <<<"$h" || fail "health counters: $h"
grep -qE 'rtt_us=[1-9]' <<<"$h" || fail "health: no RTT from liveness checks: $h"
ok "health: $(grep -oE 'state=[0-9]+ |children=[0-9]+|rtt_us=[0-9]+' <<<"$h" | tr '\n' ' ')"

# 6. Kill the responder while traffic flows: the initiator's tunnel goes down within the DPD
# timeout (measured from the kill; the last proof of life came just before it).
ns_bg lh ping -i 0.02 -W 1 10.2.0.2 >/dev/null 2>&1
ping_pid=${NS_PIDS##* }
sleep 0.5
downs=$(grep -c 'event=tunnel_down' "$tmp/l.log" || true)
t0=$(now_ms)
kill -KILL "$r_pid"
end=$((t0 + 5000))
while [ "$(grep -c 'event=tunnel_down' "$tmp/l.log" || true)" -le "$downs" ]; do
	[ "$(now_ms)" -lt "$end" ] || fail "tunnel not declared down after the peer died"
	sleep 0.01
done
t1=$(now_ms)
detect=$((t1 - t0))
# The timer fires at last proof of life + timeout; allow scheduling slack on a loaded machine.
[ "$detect" -le $((timeout_ms + 150)) ] || fail "down after $detect ms (DPD timeout $timeout_ms ms)"
ok "peer death detected in $detect ms (DPD $dpd_ms/$timeout_ms ms)"

# 7. The responder comes back: the initiator's re-initiation (with backoff) finds it.
ups=$(grep -c 'event=tunnel_up' "$tmp/l.log")
start_r
end=$(($(now_ms) + 15000))
while [ "$(grep -c 'event=tunnel_up' "$tmp/l.log")" -le "$ups" ]; do
	[ "$(now_ms)" -lt "$end" ] || fail "tunnel not re-established after the peer returned"
	sleep 0.05
done
kill "$ping_pid" 2>/dev/null || true
ns_exec lh ping -c 3 -i 0.1 -W 2 10.2.0.2 >/dev/null || fail "ping after re-establishment"
ok "tunnel re-established by the initiator after the peer returned"

# 8. SIGTERM: clean exit, no TUN, no route of ours left.
for side in l r; do
	pid_var=${side}_pid
	kill -TERM "${!pid_var}"
	wait "${!pid_var}" 2>/dev/null || fail "$side did not exit cleanly"
	ns_exec $side ip link show sdw$side >/dev/null 2>&1 && fail "$side: TUN left behind"
	[ -z "$(ns_exec $side ip route show proto 211)" ] || fail "$side: routes left behind"
	[ -z "$(ns_exec $side ip -6 route show proto 211)" ] || fail "$side: IPv6 routes left behind"
done
ok "SIGTERM removed TUN devices and routes"
echo "$passed passed, 0 failed"
