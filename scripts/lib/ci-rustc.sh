#!/usr/bin/env bash
# The compiler for the workspace's own crates on the `ci` build (cargo's RUSTC_WORKSPACE_WRAPPER,
# set by scripts/cargo-ci.sh): clippy-driver, which lints and then compiles as rustc does, with
# one change: test harnesses (a crate compiled with `--test`: unit tests, integration tests)
# are compiled without optimisation, as `cargo test` compiles them by default, while libraries,
# binaries and examples keep the `ci` profile's code generation. Nothing that CI runs for speed
# is a test harness: the binaries the end-to-end tests and benchmarks start, the benchmark
# harness and the decode example are built as before. Measured on 2 cores, rebuilding the
# workspace's crates: 185 s and 361 CPU-seconds against 279 s and 546 at the profile's
# opt-level 3 (opt-level 1 saved 38 CPU-seconds); the Rust tests run in the same 13-14 s.
#
# Cargo calls it as `ci-rustc.sh RUSTC ARGS...`; $OUTPOST_CLIPPY_DRIVER is clippy-driver's path.
set -euo pipefail
for arg in "$@"; do
  if [[ $arg == --test ]]; then
    # rustc takes the last -C opt-level it is given: this one, after the profile's.
    exec "$OUTPOST_CLIPPY_DRIVER" "$@" -C opt-level=0
  fi
done
exec "$OUTPOST_CLIPPY_DRIVER" "$@"
