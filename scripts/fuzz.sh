#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz with libFuzzer) for SECONDS each (default 60), one
# after the other, and prints a table: executions, corpus size, peak resident memory and what
# was found. Seeds from the real fixtures are in fuzz/seeds/<target>/ (made by
# fuzz/make_seeds.py), dictionaries in fuzz/dictionaries/; each corpus grows in
# fuzz/corpus/<target>/ and a failing input lands in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [--quick] [SECONDS] [TARGET...]
#
# --quick builds without optimisation (cargo-fuzz's --dev: a shorter build, slower runs), for
# CI's short pass; the long runs use the optimised build.
#
# A target fails on a crash, a panic (its assertions: limits respected, outputs bounded, a
# decoded request re-encodes to the same tensors), an input that runs over 10 s, or resident
# memory over 512 MiB (an allocation the limits should have stopped). It builds with the
# installed toolchain and no sanitizer (cargo-fuzz's `--sanitizer none`, which works on stable
# Rust); cargo-fuzz itself is built from crates.io at a pinned version into .cache/cargo-fuzz.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build=(--release)
binaries="target/x86_64-unknown-linux-gnu/release"
if [[ ${1:-} == --quick ]]; then
  build=(--dev)
  binaries="target/x86_64-unknown-linux-gnu/debug"
  shift
fi
seconds="${1:-60}"
shift || true

scripts/build-tools.sh
tools="$root/.cache/cargo-fuzz"
if [[ ! -x $tools/bin/cargo-fuzz ]]; then
  # Unoptimised (--debug): cargo-fuzz only drives cargo and libFuzzer's binaries.
  CARGO_TARGET_DIR="$root/.cache/cargo-fuzz-build" \
    cargo install cargo-fuzz --version 0.13.2 --locked --debug --root "$tools" --quiet
  rm -rf "$root/.cache/cargo-fuzz-build"
fi
export PATH="$tools/bin:$PATH"

cd fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build "${build[@]}" --sanitizer none

report=()
failed=0
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus" "artifacts/$target"
  seeds=()
  [[ -d seeds/$target ]] && seeds=("seeds/$target")
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=512 -max_len=1048576
    -print_final_stats=1 -artifact_prefix="artifacts/$target/")
  case $target in
    infer_request_json | infer_request_binary | upstream_response) dictionary=v2 ;;
    *) dictionary=$target ;;
  esac
  [[ -f dictionaries/$dictionary.dict ]] && options+=(-dict="dictionaries/$dictionary.dict")
  log="$(mktemp)"
  status=ok
  if ! "$binaries/$target" "$corpus" "${seeds[@]}" "${options[@]}" > "$log" 2>&1; then
    status=FAILED
    failed=1
    tail -40 "$log" >&2
  fi
  runs=$(grep -oP 'stat::number_of_executed_units:\s*\K\d+' "$log" | tail -1)
  rss=$(grep -oP 'stat::peak_rss_mb:\s*\K\d+' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  found=$(find "artifacts/$target" -type f | wc -l)
  report+=("$(printf '%-22s %8ss %12s %8s %8s MiB %6s  %s' "$target" "$seconds" "${runs:-?}" "$files" "${rss:-?}" "$found" "$status")")
  rm -f "$log"
done
printf '%-22s %9s %12s %8s %12s %6s  %s\n' target time executions corpus "peak RSS" found result
printf '%s\n' "${report[@]}"
exit "$failed"
