#!/usr/bin/env bash
# Runs the benchmark harness (benches/harness): builds Outpost and the harness in release mode,
# then `outpost-bench --mode MODE` (smoke by default; `full` for the committed report). Further
# arguments go to outpost-bench. The Python baseline installs itself into .cache/bench-venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode="${1:-smoke}"
shift || true
scripts/fetch-onnxruntime.sh
cargo build --release -p outpost -p outpost-bench
target_dir="${CARGO_TARGET_DIR:-$root/target}"
"$target_dir/release/outpost-bench" --mode "$mode" --outpost "$target_dir/release/outpost" "$@"
