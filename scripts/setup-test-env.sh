#!/usr/bin/env bash
# Creates .venv with the Python clients the end-to-end tests drive the server with
# (tests/python/requirements.txt, pinned), installed with uv (scripts/lib/python-env.sh).
# Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/python-env.sh"
python_env "$root/.venv" -r "$root/tests/python/requirements.txt"
