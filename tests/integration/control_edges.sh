#!/usr/bin/env bash
# ctest-labels: integration;control
# The control plane with real processes: one sdwan-controller and two real sdwan-edge daemons
# (managed mode) in network namespaces on one underlay bridge:
#
#   c   sdwan-controller   192.0.2.100 (tcp :7800 control, :7801 enrollment)
#   a   sdwan-edge site-a  192.0.2.1   LAN 10.1.0.1/24 (on lo)
#   b   sdwan-edge site-b  192.0.2.2   LAN 10.2.0.1/24 (on lo)
#
# Covers: zero-touch enrollment with tokens from `sdwanctl token create` (certificate auth, the
# controller as CA); configuration pushed, applied and acked; the planned tunnel up and carrying
# traffic; status and edge show fed by health reports; kill -9 of the controller (the data plane
# keeps working, the edges reconnect to the restarted controller without enrolling again); an
# edge restarted from its state directory alone; a token used twice is refused.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
bin=${SDWAN_BIN_DIR:?}
. "$src/tests/integration/lib/netns.sh"
ns_init
tmp=$(mktemp -d /tmp/sdwan-ctl-edges.XXXXXX)
cleanup() {
	ns_cleanup
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do
		echo "--- $f (tail)"
		tail -25 "$f"
	done >&2
	exit 1
}
passed=0
ok() {
	passed=$((passed + 1))
	echo "ok $passed - $*"
}
admin=$tmp/admin.sock
ctl() { "$bin/sdwanctl" --admin "$admin" "$@"; }
site() { ctl status --json | jq -r ".sites[] | select(.site == \"$1\") | .$2"; }
# until SECONDS CMD...: retry CMD every 0.2 s
until_ok() {
	local n=$(($1 * 5))
	shift
	for _ in $(seq "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
converged() { # every site connected, config applied, its tunnel up
	local s
	for s in site-a site-b; do
		[ "$(site $s connected)" = true ] || return 1
		[ "$(site $s generation_applied)" = "$(site $s generation)" ] || return 1
		[ "$(site $s tunnels_up)" = 1 ] || return 1
	done
}

ns_add w
ns_exec w ip link add br0 type bridge
ns_exec w ip link set br0 up
for n in c a b; do
	ns_add $n
	ip link add wan0 netns "$NS-$n" type veth peer name "port-$n" netns "$NS-w"
	ns_exec w ip link set dev "port-$n" master br0
	ns_exec w ip link set dev "port-$n" up
	ns_exec $n ip link set wan0 up
done
ns_exec c ip addr add 192.0.2.100/24 dev wan0
ns_exec a ip addr add 192.0.2.1/24 dev wan0
ns_exec b ip addr add 192.0.2.2/24 dev wan0
ns_exec a ip addr add 10.1.0.1/24 dev lo
ns_exec b ip addr add 10.2.0.1/24 dev lo

cat >"$tmp/wan.yaml" <<EOF
wan: ctltest
controller:
  endpoint: tcp://192.0.2.100:7800
type: full-mesh
defaults:
  ike: aes128gcm16-prfsha256-x25519
  esp: aes128gcm16
  dpd: {interval: 200ms, timeout: 600ms, mode: on-idle}
  auth: certificate
sites:
  - name: site-a
    role: peer
    underlay: [{name: inet, address: 192.0.2.1}]
    subnets: [10.1.0.0/24]
  - name: site-b
    role: peer
    underlay: [{name: inet, address: 192.0.2.2}]
    subnets: [10.2.0.0/24]
EOF
start_controller() {
	ns_bg c "$bin/sdwan-controller" --topology "$tmp/wan.yaml" --state "$tmp/ctl" \
		--admin "$admin" --health-interval 500 >>"$tmp/controller.log" 2>&1
	ctl_pid=${NS_PIDS##* }
	until_ok 10 ctl status || fail "controller admin socket never answered"
}
start_edge() { # start_edge SITE [enrollment options...]
	local s=$1
	shift
	ns_bg "${s#site-}" "$bin/sdwan-edge" --state "$tmp/$s" --tun "sdw${s#site-}" "$@" \
		>>"$tmp/$s.log" 2>&1
	eval "pid_${s#site-}=\${NS_PIDS##* }"
}

start_controller
ok "controller up; sdwanctl status answers"

# 1. Zero-touch enrollment: a token and the endpoint, nothing else.
for s in site-a site-b; do
	tok=$(ctl token create $s --json | jq -r .token)
	[ -n "$tok" ] && [ "$tok" != null ] || fail "no token for $s"
	echo "$tok" >"$tmp/$s.token"
	start_edge $s --controller tcp://192.0.2.100:7800 --token "$tok"
done
until_ok 30 converged || fail "edges did not converge: $(ctl status)"
ok "both edges enrolled, applied their configuration and brought the planned tunnel up"
for s in site-a site-b; do
	[ "$(stat -c %a "$tmp/$s/ike.key")" = 600 ] || fail "$s: ike.key not 0600"
	openssl verify -CAfile "$tmp/$s/ca.pem" "$tmp/$s/cert.pem" >/dev/null ||
		fail "$s: certificate does not chain to the WAN CA"
done
ok "each edge holds its own 0600 key and a certificate from the controller's CA"

ns_exec a ping -c 3 -i 0.1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping a -> b"
ns_exec b ping -c 3 -i 0.1 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping b -> a"
ok "site-a and site-b reach each other through the tunnel"

# 2. Health: edge show has the SA, counters and RTT within a few seconds.
health_ok() {
	ctl edge show site-a --json | jq -e '.tunnels[0].ike_state == "established" and
		(.tunnels[0].child_sas | length) >= 1 and .tunnels[0].packets_in > 0 and
		.tunnels[0].rtt_us > 0' >/dev/null
}
until_ok 10 health_ok || fail "edge show: $(ctl edge show site-a --json)"
ctl events --site site-a | grep -q tunnel-up || fail "no tunnel-up event at the controller: $(ctl events --site site-a)"
ok "edge show: established, Child SA, counters and RTT; tunnel-up event at the controller"

# 3. A used token is refused and stores nothing.
rm -rf "$tmp/site-x"
if ns_exec a timeout 20 "$bin/sdwan-edge" --state "$tmp/site-x" --tun sdwx \
	--controller tcp://192.0.2.100:7800 --token "$(cat "$tmp/site-a.token")" >"$tmp/reuse.out" 2>&1; then
	fail "an edge enrolled with a used token"
fi
[ ! -e "$tmp/site-x/cert.pem" ] || fail "a refused enrollment left a certificate"
ok "a used token is refused: $(grep -m1 -io 'refused[^"]*' "$tmp/reuse.out" || tail -1 "$tmp/reuse.out")"

# 4. kill -9 of the controller: traffic goes on; the restarted controller gets the same edges
# back without a new enrollment.
enrolls=$(grep -c 'edge enrolled' "$tmp/controller.log")
kill -KILL "$ctl_pid"
wait "$ctl_pid" 2>/dev/null || true
ns_exec a ping -c 5 -i 0.1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "data plane stopped with the controller"
ok "controller killed (-9): the tunnel keeps carrying traffic"
start_controller
until_ok 30 converged || fail "edges did not come back after the controller restart: $(ctl status)"
[ "$(grep -c 'edge enrolled' "$tmp/controller.log")" = "$enrolls" ] ||
	fail "an edge enrolled again after the controller restart"
ok "controller restarted from its state: both edges reconnected, nothing re-enrolled"

# 5. An edge restarted from its state directory alone.
kill -TERM "$pid_a"
wait "$pid_a" 2>/dev/null || true
until_ok 10 test "$(site site-a connected)" = false || fail "controller still shows site-a connected"
start_edge site-a
until_ok 30 converged || fail "site-a did not come back from --state alone: $(ctl status)"
ns_exec a ping -c 3 -i 0.1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping after edge restart"
ok "site-a restarted with --state DIR alone: reconnected, tunnel up, traffic flows"
echo "$passed passed, 0 failed"
