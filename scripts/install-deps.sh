#!/usr/bin/env bash
# Install every Debian package criu-lazy needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg-query and returns.
set -euo pipefail

PKGS=(
	gcc make pkg-config git
	protobuf-c-compiler libprotobuf-c-dev
	libnl-3-dev libnl-route-3-dev
	libbsd-dev libzstd-dev zstd
	python3 python3-protobuf
	clang-format
	iproute2 procps psmisc util-linux
	runc busybox-static
	curl redis-server nginx-light memcached sqlite3
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
