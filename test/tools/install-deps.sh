#!/bin/bash
# Install every Debian package kiln's build, tests and static build need.
# Idempotent: when everything is already installed it asks apt nothing.
# Lists: the build's own below, test/tools/packages.txt (test fixtures) and
# cmake/static-packages.txt (the static build).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

build_packages=(
	build-essential cmake pkg-config git clang-format
	libssl-dev zlib1g-dev libcurl4-openssl-dev libarchive-dev libcjson-dev
	libxxhash-dev libisal-dev libcmocka-dev attr
)

read_list() {
	[ -f "$1" ] || return 0
	sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | grep -v '^$' || true
}

mapfile -t extra < <(read_list "$src/test/tools/packages.txt"; read_list "$src/cmake/static-packages.txt"; read_list "$src/test/fuzz/packages.txt")
wanted=("${build_packages[@]}" "${extra[@]}")

missing=()
for p in "${wanted[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#wanted[@]} packages present"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q "${missing[@]}"
