#!/bin/sh
# mk/check-names.sh ROOT - one naming convention for invariant checks.
#
# A function that checks a module's invariants is internal and named
# kc__<mod>_check, unless users may call it: then it is public API
# (KC_API in a header of core/include/kcoro, documented there) and named
# kc_<mod>_check. So every non-static kc_*_check (one underscore) defined
# in core/src, graduated/ or lab/*/src must be declared KC_API in a public
# header. Prints each offender; exits non-zero if there is one.
root=${1:-.}
cd "$root" || exit 1
fail=0
defs=$(find core/src graduated lab/*/src -name '*.c' 2>/dev/null | LC_ALL=C sort |
    xargs grep -HoE '^[A-Za-z_][A-Za-z0-9_ *]*[ *]kc_[a-z0-9][a-z0-9_]*_check[ ]*\(' 2>/dev/null |
    grep -v ':static ' | sed -E 's/^([^:]*):.*(kc_[a-z0-9][a-z0-9_]*_check).*/\1 \2/')
[ -n "$defs" ] || exit 0
printf '%s\n' "$defs" | {
    while read -r file name; do
        if ! grep -qE "KC_API[^;]*[ *]$name[ ]*\(" core/include/kcoro/*.h 2>/dev/null; then
            echo "check-names: $file defines $name, an invariant check that is not public API:" \
                "name it kc__${name#kc_} (or declare it KC_API in core/include/kcoro and document it)"
            fail=1
        fi
    done
    exit $fail
}
