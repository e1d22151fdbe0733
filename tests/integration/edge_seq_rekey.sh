#!/usr/bin/env bash
# ctest-labels: dataplane;integration
# Sequence-number space (RFC 4303 §3.3.3) drives a rekey through the IKE engine. Two standalone
# edges with 32-bit sequence numbers (-noesn); the documented testing option
# `local: test_esp_first_seq` starts a's first outbound SA 100 packets before the rekey
# threshold (2^32 - 2^24 - 100); b starts normally.
#
# Checks: a rekeys exactly once by itself (log line, rekey event on both edges), the new pair
# starts from 1 and does not trigger again, a 10 ms ping loses nothing. Then the volume limit:
# with `esp_rekey_bytes: 1000000` on a, 3.4 MB of pings (2,400 x 1,400 octets) rekey the pair
# at least twice and not more than four times, again without a lost ping.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SDWAN_BIN_DIR:?}
. "$here/lib/netns.sh"
ns_init
tmp=$(mktemp -d /tmp/sdwan-seq.XXXXXX)
trap 'ns_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do
		echo "--- $f"
		tail -30 "$f"
	done >&2
	exit 1
}
passed=0
ok() {
	passed=$((passed + 1))
	echo "ok $passed - $*"
}

ns_add a
ns_add b
ns_link a b wan0 wan0
ns_exec a ip addr add 192.0.2.1/24 dev wan0
ns_exec b ip addr add 192.0.2.2/24 dev wan0
ns_exec a ip addr add 10.1.0.1/24 dev lo
ns_exec b ip addr add 10.2.0.1/24 dev lo
psk=0x$(openssl rand -hex 32)

# config SITE PEER ADDR PEER_ADDR LAN PEER_LAN INITIATOR FIRST_SEQ
config() {
	cat >"$tmp/$1.yaml" <<CONF
site: site-$1
local_subnets: [$5]
tunnels:
  - name: a:b
    peer_site: site-$2
    peer_addresses: [$4]
    initiator: $7
    ike_proposal: aes128gcm16-prfsha256-x25519
    esp_proposal: aes128gcm16-noesn
    auth: psk
    psk: $psk
    local_prefixes: [$5]
    remote_prefixes: [$6]
${EXTRA:-}
local:
  tun_name: sdws$1
  listen_addr: $3
  workers: 2
CONF
	[ "$8" = 0 ] || echo "  test_esp_first_seq: $8" >>"$tmp/$1.yaml"
	chmod 600 "$tmp/$1.yaml"
}
config a b 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 true $((4294967296 - 16777216 - 100))
config b a 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 false 0

ns_bg b "$bin/sdwan-edge" --config "$tmp/b.yaml" --log-level info >"$tmp/b.log" 2>&1
ns_bg a "$bin/sdwan-edge" --config "$tmp/a.yaml" --log-level info >"$tmp/a.log" 2>&1
for _ in $(seq 100); do
	grep -q 'event=tunnel_up' "$tmp/a.log" && break
	sleep 0.1
done
grep -q 'event=tunnel_up' "$tmp/a.log" || fail "tunnel not up"
grep -q 'testing option' "$tmp/a.log" || fail "no warning about the testing option"

ns_exec a ping -c 400 -i 0.01 -W 1 -I 10.1.0.1 10.2.0.1 >"$tmp/ping.out" 2>&1 || true
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$tmp/ping.out")
n=$(grep -c 'sequence numbers near their end' "$tmp/a.log" || true)
[ "$n" -eq 1 ] || fail "a asked for $n sequence-space rekeys (want exactly 1)"
grep -q 'sequence numbers near their end' "$tmp/b.log" && fail "b rekeyed for sequence space too"
for s in a b; do
	grep -q 'event=rekey' "$tmp/$s.log" || fail "$s: no rekey event"
done
ok "a rekeyed once when its sequence numbers neared 2^32 - 2^24 (after ~100 packets)"
[ "${received:-0}" -eq 400 ] || fail "$((400 - ${received:-0})) of 400 pings lost across the rekeys"
ok "400 pings at 10 ms: none lost"

# Volume limit: restart both edges, a with esp_rekey_bytes.
for p in $NS_PIDS; do kill "$p" 2>/dev/null || true; done
for p in $NS_PIDS; do wait "$p" 2>/dev/null || true; done
NS_PIDS=
EXTRA="    esp_rekey_bytes: 1000000" config a b 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 true 0
config b a 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 false 0
ns_bg b "$bin/sdwan-edge" --config "$tmp/b.yaml" --log-level info >"$tmp/b.log" 2>&1
ns_bg a "$bin/sdwan-edge" --config "$tmp/a.yaml" --log-level info >"$tmp/a.log" 2>&1
for _ in $(seq 100); do
	grep -q 'event=tunnel_up' "$tmp/a.log" && break
	sleep 0.1
done
grep -q 'event=tunnel_up' "$tmp/a.log" || fail "tunnel not up (volume part)"
ns_exec a ping -c 2400 -i 0.002 -s 1400 -W 1 -I 10.1.0.1 10.2.0.1 >"$tmp/ping2.out" 2>&1 || true
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$tmp/ping2.out")
n=$(grep -c 'carried esp_rekey_bytes' "$tmp/a.log" || true)
[ "$n" -ge 2 ] && [ "$n" -le 4 ] || fail "a rekeyed $n times for 3.4 MB with esp_rekey_bytes 1000000 (want 2 to 4)"
ok "esp_rekey_bytes 1000000: $n rekeys for 3.4 MB sent"
[ "${received:-0}" -eq 2400 ] || fail "$((2400 - ${received:-0})) of 2400 pings lost across the volume rekeys"
ok "2400 pings of 1400 octets: none lost"
echo "$passed passed, 0 failed"
