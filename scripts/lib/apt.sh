# Installing Debian packages from the setup scripts (sourced, not run):
#
#   apt_install WHO PACKAGE...    installs the packages (as root; without root, says which to
#                                 install and fails), refreshing the package lists only when the
#                                 first attempt fails. Extra apt-get options may come first,
#                                 e.g. apt_install arm64-check -t bookworm-backports qemu-user-static
apt_install() {
  local who="$1"; shift
  if [[ $(id -u) -ne 0 ]]; then
    echo "$who: install ${*} (Debian: sudo apt-get install ${*})" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" > /dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq "$@" > /dev/null
  }
}
