#!/usr/bin/env bash
# Creates (or reuses) the Python baseline's virtual environment, .cache/bench-venv, with the
# pinned requirements beside this script. The requirements are copied into the environment once
# installed, and a changed file reinstalls. Prints the environment's Python on stdout (everything
# else goes to stderr). The benchmark harness runs this script before each run and starts the
# baseline with that Python; CI runs it while cargo builds. Installed with uv
# (scripts/lib/python-env.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.cache/bench-venv"
installed="$venv/installed-requirements.txt"
if ! { [[ -x "$venv/bin/python" ]] && cmp -s "$here/requirements.txt" "$installed"; }; then
  source "$root/scripts/lib/python-env.sh"
  python_env "$venv" -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$installed"
fi
echo "$venv/bin/python"
