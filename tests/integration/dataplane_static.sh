#!/usr/bin/env bash
# ctest-labels: integration;dataplane
# The data plane between two sites over manually keyed SAs (no IKE involved):
#
#   lh 10.1.0.2 -- l [10.1.0.1 | tun | 192.0.2.1] == underlay == [192.0.2.2 | tun | 10.2.0.1] r -- rh 10.2.0.2
#
# Checks: LAN hosts reach each other through the tunnel; the underlay carries nothing but
# ESP-in-UDP between the two underlay addresses (no inner address, no plaintext marker); TCP
# flows, with SYN MSS clamped to the tunnel; an oversized DF packet gets "fragmentation needed"
# with the tunnel MTU; a packet from a source the tunnel may not carry is dropped and counted
# as policy. Run with TUN offloads (GSO/GRO), then again without (OFFLOAD=--no-offload).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/netns.sh"
bin=${SDWAN_BIN_DIR:?}
ns_init
tmp=$(mktemp -d /tmp/sdwan-dp.XXXXXX)
trap 'ns_cleanup; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; cat "$f"; done >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }

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

key=$(openssl rand -hex 36)
mode=${OFFLOAD:-}
ns_bg l "$bin/bench-dataplane" $mode --tun sdwl --addr 10.1.0.1/32 --port 4500 \
	--peer 192.0.2.2:4500 --spi-in 0x2001 --spi-out 0x1002 --key "$key" \
	--route 10.2.0.0/24 >"$tmp/l.log" 2>&1
l_pid=${NS_PIDS##* }
ns_bg r "$bin/bench-dataplane" $mode --tun sdwr --addr 10.2.0.1/32 --port 4500 \
	--peer 192.0.2.1:4500 --spi-in 0x1002 --spi-out 0x2001 --key "$key" \
	--route 10.1.0.0/24 >"$tmp/r.log" 2>&1
r_pid=${NS_PIDS##* }
for i in $(seq 50); do
	grep -q ready "$tmp/l.log" && grep -q ready "$tmp/r.log" && break
	sleep 0.1
done
grep -q ready "$tmp/l.log" && grep -q ready "$tmp/r.log" || fail "data planes did not start"

# 1. Reachability through the tunnel.
ns_exec lh ping -c 5 -i 0.2 -W 2 10.2.0.2 >"$tmp/ping.log" || fail "ping through the tunnel"
ok "LAN to LAN ping"

# 2. The wire: capture on the underlay while sending a recognisable payload.
ns_bg l tcpdump -i wan0 -n -U -w "$tmp/wire.pcap" >/dev/null 2>&1
cap_pid=${NS_PIDS##* }
sleep 1
ns_exec lh ping -c 5 -i 0.2 -p 5344574e2d504c41494e -s 200 10.2.0.2 >/dev/null ||
	fail "ping with marker"
sleep 0.5
kill "$cap_pid"; wait "$cap_pid" 2>/dev/null || true
tcpdump -r "$tmp/wire.pcap" -n 2>/dev/null >"$tmp/wire.txt"
[ -s "$tmp/wire.txt" ] || fail "nothing captured"
if grep -v -E '^[0-9:.]+ IP 192\.0\.2\.[12]\.4500 > 192\.0\.2\.[12]\.4500: UDP-encap' "$tmp/wire.txt" |
	grep -v -E 'ARP|ICMP6|IP6' | grep -q .; then
	fail "non-ESP traffic on the underlay: $(head "$tmp/wire.txt")"
fi
grep -q '10\.[12]\.0\.2' "$tmp/wire.txt" && fail "inner addresses visible on the wire"
tcpdump -r "$tmp/wire.pcap" -x 2>/dev/null | tr -d ' \n' | grep -qi '5344574e2d504c41494e' &&
	fail "plaintext marker visible on the wire"
ok "the underlay carries only ESP-in-UDP between the underlay addresses"

# 3. TCP through the tunnel, its SYN's MSS clamped to the tunnel (1438 - 40) on the far side.
ns_bg rh tcpdump -i eth0 -n -v -U -c 2 'tcp[tcpflags] & tcp-syn != 0' >"$tmp/syn.txt" 2>/dev/null
syn_pid=${NS_PIDS##* }
ns_bg rh iperf3 -s -1 >/dev/null 2>&1
sleep 0.5
ns_exec lh iperf3 -c 10.2.0.2 -t 2 -J >"$tmp/iperf.json" || fail "iperf3 through the tunnel"
sleep 0.3
kill "$syn_pid" 2>/dev/null || true
grep -q 'mss 1398' "$tmp/syn.txt" || fail "SYN MSS not clamped to 1398: $(cat "$tmp/syn.txt")"
ok "SYN MSS clamped to the tunnel (1398)"
bps=$(jq '.end.sum_received.bits_per_second' "$tmp/iperf.json")
awk -v b="$bps" 'BEGIN { exit !(b > 1e6) }' || fail "TCP throughput $bps bit/s"
ok "TCP through the tunnel ($(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }') Gbit/s)"

# 4. Path MTU: a DF packet larger than the tunnel is refused with its MTU, so big transfers
# never hang on a black hole.
out=$(ns_exec lh ping -M do -s 1472 -c 1 -W 2 10.2.0.2 2>&1 || true)
grep -qE 'mtu ?= ?1438' <<<"$out" || fail "no fragmentation-needed with the tunnel MTU: $out"
ok "oversized DF packet answered with the tunnel MTU (1438)"

# 5. Anti-spoofing: a source the tunnel may not carry is dropped at the far end.
ns_exec l ip addr add 10.9.9.9/32 dev lo
ns_exec l ping -c 2 -W 1 -I 10.9.9.9 10.2.0.2 >/dev/null 2>&1 || true
kill -TERM "$l_pid" "$r_pid"
wait "$l_pid" "$r_pid" 2>/dev/null || true
grep -q 'drop_policy=[1-9]' "$tmp/r.log" || fail "spoofed source not counted: $(cat "$tmp/r.log")"
grep -q 'drop_icv=0 ' "$tmp/r.log" && grep -q 'drop_replay=0 ' "$tmp/r.log" ||
	fail "unexpected drops: $(cat "$tmp/r.log")"
ok "spoofed inner source dropped and counted (policy)"

if [ -z "${OFFLOAD:-}" ]; then
	# The same checks through the path without TUN offloads (one packet per syscall).
	OFFLOAD=--no-offload NS=${NS}n bash "$0" | sed 's/^ok: /ok (no offload): /' ||
		fail "the run without offloads failed"
fi
echo "$passed passed, 0 failed"
