#!/usr/bin/env bash
# The accelerator check for a machine with an NVIDIA GPU: every fixture model strict on ONNX
# Runtime's CUDA provider and on its TensorRT provider, each output compared with the fixtures'
# references (the CPU references, within the fixtures' tolerances), beside the CPU provider; each
# model's p50 and throughput on all three; then the server-against-in-process benchmark on CUDA.
# Prints the tables, keeps them under OUT_DIR, and exits non-zero when a model is not on its
# provider, an output is outside its bound, or a request fails.
#
#   scripts/device-check.sh --prepare [PROFILE]   on the build machine (default profile: ci):
#       copies the built binaries (outpost, outpost-bench-providers, the server_vs_inprocess
#       benchmark), stripped, into .device-check/bin/, and fetches ONNX Runtime's GPU and CPU
#       builds into .cache/onnxruntime/ (PyPI), so that the tree plus those two folders is all the
#       GPU machine needs: nothing is compiled there.
#   scripts/device-check.sh [OUT_DIR]             on the GPU machine (default OUT_DIR:
#       target/device-check). Uses .device-check/bin/ when present, else target/ci/.
#
# The GPU build (onnxruntime-gpu 1.31.1) needs CUDA 13's runtime, cuBLAS, cuFFT, cuRAND and
# cuDNN 9; TensorRT's provider also needs TensorRT 10's libraries. They are found through the
# loader's path, to which this adds the lib/ folder of every NVIDIA Python package installed
# (nvidia-cublas, nvidia-cudnn-cu13, tensorrt-libs, ...) and CUDA_LIBRARY_PATH when set. Missing
# libraries are listed before anything runs; the check then still runs, and a provider that
# cannot load fails it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The benchmark programs find the fixtures here, wherever they were built.
export OUTPOST_REPO_ROOT="$root"
prepared="$root/.device-check/bin"

if [[ "${1:-}" == "--prepare" ]]; then
  profile="${2:-ci}"
  build="${CARGO_TARGET_DIR:-$root/target}/$profile"
  bench="$(ls -t "$build"/deps/server_vs_inprocess-* 2>/dev/null | grep -v '\.d$' | head -1 || true)"
  for binary in "$build/outpost" "$build/outpost-bench-providers" "$bench"; do
    [[ -x "$binary" ]] || {
      echo "device-check: $binary is missing: run scripts/build.sh $profile first" >&2
      exit 1
    }
  done
  rm -rf "$prepared"
  mkdir -p "$prepared"
  cp "$build/outpost" "$build/outpost-bench-providers" "$prepared/"
  cp "$bench" "$prepared/server_vs_inprocess"
  strip "$prepared"/*
  scripts/fetch-onnxruntime.sh
  scripts/fetch-onnxruntime.sh --gpu
  du -sh "$prepared" .cache/onnxruntime/cpu .cache/onnxruntime/gpu
  echo "device-check: prepared; on the GPU machine run scripts/device-check.sh with" \
    ".device-check and .cache/onnxruntime carried"
  exit 0
fi

out="${1:-$root/target/device-check}"
mkdir -p "$out"
bin="$prepared"
[[ -x "$bin/outpost" ]] || bin="${CARGO_TARGET_DIR:-$root/target}/ci"
bench="$bin/server_vs_inprocess"
[[ -x "$bench" ]] || bench="$(ls -t "$bin"/deps/server_vs_inprocess-* 2>/dev/null | grep -v '\.d$' | head -1 || true)"
for binary in "$bin/outpost" "$bin/outpost-bench-providers" "$bench"; do
  [[ -x "$binary" ]] || {
    echo "device-check: $binary is missing (scripts/device-check.sh --prepare on the build machine)" >&2
    exit 1
  }
done
gpu_ort="$root/.cache/onnxruntime/gpu"
if [[ ! -e "$gpu_ort/libonnxruntime.so" ]]; then
  scripts/fetch-onnxruntime.sh --gpu
fi
[[ -e "$root/.cache/onnxruntime/cpu/libonnxruntime.so" ]] || scripts/fetch-onnxruntime.sh

# The CUDA, cuDNN and TensorRT libraries of NVIDIA's Python packages, where there are any.
nvidia_libs="$(python3 - <<'EOF' 2>/dev/null || true
import importlib.util, pathlib, site, sys
roots = [pathlib.Path(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
found = []
for base in roots:
    for pattern in ("nvidia/*/lib", "nvidia/*/lib64", "tensorrt_libs", "tensorrt"):
        found += [str(p) for p in sorted(base.glob(pattern)) if p.is_dir()]
print(":".join(dict.fromkeys(found)))
EOF
)"
export LD_LIBRARY_PATH="${CUDA_LIBRARY_PATH:+$CUDA_LIBRARY_PATH:}${nvidia_libs:+$nvidia_libs:}${LD_LIBRARY_PATH:-}"

{
  echo "# Device check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo '```'
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  else
    echo "nvidia-smi: not available"
  fi
  echo "ONNX Runtime GPU build: $(readlink -f "$gpu_ort/libonnxruntime.so")"
  for provider in cuda tensorrt; do
    missing="$(ldd "$gpu_ort/libonnxruntime_providers_$provider.so" 2>&1 | grep 'not found' | awk '{print $1}' | tr '\n' ' ' || true)"
    echo "$provider provider: ${missing:+missing libraries: }${missing:-every library found}"
  done
  echo '```'
} | tee "$out/summary.md"

status=0
echo
echo "== every fixture on CPU, CUDA and TensorRT (strict), against the references"
"$bin/outpost-bench-providers" --outpost "$bin/outpost" \
  --side cpu --side cuda --side tensorrt --check-references --rounds 2 --out "$out" \
  2>&1 | tee "$out/providers.log" || status=1

echo
echo "== server against in-process, CUDA provider"
OUTPOST_BIN="$bin/outpost" \
  "$bench" --bench --provider cuda --iterations 600 --no-pin \
  2>&1 | tee "$out/server_vs_inprocess.log" || status=1

{
  echo
  cat "$out/providers.md" 2>/dev/null || echo "(no providers table: see providers.log)"
  echo
  echo '```'
  grep -E 'p50|ratio|server' "$out/server_vs_inprocess.log" || echo "(see server_vs_inprocess.log)"
  echo '```'
  echo
  [[ $status -eq 0 ]] && echo "device check: passed" || echo "device check: FAILED"
} | tee -a "$out/summary.md"
exit "$status"
