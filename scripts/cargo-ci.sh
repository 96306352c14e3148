#!/usr/bin/env bash
# Cargo on the `ci` profile, with the lint in the build: the workspace's own crates are compiled
# by clippy-driver (cargo's RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` does), which runs every
# clippy and rustc lint with warnings denied and then compiles as rustc does; dependencies are
# compiled by rustc alone. So the one build that the tests and CI's benchmarks run on is also the
# lint, and nothing compiles a second time to check it: a separate `cargo clippy` after the
# build took 84-100 s here, 85 % of it checking the dependencies again, while compiling the
# workspace through clippy-driver costs what compiling it with rustc does (250 s against 253 s).
# Test harnesses compile without optimisation, the rest with the profile's (scripts/lib/ci-rustc.sh).
#
#   scripts/cargo-ci.sh build --workspace --all-targets     cargo build --profile ci ..., linted
#   scripts/cargo-ci.sh test --workspace --test outpost     cargo test --profile ci ...
#
# Every cargo command over target/ci goes through here (scripts/build.sh, scripts/test.sh,
# scripts/arm64-check.sh): a plain `cargo test --profile ci` works too, but compiles the
# workspace's crates again without the wrapper (about four minutes).
set -euo pipefail
if ! clippy_driver="$(rustup which clippy-driver 2> /dev/null || command -v clippy-driver)"; then
  echo "cargo-ci: clippy-driver not found (rustup component add clippy)" >&2
  exit 1
fi
command="$1"
shift
# CLIPPY_ARGS carries clippy-driver's own arguments, as cargo-clippy passes `-- -D warnings`.
export OUTPOST_CLIPPY_DRIVER="$clippy_driver"
RUSTC_WORKSPACE_WRAPPER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/ci-rustc.sh" \
  CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
  exec cargo "$command" --locked --profile ci "$@"
