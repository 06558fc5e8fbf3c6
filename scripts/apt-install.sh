#!/bin/sh
# apt-install.sh WHAT PACKAGE...: installs the Debian packages that are missing, for WHAT (a few words).
# As root it installs them; otherwise it prints the exact command to run and fails. Does nothing when
# everything is there, and only points at the equivalents on a system without dpkg.
set -eu
what="$1"
shift
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "$what: not a Debian-based system; install the equivalents of: $*" >&2
    exit 0
fi
missing=""
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "$what needs these system packages:$missing" >&2
    echo "Install them as root, then run make again:" >&2
    echo "  sudo sh -c '$command'" >&2
    exit 1
fi
echo "$what: installing$missing"
sh -c "$command"
