#!/usr/bin/env bash
# ctest-labels: integration;interop
# sdwan-edge --config (the whole edge: IKE engine, tunnel manager, userspace ESP data plane)
# against strongSwan's charon with kernel-libipsec, in two network namespaces:
#
#   e [10.1.0.1 on lo | sdwan-edge | 192.0.2.1 wan0] ==== ESP-in-UDP ==== [192.0.2.2 | charon | 10.2.0.1 on lo] s
#
# One scenario per block, each with a fresh edge and a fresh charon; every assertion reads
# strongSwan's own view (swanctl --list-sas, its log) as well as ours:
#   1. PSK, aes256gcm16-prfsha384-ecp384, we initiate, NAT-T forced (encap = yes): ping both
#      ways, then 200 MB over TCP whose SHA-256 matches while charon rekeys the Child SA twice
#      and the IKE SA once under it.
#   2. PSK, aes128gcm16-prfsha256-x25519, charon initiates: our own lifetimes rekey the Child SA
#      and the IKE SA while a 20 ms ping runs; not one ping may be lost (make-before-break);
#      then, idle, charon's DPD (1 s) is answered by us.
#   3. certificates (ECDSA P-256 from our CA, RFC 7427), chacha20poly1305-prfsha256-x25519, we
#      initiate: ping; charon answers our DPD (200/600 ms) while idle; then charon dies and our
#      DPD takes the tunnel down.
#   4. a deliberately mismatched proposal, both directions: our log names the disagreement.
# kernel-libipsec has no extended sequence numbers: ESP proposals say -noesn.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SDWAN_BIN_DIR:?}
. "$here/lib/netns.sh"
. "$here/lib/strongswan.sh"
ss_require
ns_init
tmp=$(mktemp -d /tmp/sdwan-interop.XXXXXX)
ss=$tmp/ss
edge_pid=
fail() {
	echo "FAIL: $*" >&2
	echo "--- sdwan-edge log (tail)" >&2
	tail -60 "$tmp/edge.log" >&2 2>/dev/null || true
	ss_log "$ss" | tail -60 >&2
	exit 1
}
trap 'ns_cleanup; rm -rf "$tmp"' EXIT
passed=0
ok() {
	passed=$((passed + 1))
	echo "ok $passed - $*"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_log PATTERN MS [FILE]: succeed once PATTERN appears in the edge log
wait_log() {
	local end=$(($(now_ms) + $2))
	while [ "$(now_ms)" -lt "$end" ]; do
		grep -q -- "$1" "${3:-$tmp/edge.log}" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
count_log() { grep -c -- "$1" "$tmp/edge.log" 2>/dev/null || true; }

ns_add e
ns_add s
ns_link e s wan0 wan0
ns_exec e ip addr add 192.0.2.1/24 dev wan0
ns_exec s ip addr add 192.0.2.2/24 dev wan0
ns_exec e ip addr add 10.1.0.1/24 dev lo
ns_exec s ip addr add 10.2.0.1/24 dev lo
mkdir -p "$tmp/pki"
"$bin/ike-peer" pki "$tmp/pki" acme site-a site-b >/dev/null 2>&1 || fail "ike-peer pki"

# edge_config FILE INITIATOR IKE ESP AUTH [EXTRA TUNNEL LINES]
edge_config() {
	local f=$1 init=$2 ike=$3 esp=$4 auth=$5 extra=${6:-}
	{
		cat <<EOF
site: site-a
local_subnets: [10.1.0.0/24]
links:
  - {name: inet, static_address: 192.0.2.1}
tunnels:
  - name: a:b
    peer_site: site-b
    peer_addresses: [192.0.2.2]
    initiator: $init
    ike_proposal: $ike
    esp_proposal: $esp
    dpd_interval: 200ms
    dpd_timeout: 600ms
    dpd_mode: ${DPD_MODE:-on-idle}
    local_prefixes: [10.1.0.0/24]
    remote_prefixes: [10.2.0.0/24]
EOF
		if [ "$auth" = psk ]; then
			echo "    auth: psk"
			echo "    psk_file: a-b.psk"
		else
			echo "    auth: certificate"
		fi
		[ -z "$extra" ] || printf '%s\n' "$extra"
		cat <<EOF
local:
  tun_name: sdwi0
  listen_addr: 192.0.2.1
  workers: 2
  key_path: $tmp/pki/site-a.key
  cert_path: $tmp/pki/site-a.pem
  ca_path: $tmp/pki/ca.pem
EOF
	} >"$f"
}

start_edge() {
	: >"$tmp/edge.log"
	ns_bg e "$bin/sdwan-edge" --config "$tmp/edge.yaml" --log-level info >>"$tmp/edge.log" 2>&1
	edge_pid=${NS_PIDS##* }
}
stop_edge() {
	if [ -n "$edge_pid" ]; then
		kill -TERM "$edge_pid" 2>/dev/null || true
		wait "$edge_pid" 2>/dev/null || true
		edge_pid=
	fi
}
# start_charon CONN_KIND(psk|cert) IKE ESP [CONNECTION OPTIONS] [CHILD OPTIONS]
start_charon() {
	local kind=$1 ike=$2 esp=$3 copts=${4:-} chopts=${5:-}
	rm -rf "$ss"
	ss_init "$ss"
	if [ "$kind" = psk ]; then
		ss_conn_psk "$ss" t 192.0.2.2 192.0.2.1 site-b site-a 10.2.0.0/24 10.1.0.0/24 \
			"$ike" "$esp" "$psk" "$copts" "$chopts"
	else
		cp "$tmp/pki/site-b.key" "$ss/private/site-b.key"
		cp "$tmp/pki/site-b.pem" "$ss/x509/site-b.pem"
		cp "$tmp/pki/ca.pem" "$ss/x509ca/ca.pem"
		ss_conn_cert "$ss" t 192.0.2.2 192.0.2.1 site-b site-a 10.2.0.0/24 10.1.0.0/24 \
			"$ike" "$esp" site-b.pem site-b.key "$copts" "$chopts"
	fi
	ss_start s "$ss" || fail "charon did not start"
	ss_load "$ss" || fail "swanctl --load-all"
}
stop_charon() {
	ss_stop "$ss"
}
# Our tunnel up (edge log) and charon's IKE and Child SA (its own view).
both_up() {
	wait_log 'event=tunnel_up' 10000 || fail "$1: sdwan-edge did not bring the tunnel up"
	ss_wait_up "$ss" t 5 || fail "$1: charon shows no established SA: $(ss_sas "$ss" t)"
	ss_sas "$ss" t | grep -q "INSTALLED, TUNNEL-in-UDP" ||
		fail "$1: charon's Child SA is not UDP-encapsulated: $(ss_sas "$ss" t)"
}
ping_both() {
	ns_exec e ping -c 3 -i 0.1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "$1: ping e -> s"
	ns_exec s ping -c 3 -i 0.1 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "$1: ping s -> e"
}
# charon's inbound Child SA SPI (the first "in" line of the tunnel's CHILD_SA)
ss_child_spi() { ss_sas "$ss" t | sed -n 's/^ *in  *\([0-9a-f]\{8\}\).*/\1/p' | head -1; }

psk=0x$(openssl rand -hex 32)
printf '%s\n' "$psk" >"$tmp/a-b.psk"
chmod 600 "$tmp/a-b.psk"

# ---- 1. PSK, ecp384, we initiate; 200 MB across two Child SA rekeys and an IKE SA rekey ----
p1=aes256gcm16-prfsha384-ecp384
start_charon psk $p1 aes256gcm16-noesn
edge_config "$tmp/edge.yaml" true $p1 aes256gcm16-noesn psk
start_edge
both_up "scenario 1"
ok "PSK $p1: our edge initiated; both sides established, charon encapsulates in UDP"
ping_both "scenario 1"
ok "ping both ways through the tunnel"

size=$((200 * 1024 * 1024))
head -c "$size" /dev/urandom >"$tmp/blob"
want=$(sha256sum <"$tmp/blob" | cut -d' ' -f1)
ns_bg s python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.2.0.1", 5001)); s.listen(1); c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
open(sys.argv[1], "w").write("%s %d\n" % (h.hexdigest(), n))' "$tmp/got" 2>"$tmp/srv.err"
srv=${NS_PIDS##* }
sleep 0.3
# Paced so the transfer spans the rekeys (about 12 s at 16 MiB/s).
ns_bg e python3 -c '
import socket, sys, time
s = socket.create_connection(("10.2.0.1", 5001), timeout=30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
f = open(sys.argv[1], "rb"); t0 = time.monotonic(); sent = 0
while True:
    b = f.read(1 << 20)
    if not b: break
    s.sendall(b); sent += len(b)
    ahead = sent / (16 << 20) - (time.monotonic() - t0)
    if ahead > 0: time.sleep(ahead)
s.close()' "$tmp/blob" 2>"$tmp/cli.err"
cli=${NS_PIDS##* }
spi0=$(ss_child_spi)
rekeys0=$(count_log 'event=rekey')
for step in child ike child; do
	sleep 3
	ss_swanctl "$ss" --rekey --$step t >/dev/null 2>&1 || fail "swanctl --rekey --$step"
done
wait "$cli" || fail "TCP sender failed (connection broken during the rekeys?): $(cat "$tmp/cli.err")"
wait "$srv" || fail "TCP receiver failed: $(cat "$tmp/srv.err")"
read -r got n <"$tmp/got" || fail "receiver wrote nothing"
[ "$n" = "$size" ] || fail "received $n of $size octets"
[ "$got" = "$want" ] || fail "SHA-256 of the 200 MB transfer differs"
spi1=$(ss_child_spi)
[ -n "$spi1" ] && [ "$spi1" != "$spi0" ] || fail "charon's Child SA SPI did not change ($spi0 -> $spi1)"
rekeys=$(($(count_log 'event=rekey') - rekeys0))
[ "$rekeys" -ge 3 ] || fail "our edge saw $rekeys rekeys (want 2 Child SA + 1 IKE SA)"
ss_sas "$ss" t | grep -q "ESTABLISHED" || fail "charon lost the IKE SA after the rekeys"
ping_both "after the rekeys"
ok "200 MB over TCP, SHA-256 matches, across 2 Child SA rekeys and 1 IKE SA rekey by charon (ours: $rekeys rekey events; charon SPI $spi0 -> $spi1)"
stop_edge
stop_charon

# ---- 2. PSK, x25519, charon initiates; our lifetimes rekey under a 20 ms ping ----
p2=aes128gcm16-prfsha256-x25519
# Our DPD off here, so that charon's own DPD (1 s) has to be answered by us once idle.
start_charon psk $p2 aes128gcm16-noesn "dpd_delay = 1s"
DPD_MODE=off edge_config "$tmp/edge.yaml" false $p2 aes128gcm16-noesn psk "    esp_lifetime: 10s
    ike_lifetime: 16s"
start_edge
sleep 0.5
ss_initiate "$ss" t 10 || fail "charon could not initiate: $(cat "$ss/initiate.out")"
both_up "scenario 2"
ok "PSK $p2: charon initiated, we responded"
ping_both "scenario 2"
spi0=$(ss_child_spi)
rekeys0=$(count_log 'event=rekey')
ns_exec e ping -c 900 -i 0.02 -W 1 -I 10.1.0.1 10.2.0.1 >"$tmp/ping2.out" 2>&1 || true
lost=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$tmp/ping2.out")
lost=$((900 - ${lost:-0}))
spi1=$(ss_child_spi)
rekeys=$(($(count_log 'event=rekey') - rekeys0))
[ "$rekeys" -ge 2 ] || fail "our lifetimes rekeyed $rekeys times in 18 s (Child SA 10 s, IKE SA 16 s)"
[ "$spi1" != "$spi0" ] || fail "charon's Child SA SPI did not change"
grep -q 'CREATE_CHILD_SA' "$ss/charon.log" || fail "charon's log shows no CREATE_CHILD_SA"
[ "$lost" -eq 0 ] || fail "$lost of 900 pings lost across our rekeys"
ok "our lifetimes rekeyed $rekeys times (charon SPI $spi0 -> $spi1): 0 of 900 pings lost"
sleep 3
grep -q "sending DPD request" "$ss/charon.log" || fail "charon sent no DPD request while idle"
ss_sas "$ss" t | grep -q "ESTABLISHED" || fail "charon dropped the SA: our DPD answers missing?"
[ "$(count_log 'event=tunnel_down')" -eq 0 ] || fail "our tunnel went down while charon probed it"
ok "charon's DPD requests (1 s, idle) answered; both sides stayed up"
stop_edge
stop_charon

# ---- 3. certificates, ChaCha20-Poly1305, we initiate; DPD both ways ----
p3=chacha20poly1305-prfsha256-x25519
start_charon cert $p3 chacha20poly1305-noesn
edge_config "$tmp/edge.yaml" true $p3 chacha20poly1305-noesn certificate
start_edge
both_up "scenario 3"
ss_sas "$ss" t | grep -q "site-a" || fail "charon does not show our identity"
grep -q "responder authenticated by certificate" "$tmp/edge.log" || fail "we did not authenticate charon by certificate"
ping_both "scenario 3"
ok "certificates (ECDSA P-256, RFC 7427) with $p3 both ways"
sleep 3
grep -q "parsed INFORMATIONAL request" "$ss/charon.log" || fail "charon saw none of our liveness checks"
[ "$(count_log 'event=tunnel_down')" -eq 0 ] || fail "our DPD (200/600 ms) took the tunnel down while charon was alive"
ok "our liveness checks (200/600 ms) answered by charon for 3 s while idle"
cpid=$(cat "$ss/charon.pid")
t0=$(now_ms)
kill -KILL "$cpid"
wait_log 'event=tunnel_down' 5000 || fail "our DPD did not notice charon's death"
detect=$(($(now_ms) - t0))
[ "$detect" -le 1500 ] || fail "charon's death noticed after $detect ms (DPD 200/600 ms)"
ok "charon killed: our DPD took the tunnel down in $detect ms"
stop_edge

# ---- 4. mismatched proposals: the error names what disagreed ----
start_charon psk aes256gcm16-prfsha384-ecp384 aes256gcm16-noesn
edge_config "$tmp/edge.yaml" true aes256gcm16-prfsha384-x25519 aes256gcm16-noesn psk
start_edge
wait_log 'NO_PROPOSAL_CHOSEN' 8000 || fail "we initiated a mismatch and logged no NO_PROPOSAL_CHOSEN"
line=$(grep -m1 'NO_PROPOSAL_CHOSEN' "$tmp/edge.log")
grep -q 'x25519' <<<"$line" || fail "our initiator's error does not name our group: $line"
ok "initiator side: ${line#*reason=}"
stop_edge
edge_config "$tmp/edge.yaml" false aes256gcm16-prfsha384-x25519 aes256gcm16-noesn psk
start_edge
sleep 0.5
ss_initiate "$ss" t 5 && fail "charon established an SA with a proposal we do not accept"
wait_log 'ecp384' 5000 || fail "our responder did not log what charon offered"
line=$(grep -m1 'ecp384' "$tmp/edge.log")
grep -q 'x25519' <<<"$line" || fail "our responder's error does not name what we require: $line"
grep -q 'NO_PROPOSAL_CHOSEN' "$ss/charon.log" || fail "charon did not receive NO_PROPOSAL_CHOSEN"
ok "responder side: ${line#*reason=}"
stop_edge
stop_charon
echo "$passed passed, 0 failed"
