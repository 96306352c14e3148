#!/usr/bin/env bash
# Builds the runtime images from a local build, where no registry is reachable: each image is
# assembled FROM scratch out of the stripped binary, the shared libraries it and ONNX Runtime
# link (taken from this machine, found with ldd), CA certificates, and passwd/group entries for
# the non-root user 65532. The same layout as deploy/docker/Dockerfile's distroless images:
# /usr/bin/outpost with /usr/lib/libonnxruntime.so beside it; /usr/bin/outpost-agent alone.
#
#   deploy/docker/build-local.sh [--profile PROFILE | --bin-dir DIR] [--tag TAG] [--print-tags]
#
# Takes the server's binary from DIR/image/outpost (ONNX Runtime alone, made by
# scripts/build-image-binary.sh PROFILE) and the agent's from DIR/outpost-agent (scripts/build.sh
# or `cargo build -p outpost-agent`), where DIR is ${CARGO_TARGET_DIR:-target}/PROFILE (default
# profile: ci), and .cache/onnxruntime/cpu/libonnxruntime.so (scripts/fetch-onnxruntime.sh). Tags
# outpost:TAG and outpost-agent:TAG and prints each image's size. TAG defaults to the workspace's
# version (Cargo.toml), the tag compose's .env.example, compose.yaml and the k3s kustomizations
# name: the images this makes are the ones they run. --print-tags prints the two names and stops.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
profile=ci
tag="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
bin_dir=""
print_tags=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="$2"; shift ;;
    --bin-dir) bin_dir="$2"; shift ;;
    --tag) tag="$2"; shift ;;
    --print-tags) print_tags=true ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

[[ -n "$tag" ]] || { echo "no version in $root/Cargo.toml: give --tag" >&2; exit 2; }
if $print_tags; then
  echo "outpost:$tag outpost-agent:$tag"
  exit 0
fi

[[ -n "$bin_dir" ]] || bin_dir="${CARGO_TARGET_DIR:-$root/target}/$profile"
ort="$root/.cache/onnxruntime/cpu/libonnxruntime.so"
server_binary="$bin_dir/image/outpost"
agent_binary="$bin_dir/outpost-agent"
[[ -x "$server_binary" ]] || { echo "$server_binary not found: scripts/build-image-binary.sh $profile" >&2; exit 1; }
[[ -x "$agent_binary" ]] || { echo "$agent_binary not found: cargo build --profile $profile -p outpost-agent" >&2; exit 1; }
[[ -e "$ort" ]] || "$root/scripts/fetch-onnxruntime.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Copies each shared library `ldd` lists for the given files (and the dynamic loader) into the
# root folder $1 at the same path.
copy_libraries() {
  local rootfs="$1"; shift
  ldd "$@" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

# The common part of both root folders: CA certificates, the users, an empty /tmp.
base_rootfs() {
  local rootfs="$1"
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/usr/bin"
  chmod 1777 "$rootfs/tmp"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
}

# $1: image name; $2: context folder (rootfs/ and owned/ inside); the rest: Dockerfile lines.
build_image() {
  local name="$1" context="$2"; shift 2
  {
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "COPY --chown=65532:65532 owned/ /"
    echo "USER 65532:65532"
    printf '%s\n' "$@"
  } > "$context/Dockerfile"
  docker build --quiet -t "$name:$tag" "$context" > /dev/null
  local bytes
  bytes="$(docker image inspect --format '{{.Size}}' "$name:$tag")"
  echo "$name:$tag $bytes bytes ($(( bytes / 1024 / 1024 )) MiB)"
}

# The server: outpost (ONNX Runtime its one backend), the library beside it (../lib), their
# libraries.
server="$work/server"
base_rootfs "$server/rootfs"
strip -o "$server/rootfs/usr/bin/outpost" "$server_binary"
mkdir -p "$server/rootfs/usr/lib" "$server/owned/models" "$server/owned/var/lib/outpost"
cp -L "$ort" "$server/rootfs/usr/lib/libonnxruntime.so"
copy_libraries "$server/rootfs" "$server/rootfs/usr/bin/outpost" "$server/rootfs/usr/lib/libonnxruntime.so"
build_image outpost "$server" \
  'EXPOSE 8000 8001' \
  'VOLUME ["/models", "/var/lib/outpost"]' \
  'HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/bin/outpost", "probe", "http://127.0.0.1:8000/v2/health/ready"]' \
  'ENTRYPOINT ["/usr/bin/outpost"]' \
  'CMD ["serve", "--model-repository", "/models", "--http-host", "0.0.0.0", "--grpc-host", "0.0.0.0"]'

# The agent: outpost-agent and its libraries.
agent="$work/agent"
base_rootfs "$agent/rootfs"
strip -o "$agent/rootfs/usr/bin/outpost-agent" "$agent_binary"
mkdir -p "$agent/owned/var/lib/outpost-agent"
copy_libraries "$agent/rootfs" "$agent/rootfs/usr/bin/outpost-agent"
build_image outpost-agent "$agent" \
  'EXPOSE 8003' \
  'VOLUME ["/var/lib/outpost-agent"]' \
  'HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/bin/outpost-agent", "--probe", "http://127.0.0.1:8003/status"]' \
  'ENTRYPOINT ["/usr/bin/outpost-agent"]' \
  'CMD ["--model-repository", "/models", "--state-dir", "/var/lib/outpost-agent", "--status-host", "0.0.0.0"]'
