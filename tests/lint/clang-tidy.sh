#!/usr/bin/env bash
# clang-tidy over every project source with the flags CMake used (compile_commands.json).
# usage: tests/lint/clang-tidy.sh BUILD_DIR [JOBS]
set -euo pipefail
build=${1:?usage: clang-tidy.sh BUILD_DIR [JOBS]}
jobs=${2:-2}
cd "$(dirname "$0")/../.."
files=$(git ls-files 'common/*.c' 'controller/*.c' 'edge/*.c' 2>/dev/null ||
	find common controller edge -name '*.c')
# gcc-only flags in the compile database mean nothing to clang-tidy; drop them.
printf '%s\n' $files | xargs -P "$jobs" -n 4 clang-tidy -p "$build" --quiet \
	--extra-arg=-U_FORTIFY_SOURCE --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-unused-command-line-argument
echo "clang-tidy: clean"
