#!/usr/bin/env bash
# ctest-labels: integration;interop;ike
# Our IKE engine (bin/ike-peer) against strongSwan's charon, certificates from our own WAN CA:
#
#   l [ike-peer, 192.0.2.1] ===== veth ===== [192.0.2.2, charon + kernel-libipsec | 10.2.0.1] r
#
# 1. we initiate, ECDSA P-256, both sides fragmenting (ours 400, charon's 500 octets): charon
#    must reassemble our SKF fragments and we theirs; both see the other's site certificate.
#    kernel-libipsec only does ESP in UDP, so charon always fakes NAT detection: we float to
#    4500 here too. It has no ESN either: our ESP proposal says noesn.
# 2. charon initiates with encap = yes (a fake NAT_DETECTION_SOURCE_IP): we answer on 4500 with
#    the non-ESP marker, Ed25519 keys.
# 3. RSA: we sign RSASSA-PSS, charon signs PKCS#1 v1.5 (its default).
# 4. charon's certificate from another WAN's CA: we refuse it and say so.
# 5. a real NAT: ike-peer in l2 (10.9.0.2) behind n, which masquerades to 198.51.100.1 on a
#    second link to r. We detect our NAT, float to 4500 and will send keepalives; charon sees
#    us behind the NAT.
#
#   l2 [10.9.0.2] --- [10.9.0.1 | n, masquerade | 198.51.100.1] --- [198.51.100.2 wan1] r
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/netns.sh"
bin=${SDWAN_BIN_DIR:?}
if ! command -v swanctl >/dev/null || [ ! -x /usr/lib/ipsec/charon ]; then
	echo "SKIP: strongSwan (charon, swanctl) not installed"
	exit 0
fi
ns_init
tmp=$(mktemp -d /tmp/sdwan-ikess.XXXXXX)
charon_pid=""
cleanup() {
	[ -n "$charon_pid" ] && kill "$charon_pid" 2>/dev/null || true
	ns_cleanup
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log "$tmp"/ss/charon.log; do [ -f "$f" ] && { echo "--- $f"; tail -40 "$f"; }; done >&2
	exit 1
}
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }

ns_add l
ns_add r
ns_link l r wan0 wan0
ns_exec l ip addr add 192.0.2.1/24 dev wan0
ns_exec r ip addr add 192.0.2.2/24 dev wan0
# charon (kernel-libipsec) routes the remote selectors from its own address in the local one.
ns_exec r ip link add lan0 type veth peer name lan1
ns_exec r ip addr add 10.2.0.1/24 dev lan0
ns_exec r ip link set lan0 up

ss=$tmp/ss
mkdir -p "$ss/run" "$ss/private" "$ss/x509" "$ss/x509ca"
cat >"$ss/strongswan.conf" <<CONF
charon {
	load = random nonce kdf openssl pem pkcs1 pkcs8 x509 pubkey constraints revocation curve25519 kernel-libipsec kernel-netlink socket-default vici
	fragment_size = 500
	plugins {
		vici { socket = unix://$ss/charon.vici }
		kernel-libipsec { load = yes }
	}
	filelog {
		log { path = $ss/charon.log
		      default = 1
		      ike = 2
		      time_format = %T
		      flush_line = yes }
	}
}
CONF

# charon in netns r with a private /run, as in the shared peers recipe.
ip netns exec "$NS-r" unshare -m --propagation private sh -c \
	"mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=$ss/strongswan.conf exec /usr/lib/ipsec/charon" \
	>"$tmp/charon.log" 2>&1 &
charon_pid=$!
for _ in $(seq 50); do [ -S "$ss/charon.vici" ] && break; sleep 0.1; done
[ -S "$ss/charon.vici" ] || fail "charon did not start"
vici() { swanctl "$@" --uri "unix://$ss/charon.vici"; }

# pki KEY_TYPE [CA_WAN_FOR_CHARON]: our CA and sites; charon gets site-b's key and certificate,
# and trusts our CA. With a second WAN, charon's certificate comes from that WAN's CA instead.
pki() {
	local kt=$1 other=${2:-}
	rm -rf "$tmp/pki" "$tmp/pki2"
	mkdir -p "$tmp/pki"
	"$bin/ike-peer" pki "$tmp/pki" acme site-a site-b --key-type "$kt" || fail "pki $kt"
	cp "$tmp/pki/site-b.key" "$ss/private/site-b.key"
	cp "$tmp/pki/site-b.pem" "$ss/x509/site-b.pem"
	rm -f "$ss/x509ca/"*.pem
	cp "$tmp/pki/ca.pem" "$ss/x509ca/ca.pem"
	if [ -n "$other" ]; then
		mkdir -p "$tmp/pki2"
		"$bin/ike-peer" pki "$tmp/pki2" "$other" site-b --key-type "$kt" || fail "pki2"
		cp "$tmp/pki2/site-b.key" "$ss/private/site-b.key"
		cp "$tmp/pki2/site-b.pem" "$ss/x509/site-b.pem"
	fi
}

# conn ENCAP [REMOTE]: load charon's connection site-b <-> site-a.
conn() {
	cat >"$ss/swanctl.conf" <<CONF
connections {
	site {
		version = 2
		local_addrs = 192.0.2.2
		remote_addrs = ${2:-192.0.2.1}
		encap = $1
		fragmentation = yes
		proposals = aes256gcm16-prfsha256-x25519
		local { auth = pubkey
			certs = site-b.pem
			id = site-b }
		remote { auth = pubkey
			id = site-a }
		children {
			site {
				local_ts = 10.2.0.0/24
				remote_ts = 10.1.0.0/24
				esp_proposals = aes256gcm16
				start_action = none
			}
		}
	}
}
secrets { private-b { file = site-b.key } }
CONF
	vici --terminate --ike site --force >/dev/null 2>&1 || true
	vici --unload-conn --name site >/dev/null 2>&1 || true
	vici --load-all --clear --file "$ss/swanctl.conf" >"$tmp/load.log" 2>&1 || fail "swanctl load"
}

peer() { ns_exec l "$bin/ike-peer" run --local 192.0.2.1 --remote 192.0.2.2 --id site-a \
	--remote-id site-b --dir "$tmp/pki" --local-ts 10.1.0.0/24 --remote-ts 10.2.0.0/24 \
	--esp aes256gcm16-noesn "$@"; }
json() { grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2 | tr -d '"'; }
ss_established() { vici --list-sas --raw 2>/dev/null | grep -q 'state=ESTABLISHED'; }

# 1. We initiate; both sides fragment.
pki ecdsa-p256
conn no
out=$(peer --initiate --fragment-size 400 2>"$tmp/peer1.log") || fail "1: not established: $out"
[ "$(echo "$out" | json cert_auth)" = true ] || fail "1: $out"
[ "$(echo "$out" | json peer_site)" = site-b ] || fail "1: peer site: $out"
[ "$(echo "$out" | json frag_tx)" -ge 2 ] || fail "1: we did not fragment: $out"
[ "$(echo "$out" | json reassembled)" -ge 1 ] || fail "1: charon's fragments not reassembled: $out"
ss_established || fail "1: charon has no established SA"
grep -q "received fragment #" "$ss/charon.log" || fail "1: charon saw no fragments from us"
# Our CERTREQ (SHA-1 of the CA's SubjectPublicKeyInfo) names the CA charon knows.
grep -q 'received cert request for "O=acme, CN=acme SD-WAN CA"' "$ss/charon.log" ||
	fail "1: charon did not recognise our CERTREQ"
ok "ECDSA P-256 certificates, IKE_AUTH fragmented both ways ($(echo "$out" | json frag_tx) fragments sent)"

# 2. charon initiates with encap = yes: we float to 4500 behind its fake NAT detection.
pki ed25519
conn yes
peer --timeout 20 >"$tmp/out2" 2>"$tmp/peer2.log" &
pid=$!
sleep 0.5
vici --initiate --child site --timeout 10 >"$tmp/init2.log" 2>&1 || fail "2: charon could not initiate"
wait "$pid" || fail "2: not established: $(cat "$tmp/out2")"
out=$(cat "$tmp/out2")
[ "$(echo "$out" | json natt)" = true ] || fail "2: no NAT-T: $out"
[ "$(echo "$out" | json nat_remote)" = true ] || fail "2: fake NAT detection not seen: $out"
[ "$(echo "$out" | json local_port)" = 4500 ] || fail "2: not on 4500: $out"
ss_established || fail "2: charon has no established SA"
grep -q "authentication of 'site-a' with ED25519 successful" "$ss/charon.log" ||
	fail "2: charon did not verify our Ed25519 signature"
ok "Ed25519 certificates, charon forces encapsulation, IKE on 4500 with the non-ESP marker"

# 3. RSA: RSASSA-PSS from us, PKCS#1 v1.5 from charon.
pki rsa
conn no
out=$(peer --initiate 2>"$tmp/peer3.log") || fail "3: not established: $out"
[ "$(echo "$out" | json cert_auth)" = true ] || fail "3: $out"
ss_established || fail "3: charon has no established SA"
grep -q "authentication of 'site-a' with RSA_EMSA_PSS" "$ss/charon.log" ||
	fail "3: charon did not verify an RSA-PSS signature from us"
ok "RSA certificates (RSA-PSS and PKCS#1 v1.5 signatures)"

# 4. charon presents a certificate of another WAN: refused with the reason.
pki ecdsa-p256 globex
conn no
if out=$(peer --initiate --timeout 10 2>"$tmp/peer4.log"); then
	fail "4: a foreign WAN's certificate was accepted: $out"
fi
grep -q "not by this WAN's CA" "$tmp/peer4.log" || fail "4: reason missing"
ok "a certificate of another WAN's CA is refused, naming both CAs"

# 5. Behind a real NAT.
ns_add l2
ns_add n
ns_link l2 n eth0 in0
ns_link n r out0 wan1
ns_exec l2 ip addr add 10.9.0.2/24 dev eth0
ns_exec l2 ip route add default via 10.9.0.1
ns_exec n ip addr add 10.9.0.1/24 dev in0
ns_exec n ip addr add 198.51.100.1/24 dev out0
ns_exec n ip route add 192.0.2.0/24 via 198.51.100.2
ns_exec n sysctl -qw net.ipv4.ip_forward=1
ns_exec n nft -f - <<NFT
table ip nat {
	chain post {
		type nat hook postrouting priority 100;
		oifname "out0" masquerade
	}
}
NFT
ns_exec r ip addr add 198.51.100.2/24 dev wan1
pki ecdsa-p384
conn no %any
out=$(ns_exec l2 "$bin/ike-peer" run --local 10.9.0.2 --remote 192.0.2.2 --id site-a \
	--remote-id site-b --dir "$tmp/pki" --local-ts 10.1.0.0/24 --remote-ts 10.2.0.0/24 \
	--esp aes256gcm16-noesn --initiate 2>"$tmp/peer5.log") || fail "5: not established: $out"
[ "$(echo "$out" | json nat_local)" = true ] || fail "5: our NAT not detected: $out"
[ "$(echo "$out" | json keepalives)" = true ] || fail "5: no keepalives planned: $out"
[ "$(echo "$out" | json local_port)" = 4500 ] || fail "5: not floated: $out"
ss_established || fail "5: charon has no established SA"
grep -q "remote host is behind NAT" "$ss/charon.log" || fail "5: charon did not see our NAT"
ok "behind a real NAT (nftables masquerade): detected, floated to 4500, keepalives planned"

echo "passed $passed"
