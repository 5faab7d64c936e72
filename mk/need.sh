#!/bin/sh
# mk/need.sh - make sure the Debian packages a target needs are present.
#
# Usage: need.sh PACKAGE=CHECK [PACKAGE=CHECK ...]
# Each package is checked the way the target uses it:
#   PACKAGE=/path                       present when the path exists (a tool)
#   PACKAGE=link:CC:HEADER:FLAGS        present when CC compiles a program
#                                       including HEADER (may be empty) and
#                                       links it with FLAGS (commas for
#                                       spaces): a library for the
#                                       architecture CC builds for, not just
#                                       a header another architecture's
#                                       package also installs
# Missing packages are installed with apt-get when we run as root (unless
# KC_NEED_CHECK_ONLY=1); otherwise we stop and print the exact apt-get line.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
present() { # present CHECK
    case "$1" in
    link:*)
        rest=${1#link:}
        cc=${rest%%:*}; rest=${rest#*:}
        header=${rest%%:*}; flags=$(echo "${rest#*:}" | tr ',' ' ')
        {
            echo '#include <stdarg.h>'
            echo '#include <stddef.h>'
            echo '#include <stdint.h>'
            echo '#include <setjmp.h>'
            [ -n "$header" ] && echo "#include <$header>"
            echo 'int main(void) { return 0; }'
        } > "$tmp/t.c"
        command -v "$cc" >/dev/null 2>&1 &&
            # shellcheck disable=SC2086
            "$cc" -o "$tmp/t" "$tmp/t.c" $flags >/dev/null 2>&1 ;;
    *) [ -e "$1" ] ;;
    esac
}
missing=""
for spec in "$@"; do
    pkg=${spec%%=*}
    present "${spec#*=}" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ] || [ "${KC_NEED_CHECK_ONLY:-0}" = 1 ]; then
    echo "kcoro: missing Debian packages:$missing" >&2
    echo "kcoro: install them with:  sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "kcoro: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark's wireshark-common asks whether non-root users may capture: no.
case " $missing " in *" tshark "*)
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections ;;
esac
# A fresh machine has no package lists yet: update once, then retry.
if ! apt-get install -y -q $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    apt-get install -y -q $missing >/dev/null || {
        echo "kcoro: apt-get install -y$missing failed" >&2; exit 1; }
fi
exit 0
