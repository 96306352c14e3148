#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library from the pinned PyPI wheel into the project cache,
# .cache/onnxruntime/{cpu,gpu,openvino}/libonnxruntime.so, where `outpost serve` finds it by itself.
#
#   scripts/fetch-onnxruntime.sh          CPU library (x86_64 or aarch64), onnxruntime==1.32.0
#   scripts/fetch-onnxruntime.sh --gpu    CUDA/TensorRT library (x86_64), onnxruntime-gpu==1.31.1
#   scripts/fetch-onnxruntime.sh --openvino
#                                         OpenVINO build (x86_64), onnxruntime-openvino==1.24.1,
#                                         with OpenVINO's libraries and device plugins, into
#                                         .cache/onnxruntime/openvino (the server's ort.flavour)
#   scripts/fetch-onnxruntime.sh --arch aarch64 [--dest DIR]
#                                         another machine's library (image and cross builds),
#                                         into DIR (default .cache/onnxruntime/cpu-aarch64)
#   scripts/fetch-onnxruntime.sh --gpu --wheel URL --sha256 HASH --dest DIR
#                                         a wheel from another index, checked against HASH
#                                         (the GPU builds for JetPack: deploy/docker/Dockerfile.jetson)
#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flavour=cpu
arch="$(uname -m)"
dest=""
wheel_url=""
wheel_sha=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gpu) flavour=gpu ;;
    --openvino) flavour=openvino ;;
    --arch) arch="$2"; shift ;;
    --dest) dest="$2"; shift ;;
    --wheel) wheel_url="$2"; shift ;;
    --sha256) wheel_sha="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

case "$flavour-$arch" in
  cpu-x86_64)  package=onnxruntime;     version=1.32.0; sha=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d ;;
  cpu-aarch64) package=onnxruntime;     version=1.32.0; sha=2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c ;;
  gpu-x86_64)  package=onnxruntime-gpu; version=1.31.1; sha=e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6 ;;
  openvino-x86_64) package=onnxruntime-openvino; version=1.24.1; sha=3007c803634cc69c6d52af1dea7ce729d9bb62b9a11070fd2f959119199007a8 ;;
  *) [[ -n "$wheel_url" ]] || { echo "no pinned ONNX Runtime wheel for $flavour on $arch" >&2; exit 1; } ;;
esac
if [[ -n "$wheel_url" ]]; then
  # A wheel from elsewhere is used only with its hash, and only into a folder named for it.
  if [[ ! "$wheel_sha" =~ ^[0-9a-f]{64}$ || -z "$dest" ]]; then
    echo "--wheel needs --sha256 (64 hex digits) and --dest" >&2
    exit 2
  fi
  version="$(basename "$wheel_url" | cut -d- -f2)"
fi

if [[ -z "$dest" ]]; then
  dest="$root/.cache/onnxruntime/$flavour"
  [[ "$arch" != "$(uname -m)" ]] && dest="$dest-$arch"
fi
library="libonnxruntime.so.$version"
if [[ -f "$dest/$library" && -L "$dest/libonnxruntime.so" ]]; then
  echo "ONNX Runtime $version ($flavour) already in $dest"
  exit 0
fi

python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# pip checks the wheel against its pinned hash before anything is unpacked; a wheel given by URL
# is fetched for this machine (the builder of the image it goes into).
if [[ -n "$wheel_url" ]]; then
  package="$(basename "$wheel_url" | cut -d- -f1)"
  printf '%s @ %s --hash=sha256:%s\n' "$package" "$wheel_url" "$wheel_sha" > "$work/requirements.txt"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r "$work/requirements.txt" -d "$work/wheel"
else
  printf '%s==%s --hash=sha256:%s\n' "$package" "$version" "$sha" > "$work/requirements.txt"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    --python-version 3.11 --platform "manylinux_2_28_$arch" \
    -r "$work/requirements.txt" -d "$work/wheel"
fi

mkdir -p "$dest"
"$python" - "$work"/wheel/*.whl "$dest" "$flavour" <<'PY'
import hashlib, os, sys, zipfile
wheel, dest, flavour = sys.argv[1], sys.argv[2], sys.argv[3]

def wanted(base):
    if base.startswith("libonnxruntime.so"):
        return True
    if flavour in ("gpu", "openvino") and base.startswith("libonnxruntime_providers_"):
        return True
    # OpenVINO itself: its runtime, its ONNX front end, the device plugins, oneTBB.
    return flavour == "openvino" and base.startswith(("libopenvino", "libtbb"))

# A wheel holds no symbolic links: a library and its versioned names are copies. The first is
# written; the others become links to it.
written = {}
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if not (name.startswith("onnxruntime/capi/") and wanted(base)):
            continue
        data = z.read(name)
        digest = hashlib.sha256(data).hexdigest()
        target = os.path.join(dest, base)
        if os.path.lexists(target):
            os.remove(target)
        if digest in written:
            os.symlink(written[digest], target)
        else:
            with open(target, "wb") as out:
                out.write(data)
            written[digest] = base
PY
ln -sf "$library" "$dest/libonnxruntime.so"
echo "ONNX Runtime $version ($flavour) installed in $dest"
