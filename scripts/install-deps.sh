#!/usr/bin/env bash
# Installs the Debian packages strata needs that this machine lacks.
# Usage: scripts/install-deps.sh [build|test|demo]  (test and demo add tools)
set -euo pipefail
what=${1:-build}
pkgs=(build-essential cmake pkg-config libuv1-dev libinih-dev libisal-dev libsodium-dev)
case "$what" in
  test) pkgs+=(clang libclang-rt-dev ffmpeg python3 procps prometheus curl chromium chromium-driver
              groff-base systemd) ;;
  demo) pkgs+=(ffmpeg procps python3) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
