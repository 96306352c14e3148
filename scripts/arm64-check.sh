#!/usr/bin/env bash
# Checks the linux/arm64 build on an x86_64 machine: cross-compiles `outpost` for
# aarch64-unknown-linux-gnu (the `arm64` profile in Cargo.toml), fetches the aarch64 ONNX Runtime
# library from its pinned wheel, and runs the photo checks of tests/outpost/camera.rs (labels and
# boxes on every fixture photo, on ONNX Runtime and on tract) against that binary under qemu-user.
# Installs what it needs when missing (root: Debian's cross compiler, the arm64 C and C++
# runtime libraries, qemu-user-static 8.1 or later, mold; rustup's aarch64 standard library).
# The cross link uses mold (through gcc's -B: Debian's cross gcc has no -fuse-ld=mold of its
# own), which links the binary in about 1 s against 6-7 s for GNU ld.
#
#   scripts/arm64-check.sh            set up, build, then check
#   scripts/arm64-check.sh --setup    set up only: the tools above and the aarch64 ONNX Runtime
#                                     (network and disk; CI runs it beside the host build)
#   scripts/arm64-check.sh --build    set up and build (target/aarch64-unknown-linux-gnu/arm64/outpost)
#
# The tests themselves are built for this machine with the `ci` profile (scripts/build.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target=aarch64-unknown-linux-gnu
profile=arm64
sysroot=/usr/aarch64-linux-gnu
target_dir="${CARGO_TARGET_DIR:-$root/target}"
mode=check
case "${1:-}" in
  --setup) mode=setup ;;
  --build) mode=build ;;
  "") ;;
  *) echo "usage: $0 [--setup | --build]" >&2; exit 2 ;;
esac

# qemu-user before 8.1 passes the host's /proc/cpuinfo through to an aarch64 program, and ONNX
# Runtime's CPU detection (cpuinfo) dereferences NULL on an x86 one; 8.1 and later answer with an
# emulated aarch64 /proc/cpuinfo. Debian 12 ships 7.2: its backports have 10.0.
qemu_is_new_enough() {
  local version
  version="$(qemu-aarch64-static --version 2> /dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
  [[ -n "$version" ]] && read -r major minor <<< "$version" && ((major > 8 || (major == 8 && minor >= 1)))
}

missing=()
command -v aarch64-linux-gnu-gcc > /dev/null || missing+=(gcc-aarch64-linux-gnu)
[[ -f $sysroot/lib/libc.so.6 ]] || missing+=(libc6-dev-arm64-cross)
[[ -f $sysroot/lib/libstdc++.so.6 ]] || missing+=(libstdc++6-arm64-cross)
mold_dir=/usr/libexec/mold
[[ -x $mold_dir/ld ]] || missing+=(mold)
qemu_missing=false
qemu_is_new_enough || qemu_missing=true
source scripts/lib/apt.sh
if ((${#missing[@]} > 0)); then
  apt_install arm64-check "${missing[@]}"
fi
if $qemu_missing; then
  source /etc/os-release
  if [[ "${VERSION_CODENAME:-}" == bookworm && $(id -u) -eq 0 ]]; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" \
      > /etc/apt/sources.list.d/bookworm-backports.list
    apt_update
    apt_install arm64-check -t bookworm-backports qemu-user-static
  else
    apt_install arm64-check qemu-user-static
  fi
  qemu_is_new_enough || { echo "arm64-check: qemu-user-static 8.1 or later is needed" >&2; exit 1; }
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

scripts/fetch-onnxruntime.sh --arch aarch64
[[ $mode == setup ]] && exit 0

# The C parts (libjpeg-turbo through cmake, ring, aws-lc, SQLite, zstd) and the link use the
# cross toolchain; build scripts and protoc still run on this machine.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-B$mold_dir"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
cargo build --locked --target "$target" --profile "$profile" -p outpost --bin outpost
binary="$target_dir/$target/$profile/outpost"
[[ $mode == build ]] && exit 0

export OUTPOST_ARM64_BIN="$binary"
export OUTPOST_ARM64_RUNNER="qemu-aarch64-static -L $sysroot"
export OUTPOST_ARM64_ORT_LIBRARY="$root/.cache/onnxruntime/cpu-aarch64/libonnxruntime.so"
# The suite's own test build (--workspace: the same feature set, so nothing compiles again). The
# cross build's variables above concern the aarch64 target alone. The four checks (labels and
# boxes, on ONNX Runtime and on tract) start together, each with a server of its own: emulated
# model loading is most of their time (67 s in all measured, against 81 with two at a time).
scripts/cargo-ci.sh test --workspace --test outpost -- --ignored --test-threads 4 on_arm64
