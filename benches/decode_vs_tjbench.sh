#!/usr/bin/env bash
# Decode time per camera benchmark photo: Outpost's JPEG decode (libjpeg-turbo through
# crates/vision, at the scale the server picks for a 224x224 model; the median of 400 decodes)
# against libjpeg-turbo's own tjbench (Debian's libjpeg-turbo-progs) on the same file at the same
# scale, into RGB. Each side is measured five times, alternating, each time in a new process, and
# its fastest measurement kept: the same decode in different processes on this machine differs
# by up to 25 % (both Outpost's and tjbench's; it is not address layout, which repeats with ASLR
# off), and one slow process must not decide. Fails when Outpost takes more than 1.15x
# tjbench's time on any photo.
#
#   benches/decode_vs_tjbench.sh [BUILD_DIR]   # default target/ci, as scripts/build.sh leaves it
#
# The photos are the harness's (`outpost-bench --write-photos`). The table also lands in
# target/bench-report/decode-vs-tjbench.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${1:-${CARGO_TARGET_DIR:-target}/ci}"
limit=1.15

if ! command -v tjbench >/dev/null; then
  source scripts/lib/apt.sh
  apt_install decode_vs_tjbench libjpeg-turbo-progs
fi
photos="$(mktemp -d)"
trap 'rm -rf "$photos"' EXIT
"$build/outpost-bench" --write-photos "$photos" >/dev/null

report="${CARGO_TARGET_DIR:-target}/bench-report/decode-vs-tjbench.md"
mkdir -p "$(dirname "$report")"
{
  echo "| photo | scale | Outpost (ms) | tjbench (ms) | Outpost / tjbench |"
  echo "|---|---|---|---|---|"
} >"$report"
failed=0
for photo in "$photos"/*.jpg; do
  ours="" fps=""
  for _ in 1 2 3 4 5; do
    IFS=$'\t' read -r _ scale measured < <("$build/examples/decode_time" "$photo")
    ours="$(awk -v a="$measured" -v b="${ours:-$measured}" 'BEGIN { print (a < b ? a : b) }')"
    rate="$(tjbench "$photo" -scale "$scale" -rgb -benchtime 1 -warmup 0.5 |
      awk '/Decompress/ && /Frame rate/ { print $(NF - 1) }')"
    if [[ -z $rate ]]; then
      echo "tjbench gave no decode rate for $photo" >&2
      exit 1
    fi
    fps="$(awk -v a="$rate" -v b="${fps:-$rate}" 'BEGIN { print (a > b ? a : b) }')"
  done
  theirs="$(awk -v fps="$fps" 'BEGIN { printf "%.3f", 1000 / fps }')"
  ratio="$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')"
  echo "| $(basename "$photo" .jpg) | $scale | $ours | $theirs | $ratio |" >>"$report"
  if awk -v r="$ratio" -v l="$limit" 'BEGIN { exit !(r > l) }'; then
    echo "$(basename "$photo"): Outpost's decode takes ${ratio}x tjbench's (limit ${limit}x)" >&2
    failed=1
  fi
done
cat "$report"
exit "$failed"
