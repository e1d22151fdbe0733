#!/usr/bin/env bash
# ctest-labels: integration;ike
# sdwan-edge --config FILE --keylog FILE: two standalone edges, one writing its key log, and a
# capture of the underlay that tshark must decrypt with nothing but the files the edge wrote
# (installed as Wireshark's own UAT files ikev2_decryption_table and esp_sa):
#
#   a [10.1.0.1 on lo | sdwan-edge --keylog | 192.0.2.1] ==== [192.0.2.2 | sdwan-edge | 10.2.0.1 on lo] b
#
# Checks: the key log is 0600 and the edge warns that it is on; the IKE_AUTH exchange decrypts
# (the identities inside are readable); the pings inside ESP-in-UDP decrypt; a tunnel without
# --keylog writes nothing of the kind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SDWAN_BIN_DIR:?}
. "$here/lib/netns.sh"
command -v tshark >/dev/null || {
	echo "tshark missing: deploy/install-deps.sh installs it" >&2
	exit 1
}
ns_init
tmp=$(mktemp -d /tmp/sdwan-keylog.XXXXXX)
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

# config SITE PEER ADDR PEER_ADDR LAN PEER_LAN INITIATOR
config() {
	cat >"$tmp/$1.yaml" <<EOF
site: site-$1
local_subnets: [$5]
tunnels:
  - name: a:b
    peer_site: site-$2
    peer_addresses: [$4]
    initiator: $7
    ike_proposal: aes256gcm16-prfsha384-x25519
    esp_proposal: aes128gcm16
    auth: psk
    psk: $psk
    local_prefixes: [$5]
    remote_prefixes: [$6]
local:
  tun_name: sdwk$1
  listen_addr: $3
  workers: 1
EOF
	chmod 600 "$tmp/$1.yaml"
}
config a b 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 true
config b a 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 false

ns_bg a tcpdump -i wan0 -n -U --immediate-mode -w "$tmp/wire.pcap" udp >/dev/null 2>&1
cap=${NS_PIDS##* }
sleep 0.5
ns_bg b "$bin/sdwan-edge" --config "$tmp/b.yaml" >"$tmp/b.log" 2>&1
ns_bg a "$bin/sdwan-edge" --config "$tmp/a.yaml" --keylog "$tmp/keys" >"$tmp/a.log" 2>&1
for _ in $(seq 100); do
	grep -q 'event=tunnel_up' "$tmp/a.log" && break
	sleep 0.1
done
grep -q 'event=tunnel_up' "$tmp/a.log" || fail "tunnel not up"
ns_exec a ping -c 5 -i 0.1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping through the tunnel"
sleep 0.3
kill "$cap"
wait "$cap" 2>/dev/null || true

[ -s "$tmp/keys" ] && [ -s "$tmp/keys.esp" ] || fail "key log files missing or empty"
for f in "$tmp/keys" "$tmp/keys.esp"; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is mode $(stat -c %a "$f"), not 0600"
done
grep -q 'warn' <(grep -i 'key log\|keylog' "$tmp/a.log") || fail "no warning that keys are being logged"
ok "key log written (0600) with a warning"

# Wireshark's personal configuration: the two UAT files are the edge's files as written.
conf=$tmp/home/.config/wireshark
mkdir -p "$conf"
cp "$tmp/keys" "$conf/ikev2_decryption_table"
cp "$tmp/keys.esp" "$conf/esp_sa"
printf 'esp.enable_encryption_decode: TRUE\n' >"$conf/preferences"
ts() { HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config tshark -r "$tmp/wire.pcap" "$@" 2>/dev/null; }

ids=$(ts -V | grep -c 'ID_FQDN: site-' || true)
[ "$ids" -ge 2 ] || fail "IKE_AUTH did not decrypt with the key log (identities seen: $ids)"
ok "IKE_AUTH decrypts: both identities readable ($ids)"

icmp=$(ts -Y 'icmp && ip.src == 10.1.0.1' | wc -l)
[ "$icmp" -ge 5 ] || fail "ESP did not decrypt: $icmp inner ICMP packets from 10.1.0.1"
reply=$(ts -Y 'icmp && ip.src == 10.2.0.1' | wc -l)
[ "$reply" -ge 5 ] || fail "ESP (inbound SA) did not decrypt: $reply inner replies"
ok "ESP decrypts both ways: $icmp echo requests and $reply replies inside"

# Without the key files, the same capture shows nothing inside.
none=$(tshark -r "$tmp/wire.pcap" -Y 'icmp' 2>/dev/null | wc -l)
[ "$none" -eq 0 ] || fail "ICMP visible without keys: $none packets"
ok "without the key log, nothing inside is readable"
echo "$passed passed, 0 failed"
