#!/usr/bin/env bash
# ctest-labels: integration;control
# The control plane end to end, with a real sdwan-controller and real CURVE DEALER clients
# (tests/tools/ctl_client) on the loopback of a private network namespace:
#
#   [netns $NS-c]  sdwan-controller  tcp://127.0.0.1:7800 (control)  :7801 (enroll)
#                  ctl_client x N    admin.sock <- sdwanctl
#
# Covers: enrollment (certificate names the token's site whatever the CSR asks), config push and
# ack, per-tunnel PSKs (equal at both ends, distinct per tunnel), every bad input of issue 3
# item 6 (clear reason, a counter, store unchanged), nack, health in status, a topology edit
# reaching only the affected sites, an invalid edit changing nothing, revocation and removal
# closing the open session at once, certificate renewal, operator commands, kill -9 and restart.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
bin=${SDWAN_BIN_DIR:?}
. "$src/tests/integration/lib/control.sh"
ctl_test_init sdwan-ctl

# An enrollment endpoint of its own in the topology: the token's command line and re-enroll
# commands carry it (an edge started from its state directory knows only the control endpoint).
sed -e 's/auth: certificate/auth: psk/' \
	-e 's|^  endpoint: tcp://203.0.113.10:7800$|&\n  enroll-endpoint: tcp://203.0.113.10:7811|' \
	"$src/topologies/hub-spoke.yaml" >"$tmp/wan.yaml"
grep -q 'auth: psk' "$tmp/wan.yaml" || fail "test topology has no psk"
grep -q 'enroll-endpoint: tcp://203.0.113.10:7811' "$tmp/wan.yaml" || fail "no enroll-endpoint"

# A low enrollment rate limit, so that the flood below is refused.
# Commands unanswered for 3 s are dropped (default 60 s), so that the test sees it happen.
start_ctl() { ctl_start --enroll-burst 12 --enroll-rate 2 --command-timeout 3; }
counter() { ctl status --json | jq -r ".counters.$1"; }
site_field() { ctl status --json | jq -r ".sites[] | select(.site == \"$1\") | .$2"; }
dbsum() { sqlite3 "$tmp/st/controller.db" .dump | sha256sum | cut -d' ' -f1; }
wait_for() { # wait_for FILE PATTERN [tenths]
	for _ in $(seq "${3:-50}"); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_ctl
[ "$(stat -c %a "$ADMIN")" = 600 ] || fail "admin socket must be 0600"
[ "$(stat -c %a "$tmp/st/controller.key")" = 600 ] || fail "controller key must be 0600"
ok "controller started: admin socket and key 0600"
for bad in "--health-interval 2s" "--cert-lifetime 10" "--enroll-rate 0" "--command-timeout x"; do
	# shellcheck disable=SC2086 # the option and its value are two words
	if out=$("$bin/sdwan-controller" --topology "$tmp/wan.yaml" --state "$tmp/nostate" $bad 2>&1); then
		fail "sdwan-controller accepted $bad"
	fi
	[[ $out == *"${bad%% *} takes "*", not '${bad#* }'"* ]] || fail "$bad: unclear error: $out"
done
[ ! -e "$tmp/nostate" ] || fail "a refused command line created state"
ok "numeric options: a value with a unit or out of range is refused with what the option takes"

# --- Enrollment end to end: the certificate names the token's site, whatever the CSR asks.
created=$(ctl token create branch1 --json) || fail "token create"
T1=$(jq -r .token <<<"$created")
[[ $(jq -r .command <<<"$created") == "sdwan-edge --controller tcp://203.0.113.10:7800 --enroll-endpoint tcp://203.0.113.10:7811 --token $T1 --state /var/lib/sdwan-edge" ]] ||
	fail "token command line: $(jq -r .command <<<"$created")"
out=$(cli enroll --state "$tmp/b1" --token "$T1" --csr-site hub-east) || fail "enroll: $out"
[ "$out" = "enrolled site=branch1 cert_cn=branch1" ] || fail "enrollment: $out"
[ "$(site_field branch1 enrolled)" = true ] || fail "status: branch1 enrolled"
# The edge lost the answer and asks again with the same keys and token: the same certificate,
# nothing written. Another box with that token (other keys) is refused further down.
cp "$tmp/b1/cert.der" "$tmp/b1.cert.first"
sum_b1=$(dbsum)
out=$(cli enroll --state "$tmp/b1" --token "$T1" --csr-site hub-east --again) || fail "retry: $out"
[ "$out" = "enrolled site=branch1 cert_cn=branch1" ] || fail "enrollment retry: $out"
cmp -s "$tmp/b1/cert.der" "$tmp/b1.cert.first" || fail "a retry must get the same certificate"
[ "$(counter enroll_repeated)" = 1 ] || fail "counter enroll_repeated"
[ "$(dbsum)" = "$sum_b1" ] || fail "an enrollment retry changed the store"
ok "branch1 enrolled; certificate names the token's site, not the CSR's; a retry with the same keys gets it again"

# --- Config push, ack, PSKs.
T2=$(token hub-east)
cli enroll --state "$tmp/he" --token "$T2" >/dev/null || fail "enroll hub-east"
cli run --state "$tmp/b1" --once --timeout 10 >"$tmp/b1.out" || fail "branch1 run"
cli run --state "$tmp/he" --once --timeout 10 >"$tmp/he.out" || fail "hub-east run"
grep -q '^acked 1$' "$tmp/b1.out" || fail "branch1 did not get generation 1"
grep -q '^config generation=1 site=branch1 tunnels=2 ' "$tmp/b1.out" || fail "branch1 config"
grep -q '^config generation=1 site=hub-east tunnels=4 ' "$tmp/he.out" || fail "hub-east config"
psk_b1=$(awk '/^tunnel branch1:hub-east /{for(i=1;i<=NF;i++) if ($i ~ /^psk=/) print $i}' "$tmp/b1.out")
psk_he=$(awk '/^tunnel branch1:hub-east /{for(i=1;i<=NF;i++) if ($i ~ /^psk=/) print $i}' "$tmp/he.out")
[ -n "$psk_b1" ] && [ "$psk_b1" != "psk=-" ] || fail "psk tunnel without a key"
[ "$psk_b1" = "$psk_he" ] || fail "both ends of branch1:hub-east must get the same PSK"
n_all=$(grep -ho 'psk=[0-9a-f]*' "$tmp/he.out" | sort -u | wc -l)
[ "$n_all" -eq 4 ] || fail "hub-east's 4 tunnels must have 4 distinct PSKs (got $n_all)"
grep -q "$(sqlite3 "$tmp/st/controller.db" "select hex(psk) from tunnel_psk limit 1" |
	tr 'A-F' 'a-f')" "$tmp/ctl.log" && fail "a PSK appears in the log"
[ "$(site_field branch1 generation_applied)" = 1 ] || fail "status: branch1 applied 1"
ok "configs pushed and acked; PSK equal at both ends, distinct per tunnel, never logged"

# --- Bad inputs: each refused with a reason and a counter; the store does not change.
sum0=$(dbsum)
TU=$(token branch2)
cli enroll --state "$tmp/b2" --token "$TU" >/dev/null || fail "enroll branch2"
sum0=$(dbsum)
out=$(cli enroll --state "$tmp/x1" --token "$TU" || true)
[[ $out == "refused status=4 "* ]] || fail "reused token: $out"
[ "$(counter enroll_token_used)" -ge 1 ] || fail "counter enroll_token_used"
TE=$(token branch3 --ttl 1s)
sum_te=$(dbsum)
sleep 1.2
out=$(cli enroll --state "$tmp/x2" --token "$TE" || true)
[[ $out == "refused status=3 "* ]] || fail "expired token: $out"
[ "$(counter enroll_token_expired)" -ge 1 ] || fail "counter enroll_token_expired"
[ "$(dbsum)" = "$sum_te" ] || fail "expired token changed the store"
sum0=$sum_te
forged=$(echo "$TE" | awk -F. '{print $1"."$2".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA."$4}')
out=$(cli enroll --state "$tmp/x3" --token "$forged" || true)
[[ $out == "refused status=2 "* ]] || fail "forged token: $out"
T3=$(token branch3)
sum0=$(dbsum)
wrong=$(echo "$T3" | sed 's/^sdwan1\.branch3\./sdwan1.branch2./')
out=$(cli enroll --state "$tmp/x4" --token "$wrong" || true)
[[ $out == "refused status=2 "* ]] || fail "token of site A claimed for B: $out"
[ "$(counter enroll_wrong_site)" -ge 1 ] || fail "counter enroll_wrong_site"
out=$(cli enroll --state "$tmp/x5" --token "$T3" --bad-csr || true)
[[ $out == "refused status=5 "* ]] || fail "bad CSR: $out"
other=$(cat "$tmp/b1/server.hex")
out=$(cli enroll --state "$tmp/x6" --token "$T3" --claim-key "$other" || true)
[[ $out == "refused status=6 "* ]] || fail "curve key other than the connection's: $out"
[ "$(dbsum)" = "$sum0" ] || fail "refused enrollments changed the store"
# The token survived the refusals above (CSR and key are checked before it is consumed).
out=$(cli enroll --state "$tmp/b3" --token "$T3") || fail "valid token after refusals: $out"
ok "reused, expired, forged, wrong-site tokens, bad CSR, key mismatch: refused, counted, store unchanged"

sum0=$(dbsum)
SK=$(cat "$tmp/b1/server.hex")
out=$(cli raw --server-key "$SK" --garbage 100 --timeout 2)
[ "$out" = no-reply ] || fail "unknown CURVE key got an answer on the control path: $out"
[ "$(counter zap_edges_denied)" -ge 1 ] || fail "ZAP denial not counted"
out=$(cli raw --state "$tmp/b1" --garbage 300)
[[ $out == "error code=2 "* ]] || fail "garbage: $out"
[ "$(counter msg_malformed)" -ge 1 ] || fail "counter msg_malformed"
out=$(cli raw --state "$tmp/b1" --bad-version)
[[ $out == "error code=1 "* ]] || fail "bad version: $out"
out=$(cli raw --state "$tmp/b1" --wrong-body)
[[ $out == "error code=4 "* ]] || fail "controller-only body from an edge: $out"
# Over the enrollment limit (64 KiB): ZeroMQ drops the connection, nothing is parsed.
out=$(ns_exec c "$client" raw --server-key "$SK" --oversize 200000 --timeout 2 \
	--endpoint tcp://127.0.0.1:7801)
[ "$out" = no-reply ] || fail "oversized enrollment answered: $out"
out=$(ns_exec c "$client" raw --server-key "$SK" --wrong-body --timeout 2 \
	--endpoint tcp://127.0.0.1:7801)
[[ $out == "error code=4 "* ]] || fail "enrollment socket takes EnrollRequest only: $out"
[ "$(dbsum)" = "$sum0" ] || fail "bad messages changed the store"
ctl status >/dev/null || fail "controller died on bad input"
grep -q 'msg="enrollment refused".*outcome=enroll_token_used reason="token used' "$tmp/ctl.log" ||
	fail "refusals must be logged with their reason"
ok "unknown key, garbage, wrong version, wrong body, oversized: refused and counted, store unchanged"

# Enrollment flood from one source: rate-limited (burst 12, 2/s), the rest never processed.
before=$(counter enroll_rate_limited)
flood=""
for i in $(seq 20); do
	ns_exec c "$client" enroll --state "$tmp/fl$i" --token "$forged" --timeout 1 \
		--endpoint "$EP" >/dev/null 2>&1 &
	flood="$flood $!"
done
for p in $flood; do wait "$p" 2>/dev/null || true; done
[ "$(counter enroll_rate_limited)" -gt "$before" ] || fail "enrollment flood not rate-limited"
ok "enrollment flood rate-limited per source"

# --- Nack: recorded with its reason, as an event, and counted.
cli run --state "$tmp/b2" --nack "esp proposal not supported here" --timeout 3 >"$tmp/b2.out" || true
grep -q '^nacked 1$' "$tmp/b2.out" || fail "branch2 did not nack"
[ "$(site_field branch2 nack_reason)" = "esp proposal not supported here" ] || fail "nack reason in status"
ctl events --site branch2 --json | jq -e 'any(.[]; .kind == "config-rejected")' >/dev/null ||
	fail "nack event"
grep -q 'msg="config refused by edge" site=branch2' "$tmp/ctl.log" || fail "nack not logged"
ok "config nack recorded, logged and kept as an event"

# --- Live session, status, edge show, rekey command, certificate renewal.
cli run --state "$tmp/b1" --renew --timeout 60 >"$tmp/b1.live" 2>&1 &
B1=$!
NS_PIDS="$NS_PIDS $B1"
wait_for "$tmp/b1.live" '^connecting' || fail "client did not start"
for _ in $(seq 30); do
	[ "$(site_field branch1 connected)" = true ] && break
	sleep 0.1
done
[ "$(site_field branch1 connected)" = true ] || fail "branch1 connected in status"
ctl status | grep -E '^branch1 +spoke +up ' | grep -q ' 1/2 ' ||
	fail "human status shows up/total: $(ctl status)"
ctl edge show branch1 --json | jq -e '.status.site == "branch1" and (.tunnels | length) >= 1' \
	>/dev/null || fail "edge show --json"
ctl edge show branch1 --json | jq -e '.tunnels[0].drops == 4 and .tunnels[0].drops_by_reason.replay == 3 and .tunnels[0].drops_by_reason.icv == 1' \
	>/dev/null || fail "edge show --json: drops by reason from the health report"
ctl edge show branch1 | grep -q 'drops: replay 3, icv 1' || fail "edge show: drops by reason"
ctl rekey branch1 branch1:hub-east >/dev/null || fail "rekey command"
wait_for "$tmp/b1.live" '^command type=1 tunnel=branch1:hub-east' || fail "rekey not delivered"
cli run --state "$tmp/he" --renew --once --timeout 5 >"$tmp/he.renew" || true
grep -q '^renewed status=1 in_reply_to=77' "$tmp/he.renew" || fail "certificate renewal: $(cat "$tmp/he.renew")"
ok "status (connected, 1/2 up/total), edge show, rekey command, certificate renewal"

# --- Commands: the answer is an event; one caught in a session change goes out again on the
# next session, with the same id, and is answered once.
answers() { ctl events --site "$1" --json | jq "[.[] | select(.kind == \"command-result\" and .detail == \"$2\")] | length"; }
for _ in $(seq 30); do
	[ "$(answers branch1 "rekey done")" = 1 ] && break
	sleep 0.1
done
[ "$(answers branch1 "rekey done")" = 1 ] || fail "rekey answer not an event: $(ctl events --site branch1)"
ctl re-enroll branch1 >/dev/null || fail "re-enroll branch1"
wait_for "$tmp/b1.live" '^command enroll_endpoint=tcp://203.0.113.10:7811$' ||
	fail "re-enroll command without the topology's enroll-endpoint: $(cat "$tmp/b1.live")"
cli_bg "$tmp/b2.drop" run --state "$tmp/b2" --drop-first-command --timeout 30
B2=$CLI_PID
for _ in $(seq 30); do
	[ "$(site_field branch2 connected)" = true ] && break
	sleep 0.1
done
ctl rekey branch2 branch2:hub-west >/dev/null || fail "rekey branch2"
wait_for "$tmp/b2.drop" '^dropped command id=' || fail "client did not get the command"
id=$(sed -n 's/^dropped command id=//p' "$tmp/b2.drop")
wait_for "$tmp/b2.drop" "^command type=1 tunnel=branch2:hub-west token=no id=$id\$" ||
	fail "command not sent again on the new session: $(cat "$tmp/b2.drop")"
grep -q "msg=\"command sent again on the new session\" site=branch2 command=rekey id=$id" \
	"$tmp/ctl.log" || fail "resend not logged"
for _ in $(seq 30); do
	[ "$(answers branch2 "rekey done")" = 1 ] && break
	sleep 0.1
done
[ "$(answers branch2 "rekey done")" = 1 ] || fail "resent command's answer: $(ctl events --site branch2)"
kill "$B2" 2>/dev/null || true
wait "$B2" 2>/dev/null || true
cli_bg "$tmp/b2.ignore" run --state "$tmp/b2" --ignore-commands --timeout 30
B2=$CLI_PID
for _ in $(seq 30); do
	[ "$(site_field branch2 connected)" = true ] && break
	sleep 0.1
done
ctl rekey branch2 >/dev/null || fail "rekey branch2 (ignored)"
wait_for "$tmp/b2.ignore" '^ignored command id=' || fail "client did not get the command"
ctl edge show branch2 | grep -qE '^    rekey, given [0-9]+s ago, sent 1 time$' ||
	fail "edge show: the waiting command: $(ctl edge show branch2)"
ctl edge show branch2 --json | jq -e '.pending_commands | length == 1 and .[0].command == "rekey"
	and .[0].sends == 1' >/dev/null || fail "edge show --json: pending_commands"
expired="rekey not answered within 3 s (sent 1 times); the edge may not have carried it out: check the site and give it again"
for _ in $(seq 60); do
	[ "$(answers branch2 "$expired")" = 1 ] && break
	sleep 0.1
done
[ "$(answers branch2 "$expired")" = 1 ] || fail "unanswered command not reported: $(ctl events --site branch2)"
ctl edge show branch2 --json | jq -e '.pending_commands | length == 0' >/dev/null ||
	fail "an expired command is still shown as waiting"
grep -q 'msg="command not answered" site=branch2 command=rekey' "$tmp/ctl.log" ||
	fail "unanswered command not logged"
kill "$B2" 2>/dev/null || true
wait "$B2" 2>/dev/null || true
ok "command answers are events; a command lost with its session is sent again and answered once; one never answered is reported"

# --- Key rotation in two steps: an edge that never got (or never saved) its rotated key still
# gets in with the old one; once it has been seen with the new one, the old one is refused.
cp -r "$tmp/b2" "$tmp/b2.old"
handshake() { # STATE: "ok" or "refused", what the controller made of the client's key
	cli run --state "$1" --timeout 2 2>&1 | sed -n 's/^handshake //p' | head -1
}
cli run --state "$tmp/b2" --rotate-key --lose-rotation --timeout 10 >"$tmp/b2.lost" 2>&1 || true
grep -q '^renewed status=1' "$tmp/b2.lost" || fail "rotation not signed: $(cat "$tmp/b2.lost")"
grep -q '^rotation lost' "$tmp/b2.lost" || fail "rotation not lost: $(cat "$tmp/b2.lost")"
cmp -s "$tmp/b2/curve.key" "$tmp/b2.old/curve.key" || fail "the lost rotation changed the key"
[ "$(handshake "$tmp/b2")" = ok ] || fail "edge locked out: its key refused after a rotation it never got"
cli run --state "$tmp/b2" --rotate-key --timeout 4 >"$tmp/b2.rot" 2>&1 || true
grep -q '^rotated' "$tmp/b2.rot" || fail "rotation: $(cat "$tmp/b2.rot")"
grep -q 'msg="edge uses its new CURVE key; the previous one is no longer admitted" site=branch2' \
	"$tmp/ctl.log" || fail "new key not confirmed"
[ "$(handshake "$tmp/b2")" = ok ] || fail "the new key is not admitted"
[ "$(handshake "$tmp/b2.old")" = refused ] || fail "the old key is still admitted after the new one was seen"
ok "key rotation: the old key admitted until the new one is seen (lost answer), refused after"

# --- Topology edit: only the affected sites get a new generation.
g_b1=$(site_field branch1 generation)
g_b2=$(site_field branch2 generation)
g_he=$(site_field hub-east generation)
g_b3=$(site_field branch3 generation)
sed -i 's/address: 198.51.100.12/address: 198.51.100.13/' "$tmp/wan.yaml" # branch2's underlay
for _ in $(seq 50); do
	[ "$(site_field branch2 generation)" != "$g_b2" ] && break
	sleep 0.1
done
[ "$(site_field branch2 generation)" -eq $((g_b2 + 1)) ] || fail "branch2 must get a new generation"
[ "$(site_field hub-east generation)" -eq $((g_he + 1)) ] || fail "hub-east (peer of branch2) too"
[ "$(site_field branch1 generation)" -eq "$g_b1" ] || fail "branch1 is not affected"
[ "$(site_field branch3 generation)" -eq "$g_b3" ] || fail "branch3 is not affected"
ok "topology edit: new generations for branch2 and its hubs only"

# --- Invalid edit: every diagnostic logged, nothing changes.
plan_gen=$(ctl status --json | jq .generation)
sum0=$(ctl status --json | jq -c '[.sites[] | {site, generation}]')
inv0=$(counter topology_invalid)
cp "$tmp/wan.yaml" "$tmp/good.yaml"
sed -i 's/subnets: \[10.10.1.0\/24\]/subnets: [10.10.2.0\/24]/; s/type: hub-and-spoke/type: hub-n-spoke/' \
	"$tmp/wan.yaml"
for _ in $(seq 50); do
	[ "$(counter topology_invalid)" -gt "$inv0" ] && break
	sleep 0.1
done
[ "$(counter topology_invalid)" -gt "$inv0" ] || fail "invalid edit not noticed"
[ "$(ctl status --json | jq .generation)" = "$plan_gen" ] || fail "invalid edit changed the plan"
[ "$(ctl status --json | jq -c '[.sites[] | {site, generation}]')" = "$sum0" ] ||
	fail "invalid edit changed generations"
[ "$(grep -c 'msg="topology rejected"' "$tmp/ctl.log")" -ge 2 ] || fail "each diagnostic logged"
cp "$tmp/good.yaml" "$tmp/wan.yaml"
ok "invalid edit: diagnostics logged, last good plan kept"

# --- sdwanctl apply: validates, prints the diff, loads it.
sed 's/hold-down: 10s/hold-down: 12s/' "$tmp/good.yaml" >"$tmp/new.yaml"
out=$(ctl apply "$tmp/new.yaml") || fail "apply: $out"
grep -q 'applied: 5 sites get a new configuration' <<<"$out" || fail "apply output: $out"
cmp -s "$tmp/new.yaml" "$tmp/wan.yaml" || fail "apply must replace the topology file"
printf 'wan: [\n' >"$tmp/bad.yaml"
set +e
ctl apply "$tmp/bad.yaml" >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "apply of an invalid file exits 2 (got $rc)"
ok "sdwanctl apply: diff shown, plan loaded, file replaced; invalid file refused"

# --- Revocation closes the open session at once; the key no longer gets in; the hubs get
# configurations without their tunnels to it (cut off the data plane), nobody else a new one.
denied0=$(counter zap_edges_denied)
g_he=$(site_field hub-east generation)
g_hw=$(site_field hub-west generation)
g_b2=$(site_field branch2 generation)
ctl revoke branch1 >/dev/null || fail "revoke"
[ "$(site_field hub-east generation)" -eq $((g_he + 1)) ] || fail "hub-east keeps branch1's tunnel"
[ "$(site_field hub-west generation)" -eq $((g_hw + 1)) ] || fail "hub-west keeps branch1's tunnel"
[ "$(site_field branch2 generation)" -eq "$g_b2" ] || fail "branch2 is not affected by the revocation"
wait_for "$tmp/b1.live" '^disconnected' 30 || fail "revoked edge's session not closed within 3 s"
wait "$B1" 2>/dev/null || true
[ "$(site_field branch1 revoked)" = true ] || fail "status: revoked"
out=$(cli run --state "$tmp/b1" --timeout 3 | grep -c '^config' || true)
[ "$out" -eq 0 ] || fail "revoked key still gets configs"
[ "$(counter zap_edges_denied)" -gt "$denied0" ] || fail "revoked key not refused by ZAP"
ok "revocation: session closed at once (socket shut down), reconnection refused, hubs reconfigured"

# --- A revoked site enrolled again with a new token: its peers get their tunnels back.
g_he=$(site_field hub-east generation)
out=$(cli enroll --state "$tmp/b1" --token "$(token branch1)") || fail "enroll again: $out"
[ "$(site_field branch1 revoked)" = false ] || fail "status: re-enrolled branch1 still revoked"
[ "$(site_field hub-east generation)" -eq $((g_he + 1)) ] ||
	fail "hub-east did not get its tunnel to the re-enrolled branch1 back"
cli run --state "$tmp/he" --once --timeout 10 >"$tmp/he.back" || fail "hub-east run"
grep -q '^tunnel branch1:hub-east ' "$tmp/he.back" || fail "hub-east config lacks branch1:hub-east"
ok "re-enrollment after revocation: the hubs' tunnels to the site come back"

# --- Removing a site from the topology closes its session too.
cli run --state "$tmp/b3" --timeout 30 >"$tmp/b3.live" 2>&1 &
B3=$!
NS_PIDS="$NS_PIDS $B3"
wait_for "$tmp/b3.live" '^acked' || fail "branch3 did not converge"
python3 - "$tmp/wan.yaml" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().split('\n')
out, skip = [], False
for l in lines:
    if l.startswith('  - name: branch3'):
        skip = True
        continue
    if skip and (l.startswith('  - ') or (l and not l.startswith(' '))):
        skip = False
    if not skip:
        out.append(l)
open(p + '.new', 'w').write('\n'.join(out))
EOF
mv "$tmp/wan.yaml.new" "$tmp/wan.yaml"
wait_for "$tmp/b3.live" '^disconnected' 40 || fail "removed site's session not closed"
# Loads build the configs the plan diff names; a later full pass counts any it missed.
sleep 0.5
[ "$(counter plan_diff_missed)" = 0 ] || fail "the plan diff missed configuration changes"
ok "site removed from the topology: session closed; every edit's diff named every changed edge"

# --- kill -9 and restart: state intact, nothing re-enrolls, no generation moves.
before=$(ctl status --json | jq -c '[.sites[] | {site, enrolled, revoked, generation}]')
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
rm -f "$ADMIN"
start_ctl
after=$(ctl status --json | jq -c '[.sites[] | {site, enrolled, revoked, generation}]')
[ "$before" = "$after" ] || fail "state after kill -9: $before != $after"
sqlite3 "$tmp/st/controller.db" 'pragma integrity_check' | grep -qx ok || fail "database integrity"
cli run --state "$tmp/he" --timeout 4 >"$tmp/he.again" || true
grep -q '^config' "$tmp/he.again" && ! grep -q "^config generation=$(site_field hub-east generation) " "$tmp/he.again" &&
	fail "restart pushed a stale generation"
[ "$(site_field hub-east generation_applied)" = "$(site_field hub-east generation)" ] ||
	fail "hub-east reconnects and converges without enrolling again"
ok "kill -9 and restart: state intact, edges reconnect without re-enrolling"

# --- The controller's state is older than an edge's (restored from a backup): the edge runs a
# generation this controller never issued. Its current config goes out above it, not never.
g_he=$(site_field hub-east generation)
echo 1000 >"$tmp/he/applied"
cli run --state "$tmp/he" --once --timeout 10 >"$tmp/he.resync" || fail "hub-east run: $(cat "$tmp/he.resync")"
grep -q '^acked 1001$' "$tmp/he.resync" || fail "no config above the edge's generation: $(cat "$tmp/he.resync")"
[ "$(site_field hub-east generation)" = 1001 ] || fail "generation not lifted (was $g_he)"
ctl events --site hub-east --json | jq -e 'any(.[]; .kind == "generation-resync")' >/dev/null ||
	fail "no generation-resync event"
echo 999999999999999999 >"$tmp/he/applied" # no controller ever issued that many
cli run --state "$tmp/he" --timeout 3 >"$tmp/he.absurd" 2>&1 || true
[ "$(site_field hub-east generation)" = 1001 ] || fail "an impossible generation moved the site's"
echo 1001 >"$tmp/he/applied"
ok "an edge running a generation the controller never issued gets the current config above it; an impossible one is ignored"

# --- Backup while running; restore into an empty state directory.
out=$(ctl backup "$tmp/bk") || fail "backup: $out"
[[ $out == "backup written to $tmp/bk: controller.db controller.key topology.yaml "* ]] ||
	fail "backup output: $out"
for f in controller.db controller.key topology.yaml; do
	[ "$(stat -c %a "$tmp/bk/$f")" = 600 ] || fail "backup $f is not 0600"
done
sqlite3 "$tmp/bk/controller.db" 'pragma integrity_check' | grep -qx ok || fail "backup integrity"
cmp -s "$tmp/bk/topology.yaml" "$tmp/wan.yaml" || fail "the backup's topology is not the one running"
cmp -s "$tmp/bk/controller.key" "$tmp/st/controller.key" || fail "the backup's controller key"
if out=$(ctl backup "$tmp/bk" 2>&1); then fail "a backup over a non-empty directory was accepted"; fi
[[ $out == *"not empty; give a new or empty directory"* ]] || fail "unclear refusal: $out"
before=$(ctl status --json | jq -c '[.sites[] | {site, enrolled, revoked, generation}]')
kill "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
rm -rf "$tmp/st"
mkdir -m 700 "$tmp/st"
cp -p "$tmp/bk/controller.db" "$tmp/bk/controller.key" "$tmp/st/"
start_ctl
after=$(ctl status --json | jq -c '[.sites[] | {site, enrolled, revoked, generation}]')
[ "$before" = "$after" ] || fail "restored state differs: $before != $after"
[ "$(handshake "$tmp/he")" = ok ] || fail "an enrolled edge is not admitted after the restore"
ok "backup while running (0600, checked), never over files; restored: same sites, edges admitted"

# --- A second session of a site while the first is open (the box reconnected before its old
# TCP connection was seen to go, or a cloned box): the older one is closed; sessions that keep
# replacing each other are reported as two boxes with one identity.
cli_bg "$tmp/he.s1" run --state "$tmp/he" --timeout 30
S1=$CLI_PID
wait_for "$tmp/he.s1" '^handshake ok' || fail "first session: $(cat "$tmp/he.s1")"
sleep 0.3 # its first health report is in
cli_bg "$tmp/he.s2" run --state "$tmp/he" --timeout 30
wait_for "$tmp/he.s1" '^disconnected' 30 || fail "the older session was not closed"
wait "$S1" 2>/dev/null || true
grep -q 'msg="older session closed: the edge connected again" site=hub-east' "$tmp/ctl.log" ||
	fail "replacement not logged"
[ "$(counter sessions_replaced)" -ge 1 ] || fail "counter sessions_replaced"
[ "$(site_field hub-east connected)" = true ] || fail "the newer session must stay"
for i in 3 4 5 6 7; do # a box that keeps coming back beside the other
	sleep 0.3
	cli_bg "$tmp/he.s$i" run --state "$tmp/he" --timeout 30
	wait_for "$tmp/he.s$((i - 1))" '^disconnected' 30 || fail "session $((i - 1)) not replaced"
done
ctl events --site hub-east --json | jq -e 'any(.[]; .kind == "duplicate-session")' >/dev/null ||
	fail "no duplicate-session event after 5 replacements"
kill "$CLI_PID" 2>/dev/null || true
ok "a newer session of a site closes the older one; sessions that keep replacing each other are reported"

echo "control_plane: $passed checks passed"
