#!/usr/bin/env bash
# Installs what the build needs besides Rust: cmake and nasm, which compile libjpeg-turbo (with
# its SIMD code) from the source that the turbojpeg-sys crate carries, to link it statically.
# Uses Debian's packages; does nothing when both are present.
set -euo pipefail
missing=()
command -v cmake > /dev/null || missing+=(cmake)
command -v nasm > /dev/null || missing+=(nasm)
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "build-tools: install ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" > /dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
}
