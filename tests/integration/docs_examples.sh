#!/usr/bin/env bash
# ctest-labels: integration;cli
# Every complete topology shown in the docs (a ```yaml block with a `wan:` key) must validate,
# so the documentation cannot drift from what the compiler accepts.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
ctl=${SDWAN_BIN_DIR:?}/sdwanctl
tmp=$(mktemp -d /tmp/sdwan-docs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
for doc in "$src"/docs/*.md "$src"/README.md; do
	[ -f "$doc" ] || continue
	awk -v dir="$tmp" -v base="$(basename "$doc" .md)" '
		/^```yaml$/ { n++; f = sprintf("%s/%s-%d.yaml", dir, base, n); inb = 1; next }
		/^```$/ { inb = 0; next }
		inb { print > f }' "$doc"
done
for f in "$tmp"/*.yaml; do
	[ -f "$f" ] || continue
	grep -q '^wan:' "$f" || continue
	if "$ctl" validate "$f" >/dev/null; then
		passed=$((passed + 1))
	else
		echo "FAIL: example $(basename "$f") from the docs does not validate" >&2
		failed=$((failed + 1))
	fi
done
[ "$passed" -gt 0 ] || { echo "FAIL: no examples found" >&2; exit 1; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
