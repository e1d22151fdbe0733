#!/usr/bin/env bash
# ctest-labels: lab;integration
# Third-party IPsec gateways (role: external) in the netns lab: topologies/external-gateway.yaml
# brought up by deploy/sdwan-lab, which runs strongSwan's charon (kernel-libipsec) for each
# external site, configured only from `sdwanctl export swanctl SITE` (docs/lab.md, export.md):
#
#   h-cloud-vpc 172.16.0.2 -- [cloud-vpc: charon, PSK, ECP-256] ==+== hub-east ==+== branch1 10.10.1.2
#                                                                  |      ||      |
#   h-partner 192.168.50.2 -- [partner: charon, certificates] ====+== hub-west ==+== branch2 10.10.2.2
#                                                                                  (dynamic, NAT)
#
# Checks, each against strongSwan's own view as well as ours:
#   1. every planned tunnel up; the hubs' tunnels to both gateways established with the pinned
#      proposals (ECP_256 / CURVE_25519), PSK for cloud-vpc and certificates for partner, and
#      the SPIs our hubs use are the ones charon installed
#   2. every external LAN host pings the spokes' and hubs' LAN hosts, each other (transit
#      through the hubs) and back; their ESP counters show the traffic went through the tunnels
#   3. checksum-verified TCP transfers external LAN host -> spoke LAN host
#   4. failover: cloud-vpc sends through hub-east (its newest Child SA, made so by a rekey);
#      hub-east's edge is killed; charon declares it dead after the exported DPD/retransmission
#      schedule and cloud-vpc's traffic to the spokes moves to hub-west (gap measured and
#      bounded); spokes reach cloud-vpc through hub-west; partner <-> branch2 (all hub-west)
#      is not disturbed
#   5. hub-east restarted: its tunnel to cloud-vpc comes back; `down` leaves nothing behind
set -euo pipefail
# shellcheck source=lib/lab.sh
. "${SDWAN_SOURCE_DIR:?}/tests/integration/lib/lab.sh"
lab_init ext /usr/lib/ipsec/charon /usr/sbin/swanctl
[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] || {
	echo "SKIP: strongSwan's kernel-libipsec plugin is not installed (deploy/install-deps.sh)"
	exit 0
}
LAB_FAIL_LOGS="$RUN/logs/*.log $RUN/gw/*/charon.log $tmp/*.txt"
topo=$src/topologies/external-gateway.yaml

# LAN hosts: the second address of each site's subnet
CLOUD=172.16.0.2 PARTNER=192.168.50.2 B1=10.10.1.2 B2=10.10.2.2 HE=10.0.0.2 HW=10.0.1.2

# sas SITE: charon's IKE SAs as JSON ([{name, state, dh-group, ..., children: [{name, state,
# spi-in, packets-out, ...}]}]), parsed from `swanctl --list-sas --raw`
sas() {
	L swanctl "$1" --list-sas --raw | python3 -c '
import json, re, sys
out = []
for line in sys.stdin:
    if not line.startswith("list-sa event "):
        continue
    toks = re.findall(r"[^\s{}=]+=\[[^\]]*\]|[^\s{}=]+=[^\s{}]*|[{}]|[^\s{}]+", line[14:])
    stack, name = [{"_": []}], None
    for t in toks:
        if t == "{":
            d = {"_name": name, "_": []}
            stack[-1]["_"].append(d)
            stack.append(d)
        elif t == "}":
            stack.pop()
        elif "=" in t:
            k, v = t.split("=", 1)
            stack[-1][k] = v.strip("[]")
        else:
            name = t
    # the event is one anonymous section holding one section per IKE SA, named by its
    # connection
    for ike in (sa for event in stack[0]["_"] for sa in event["_"]):
        kids = [c for sec in ike["_"] if sec["_name"] == "child-sas" for c in sec["_"]]
        sa = {k: v for k, v in ike.items() if k not in ("_", "_name")}
        sa["conn"] = ike["_name"]
        sa["children"] = [{k: v for k, v in c.items() if k != "_"} for c in kids]
        out.append(sa)
print(json.dumps(out))'
}
# conn_sa SITE CONN: the established IKE SA of connection CONN as JSON, or nothing
conn_sa() {
	sas "$1" | jq -c --arg c "$2" '[.[] | select(.conn == $c and .state == "ESTABLISHED")] | .[0] // empty'
}
# pkts_out SITE CONN: packets charon sent on CONN's installed Child SAs
pkts_out() {
	sas "$1" | jq --arg c "$2" '[.[] | select(.conn == $c) | .children[] |
		select(.state == "INSTALLED") | ."packets-out" | tonumber] | add // 0'
}
tname() { printf '%s\n' "$1" "$2" | sort | paste -sd:; } # plan name of the tunnel A-B
reach() { # reach FROM DST: a few pings come back
	L exec "$1" ping -q -c 3 -i 0.1 -W 1 "$2" >/dev/null ||
		L exec "$1" ping -q -c 5 -i 0.2 -W 1 "$2" >/dev/null
}
# tunnel_json SITE TUNNEL: our edge's view of one tunnel (sdwanctl edge show)
tunnel_json() {
	L ctl edge show "$1" --json | jq -c --arg t "$2" '.tunnels[] | select(.name == $t)'
}

# ---- 1. up, and both ends agree ------------------------------------------------------------
t0=$(now_ms)
out=$(L up "$topo" 2>&1) || fail "up failed:
$out"
grep -q "every planned tunnel is up" <<<"$out" || fail "up: $out"
grep -q "phase gateway: cloud-vpc" <<<"$out" && grep -q "phase gateway: partner" <<<"$out" ||
	fail "up ran no strongSwan for the external sites: $out"
ok "up: every planned tunnel up, external gateways included ($(($(now_ms) - t0)) ms)"

st=$(L status --json)
[ "$(jq -r .converged <<<"$st")" = true ] || fail "status: not converged: $st"
[ "$(jq -r '.running["cloud-vpc"] and .running.partner' <<<"$st")" = true ] ||
	fail "status: a gateway's charon is not running: $(jq -c .running <<<"$st")"
[ "$(jq -c '.gateways' <<<"$st")" = '{"cloud-vpc":{"connections":2,"connections_up":2},"partner":{"connections":1,"connections_up":1}}' ] ||
	fail "status: gateways: $(jq -c .gateways <<<"$st")"
for h in hub-east:4 hub-west:5; do
	up=$(jq -r --arg s "${h%:*}" '.controller.sites[] | select(.site == $s) | .tunnels_up' <<<"$st")
	[ "$up" = "${h#*:}" ] || fail "status: ${h%:*} has $up tunnels up, want ${h#*:}"
done
ok "status: hub-east 4/4 and hub-west 5/5 tunnels up, charon up for cloud-vpc (2/2) and partner (1/1)"

# charon's view: proposals as pinned, UDP-encapsulated tunnel-mode Child SAs with the plan's
# selectors, and the SPIs our hubs report (our out = its in).
check_gw() { # check_gw SITE HUB PRF DH LOCAL_TS
	local site=$1 hub=$2 prf=$3 dh=$4 lts=$5 sa tj spi
	sa=$(conn_sa "$site" "$hub")
	[ -n "$sa" ] || fail "$site: no established IKE SA with $hub: $(L swanctl "$site" --list-sas)"
	[ "$(jq -r '."encr-alg" + "-" + ."encr-keysize" + "/" + ."prf-alg" + "/" + ."dh-group"' <<<"$sa")" = \
		"AES_GCM_16-256/$prf/$dh" ] || fail "$site-$hub: IKE proposal: $sa"
	[ "$(jq -r '[.children[] | select(.state == "INSTALLED" and .mode == "TUNNEL" and
		.encap == "yes" and ."encr-alg" == "AES_GCM_16" and ."local-ts" == $l)] | length' \
		--arg l "$lts" <<<"$sa")" -ge 1 ] || fail "$site-$hub: Child SA: $sa"
	tj=$(tunnel_json "$hub" "$(tname "$site" "$hub")")
	[ "$(jq -r .ike_state <<<"$tj")" = established ] || fail "$hub: tunnel to $site: $tj"
	spi=$(jq -r '.child_sas[0].spi_out' <<<"$tj")
	[ "$(jq -r --arg s "$(printf '%08x' "$spi")" '[.children[] | select(."spi-in" == $s)] | length' <<<"$sa")" = 1 ] ||
		fail "$hub sends to $site on SPI $(printf '%08x' "$spi"), which charon did not install: $sa"
}
check_gw cloud-vpc hub-east PRF_HMAC_SHA2_256 ECP_256 172.16.0.0/16
check_gw cloud-vpc hub-west PRF_HMAC_SHA2_256 ECP_256 172.16.0.0/16
check_gw partner hub-west PRF_HMAC_SHA2_384 CURVE_25519 192.168.50.0/24
ok "charon: cloud-vpc's IKE SAs with hub-east and hub-west are AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256, partner's with hub-west AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519; Child SAs in UDP, SPIs match our hubs'"

glog=$RUN/gw
for h in hub-east hub-west; do
	grep -q "authentication of '$h' with pre-shared key successful" "$glog/cloud-vpc/charon.log" ||
		fail "cloud-vpc: no PSK authentication of $h in charon's log"
done
grep -q "authentication of 'hub-west' with ECDSA_WITH_SHA256_DER successful" "$glog/partner/charon.log" &&
	grep -q "authentication of 'partner' (myself) with ECDSA_WITH_SHA256_DER successful" "$glog/partner/charon.log" ||
	fail "partner: no certificate (ECDSA) authentication both ways in charon's log"
grep -q "pre-shared key" "$glog/partner/charon.log" && fail "partner authenticated with a PSK"
ok "authentication: cloud-vpc <-> hubs by PSK, partner <-> hub-west by ECDSA certificates from our CA"

# ---- 2. LAN to LAN through the hubs ----------------------------------------------------------
c0e=$(pkts_out cloud-vpc hub-east)
c0w=$(pkts_out cloud-vpc hub-west)
p0=$(pkts_out partner hub-west)
for d in $B1 $B2 $HE $HW $PARTNER; do reach cloud-vpc "$d" || fail "ping cloud-vpc -> $d"; done
for d in $B1 $B2 $HE $HW $CLOUD; do reach partner "$d" || fail "ping partner -> $d"; done
for s in branch1 branch2 hub-east hub-west; do
	for d in $CLOUD $PARTNER; do reach "$s" "$d" || fail "ping $s -> $d"; done
done
c1=$(($(pkts_out cloud-vpc hub-east) + $(pkts_out cloud-vpc hub-west) - c0e - c0w))
p1=$(($(pkts_out partner hub-west) - p0))
# Each gateway: 3 echo requests to each of its 5 destinations and 3 replies to each of the 5
# hosts that pinged it, all in ESP: at least 30 packets.
[ "$c1" -ge 30 ] || fail "cloud-vpc's charon sent only $c1 ESP packets for 30 pings' worth"
[ "$p1" -ge 30 ] || fail "partner's charon sent only $p1 ESP packets for 30 pings' worth"
ok "LAN hosts: cloud-vpc and partner <-> branch1, branch2 (NAT), hub LANs and each other, both ways ($c1 and $p1 ESP packets out of the gateways)"

# ---- 3. TCP, checksum-verified ---------------------------------------------------------------
head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/blob"
want=$(sha256sum <"$tmp/blob" | cut -d' ' -f1)
# xfer FROM TO_SITE TO_ADDR: send the blob over TCP; the receiver hashes what arrived
xfer() {
	local from=$1 to=$2 addr=$3 srv got
	rm -f "$tmp/got"
	"$lab" --name "$NAME" exec "$to" timeout 60 python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[2], 5001)); s.listen(1); c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
open(sys.argv[1], "w").write("%s %d\n" % (h.hexdigest(), n))' "$tmp/got" "$addr" 2>"$tmp/srv.txt" &
	srv=$!
	BG="$BG $srv"
	sleep 0.3
	L exec "$from" timeout 60 python3 -c '
import socket, sys, time
for i in range(30):
    try:
        s = socket.create_connection((sys.argv[2], 5001), timeout=30); break
    except OSError:
        time.sleep(0.1)
s.sendall(open(sys.argv[1], "rb").read()); s.close()' "$tmp/blob" "$addr" 2>"$tmp/cli.txt" ||
		fail "TCP $from -> $to: the sender failed"
	wait "$srv" || fail "TCP $from -> $to: the receiver failed"
	got=$(cat "$tmp/got")
	[ "$got" = "$want $((16 * 1024 * 1024))" ] || fail "TCP $from -> $to: received '$got', sent '$want 16777216'"
}
t0=$(now_ms)
xfer cloud-vpc branch2 $B2
t1=$(now_ms)
xfer partner branch1 $B1
t2=$(now_ms)
ok "TCP: 16 MiB cloud-vpc -> branch2 ($((t1 - t0)) ms) and partner -> branch1 ($((t2 - t1)) ms) arrived with matching SHA-256"

# ---- 4. failover of cloud-vpc from hub-east to hub-west --------------------------------------
# kernel-libipsec ignores the exported child priority: cloud-vpc sends on its newest Child SA
# for the shared selectors. Rekeying hub-east's makes it the newest, so hub-east carries it.
L swanctl cloud-vpc --rekey --child hub-east >/dev/null || fail "swanctl --rekey --child hub-east"
sleep 0.5
e0=$(pkts_out cloud-vpc hub-east)
w0=$(pkts_out cloud-vpc hub-west)
L exec cloud-vpc ping -q -c 20 -i 0.05 -W 1 $B1 >/dev/null || fail "ping cloud-vpc -> branch1 after the rekey"
e1=$(($(pkts_out cloud-vpc hub-east) - e0))
w1=$(($(pkts_out cloud-vpc hub-west) - w0))
[ "$e1" -ge 20 ] && [ "$w1" -eq 0 ] ||
	fail "before the fault cloud-vpc must send through hub-east: $e1 packets via hub-east, $w1 via hub-west"
ok "before the fault: cloud-vpc sends to branch1 through hub-east ($e1 ESP packets, none via hub-west)"

# Started without the L function, so that $! is ping itself (sdwan-lab exec execs it).
"$lab" --name "$NAME" exec cloud-vpc ping -D -i 0.05 -W 1 $B1 >"$tmp/ping-b1.txt" 2>&1 &
PING=$!
BG="$BG $PING"
# partner -> branch2 runs through hub-west both ways (branch2's primary hub): not disturbed.
"$lab" --name "$NAME" exec partner ping -D -i 0.1 -W 1 $B2 >"$tmp/ping-partner.txt" 2>&1 &
PPING=$!
BG="$BG $PPING"
sleep 1
kill_ms=$(now_ms)
L kill hub-east >/dev/null
# charon declares hub-east dead after dpd_delay (1 s) and the exported schedule (3 s).
dead_ms=""
while [ $(($(now_ms) - kill_ms)) -lt 20000 ]; do
	# (the cheapest query: this loop's period bounds the measurement's precision)
	if ! L swanctl cloud-vpc --list-sas --noblock --ike hub-east --raw | grep -q 'state=ESTABLISHED'; then
		dead_ms=$(now_ms)
		break
	fi
	sleep 0.1
done
[ -n "$dead_ms" ] || fail "charon still holds an IKE SA with hub-east 20 s after its edge died"
sleep 2
kill -INT "$PING" "$PPING" 2>/dev/null || true
wait "$PING" 2>/dev/null || true
wait "$PPING" 2>/dev/null || true
# gaps FILE MS: the largest gap (ms) between replies, and the replies after epoch time MS
gaps() {
	awk -F'[][]' -v k="$2" '/bytes from/ { t = $2 * 1000; if (p && t - p > m) m = t - p; p = t
		if (t > k) after++ } END { printf "%d %d\n", m, after }' "$1"
}
read -r gap after <<<"$(gaps "$tmp/ping-b1.txt" "$kill_ms")"
detect=$((dead_ms - kill_ms))
[ "$gap" -ge 1000 ] || fail "cloud-vpc -> branch1: no outage at all (${gap} ms) although hub-east carried the traffic"
[ "$gap" -le 10000 ] || fail "cloud-vpc -> branch1: ${gap} ms without replies (charon detected the death after $detect ms)"
[ "$after" -ge 20 ] || fail "cloud-vpc -> branch1: only $after replies after the kill: traffic did not move to hub-west"
read -r pgap _ <<<"$(gaps "$tmp/ping-partner.txt" "$kill_ms")"
[ "$pgap" -le 1000 ] || fail "partner -> branch2 (hub-west only) was disturbed: ${pgap} ms gap"
ok "kill hub-east: charon dropped it after $detect ms, cloud-vpc -> branch1 resumed through hub-west after a ${gap} ms gap ($after replies since); partner -> branch2 undisturbed (largest gap ${pgap} ms)"

w0=$(pkts_out cloud-vpc hub-west)
for d in $B1 $B2 $HW $PARTNER; do reach cloud-vpc "$d" || fail "ping cloud-vpc -> $d with hub-east down"; done
for s in branch1 branch2; do reach "$s" $CLOUD || fail "ping $s -> cloud-vpc with hub-east down"; done
w1=$(($(pkts_out cloud-vpc hub-west) - w0))
# 3 requests to each of 4 destinations and 3 replies to each of 2 spokes
[ "$w1" -ge 18 ] || fail "cloud-vpc sent only $w1 ESP packets through hub-west with hub-east down"
[ "$(sas cloud-vpc | jq '[.[] | select(.conn == "hub-east")] | length')" = 0 ] ||
	fail "cloud-vpc still lists hub-east: $(L swanctl cloud-vpc --list-sas)"
xfer cloud-vpc branch2 $B2
ok "hub-east down: cloud-vpc <-> branch1, branch2, hub-west, partner through hub-west ($w1 ESP packets), 16 MiB TCP intact"

# ---- 5. recovery and clean-up ----------------------------------------------------------------
L start hub-east >/dev/null
t0=$(now_ms)
L wait 60 >/dev/null || fail "hub-east restarted but the lab did not converge again"
[ -n "$(conn_sa cloud-vpc hub-east)" ] || fail "cloud-vpc has no IKE SA with hub-east after its restart"
check_gw cloud-vpc hub-east PRF_HMAC_SHA2_256 ECP_256 172.16.0.0/16
for d in $B1 $B2 $HE; do reach cloud-vpc "$d" || fail "ping cloud-vpc -> $d after recovery"; done
ok "hub-east restarted: its tunnel to cloud-vpc is back ($(($(now_ms) - t0)) ms) and carries traffic"

charons=$(cat "$RUN"/pids/gw-*)
L down >/dev/null || fail "down failed"
for p in $charons; do
	kill -0 "$p" 2>/dev/null && fail "charon $p is still running after down"
done
left=$(ip netns list | awk '{print $1}' | grep "^sdwl-$NAME-" || true)
[ -z "$left" ] || fail "namespaces left after down: $left"
left=$(grep -l -s -z "^STRONGSWAN_CONF=$RUN/" /proc/[0-9]*/environ || true)
[ -z "$left" ] || fail "processes of the lab's strongSwan left after down: $left"
[ ! -e "$RUN" ] || fail "$RUN left after down"
ok "down: no charon, namespace (ipsec0 went with them) or directory left"
echo "lab_external: $passed checks passed"
