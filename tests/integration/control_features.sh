#!/usr/bin/env bash
# ctest-labels: integration;control
# Edge features (EnrollRequest.features / HealthReport.features, common/ctl_msg.h): the controller
# sends a summarised WAN table only to edges that announced they read one. A real
# sdwan-controller and CURVE clients (tests/tools/ctl_client) on the loopback of a private
# network namespace, WAN topologies/retail.yaml (18 prefixes: stores are summarised):
#
#   an edge that announces nothing (a build from before features) gets the whole table; the same
#   edge upgraded in place says so in its health report and gets a summarised config at once;
#   a controller restart (kill -9) keeps what each edge announced and pushes nothing; an edge
#   announcing it at enrollment gets a summary in its first config; a downgrade gets the whole
#   table back.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
bin=${SDWAN_BIN_DIR:?}
. "$src/tests/integration/lib/control.sh"
ctl_test_init sdwan-feat
SUMMARY=1 # CTL_FEATURE_WAN_SUMMARY
cp "$src/topologies/retail.yaml" "$tmp/wan.yaml"
generation() { ctl status --json | jq -r ".sites[] | select(.site == \"$1\") | .generation"; }
# field NAME < config line: its value
field() { grep '^config ' | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

ctl_start

# An edge that announces nothing: the whole table (6 sites), no summary.
cli enroll --state "$tmp/s1" --token "$(token store1)" >/dev/null || fail "enroll store1"
cli run --state "$tmp/s1" --once --timeout 10 >"$tmp/s1.a" || fail "store1 run"
[ "$(field wan_prefixes <"$tmp/s1.a")" = 6 ] && [ "$(field wan_summary <"$tmp/s1.a")" = 0 ] ||
	fail "an edge without the feature must get the whole table: $(grep '^config' "$tmp/s1.a")"
g1=$(field generation <"$tmp/s1.a")
ok "an edge that announced nothing gets the whole table (generation $g1)"

# Upgraded in place: its first health report announces summaries; a new generation follows.
cli run --state "$tmp/s1" --once --timeout 10 --features $SUMMARY >"$tmp/s1.b" ||
	fail "store1 run (upgraded)"
g2=$(field generation <"$tmp/s1.b")
[ "$g2" = $((g1 + 1)) ] || fail "upgrade: generation $g2, expected $((g1 + 1))"
[ "$(field wan_prefixes <"$tmp/s1.b")" = 3 ] && [ "$(field wan_summary <"$tmp/s1.b")" = 2 ] ||
	fail "upgraded edge: itself and its 2 hubs listed, 2 summary prefixes expected: $(grep '^config' "$tmp/s1.b")"
grep -q 'msg="edge features changed" site=store1 features=0->0x1' "$tmp/ctl.log" ||
	fail "feature change not logged"
ok "the same edge upgraded: its health report brings generation $g2 with a summarised table"

# kill -9 and restart: what store1 announced is in the store; its config does not move.
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
ctl_start
cli run --state "$tmp/s1" --once --timeout 3 --features $SUMMARY >"$tmp/s1.c" ||
	fail "store1 run after restart"
grep -q '^config ' "$tmp/s1.c" && fail "restart pushed a config: $(grep '^config' "$tmp/s1.c")"
[ "$(generation store1)" = "$g2" ] || fail "restart moved store1's generation: $(generation store1)"
ok "controller killed and restarted: store1 keeps generation $g2, nothing pushed"

# Announced at enrollment: the first config is already summarised.
cli enroll --state "$tmp/s2" --token "$(token store2)" --features $SUMMARY >/dev/null ||
	fail "enroll store2"
cli run --state "$tmp/s2" --once --timeout 10 --features $SUMMARY >"$tmp/s2.a" ||
	fail "store2 run"
[ "$(field wan_prefixes <"$tmp/s2.a")" = 3 ] && [ "$(field wan_summary <"$tmp/s2.a")" -gt 0 ] ||
	fail "store2's first config must be summarised: $(grep '^config' "$tmp/s2.a")"
ok "an edge announcing summaries at enrollment gets one in its first config"

# Downgraded in place: the whole table again.
cli run --state "$tmp/s1" --once --timeout 10 >"$tmp/s1.d" || fail "store1 run (downgraded)"
[ "$(field generation <"$tmp/s1.d")" = $((g2 + 1)) ] &&
	[ "$(field wan_prefixes <"$tmp/s1.d")" = 6 ] &&
	[ "$(field wan_summary <"$tmp/s1.d")" = 0 ] ||
	fail "downgraded edge must get the whole table: $(grep '^config' "$tmp/s1.d")"
ok "the edge downgraded: the whole table again"
echo "control_features: $passed checks passed"
