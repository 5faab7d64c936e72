#!/bin/sh
# mk/check-graduated.sh - `make check-graduated`: graduated/ is what
# graduation wrote.
#
# Fails when a graduated file differs from the hash in its MANIFEST, when a
# listed file is missing, or when a file appears that the MANIFEST does not
# list (graduated code changes only through make graduate). Warns, without
# failing, when lab/<mod>/src has changed since the graduation ("ahead of
# core").
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
rc=0
n=0
for manifest in graduated/*/MANIFEST; do
    [ -f "$manifest" ] || continue
    dir=$(dirname "$manifest"); mod=$(basename "$dir"); n=$((n + 1))
    listed=$(sed -n '/^files:$/,$p' "$manifest" | tail -n +2)
    if ! (cd "$dir" && echo "$listed" | sha256sum --check --quiet --strict) >/dev/null 2>&1; then
        echo "check-graduated: $dir: files differ from its MANIFEST (edited in place?)"
        (cd "$dir" && echo "$listed" | sha256sum --check 2>&1 | grep -v ': OK$' | sed 's/^/    /')
        rc=1
    fi
    for f in $(cd "$dir" && find . -type f ! -name MANIFEST | sed 's|^\./||' | sort); do
        echo "$listed" | awk '{print $2}' | grep -qxF "$f" ||
            { echo "check-graduated: $dir/$f is not in the MANIFEST"; rc=1; }
    done
    lab="lab/$mod/src"
    if [ -d "$lab" ]; then
        ahead=$(cd "$lab" && find . -type f | sed 's|^\./||' | sort | while read -r f; do
            h=$(sha256sum "$f" | awk '{print $1}')
            echo "$listed" | grep -qF "$h  $f" || echo "$f"
        done)
        # module.mk comes from the lab's declaration, not from src/
        h=$(make -s --no-print-directory -C "lab/$mod" declaration 2>/dev/null | sha256sum | awk '{print $1}')
        echo "$listed" | grep -qF "$h  module.mk" || ahead="$ahead module.mk(lab/$mod/Makefile)"
        gone=$(echo "$listed" | awk '{print $2}' | while read -r f; do
            [ "$f" = module.mk ] || [ -e "$lab/$f" ] || echo "$f"; done)
        if [ -n "$ahead$gone" ]; then
            echo "check-graduated: warning: lab/$mod is ahead of core (changed since graduation:" \
                $ahead $gone"); run make graduate LAB=$mod"
        fi
    fi
done
[ "$rc" -eq 0 ] && echo "check-graduated: $n graduated module(s) match their manifests"
exit $rc
