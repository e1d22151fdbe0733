#!/usr/bin/env bash
# Run every libFuzzer binary in DIR for SECONDS each, starting from a scratch copy of its seed
# corpus (the committed corpus is never modified). A crash fails the run and leaves the
# reproducer in the scratch directory.
# usage: tests/fuzz/run-all.sh DIR SECONDS
set -euo pipefail
dir=$(cd "${1:?usage: run-all.sh FUZZER_DIR SECONDS}" && pwd)
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/sdwan-fuzz.XXXXXX)
status=0
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	parser=${name#fuzz_}
	mkdir -p "$work/$parser"
	cp -r "$here/corpus/$parser/." "$work/$parser/" 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	if ! (cd "$work" && "$bin" "$work/$parser" -max_total_time="$secs" -max_len=65536 \
		-rss_limit_mb=2048 -print_final_stats=1 >"$work/$name.log" 2>&1); then
		echo "fuzz: $name FAILED; log and reproducer in $work" >&2
		tail -40 "$work/$name.log" >&2
		status=1
	else
		grep -E '^stat::number_of_executed_units' "$work/$name.log" | sed "s/^/  /"
	fi
done
[ "$status" -eq 0 ] && rm -rf "$work"
exit "$status"
