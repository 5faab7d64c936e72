#!/bin/sh
# mk/lint.sh - `make lint`: the project's static checks.
#
#  1. include hygiene (mk/check-includes.sh): no file in core/, graduated/
#     or lab/*/src outside core/src/port includes a Linux header or any
#     system header beyond C11 and POSIX.1-2008;
#  2. doc coverage: every macro, constant and enum value in core/include
#     carries a comment (on the line itself or in the comment just above);
#  3. layout: every C file under core/, graduated/ and lab/ follows
#     .clang-format;
#  4. cppcheck over core/src, core/include and graduated/ reports nothing;
#  5. layers: include rights and public headers as the modules declare them
#     (mk/check-layers.sh);
#     check-layers also holds core/include/MANIFEST (what `make install`
#     installs) to kcoro.h and the modules' public headers;
#     every file a comment names exists (mk/check-comments.sh);
#     invariant checks are kc__<mod>_check unless public (mk/check-names.sh);
#     no call loop between the C files of a module folder, beyond the
#     known ones listed in mk/loops-allowed (mk/check-loops.py);
#  6. compile-must-fail: mismatched typed channel macros do not compile;
#  7. the checks above catch what they are for: mk/test-lint.sh plants a
#     violation of each in a copy of the tree;
#  8. API abuse: every KC_API function of core/include/kcoro/NAME.h is
#     called in core/tests/test_abuse_NAME.c (mk/lint-abuse.sh), and the
#     check still catches violations planted in a copy (mk/lint-abuse-test.sh).
# Prints what it finds and exits non-zero if anything was found.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
"$top/mk/need.sh" cppcheck=/usr/bin/cppcheck clang-format=/usr/bin/clang-format python3=/usr/bin/python3 || exit 1
fail=0

# ---- 1. include hygiene
"$top/mk/check-includes.sh" "$top" || fail=1

# ---- 2. doc coverage of the public headers
undoc=$(for f in core/include/kcoro.h core/include/kcoro/*.h; do
    awk -v file="$f" '
    function documented() { return prev_comment || $0 ~ /\/\*/ }
    /^[[:space:]]*\/\*/ || /^[[:space:]]*\*/ { prev_comment = 1; incomment = ($0 !~ /\*\//); next }
    incomment { if ($0 ~ /\*\//) incomment = 0; prev_comment = 1; next }
    /^#define[[:space:]]+KC[A-Z0-9_]*/ {
        name = $2; sub(/\(.*/, "", name)
        if (name !~ /_H$/ && !documented()) printf "  %s:%d: %s has no comment\n", file, FNR, name
        prev_comment = 0; cont = ($0 ~ /\\$/); next }
    cont { cont = ($0 ~ /\\$/); next }
    /^[[:space:]]*KC_[A-Z0-9_]+[[:space:]]*(=|,|$)/ {
        name = $1; sub(/[=,].*/, "", name)
        if (!documented()) printf "  %s:%d: enum value %s has no comment\n", file, FNR, name
        prev_comment = 0; next }
    /^[[:space:]]*$/ { next }
    { prev_comment = 0 }' "$f"
done)
if [ -n "$undoc" ]; then echo "lint: undocumented public names:"; echo "$undoc"; fail=1; fi

# ---- 3. layout
unformatted=$(find core graduated $(test -d lab && echo lab) -name '*.[ch]' | sort | while read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f"
done)
if [ -n "$unformatted" ]; then
    echo "lint: not formatted per .clang-format (fix: clang-format -i FILE):"
    echo "$unformatted"; fail=1
fi

# ---- 4. cppcheck
if ! cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,style,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem -D__x86_64__ -D_POSIX_C_SOURCE=200809L \
    -Icore/include -Icore/src -Igraduated --template='  {file}:{line}: {severity}: {message} [{id}]' \
    core/src $(test -d graduated && echo graduated) 2>&1; then
    echo "lint: cppcheck findings above"; fail=1
fi

# ---- 5. layers, and comments that name files
"$top/mk/check-layers.sh" "$top" || fail=1
"$top/mk/check-comments.sh" "$top" || fail=1
"$top/mk/check-names.sh" "$top" || fail=1
python3 "$top/mk/check-loops.py" "$top" || fail=1

# ---- 6. typed channel mismatches must not compile (mk/compile-fail.sh)
if ! "$top/mk/compile-fail.sh"; then
    echo "lint: compile-must-fail checks above"; fail=1
fi

# ---- 7. the lint's own test
"$top/mk/test-lint.sh" || fail=1

# ---- 8. API-abuse coverage, and proof that the check bites
if ! "$top/mk/lint-abuse.sh"; then
    echo "lint: public functions without an API-abuse test (above)"; fail=1
fi
if ! "$top/mk/lint-abuse-test.sh"; then
    echo "lint: mk/lint-abuse.sh missed a planted violation (above)"; fail=1
fi

[ "$fail" -eq 0 ] &&
    echo "lint: clean (includes, doc coverage, layout, cppcheck, layers, comments,"\
         "compile-fail, API abuse)"
exit $fail
