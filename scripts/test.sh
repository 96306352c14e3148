#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: fetches ONNX Runtime (pinned wheel), installs the
# Python test clients, checks formatting and lints, runs every Rust test (unit and end-to-end
# against the real binary) and the Python client tests (tritonclient, kserve).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/fetch-onnxruntime.sh
scripts/setup-test-env.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
cargo test --workspace

target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUTPOST_BIN="$target_dir/debug/outpost" .venv/bin/python -m pytest -p no:cacheprovider -q tests/python
