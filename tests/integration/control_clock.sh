#!/usr/bin/env bash
# ctest-labels: integration;control
# The controller's timeouts against steps of the wall clock (an NTP step on a box that booted
# without a clock, an operator setting the date): its wall clock is moved with
# tests/tools/preload/clockshift (LD_PRELOAD, this process only), the machine's is not.
#
#   three hours forward: no session is taken for silent, commands wait their full time;
#   three hours back: a silent edge is still dropped after three health intervals, and
#   enrollment is not rate-limited for the hours the clock went back.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
bin=${SDWAN_BIN_DIR:?}
. "$src/tests/integration/lib/control.sh"
ctl_test_init sdwan-clock
shim=$bin/../tests/libclockshift.so
[ -f "$shim" ] || fail "$shim not built"
cp "$src/topologies/hub-spoke.yaml" "$tmp/wan.yaml"
echo 0 >"$tmp/shift"
CTL_ENV="LD_PRELOAD=$shim CLOCKSHIFT_FILE=$tmp/shift"
counter() { ctl status --json | jq -r ".counters.$1"; }
site_field() { ctl status --json | jq -r ".sites[] | select(.site == \"$1\") | .$2"; }
silent_drops() { grep -c 'reason="silent for three health intervals"' "$tmp/ctl.log" || true; }

# Health expected every second: an edge is silent after 3 s. The edges report every 2 s, so
# that a tick falls between the step and the next report (where wall-clock arithmetic would
# see three hours of silence).
ctl_start --health-interval 1000 --command-timeout 8
for s in branch1 branch2; do
	cli enroll --state "$tmp/$s" --token "$(token $s)" >/dev/null || fail "enroll $s"
done
cli_bg "$tmp/b1.out" run --state "$tmp/branch1" --health-ms 2000 --ignore-commands --timeout 60
B1=$CLI_PID
cli_bg "$tmp/b2.out" run --state "$tmp/branch2" --health-ms 2000 --timeout 60
B2=$CLI_PID
for _ in $(seq 50); do
	[ "$(site_field branch1 connected)$(site_field branch2 connected)" = truetrue ] && break
	sleep 0.1
done
[ "$(site_field branch1 connected)$(site_field branch2 connected)" = truetrue ] ||
	fail "edges not connected"
ok "controller with a movable wall clock; two edges connected"

# Forward: with wall-clock arithmetic every session would look three hours silent.
ctl rekey branch1 >/dev/null || fail "rekey"
echo 10800 >"$tmp/shift"
sleep 4 # past the silence threshold, several ticks
[ "$(silent_drops)" = 0 ] || fail "sessions dropped as silent after the clock went forward"
[ "$(site_field branch1 connected)$(site_field branch2 connected)" = truetrue ] ||
	fail "edges disconnected after the clock went forward"
ctl edge show branch1 --json | jq -e '.pending_commands | length == 1' >/dev/null ||
	fail "a command given 3 s ago expired when the clock went forward"
ok "wall clock 3 h forward: no session taken for silent, a waiting command keeps waiting"
ctl rekey branch2 >/dev/null || fail "rekey branch2" # answered: nothing left waiting

# Back: with wall-clock arithmetic nothing would look silent for three hours, and the
# enrollment bucket would be drained for as long.
echo -10800 >"$tmp/shift"
sleep 0.5
kill -STOP "$B2" # silent from now on; resumed before any check can fail (a stopped process
# would hold the cleanup up)
for _ in $(seq 80); do
	[ "$(silent_drops)" -ge 1 ] && break
	sleep 0.1
done
dropped=$(silent_drops)
kill -CONT "$B2"
[ "$dropped" -ge 1 ] || fail "a silent edge was not dropped after the clock went back"
grep -q 'msg="session closed" site=branch2 reason="silent for three health intervals"' \
	"$tmp/ctl.log" || fail "the wrong session was dropped"
out=$(cli enroll --state "$tmp/branch3" --token "$(token branch3)") || fail "enroll after the step: $out"
[[ $out == "enrolled site=branch3 "* ]] || fail "enrollment after the clock went back: $out"
ok "wall clock 3 h back: a silent edge is still dropped in seconds, enrollment not rate-limited"
kill "$B1" "$B2" 2>/dev/null || true
echo "control_clock: $passed checks passed"
