#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: fetches ONNX Runtime (pinned wheel), installs the
# Python test clients, checks formatting and lints, builds the workspace once (scripts/build.sh,
# the `ci` profile) and runs every Rust test (unit and end-to-end against the real binary) and
# the Python client tests (tritonclient, kserve; the status page in Debian's chromium, driven by
# Playwright) against that same build, and checks the dependency graph (cargo deny). The
# downloads run while cargo compiles; each stage's time is printed in a table at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/stages.sh

profile=ci
target_dir="${CARGO_TARGET_DIR:-$root/target}"

stage_background "fetch ONNX Runtime" scripts/fetch-onnxruntime.sh
stage_background "fetch ONNX Runtime (OpenVINO)" scripts/fetch-onnxruntime.sh --openvino
stage_background "Python test env" scripts/setup-test-env.sh
# The arm64 check's tools (cross compiler, qemu-user, mold, the aarch64 standard library and
# ONNX Runtime): downloads, while the host build compiles.
stage_background "arm64 setup" scripts/arm64-check.sh --setup
# The deploy tests' Docker engine (install when missing, start dockerd), likewise.
stage_background "Docker engine" scripts/setup-docker.sh --optional
# The status page's browser test's chromium (Debian's, installed when missing), likewise.
stage_background "chromium" scripts/setup-browser.sh --optional
# cargo-deny, built from crates.io at its pinned version (deny.toml's checks run after the build).
stage_background "cargo-deny install" scripts/deny.sh --setup

stage "cargo fmt" cargo fmt --all -- --check
stage "build tools (cmake, nasm)" scripts/build-tools.sh
# One build for everything: the tests, the benchmarks and the server images' binary
# (`outpost-ort`, which the next stage copies to target/ci/image/outpost: nothing compiles again).
# It is also the lint: clippy compiles the workspace's own crates with warnings denied
# (scripts/cargo-ci.sh), instead of a `cargo clippy` that would check every dependency again.
stage "cargo build + clippy ($profile profile)" scripts/build.sh "$profile"
stage "server image binary" scripts/build-image-binary.sh "$profile"
# Licences, one version of each crate, crates.io only (deny.toml, docs/dependencies.md).
stage_join "cargo-deny install"
stage "cargo deny" scripts/deny.sh
stage_join "fetch ONNX Runtime"
stage_join "fetch ONNX Runtime (OpenVINO)"
# Every Rust test but the fleet simulation, which runs beside the Python tests below.
stage "Rust tests" scripts/cargo-ci.sh test --workspace -- --skip two_hundred_devices
stage_join "Docker engine"
stage_join "chromium"
stage_join "Python test env"
# The fleet simulation (crates/agent/tests/fleet_simulation.rs: 200 devices in one process
# against moto's server from the Python test env, about 15,000 requests) waits on moto, a core
# at most: it runs beside the Python tests, which wait on their servers more than they compute
# (measured in a cold CI run: 150 s beside them, 50 s alone; the Python tests 191 s beside it,
# against 136-147 s without).
stage_background "fleet simulation (200 devices)" \
  scripts/cargo-ci.sh test --workspace --test fleet_simulation
# Four pytest workers on two cores, each taking whole test files (every test starts its own
# servers on port 0, in cgroups of its own): the files wait on servers, agents' polls and
# timers more than they compute (measured with today's 82 tests: 119 s with four, 139 s with
# three; the longest files, compose and the agent's kill rounds, 55 s to 60 s and 52 s to
# 60 s). The files marked long_running go first
# (tests/python/conftest.py), in place of xdist's order by number of tests, which started the
# longest files last.
stage "Python tests" env OUTPOST_BIN="$target_dir/$profile/outpost" \
  .venv/bin/python -m pytest -p no:cacheprovider -q --durations=10 -n 4 --dist loadfile \
  --no-loadscope-reorder tests/python
stage_join "fleet simulation (200 devices)"
stage_join "arm64 setup"
# The linux/arm64 build: cross-compiled (Cargo.toml's `arm64` profile), then the photo checks of
# tests/outpost/camera.rs on ONNX Runtime and tract against it under qemu-user.
stage "arm64 cross build" scripts/arm64-check.sh --build
stage "arm64 photos (qemu-user)" scripts/arm64-check.sh
# The soak (benches/harness/src/bin/soak.rs): three minutes of the whole mix (REST, gRPC, camera,
# malformed requests, a model reloaded every minute, an upstream going down and up, the outbox
# uploading) at 40 requests a second, alone on the machine: beside a build, the server's memory
# climbs between reloads as its requests pile up (docs/benchmarks.md). It fails on any
# unexpected answer, drifting descriptors or threads, or resident memory growing over 300 MiB/h
# between reloads (each stretch between two reloads on its own level: a reload moves the level
# by up to about 20 MiB either way, which three minutes' overall slope cannot tell from a leak).
stage "soak (3 min)" "$target_dir/$profile/outpost-bench-soak" \
  --outpost "$target_dir/$profile/outpost" --minutes 3 --warmup-minutes 1 \
  --max-rss-slope-mib-per-hour inf --max-rss-slope-between-reloads-mib-per-hour 300 \
  --out "$target_dir/bench-report/soak"
