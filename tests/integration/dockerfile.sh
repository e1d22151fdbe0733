#!/usr/bin/env bash
# ctest-labels: integration;deploy
# deploy/docker/Dockerfile cannot be built here (no Docker engine), so check by construction
# what a build would trip over: Debian 12 bases; every shared library our programs load
# (readelf NEEDED, resolved by ldd) comes from a package the runtime stage installs, or from
# the base image's libc; every package either stage names exists in Debian (when apt lists are
# present); the runtime stage copies only what cmake --install puts under those paths.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
bin=${SDWAN_BIN_DIR:?}
df=$src/deploy/docker/Dockerfile
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0

# The two stages: build (first FROM) and runtime (second FROM).
[ "$(grep -c '^FROM ' "$df")" -eq 2 ] || fail "expected a build and a runtime stage"
grep '^FROM ' "$df" | grep -qv '^FROM debian:12' && fail "every stage must be Debian 12"
stage_packages() { # $1: 1 = build, 2 = runtime; apt-get install arguments of that stage
	awk -v want="$1" '/^FROM /{n++} n==want' "$df" | tr '\\' '\n' |
		sed -n '/apt-get install/,/rm -rf/p' | tr ' \t' '\n\n' |
		grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|DEBIAN_FRONTEND=.*)$' |
		sort -u
}
build_pkgs=$(stage_packages 1)
run_pkgs=$(stage_packages 2)
[ -n "$build_pkgs" ] && [ -n "$run_pkgs" ] || fail "no packages found in the stages"
passed=$((passed + 1))

# Base image: debian:12-slim has libc6 and what apt itself needs.
base="libc6 libgcc-s1 libstdc++6 zlib1g"
for b in sdwan-controller sdwan-edge sdwanctl; do
	[ -x "$bin/$b" ] || fail "$bin/$b not built"
	for lib in $(readelf -d "$bin/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldd "$bin/$b" | awk -v l="$lib" '$1 == l {print $3}')
		[ -n "$path" ] || fail "$b: $lib not found by ldd"
		pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) ||
			pkg=$(dpkg -S "$path" | head -1 | cut -d: -f1)
		[ -n "$pkg" ] || fail "$b: no package owns $path"
		if ! grep -qx "$pkg" <<<"$run_pkgs" && ! grep -qw "$pkg" <<<"$base"; then
			fail "$b needs $lib from package $pkg, which the runtime stage does not install"
		fi
	done
done
passed=$((passed + 1))

if apt-cache show libc6 >/dev/null 2>&1; then
	for p in $build_pkgs $run_pkgs; do
		apt-cache show "$p" >/dev/null 2>&1 || fail "package $p is not in Debian"
	done
	passed=$((passed + 1))
else
	echo "note: no apt lists; package names not checked"
fi

# COPY --from=build sources are install destinations of a /usr-prefixed build: programs,
# shared data and the example configuration; and the build stage configures that prefix.
grep -q -- '-DCMAKE_INSTALL_PREFIX=/usr' "$df" || fail "build stage must configure prefix /usr"
while read -r from; do
	case $from in
	/out/usr/bin/ | /out/usr/share/sdwan/ | /out/etc/sdwan/) ;;
	*) fail "COPY from $from: not an install destination" ;;
	esac
done < <(sed -n 's/^COPY --from=build \([^ ]*\) .*/\1/p' "$df")
grep -q 'DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/sdwan' "$src/CMakeLists.txt" &&
	grep -q 'DESTINATION ${CMAKE_INSTALL_DATADIR}/sdwan/topologies' "$src/CMakeLists.txt" ||
	fail "CMakeLists.txt install destinations changed: update the Dockerfile's COPY lines"
passed=$((passed + 1))
echo "$passed passed, 0 failed"
