#!/usr/bin/env bash
# ctest-labels: integration;interop
# The strongSwan test harness itself (tests/integration/lib/strongswan.sh): two charons with
# kernel-libipsec in two namespaces bring up a PSK tunnel and carry a ping. When an interop test
# with our edge fails, this one tells whether strongSwan's side of the setup still works.
#
#   a [10.1.0.1 on lo | 192.0.2.1 wan0] ==== ESP-in-UDP ==== [192.0.2.2 wan0 | 10.2.0.1 on lo] b
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/netns.sh"
. "$here/lib/strongswan.sh"
ss_require
ns_init
tmp=$(mktemp -d /tmp/sdwan-ss-self.XXXXXX)
fail() {
	echo "FAIL: $*" >&2
	ss_log "$tmp/a" >&2
	ss_log "$tmp/b" >&2
	exit 1
}
trap 'ns_cleanup; rm -rf "$tmp"' EXIT

ns_add a
ns_add b
ns_link a b wan0 wan0
ns_exec a ip addr add 192.0.2.1/24 dev wan0
ns_exec b ip addr add 192.0.2.2/24 dev wan0
ns_exec a ip addr add 10.1.0.1/24 dev lo
ns_exec b ip addr add 10.2.0.1/24 dev lo

psk=$(openssl rand -hex 32)
ike=aes128gcm16-prfsha256-x25519
for s in a b; do ss_init "$tmp/$s"; done
ss_conn_psk "$tmp/a" t 192.0.2.1 192.0.2.2 site-a site-b 10.1.0.0/24 10.2.0.0/24 $ike aes128gcm16 "$psk"
ss_conn_psk "$tmp/b" t 192.0.2.2 192.0.2.1 site-b site-a 10.2.0.0/24 10.1.0.0/24 $ike aes128gcm16 "$psk"
ss_start a "$tmp/a" || fail "charon a"
ss_start b "$tmp/b" || fail "charon b"
ss_load "$tmp/a" || fail "load a"
ss_load "$tmp/b" || fail "load b"
ss_initiate "$tmp/a" t 10 || fail "initiate: $(cat "$tmp/a/initiate.out")"
ss_wait_up "$tmp/b" t 5 || fail "responder has no SA"
# Forced NAT-T: both ends must show UDP encapsulation.
ss_sas "$tmp/a" t | grep -q "ESTABLISHED" || fail "no IKE SA on a"
ss_sas "$tmp/b" t | grep -q "INSTALLED, TUNNEL-in-UDP" || fail "Child SA on b is not UDP-encapsulated"
ns_exec a ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping through the tunnel"
ss_sas "$tmp/b" t | grep -Eq "^ +in +[0-9a-f]{8}.*, +[1-9][0-9]* bytes" ||
	fail "responder counted no inbound bytes"
echo "ok: strongSwan harness (PSK, $ike, encap)"
