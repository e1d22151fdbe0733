#!/bin/sh
# Install every build, test and runtime dependency of sdwan from Debian 12 packages.
# Idempotent: packages already present are left alone; safe to run on every build.
# Usage: deploy/install-deps.sh            (as root, or through sudo)
set -eu

# Build toolchain and the libraries the project links against (all found through pkg-config).
BUILD="build-essential cmake pkg-config git
	libssl-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler
	libnl-3-dev libnl-route-3-dev libnl-xfrm-3-dev libzmq3-dev
	libcriterion-dev libyaml-dev libsqlite3-dev"

# Analysis, sanitizer and fuzzing toolchain: clang with its runtime (ASan, UBSan, libFuzzer).
ANALYSIS="clang clang-14 libclang-rt-14-dev llvm clang-format clang-tidy cppcheck"

# Runtime and test dependencies: netns labs, fault injection, traffic generation, capture,
# JSON checks in shell tests (jq; jsonschema for the containerlab export), unit checks
# (systemd-analyze), the real peers we interoperate and benchmark against, and tshark to decrypt
# captures with the --keylog tables.
RUNTIME="iproute2 nftables conntrack iperf3 iputils-ping tcpdump procps psmisc util-linux jq python3
	python3-jsonschema python3-yaml systemd
	strongswan-charon strongswan-swanctl strongswan-pki libcharon-extra-plugins
	libstrongswan-standard-plugins
	libstrongswan-extra-plugins wireguard-go wireguard-tools openvpn tshark"

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo "$0" "$@"
	fi
	echo "install-deps.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=""
for pkg in $BUILD $ANALYSIS $RUNTIME; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $pkg"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps.sh: all dependencies present"
	exit 0
fi

echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing
# Debian's strongSwan packages start charon as a system service; our tests run their own
# instances in namespaces and must not find one holding UDP 500/4500 on the host.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet strongswan-starter 2>/dev/null; then
	systemctl disable --now strongswan-starter >/dev/null 2>&1 || true
fi
echo "install-deps.sh: done"
