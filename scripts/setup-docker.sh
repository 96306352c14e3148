#!/usr/bin/env bash
# Sets up the Docker engine that the deploy tests drive (tests/python/test_deploy_*.py): Debian's
# docker.io and docker-compose, and a static busybox (which the compose test mounts to look inside
# its shell-less containers), installed when missing; dockerd started when the engine does not
# answer (its log in /tmp/outpost-dockerd.log). Returns when the engine answers, or fails after a
# minute. Root only, for the installs and the daemon. One run at a time: CI starts it beside the
# build (scripts/test.sh) and each pytest worker runs it again before its first deploy test.
#
#   scripts/setup-docker.sh [--optional]    --optional: without root, say so and succeed (the
#                                           deploy tests skip themselves then)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ${1:-} == --optional && $(id -u) -ne 0 ]]; then
  echo "setup-docker: not root: the Docker engine is left as it is (the deploy tests need root)"
  exit 0
fi
exec {lock}> /tmp/outpost-docker-engine.lock
flock "$lock"

missing=()
command -v dockerd > /dev/null || missing+=(docker.io)
command -v docker-compose > /dev/null || missing+=(docker-compose)
command -v busybox > /dev/null || missing+=(busybox-static)
if ((${#missing[@]} > 0)); then
  source "$root/scripts/lib/apt.sh"
  apt_install setup-docker --no-install-recommends "${missing[@]}"
fi

answers() { command -v docker > /dev/null && timeout 30 docker info > /dev/null 2>&1; }
answers && exit 0
# A session of its own, without the lock: the daemon outlives this script.
setsid dockerd >> /tmp/outpost-dockerd.log 2>&1 < /dev/null {lock}>&- &
for _ in $(seq 120); do
  answers && exit 0
  sleep 0.5
done
echo "dockerd did not start: see /tmp/outpost-dockerd.log" >&2
exit 1
