#!/bin/sh
# mk/compile-fail.sh - compile-must-fail checks (run by `make lint`).
#
# Every core/tests/compile_fail/*.c except typed_ok.c must fail to compile,
# and the compiler's message must contain the text after "EXPECT:" in the
# file's leading comment; typed_ok.c, which uses the same macros correctly,
# must compile. A mismatched element type in a typed channel macro
# (kcoro/chan_typed.h) is thereby proven to be a compile error.
top=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-cc}
flags="-std=c11 -Wall -Wextra -Werror -fsyntax-only -I$top/core/include"
fail=0
dir=$top/core/tests/compile_fail
if ! out=$($cc $flags "$dir/typed_ok.c" 2>&1); then
    echo "  typed_ok.c does not compile:"; echo "$out" | head -20; fail=1
fi
for f in "$dir"/*.c; do
    case "$f" in */typed_ok.c) continue ;; esac
    want=$(sed -n 's/.*EXPECT: \(.*\)\*\/.*/\1/p; s/.*EXPECT: \(.*\)$/\1/p' "$f" | head -1 |
           sed 's/[[:space:]]*$//')
    if out=$($cc $flags "$f" 2>&1); then
        echo "  $(basename "$f") compiled but must not"; fail=1
    elif [ -z "$want" ] || ! printf '%s' "$out" | grep -q "$want"; then
        echo "  $(basename "$f") failed without \"$want\":"; echo "$out" | head -5; fail=1
    fi
done
exit $fail
