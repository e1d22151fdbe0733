#!/usr/bin/env bash
# ctest-labels: integration;lab
# docs/operations.md against the real programs, on topologies/hub-spoke.yaml in the netns lab
# (deploy/sdwan-lab): every sdwanctl command the page shows runs as written and does what the
# page says, and each troubleshooting symptom shows where the page says it shows. The commands
# are also read from the page itself: one it shows without a check here fails the test.
#
#   offline: validate, plan (tunnel mtu 1438 and MSS for an underlay mtu of 1500)
#   status, edge show, events --follow, token create (the printed command enrolls an edge, into
#   the state folder of the installed edge unit), refused enrollments (expired, used), rekey,
#   rotate-keys, re-enroll, apply --dry-run and apply, revoke (`?/N`, tunnels torn down),
#   removing a site (its tunnels torn down); symptoms: a tunnel that cannot come up (IKE column
#   connecting/down, 1/2 and failover), a source outside `subnets` (policy drops on the receiving
#   tunnel), an underlay that carries less than the topology's mtu (big pings lost, small pass).
# About 50 s.
set -euo pipefail
# shellcheck source=lib/lab.sh
. "${SDWAN_SOURCE_DIR:?}/tests/integration/lib/lab.sh"
lab_init dop ip nft jq python3 ping timeout
doc=$src/docs/operations.md
unit=$src/deploy/systemd/sdwan-edge.service
bin=$SDWAN_BIN_DIR
ep=tcp://203.0.113.10:7800 # hub-spoke.yaml's controller.endpoint
status_of() { L ctl status --json | jq -r --arg s "$1" ".sites[] | select(.site == \$s) | .$2"; }
tunnel_of() { show "$1" | jq -r --arg t "$2" ".tunnels[] | select(.name == \$t) | .$3"; }
is() { [ "$(status_of "$1" "$2")" = "$3" ]; } # SITE FIELD VALUE, from `status --json`
until_ok() { # SECONDS CMD...: until CMD succeeds, polling every 0.2 s (CMD is run each time)
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# --- The page's commands: every `sdwanctl WORD` it shows is one checked below.
checked=" validate plan status edge events token apply rotate-keys re-enroll revoke rekey "
elsewhere=" export backup " # export swanctl: lab_external.sh; backup and restore: control_plane.sh
words=$(grep -oE '(^    |`)sdwanctl [a-z-]+' "$doc" | awk '{ print $2 }' | sort -u)
[ -n "$words" ] || fail "no sdwanctl commands found in $doc"
for w in $words; do
	case "$checked$elsewhere" in *" $w "*) ;; *) fail "docs/operations.md shows 'sdwanctl $w', which nothing checks" ;; esac
done
ok "every sdwanctl command of the page is checked ($(echo "$words" | wc -w) commands)"

# --- Offline: validate and plan a topology file, as in the quick start.
cp "$src/topologies/hub-spoke.yaml" "$tmp/wan.yaml"
"$bin/sdwanctl" validate "$tmp/wan.yaml" >/dev/null || fail "validate wan.yaml"
"$bin/sdwanctl" plan "$tmp/wan.yaml" >"$tmp/plan.txt" || fail "plan wan.yaml"
grep -E '^  branch1:hub-east +spoke-hub .* 192\.0\.2\.1 +1438 +1398/1378 ' "$tmp/plan.txt" >/dev/null ||
	fail "plan shows peer address, tunnel mtu 1438 and MSS 1398/1378: $(grep branch1 "$tmp/plan.txt")"
ok "validate, plan: peer addresses, tunnel mtu and MSS as the page says"

L up "$tmp/wan.yaml" >"$tmp/up.txt" 2>&1 || fail "lab up: $(cat "$tmp/up.txt")"

# --- Reading status.
L ctl status >"$tmp/status.txt"
grep -qE '^SITE +ROLE +STATE +LAST SEEN +CONFIG +APPLIED +TUNNELS +ACTIVE HUB$' "$tmp/status.txt" ||
	fail "status header: $(cat "$tmp/status.txt")"
grep -qE '^branch1 +spoke +up +[0-9]+s ago +1 +1 +2/2 +hub-east$' "$tmp/status.txt" ||
	fail "status line of branch1: $(cat "$tmp/status.txt")"
L ctl status --json | jq -e 'all(.sites[]; has("generation") and has("generation_applied")
	and has("nack_reason") and .tunnels_up == .tunnels_total)' >/dev/null || fail "status --json fields"
L ctl edge show branch1 >"$tmp/show.txt"
grep -qE '^  TUNNEL +IKE +ACTIVE +PKTS IN +PKTS OUT +BYTES IN +BYTES OUT +DROPS +RTT\(us\)$' \
	"$tmp/show.txt" || fail "edge show header: $(cat "$tmp/show.txt")"
grep -qE '^  branch1:hub-east +established +yes ' "$tmp/show.txt" || fail "edge show: IKE, ACTIVE"
show branch1 | jq -e '.tunnels[0] | has("packets_in") and has("packets_out") and
	(.drops_by_reason | has("policy") and has("no_route") and has("no_sa") and has("unreachable")
	 and has("loop") and has("mtu") and has("replay") and has("icv"))' >/dev/null ||
	fail "edge show --json: packets_in/out and the drop reasons the page names"
ok "status and edge show print what the page describes"

# --- Enrolling a branch: the printed command, into the edge unit's state folder.
state=/var/lib/$(sed -n 's/^StateDirectory=//p' "$unit")
out=$(L ctl token create branch3 --ttl 24h) || fail "token create"
cmd=$(grep -E '^  sdwan-edge ' <<<"$out" | sed 's/^  //') || fail "no edge command: $out"
tok=$(sed -n 's/.*--token \([^ ]*\).*/\1/p' <<<"$cmd")
[ "$cmd" = "sdwan-edge --controller $ep --token $tok --state $state" ] ||
	fail "token create prints '$cmd', not the enrollment into $state (the edge unit's folder)"
L ctl token create nosuch >/dev/null 2>"$tmp/err" && fail "token for a site not in the topology"
grep -q "not in the topology" "$tmp/err" || fail "token create nosuch: $(cat "$tmp/err")"
# Run the printed command (state in $tmp instead of the host's $state) in place of the lab's
# branch3 edge: the site comes up with its new identity.
L kill branch3 >/dev/null
id=$(last_id)
read -r -a argv <<<"${cmd% --state *}"
L edge branch3 "$bin/${argv[0]}" "${argv[@]:1}" --state "$tmp/b3" >"$tmp/b3.txt" 2>&1 &
BG="$BG $!"
echo $! >"$RUN/pids/edge-branch3" # sdwan-lab and ip netns exec exec it: $! is the edge
wait_event branch3 enrolled "$id" 20 || fail "the printed command did not enroll branch3"
up3() { [ "$(status_of branch3 connected)/$(status_of branch3 tunnels_up)" = true/2 ]; }
until_ok 20 up3 || fail "branch3's tunnels with its new identity"
grep -q 'agent: enrolled' "$tmp/b3.txt" || fail "edge log: no 'agent: enrolled'"
ok "token create prints the command that enrolls the edge, into $state"

# Refused enrollments: the reason on the edge, exit 1, nothing stored.
refused() { # TOKEN REASON
	set +e
	L edge branch3 timeout 20 "$bin/sdwan-edge" --controller "$ep" --token "$1" \
		--state "$tmp/refused" --tun dop9 >"$tmp/refused.txt" 2>&1
	local rc=$?
	set -e
	[ "$rc" -eq 1 ] || fail "refused enrollment ($2) exits $rc, not 1: $(cat "$tmp/refused.txt")"
	grep -q "agent: giving up.*enrollment refused.*$2" "$tmp/refused.txt" ||
		fail "no '$2' reason on the edge: $(cat "$tmp/refused.txt")"
	[ -z "$(ls -A "$tmp/refused" 2>/dev/null)" ] || fail "refused enrollment ($2) stored files"
}
refused "$tok" "token used"
old=$(L ctl token create branch3 --ttl 1s --json | jq -r .token)
sleep 1.2
refused "$old" "token expired"
grep -q 'enrollment refused.*token expired' "$RUN/logs/controller.log" ||
	fail "controller log: no refused enrollment"
ok "refused enrollments: token used, token expired (exit 1, reason named, nothing stored)"

# --- events --follow, rekey, rotate-keys, re-enroll.
L ctl events --follow --site branch1 >"$tmp/follow.txt" 2>&1 &
follower=$!
BG="$BG $follower"
spi=$(show branch1 | jq '.tunnels[] | select(.name == "branch1:hub-west") | .child_sas[0].spi_in')
id=$(last_id)
[[ $(L ctl rekey branch1 branch1:hub-west) == *"rekey requested"* ]] || fail "rekey"
wait_event branch1 rekey "$id" 10 || fail "no rekey event"
until_ok 5 grep -qE ' branch1 +rekey +branch1:hub-west ' "$tmp/follow.txt" ||
	fail "events --follow did not print the rekey: $(cat "$tmp/follow.txt")"
new=$(since "$id" branch1 rekey | jq -r '.[0].detail' | sed -n 's/.*spi_in=\([0-9a-f]*\).*/\1/p')
[[ -n $new && $new != "$(printf %08x "$spi")" ]] || fail "rekey: no new SPI ($new)"
has_sa() { [[ $(L ctl edge show branch1) == *"SA spi in $new "* ]]; }
until_ok 5 has_sa || fail "edge show: no SA with the new SPI $new"
kill "$follower"
id=$(last_id)
[[ $(L ctl rotate-keys branch2) == *"key rotation requested"* ]] || fail "rotate-keys"
wait_event branch2 cert-renewed "$id" 10 || fail "rotate-keys: no cert-renewed event"
[[ $(L ctl re-enroll branch2) == *"re-enrollment requested"* ]] || fail "re-enroll"
wait_event branch2 enrolled "$id" 10 || fail "re-enroll: the edge did not enroll again by itself"
L wait 30 >/dev/null || fail "tunnels after rotate-keys and re-enroll"
ok "events --follow, rekey (new SPI), rotate-keys (cert-renewed), re-enroll (no token on the box)"

# --- Changing the WAN: apply --dry-run changes nothing, apply loads it.
sed 's/hubs: \[hub-west, hub-east\]/hubs: [hub-east, hub-west]/' "$tmp/wan.yaml" >"$tmp/new.yaml"
gen=$(status_of branch2 generation)
out=$(L ctl apply "$tmp/new.yaml" --dry-run) || fail "apply --dry-run: $out"
grep -q '^dry run: nothing loaded' <<<"$out" || fail "dry run says: $out"
grep -qE '^  branch2 +update ' <<<"$out" || fail "dry run diff: $out"
[ "$(status_of branch2 generation)" = "$gen" ] || fail "dry run changed branch2's generation"
out=$(L ctl apply "$tmp/new.yaml") || fail "apply: $out"
# Only branch2's configuration changes (hubs do not carry a spoke's hub preference).
grep -q '^applied: 1 site gets a new configuration' <<<"$out" || fail "apply says: $out"
[ "$(status_of branch2 generation)" -gt "$gen" ] || fail "apply: no new generation for branch2"
applied() { [ "$(status_of branch2 generation_applied)" = "$(status_of branch2 generation)" ]; }
until_ok 10 applied || fail "apply: branch2 did not ack its new configuration"
L wait 30 >/dev/null || fail "tunnels after apply"
ok "apply --dry-run (nothing loaded), apply (branch2 only, acked)"

# --- A tunnel never comes up: IKE column connecting/down, 1/2, failover to the other hub.
id=$(last_id)
L path branch1 hub-east down >/dev/null
wait_event branch1 failover "$id" 10 || fail "no failover event on a cut path"
# status follows with the next health report (every 2 s)
until_ok 5 is branch1 active_hub hub-west ||
	fail "status: no failover on a cut path: $(L ctl status; L ctl edge show branch1)"
for _ in 1 2 3 4 5; do
	st=$(tunnel_of branch1 branch1:hub-east ike_state)
	case $st in connecting | down) ;; *) fail "cut tunnel's IKE state is '$st'" ;; esac
	sleep 0.5
done
out=$(L ctl status)
grep -qE '^branch1 +spoke +up .* 1/2 +hub-west$' <<<"$out" || fail "status: 1/2 hub-west: $out"
[ "$(since "$id" branch1 tunnel-down | jq length)" -ge 1 ] || fail "events: no tunnel-down"
[ "$(since "$id" branch1 failover | jq length)" -ge 1 ] || fail "events: no failover"
L path branch1 hub-east up >/dev/null
L wait 30 >/dev/null || fail "cut tunnel did not come back"
wait_event branch1 tunnel-up "$id" 5 || fail "events: no tunnel-up after the path came back"
ok "a tunnel that cannot come up: IKE connecting/down, 1/2, tunnel-down and failover events"

# --- Up but no traffic: a LAN source outside `subnets` counts as policy drops on the receiver.
L exec branch1 ip addr add 10.99.0.2/32 dev eth0
L exec branch1 ping -I 10.99.0.2 -c 3 -i 0.2 -W 1 10.10.2.2 >/dev/null && fail "foreign source passed"
policy() {
	local n=0 h v
	for h in hub-east hub-west; do
		v=$(tunnel_of "$h" "branch1:$h" drops_by_reason.policy)
		n=$((n + v))
	done
	[ "$n" -ge 3 ]
}
until_ok 5 policy || fail "no policy drops on the hubs' tunnels from branch1"
out=$(L ctl edge show hub-east; L ctl edge show hub-west)
grep -qE '^ +drops: .*policy [0-9]+' <<<"$out" || fail "edge show: no 'drops: policy N' line"
ok "a source outside subnets: policy drops on the receiving tunnel, in the drops: line"

# --- Big transfers hang: the underlay carries less than the site's mtu.
L exec branch1 ping -M 'do' -s 1410 -c 1 -W 2 10.10.2.2 >/dev/null || fail "1410-byte ping (mtu 1438)"
L exec branch1 ping -M 'do' -s 1411 -c 1 -W 2 10.10.2.2 >"$tmp/big.txt" 2>&1 &&
	fail "1411 bytes passed a 1438 tunnel"
grep -qE 'mtu ?= ?1438' "$tmp/big.txt" || fail "no fragmentation needed, mtu 1438: $(cat "$tmp/big.txt")"
idx=$(awk -F'\t' '$2 == "branch2" { print $1 }' "$RUN/sites.tsv")
ip -n "sdwl-$NAME-inet" link set "s$idx.0" mtu 1400
L exec branch1 ping -M 'do' -s 1410 -c 2 -i 0.2 -W 1 10.10.2.2 >/dev/null &&
	fail "full-size pings passed an underlay of 1400"
L exec branch1 ping -M 'do' -s 1300 -c 2 -i 0.2 -W 1 10.10.2.2 >/dev/null ||
	fail "1300-byte pings lost on an underlay of 1400"
ip -n "sdwl-$NAME-inet" link set "s$idx.0" mtu 1500
ok "ping -M do: 1410 passes, 1411 gets mtu 1438; an underlay of 1400 loses 1410, passes 1300"

# --- Revoking an edge: the control plane only; removing the site tears its tunnels down.
[[ $(L ctl revoke branch3) == *revoked* ]] || fail "revoke"
until_ok 5 is branch3 revoked true || fail "status: revoked"
out=$(L ctl status)
grep -qE '^branch3 +spoke +revoked .* \?/2 +-$' <<<"$out" || fail "status of a revoked edge: $out"
# The page says the hubs tear their tunnels to a revoked edge down and refuse it as a peer.
gone() { ! L exec branch3 ping -c 1 -W 1 10.10.1.2 >/dev/null; }
until_ok 10 gone || fail "revoked branch3 still reaches branch1"
L exec branch1 ping -c 2 -i 0.2 -W 1 10.10.2.2 >/dev/null || fail "branch1 lost branch2 by branch3's revocation"
python3 - "$tmp/new.yaml" "$tmp/no-b3.yaml" <<'EOF'
import sys
s = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(s[:s.index("  - name: branch3")])
EOF
out=$(L ctl apply "$tmp/no-b3.yaml") || fail "apply without branch3: $out"
grep -q 'branch3 .*site removed: its key leaves the allowlist and its tunnels are torn down' \
	<<<"$out" || fail "apply diff for a removed site: $out"
until_ok 10 gone || fail "branch3 reaches branch1 after its removal"
ok "revoke: revoked, ?/2, cut off the data plane; removing the site keeps it so"

L down >/dev/null
[ -z "$(ip netns list | grep "^sdwl-$NAME-" || true)" ] || fail "namespaces left behind"
echo "$passed passed, 0 failed"
