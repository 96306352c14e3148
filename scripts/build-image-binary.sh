#!/usr/bin/env bash
# Builds the `outpost` binary that the server images ship: ONNX Runtime as the one backend
# (`--no-default-features --features ort`, no tract: 31 MB stripped against 53 MB with both), and
# keeps it as ${CARGO_TARGET_DIR:-target}/PROFILE/image/outpost, where deploy/docker/build-local.sh
# takes it. Fails on any compiler warning, since clippy checks only the full feature set.
#
#   scripts/build-image-binary.sh [PROFILE]    # default: ci
#
# Run it before scripts/build.sh: both builds leave their binary at target/PROFILE/outpost, and
# the workspace's full binary must be the one left there for the tests. (A second build over one
# package resolves other features for shared dependencies, so it compiles them again: about four
# minutes on two cores.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${1:-ci}"
out="${CARGO_TARGET_DIR:-$root/target}/$profile"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo build --locked --profile "$profile" -p outpost --no-default-features --features ort \
  --bin outpost 2>&1 | tee "$log"
if grep -q '^warning' "$log"; then
  echo "build-image-binary: the build without tract has warnings (above)" >&2
  exit 1
fi
mkdir -p "$out/image"
cp "$out/outpost" "$out/image/outpost"
echo "server image binary: $out/image/outpost ($(stat -c %s "$out/image/outpost") bytes, unstripped)"
