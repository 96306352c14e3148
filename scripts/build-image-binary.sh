#!/usr/bin/env bash
# Leaves the `outpost` binary that the server images ship at
# ${CARGO_TARGET_DIR:-target}/PROFILE/image/outpost, where deploy/docker/build-local.sh takes it:
# the root package's `outpost-ort` binary, the same command line with ONNX Runtime as its one
# runtime (tract not linked: 31 MB stripped against 53 MB with both).
#
#   scripts/build-image-binary.sh [PROFILE]    # default: ci
#
# In the `ci` profile it comes from the workspace's build (scripts/build.sh: the same cargo
# command, so nothing compiles again when that ran first). Any other profile builds the
# binary alone, with the root package's `ort` feature only, so that tract is not compiled.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${1:-ci}"
out="${CARGO_TARGET_DIR:-$root/target}/$profile"

if [[ $profile == ci ]]; then
  scripts/build.sh ci
else
  cargo build --locked --profile "$profile" -p outpost --no-default-features --features ort \
    --bin outpost-ort
fi
mkdir -p "$out/image"
cp "$out/outpost-ort" "$out/image/outpost"
echo "server image binary: $out/image/outpost ($(stat -c %s "$out/image/outpost") bytes, unstripped)"
