#!/usr/bin/env bash
# ctest-labels: integration;cli
# sdwanctl as operators and scripts use it: exit codes, the FILE:LINE:COL error format, the
# plan JSON contract (docs/plan-json.md) on every shipped topology, and the plan diff.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
ctl=${SDWAN_BIN_DIR:?}/sdwanctl
tmp=$(mktemp -d /tmp/sdwan-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); }

# Every shipped topology validates with a one-line summary and exit 0.
for f in "$src"/topologies/*.yaml; do
	out=$("$ctl" validate "$f") || fail "$f must validate"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "validate prints one line: $out"
	grep -q ": ok: WAN '" <<<"$out" || fail "summary line: $out"
	ok
done

# Plan JSON: the documented contract, and the tunnel counts each topology type implies.
check_json() {
	local file=$1 expect=$2
	"$ctl" plan --json "$file" >"$tmp/plan.json" || fail "plan --json $file"
	jq -e '.format == "sdwan-plan/1"' "$tmp/plan.json" >/dev/null || fail "format tag"
	jq -e --argjson n "$expect" '(.tunnels | length) == $n and .summary.tunnels == $n' \
		"$tmp/plan.json" >/dev/null || fail "$file: expected $expect tunnels"
	jq -e 'all(.tunnels[]; (.initiator | type) == "string" and (.responder | type) == "string"
		and .initiator != .responder and (.mtu > 1200) and (.ike | length) > 0)' \
		"$tmp/plan.json" >/dev/null || fail "$file: tunnel objects"
	# Every tunnel appears in exactly its two edges' slices, initiating on exactly one side.
	jq -e '[.edges[] | .site as $s | .tunnels[] | {name, initiate}] | group_by(.name)
		| all(length == 2 and ([.[].initiate] | sort) == [false, true])' \
		"$tmp/plan.json" >/dev/null || fail "$file: edge slices"
	jq -e '(.edges | length) == (.sites | length)' "$tmp/plan.json" >/dev/null ||
		fail "$file: one edge per site"
	ok
}
check_json "$src/topologies/full-mesh.yaml" 6    # 4 peers: 4*3/2
check_json "$src/topologies/hub-spoke.yaml" 7    # 3 spokes x 2 hubs + 1 hub-hub
check_json "$src/topologies/hybrid.yaml" 14      # 3 hub-hub + 4x2 attachments + 1 peer x 3 hubs
check_json "$src/topologies/external-gateway.yaml" 8 # 1 hub-hub + 2x2 attachments + 2 + 1 external

# The dynamic spoke initiates; spokes initiate to hubs; hub-hub by lower name.
jq -e '.tunnels[] | select(.name == "branch3:hub-east") | .initiator == "branch3"' \
	<("$ctl" plan --json "$src/topologies/hub-spoke.yaml") >/dev/null || fail "dynamic initiates"
jq -e '.tunnels[] | select(.name == "hub-east:hub-west") | .initiator == "hub-east"' \
	<("$ctl" plan --json "$src/topologies/hub-spoke.yaml") >/dev/null || fail "lower name"
ok

# Invalid input: exit 2 and compiler-style diagnostics on stderr.
printf 'wan: t\nsitez: []\n' >"$tmp/bad.yaml"
set +e
"$ctl" validate "$tmp/bad.yaml" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "invalid file must exit 2, got $rc"
grep -q "^$tmp/bad.yaml:2:1: error: unknown key 'sitez' in the topology (did you mean 'sites'?)" \
	"$tmp/err" || fail "diagnostic format: $(cat "$tmp/err")"
ok

# Diff: identical -> 0; a change -> 3 and the affected edges listed.
"$ctl" plan "$src/topologies/hub-spoke.yaml" "$src/topologies/hub-spoke.yaml" >"$tmp/same" ||
	fail "identical plans exit 0"
grep -q "no changes" "$tmp/same" || fail "identical message"
sed 's/hubs: \[hub-west, hub-east\]/hubs: [hub-east, hub-west]/' \
	"$src/topologies/hub-spoke.yaml" >"$tmp/swapped.yaml"
set +e
"$ctl" plan --json "$src/topologies/hub-spoke.yaml" "$tmp/swapped.yaml" >"$tmp/diff.json"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "different plans exit 3, got $rc"
# Only branch2's own configuration holds its hub order: the hubs' are unchanged.
jq -e '.changed == 2 and ([.edges[].site] | sort) == ["branch2"]' \
	"$tmp/diff.json" >/dev/null || fail "diff edges: $(cat "$tmp/diff.json")"
ok

echo "$passed passed, 0 failed"
