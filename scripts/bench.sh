#!/usr/bin/env bash
# Runs the benchmark harness (benches/harness): builds Outpost and the harness, then
# `outpost-bench --mode MODE` (smoke by default; `full` for the committed report). Further
# arguments go to outpost-bench. The Python baseline installs itself into .cache/bench-venv.
#
# The shipped `release` profile is measured by default. OUTPOST_PROFILE=ci measures the build
# that scripts/test.sh made instead (release code generation without LTO, overflow checks in
# Outpost's own crates), without compiling anything again: CI does that to build once per run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode="${1:-smoke}"
shift || true
profile="${OUTPOST_PROFILE:-release}"
scripts/fetch-onnxruntime.sh
scripts/build-tools.sh
if [[ $profile == release ]]; then
  cargo build --locked --release -p outpost -p outpost-bench
else
  scripts/build.sh "$profile"
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
"$target_dir/$profile/outpost-bench" --mode "$mode" --outpost "$target_dir/$profile/outpost" "$@"
