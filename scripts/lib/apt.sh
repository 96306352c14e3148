# Installing Debian packages from the setup scripts (sourced, not run):
#
#   apt_install WHO PACKAGE...    installs the packages (as root; without root, says which to
#                                 install and fails), refreshing the package lists only when the
#                                 first attempt fails. Extra apt-get options may come first,
#                                 e.g. apt_install arm64-check -t bookworm-backports qemu-user-static
#   apt_update                    refreshes the package lists
#
# CI runs several setup scripts side by side (scripts/test.sh, .ci/run): each apt-get here holds
# one lock file for its whole run, so that they wait for each other instead of failing on dpkg's
# lock, and waits for dpkg's own lock when something else holds it.
_apt_lock=/var/lock/outpost-apt.lock

_apt_get() {
  flock "$_apt_lock" apt-get -o DPkg::Lock::Timeout=600 "$@"
}

apt_update() {
  _apt_get update -qq
}

apt_install() {
  local who="$1"; shift
  if [[ $(id -u) -ne 0 ]]; then
    echo "$who: install ${*} (Debian: sudo apt-get install ${*})" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  _apt_get install -y -qq "$@" > /dev/null 2>&1 || {
    apt_update
    _apt_get install -y -qq "$@" > /dev/null
  }
}
