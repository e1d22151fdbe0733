#!/usr/bin/env bash
# Load a swanctl configuration folder into a real charon, alone in a fresh network namespace,
# and print the names of the connections it accepted (swanctl --list-conns), one per line.
# Usage: swanctl_load.sh DIR    (DIR holds swanctl.conf, x509ca/, x509/, private/)
# Exit 0 when charon started and swanctl --load-all succeeded; 77 when strongSwan is missing.
set -euo pipefail
dir=$(realpath "$1")
charon=/usr/lib/ipsec/charon
command -v swanctl >/dev/null && [ -x "$charon" ] || exit 77
# One charon at a time: two starting together on one host disturb each other.
exec 9>/tmp/sdwan-charon-test.lock
flock -w 60 9
ns=sdwexp$$
run=$(mktemp -d /tmp/sdwan-charon.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
# A charon of our own: its own vici socket, pid file and plugins, so it never meets the
# host's strongSwan (kernel-libipsec: this kernel may have no XFRM; nothing is installed
# anyway since no tunnel is brought up).
cat >"$run/strongswan.conf" <<CONF
charon {
	piddir = $run
	load_modular = no
	load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints curve25519 kernel-libipsec kernel-netlink socket-default vici
	port = 0
	port_nat_t = 0
	plugins {
		vici {
			socket = unix://$run/charon.vici
		}
	}
	filelog {
		log {
			path = $run/charon.log
			default = 1
		}
	}
}
swanctl {
	load = pem pkcs1 pkcs8 x509 pubkey openssl random
}
CONF
export STRONGSWAN_CONF=$run/strongswan.conf
ip netns exec "$ns" "$charon" >"$run/charon.out" 2>&1 &
pid=$!
for _ in $(seq 50); do
	[ -S "$run/charon.vici" ] && break
	sleep 0.1
done
[ -S "$run/charon.vici" ] || { cat "$run/charon.out" "$run/charon.log" >&2 2>/dev/null; exit 1; }
uri=unix://$run/charon.vici
export SWANCTL_DIR=$dir
if ! swanctl --load-all --noprompt --uri "$uri" --file "$dir/swanctl.conf" >"$run/load.out" 2>&1; then
	cat "$run/load.out" >&2
	exit 1
fi
swanctl --list-conns --uri "$uri" | sed -n 's/^\([a-z0-9-]*\): IKEv2.*/\1/p'
