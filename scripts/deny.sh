#!/usr/bin/env bash
# Checks the workspace's dependency graph against deny.toml with cargo-deny: licences compatible
# with Apache-2.0, one version of each crate (the listed exceptions aside), crates.io as the only
# source. cargo-deny is built from crates.io at a pinned version into .cache/cargo-deny the first
# time (about a minute and a half on two cores). The RustSec advisory check is left out: its database is
# fetched from GitHub, which the CI machine cannot reach (docs/dependencies.md).
#
#   scripts/deny.sh            install when missing, then check
#   scripts/deny.sh --setup    install only (CI runs it beside the build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version=0.20.2
tools="$root/.cache/cargo-deny"
if [[ ! -x $tools/bin/cargo-deny ]] || ! "$tools/bin/cargo-deny" --version | grep -qx "cargo-deny $version"; then
  # Its own target folder, so that the workspace's build never waits on it for a lock; built
  # unoptimised (--debug): less than half the compile (73 s of CPU against 167 s), and the check
  # still takes about three seconds.
  CARGO_TARGET_DIR="$root/.cache/cargo-deny-build" \
    cargo install cargo-deny --version "$version" --locked --debug --root "$tools" --quiet
  rm -rf "$root/.cache/cargo-deny-build"
fi
[[ ${1:-} == --setup ]] && exit 0
"$tools/bin/cargo-deny" --version
"$tools/bin/cargo-deny" --offline check licenses bans sources
