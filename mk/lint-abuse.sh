#!/bin/sh
# mk/lint-abuse.sh - every public function has an API-abuse test.
#
# Usage: lint-abuse.sh [ROOT]   (default: the repository this script is in)
#
# For each public header ROOT/core/include/kcoro/NAME.h, every function
# declared with KC_API must be called (NAME followed by "(", comments
# stripped) in ROOT/core/tests/test_abuse_NAME.c, the header's API-abuse
# test: it calls each function with NULL, zero, negative, huge and stale
# arguments and asserts the documented negative errno, with no leak (ASan,
# Valgrind). The test must also be built by `make test` (listed as
# `CORE_TESTS += abuse_NAME` in ROOT/core/tests/module.mk). A header that a
# lab declares public (LAB_PUBLIC) is held to the rule from the lab's
# graduation on. Prints one line per omission saying exactly what to add,
# and exits non-zero if any.
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
rc=0
# Comments out, macros untouched: a name mentioned only in a comment is no call.
strip() { gcc -fpreprocessed -dD -E -P "$1" 2>/dev/null || cat "$1"; }
# A lab's public header (LAB_PUBLIC in lab/MOD/Makefile) is held to the rule
# once the lab graduates: until then its functions are not in libkcoro and
# the lab's own tests exercise them.
lab_only() {
    for mk in lab/*/Makefile; do
        [ -f "$mk" ] || continue
        mod=$(basename "$(dirname "$mk")")
        grep -q "^LAB_PUBLIC.*[[:space:]]kcoro/$1\.h" "$mk" && [ ! -d "graduated/$mod" ] && return 0
    done
    return 1
}
for h in core/include/kcoro/*.h; do
    [ -f "$h" ] || continue
    name=$(basename "$h" .h)
    lab_only "$name" && continue
    fns=$(strip "$h" | grep -v '^[[:space:]]*#' | tr '\n' ' ' | grep -o 'KC_API[^;{]*(' |
        sed 's/($//; s/.*[^A-Za-z0-9_]\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*$/\1/' | sort -u)
    [ -n "$fns" ] || continue
    test_c="core/tests/test_abuse_$name.c"
    if [ ! -f "$test_c" ]; then
        echo "  $h: no API-abuse test: create $test_c calling each of its public functions" \
            "($(echo $fns | sed 's/ /, /g')) with NULL, zero, negative, huge and stale" \
            "arguments and asserting the documented errno, and add" \
            "\"CORE_TESTS += abuse_$name\" to core/tests/module.mk"
        rc=1
        continue
    fi
    grep -qx "CORE_TESTS += abuse_$name" core/tests/module.mk 2>/dev/null || {
        echo "  $test_c is not built: add \"CORE_TESTS += abuse_$name\" to core/tests/module.mk"
        rc=1
    }
    body=$(strip "$test_c")
    for fn in $fns; do
        printf '%s\n' "$body" | grep -q "\\b$fn[[:space:]]*(" && continue
        echo "  $h declares $fn() but $test_c never calls it: add a call of $fn() with NULL," \
            "zero, negative, huge and stale arguments to $test_c that asserts the errno" \
            "documented in $h (and document any result it lacks)"
        rc=1
    done
done
exit $rc
