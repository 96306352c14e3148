#!/usr/bin/env bash
# Builds every target of the workspace (the binary, the tests, the benchmark harness) in one
# cargo invocation, so that the Rust tests, the end-to-end Python tests and the benchmark smoke
# run share one set of artifacts and one feature set: a second invocation over fewer packages
# would unify other features and compile the tree again. In the `ci` profile the build is also
# the lint (scripts/cargo-ci.sh: clippy compiles the workspace's own crates, warnings denied).
#
#   scripts/build.sh [PROFILE]    # default: ci (Cargo.toml: release code without LTO)
#
# Binaries land in ${CARGO_TARGET_DIR:-target}/PROFILE/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile="${1:-ci}"
if [[ $profile == ci ]]; then
  scripts/cargo-ci.sh build --workspace --all-targets
else
  cargo build --locked --workspace --all-targets --profile "$profile"
fi
