#!/usr/bin/env bash
# Runs Triton's perf_analyzer against Outpost over HTTP and over gRPC at concurrency 1..4 with the
# bundled default model, and fails if perf_analyzer reports an error on either protocol.
#
#   benches/perf_analyzer.sh [OUTPOST_BINARY]    # default: target/release/outpost
#   benches/perf_analyzer.sh --setup             # only install perf_analyzer (CI: during the build)
#
# perf_analyzer comes from the tritonclient 2.51.0 wheel (the last whose binary runs on glibc
# 2.36), installed into .cache/perf-analyzer-venv; it needs Debian's libb64-0d and the CUDA
# runtime library from PyPI on LD_LIBRARY_PATH (no GPU is used). Reports (CSV and the printed
# summary) go to target/bench-report/perf_analyzer/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
venv="$root/.cache/perf-analyzer-venv"
out="$target_dir/bench-report/perf_analyzer"
concurrency="${PERF_ANALYZER_CONCURRENCY:-1:4}"
interval_ms="${PERF_ANALYZER_INTERVAL_MS:-2000}"
# Throughput and latency of three windows may differ by this many percent and still count as
# stable: shared 2-core CI machines swing more than perf_analyzer's default 10.
stability="${PERF_ANALYZER_STABILITY:-50}"
model=mobilenet_v2_int8

install_perf_analyzer() {
  if ! ldconfig -p | grep -q 'libb64\.so\.0d'; then
    source "$root/scripts/lib/apt.sh"
    apt_install perf_analyzer libb64-0d
  fi
  if [[ ! -x "$venv/bin/perf_analyzer" ]]; then
    source "$root/scripts/lib/python-env.sh"
    python_env "$venv" "tritonclient[all]==2.51.0" "nvidia-cuda-runtime-cu12==12.9.79"
  fi
}

install_perf_analyzer
[[ "${1:-}" == --setup ]] && exit 0
binary="${1:-$target_dir/release/outpost}"
cudart="$("$venv/bin/python" -c 'import nvidia.cuda_runtime, os; print(os.path.join(nvidia.cuda_runtime.__path__[0], "lib"))')"
export LD_LIBRARY_PATH="$cudart${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

mkdir -p "$out"
announced="$out/server.stdout"
"$binary" serve --http-host 127.0.0.1 --http-port 0 --grpc-host 127.0.0.1 --grpc-port 0 \
  --model-repository "$root/models" --log-level warn >"$announced" 2>"$out/server.stderr" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

# The HTTP line is printed once every listener is bound; the gRPC line comes before it.
for _ in $(seq 600); do
  grep -q '^outpost: http listening on ' "$announced" && break
  kill -0 $server 2>/dev/null || { cat "$out/server.stderr" >&2; exit 1; }
  sleep 0.1
done
http="$(sed -n 's/^outpost: http listening on //p' "$announced")"
grpc="$(sed -n 's/^outpost: grpc listening on //p' "$announced")"
[[ -n "$http" && -n "$grpc" ]] || { echo "outpost did not announce its addresses" >&2; exit 1; }
python3 - "$http" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(f"http://{sys.argv[1]}/v2/health/ready", timeout=2).status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit("outpost did not become ready")
PY

status=0
for protocol in http grpc; do
  url=$([[ $protocol == http ]] && echo "$http" || echo "$grpc")
  echo "== perf_analyzer over $protocol ($url), concurrency $concurrency"
  if "$venv/bin/perf_analyzer" -m "$model" -u "$url" -i "$protocol" \
      --concurrency-range "$concurrency" --measurement-interval "$interval_ms" \
      --stability-percentage "$stability" --max-trials 20 \
      -f "$out/$protocol.csv" >"$out/$protocol.txt" 2>&1 \
      && ! grep -qi 'error\|failed' "$out/$protocol.txt"; then
    sed -n '/Inferences\/Second vs. Client Average Batch Latency/,$p' "$out/$protocol.txt"
  else
    echo "perf_analyzer over $protocol failed:" >&2
    cat "$out/$protocol.txt" >&2
    status=1
  fi
done
exit $status
