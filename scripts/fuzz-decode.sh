#!/usr/bin/env bash
# Fuzzes the camera path's decode entry point (outpost_vision::decode, then the resize) with
# libFuzzer through cargo-fuzz, for SECONDS (default 300). Seeds: crates/vision/fuzz/seeds
# (small JPEGs and PNGs of every kind the decoder takes); the corpus grows in
# crates/vision/fuzz/corpus/decode_image and a failing input lands in crates/vision/fuzz/artifacts.
#
#   scripts/fuzz-decode.sh [SECONDS]
#
# It fails on a crash, a panic, a broken limit (the target's assertions), a run over 10 s or
# resident memory over 512 MiB (an allocation the image limits should have stopped). It builds
# with the installed toolchain and no sanitizer (cargo-fuzz's `--sanitizer none`, which works on
# stable Rust); libjpeg-turbo and the PNG decoder run as in the server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-300}"

scripts/build-tools.sh
tools="$root/.cache/cargo-fuzz"
if [[ ! -x $tools/bin/cargo-fuzz ]]; then
  cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools"
fi
export PATH="$tools/bin:$PATH"

cd crates/vision
corpus=fuzz/corpus/decode_image
mkdir -p "$corpus"
cargo fuzz build --sanitizer none decode_image
cargo fuzz run --sanitizer none decode_image "$corpus" fuzz/seeds -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=512 -max_len=65536 \
  -dict=fuzz/image.dict -print_final_stats=1
