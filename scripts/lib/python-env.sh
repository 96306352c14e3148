# Python virtual environments for the tests and the benchmarks (sourced, not run):
#
#   python_env VENV ARGS...    creates the environment VENV when it is missing and installs
#                              ARGS into it (`uv pip install ARGS`: `-r requirements.txt` or
#                              pinned packages); quiet unless something fails
#
# The installer is uv, pinned, installed from PyPI into .cache/uv-VERSION on first use (by the
# interpreter in $PYTHON, default python3, which also runs the environments). uv resolves and
# unpacks the test clients in about 15 s of CPU with its cache cold (2 warm) where pip took about
# 40: CI creates three environments while cargo compiles, and every second they take is taken
# from the build. No byte-compiling at install: Python compiles what the tests import when they
# import it. uv never downloads an interpreter of its own (UV_PYTHON_DOWNLOADS=never): the
# environments use the machine's, as `python -m venv` would.
_uv_version=0.13.9
_python_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Prints the path of the pinned uv, installing it first when missing (one installer at a time:
# CI sets environments up side by side).
_uv() {
  local home="$_python_env_root/.cache/uv-$_uv_version"
  local python="${PYTHON:-python3}"
  if [[ ! -x "$home/bin/uv" ]]; then
    mkdir -p "$_python_env_root/.cache"
    (
      flock 9
      if [[ ! -x "$home/bin/uv" ]]; then
        rm -rf "$home.partial"
        "$python" -m pip install --quiet --disable-pip-version-check --no-compile \
          --root-user-action=ignore --target "$home.partial" "uv==$_uv_version" >&2
        mv "$home.partial" "$home"
      fi
    ) 9> "$_python_env_root/.cache/uv.lock"
  fi
  echo "$home/bin/uv"
}

python_env() {
  local venv="$1"; shift
  local uv python
  uv="$(_uv)"
  python="$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')"
  export UV_PYTHON_DOWNLOADS=never
  if [[ ! -x "$venv/bin/python" ]]; then
    "$uv" venv --quiet --clear --python "$python" "$venv" >&2
  fi
  "$uv" pip install --quiet --python "$venv/bin/python" "$@" >&2
}
