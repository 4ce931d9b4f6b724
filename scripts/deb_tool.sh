# Sourced by the scripts that take a tool out of a Debian package (install-promtool.sh,
# install-wrk.sh): the package is downloaded with `apt-get download` and unpacked with `dpkg -x`
# (no root, nothing installed system-wide), into a cache stamped with the package's version, so a
# later run keeps what is there. The caller runs under `set -euo pipefail`.

# Exits 1, with the reason, where apt-get or dpkg is missing. $1: the caller's name.
deb_require_apt() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "$1: apt-get and dpkg are needed (the tool comes from Debian's $2 package)" >&2
    exit 1
  fi
}

# Prints "debian PACKAGE VERSION" for the version apt offers, or exits 1. $1: the caller's name.
deb_wanted() {
  local version
  version=$(apt-cache policy "$2" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    echo "$1: apt offers no $2 package (apt-get update first?)" >&2
    exit 1
  fi
  echo "debian $2 $version"
}

# True when BINARY ($1) is there, stamped ($2) with WANTED ($3).
deb_ready() {
  [ -x "$1" ] && [ "$(cat "$2" 2>/dev/null)" = "$3" ]
}

# deb_ready, or else takes the install lock (fd 9, held until the caller exits: concurrent runs
# wait for one another) and asks again, in case the run it waited for installed it.
deb_ready_or_lock() {
  deb_ready "$1" "$2" "$3" && return 0
  mkdir -p "${2%/*}"
  exec 9>"${2%/*}/.${1##*/}.lock"
  flock 9
  deb_ready "$1" "$2" "$3"
}

# The start of an install. $1: the caller's name, $2: the package, $3: the binary, $4: its stamp.
# Exits 1 without apt; prints the binary and exits 0 when it is there at the version apt offers;
# otherwise returns holding the install lock, with DEB_WANTED set (the stamp to write at the end).
deb_begin() {
  deb_require_apt "$1" "$2"
  DEB_WANTED=$(deb_wanted "$1" "$2")
  if deb_ready_or_lock "$3" "$4" "$DEB_WANTED"; then
    echo "$3"
    exit 0
  fi
}

# Downloads PACKAGES ($2...) and unpacks them all into ROOT ($1).
deb_unpack() {
  local root=$1 work deb
  shift
  work=$(mktemp -d)
  ( cd "$work" && apt-get download "$@" >&2 )
  for deb in "$work"/*.deb; do dpkg -x "$deb" "$root"; done
  rm -rf "$work"
}
