# Sourced by the CI installers (kcat.sh, prometheus.sh, chromium.sh).
#   as_root CMD...          runs CMD, through sudo when not root
#   apt_install PACKAGE WHAT installs one Debian package without recommends, trying without
#                            refreshing the package lists first and refreshing once only if the
#                            package is unknown; WHAT says what to install by hand where there is
#                            no apt-get (Debian/Ubuntu only)

as_root() {
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}

apt_install() {
  local package="$1" what="$2"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$package is missing and apt-get is unavailable: $what" >&2
    exit 1
  fi
  echo "== installing $package"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y --no-install-recommends "$package" >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y --no-install-recommends "$package" >/dev/null
  fi
}
