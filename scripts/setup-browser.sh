#!/usr/bin/env bash
# Installs the browser the status page's test drives (tests/python/test_status_page.py): Debian's
# chromium, and a font for its text, when missing. Playwright for Python (tests/python/
# requirements.txt) drives it through `executable_path`; no browser is downloaded from anywhere
# but Debian's archive. Root only, for the install.
#
#   scripts/setup-browser.sh [--optional]    --optional: without root, say so and succeed (the
#                                            browser test skips itself when chromium is missing)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ${1:-} == --optional && $(id -u) -ne 0 ]]; then
  echo "setup-browser: not root: chromium is left as it is (the browser test needs it)"
  exit 0
fi
missing=()
command -v chromium > /dev/null || missing+=(chromium)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
if ((${#missing[@]} > 0)); then
  source "$root/scripts/lib/apt.sh"
  apt_install setup-browser --no-install-recommends "${missing[@]}"
fi
command -v chromium
