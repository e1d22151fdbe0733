#!/usr/bin/env bash
# The main job until the lab lands: compile every WAN in topologies/ and show what each edge
# would run. Validation errors stop the demo with the compiler's messages.
set -euo pipefail
cd "$(dirname "$0")/.."
ctl=build/bin/sdwanctl
for f in topologies/*.yaml; do
	echo "=== $f"
	"$ctl" validate "$f"
	"$ctl" plan "$f"
	echo
done
echo "=== what changes if branch3 of topologies/hub-spoke.yaml moves to a static address:"
tmp=$(mktemp /tmp/sdwan-demo.XXXXXX.yaml)
trap 'rm -f "$tmp"' EXIT
sed 's/address: dynamic      # behind carrier NAT: it always initiates/address: 203.0.113.13/' \
	topologies/hub-spoke.yaml >"$tmp"
"$ctl" plan topologies/hub-spoke.yaml "$tmp" || [ $? -eq 3 ]
echo
echo "Machine-readable plans: $ctl plan --json FILE (format: docs/plan-json.md)"
