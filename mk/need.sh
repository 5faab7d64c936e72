#!/bin/sh
# mk/need.sh - make sure the Debian packages a target needs are present.
#
# Usage: need.sh PACKAGE=PATH [PACKAGE=PATH ...]
# A package counts as present when PATH exists. Missing packages are installed
# with apt-get when we run as root; otherwise we stop and print the exact
# apt-get line to run.
missing=""
for spec in "$@"; do
    pkg=${spec%%=*}
    path=${spec#*=}
    [ -e "$path" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "kcoro: missing Debian packages:$missing" >&2
    echo "kcoro: install them with:  sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "kcoro: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet: update once, then retry.
if ! apt-get install -y -q $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    apt-get install -y -q $missing >/dev/null || {
        echo "kcoro: apt-get install -y$missing failed" >&2; exit 1; }
fi
exit 0
