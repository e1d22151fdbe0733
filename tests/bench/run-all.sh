#!/usr/bin/env bash
# Run every built benchmark (bench-*) in BIN_DIR and print its figures.
# usage: tests/bench/run-all.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: run-all.sh BIN_DIR}
for b in "$bin"/bench-*; do
	[ -x "$b" ] || continue
	echo "=== $(basename "$b")"
	"$b"
	echo
done
