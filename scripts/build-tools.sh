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
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install build-tools "${missing[@]}"
