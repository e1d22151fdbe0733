#!/usr/bin/env bash
# IKEv2 handshake rate: our responder and strongSwan's charon, driven by the same initiator.
#
#   tests/bench/ike/run.sh [SECONDS] [CONCURRENCY]        (root; build first: make)
#
#   ns ini  10.77.0.1 ──veth── 10.77.0.2  ns resp   (bench-ike respond, then charon)
#
# One full handshake = IKE_SA_INIT + IKE_AUTH (ECDSA P-256 certificates from one CA, RFC 7427
# signatures, x25519, AES-128-GCM) + the first Child SA; the initiator deletes each IKE SA once
# it is up, so both responders also run one INFORMATIONAL Delete per handshake (it keeps one
# anchor SA up, so the concurrent handshakes send no INITIAL_CONTACT). charon runs with
# kernel-libipsec (this kernel has no ESP), its DoS thresholds lifted and logging off, 16
# threads (its default); bench-ike is single-threaded. Printed: handshakes per second, and
# responder CPU milliseconds per handshake (from /proc or getrusage), which is the per-core
# figure: 1000 / cpu_ms = handshakes per core-second. Last line:
#   ratio_vs_strongswan=X.XX (rate) cpu_ratio_vs_strongswan=Y.YY (charon CPU / ours per handshake)
set -euo pipefail
SECS=${1:-10}
CONC=${2:-32}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${SDWAN_BIN_DIR:-$ROOT/build/bin}
. "$ROOT/tests/integration/lib/netns.sh"
. "$ROOT/tests/integration/lib/strongswan.sh"
ns_init
ss_require
WORK=$(mktemp -d /tmp/bench-ike.XXXXXX)
trap 'ns_cleanup; rm -rf "$WORK"' EXIT

ns_add ini
ns_add resp
ns_link ini resp vi vr
ns_exec ini ip addr add 10.77.0.1/24 dev vi
ns_exec resp ip addr add 10.77.0.2/24 dev vr

"$BIN/ike-peer" pki "$WORK/pki" bench bench-i bench-r >/dev/null 2>&1 || {
	mkdir -p "$WORK/pki"
	"$BIN/ike-peer" pki "$WORK/pki" bench bench-i bench-r >/dev/null 2>&1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

drive() {
	ns_exec ini "$BIN/bench-ike" initiate --local 10.77.0.1 --remote 10.77.0.2 \
		--dir "$WORK/pki" --seconds "$SECS" --concurrency "$CONC"
}

echo "== ours: bench-ike respond"
# ip netns exec execs the program, so $! is bench-ike itself and SIGTERM reaches it.
ip netns exec "$NS-resp" "$BIN/bench-ike" respond --local 10.77.0.2 --dir "$WORK/pki" \
	>"$WORK/resp.out" 2>"$WORK/resp.err" &
RPID=$!
NS_PIDS="$NS_PIDS $RPID"
sleep 0.5
OURS=$(drive)
kill "$RPID"
wait "$RPID" || true
echo "initiator: $OURS"
echo "responder: $(cat "$WORK/resp.out")"
our_rate=$(sed -n 's/.* rate=\([0-9.]*\)\/s.*/\1/p' <<<"$OURS")
our_cpu=$(sed -n 's/.*cpu_ms_per_handshake=\([0-9.]*\).*/\1/p' "$WORK/resp.out")

echo "== strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo '?'): charon"
SS=$WORK/ss
ss_init "$SS"
cat >"$SS/strongswan.conf" <<CONF
charon {
	load = $(echo $SS_PLUGINS)
	install_routes = no
	# Measure the handshake, not the DoS defences: one source sends every request.
	block_threshold = 1000000
	cookie_threshold = 1000000
	init_limit_half_open = 0
	ikesa_table_size = 4096
	plugins {
		vici {
			socket = unix://$SS/charon.vici
		}
	}
	filelog {
		bench {
			path = $SS/charon.log
			default = -1
		}
	}
}
CONF
cp "$WORK/pki/ca.pem" "$SS/x509ca/ca.pem"
cp "$WORK/pki/bench-r.pem" "$SS/x509/bench-r.pem"
cp "$WORK/pki/bench-r.key" "$SS/private/bench-r.key"
ss_conn_cert "$SS" bench 10.77.0.2 %any bench-r bench-i 10.2.0.0/24 10.1.0.0/24 \
	aes128gcm16-prfsha256-x25519 aes128gcm16 bench-r.pem bench-r.key "unique = never"
ss_start resp "$SS"
ss_load "$SS"
CPID=$(cat "$SS/charon.pid")
t0=$(cpu_ticks "$CPID")
THEIRS=$(drive)
t1=$(cpu_ticks "$CPID")
echo "charon pid $CPID: $((t1 - t0)) CPU ticks during the run" >&2
hz=$(getconf CLK_TCK)
ss_rate=$(sed -n 's/.* rate=\([0-9.]*\)\/s.*/\1/p' <<<"$THEIRS")
ss_done=$(sed -n 's/.* handshakes=\([0-9]*\) .*/\1/p' <<<"$THEIRS")
echo "initiator: $THEIRS"
ss_cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$ss_done" \
	'BEGIN { if (n > 0) printf "%.3f", t * 1000 / hz / n; else print "0" }')
echo "responder: charon cpu_ms_per_handshake=$ss_cpu"

awk -v o="$our_rate" -v s="$ss_rate" -v oc="$our_cpu" -v sc="$ss_cpu" 'BEGIN {
	# Parenthesised: a bare ">" in a printf argument list is awk output redirection.
	printf "ours: %.0f handshakes/s, %.3f ms CPU each (%.0f per core-second)\n", o, oc, (oc > 0 ? 1000 / oc : 0)
	printf "strongswan: %.0f handshakes/s, %.3f ms CPU each (%.0f per core-second)\n", s, sc, (sc > 0 ? 1000 / sc : 0)
	printf "ratio_vs_strongswan=%.2f cpu_ratio_vs_strongswan=%.2f\n", (s > 0 ? o / s : 0), (oc > 0 ? sc / oc : 0)
}'
