#!/bin/sh
# mk/lint-abuse-test.sh - proof that mk/lint-abuse.sh catches what it must.
#
# Works on a temporary copy of the public headers, the abuse tests and
# core/tests/module.mk, never on the tree itself:
#   1. the copy as it is passes;
#   2. a new header with a KC_API function and no abuse test fails, and the
#      message names the file to create and the module.mk line to add;
#   3. an abuse test that names the function only in a comment fails, and
#      the message names the function and the test file;
#   4. a real call makes it pass again;
#   5. an existing abuse test with one call removed fails;
#   6. an abuse test missing from module.mk fails.
# Prints what went wrong and exits non-zero if any step did not behave.
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core/include/kcoro" "$tmp/core/tests"
cp "$top"/core/include/kcoro/*.h "$tmp/core/include/kcoro/"
cp "$top"/core/tests/test_abuse_*.c "$top/core/tests/module.mk" "$tmp/core/tests/"
# which labs declare public headers, and which have graduated (lint-abuse.sh
# holds a lab's header to the rule from its graduation on)
for mk in "$top"/lab/*/Makefile; do
    [ -f "$mk" ] || continue
    mkdir -p "$tmp/lab/$(basename "$(dirname "$mk")")" && cp "$mk" "$tmp/lab/$(basename "$(dirname "$mk")")/"
done
for g in "$top"/graduated/*/; do
    [ -d "$g" ] && mkdir -p "$tmp/graduated/$(basename "$g")"
done
lint="$top/mk/lint-abuse.sh"
rc=0
bad() { echo "  lint-abuse-test: $*"; rc=1; }
expect_pass() {
    out=$("$lint" "$tmp" 2>&1) || bad "$1: the lint failed where it should pass: $out"
}
expect_fail() { # step, text the message must contain
    if out=$("$lint" "$tmp" 2>&1); then
        bad "$1: the lint passed a planted violation"
    elif ! printf '%s\n' "$out" | grep -qF -- "$2"; then
        bad "$1: the message does not say \"$2\": $out"
    fi
}

expect_pass "1 (the tree as it is)"

cat > "$tmp/core/include/kcoro/planted.h" <<'EOF'
/* kcoro/planted.h - a header planted by mk/lint-abuse-test.sh. */
#include "kcoro/base.h"
/* A public function. */
KC_API int kc_planted_call(int x);
EOF
expect_fail "2 (new header, no abuse test)" \
    "create core/tests/test_abuse_planted.c calling each of its public functions (kc_planted_call)"
expect_fail "2 (new header, no abuse test)" '"CORE_TESTS += abuse_planted" to core/tests/module.mk'

echo 'CORE_TESTS += abuse_planted' >> "$tmp/core/tests/module.mk"
cat > "$tmp/core/tests/test_abuse_planted.c" <<'EOF'
/* Should call kc_planted_call(-1) but does not. */
int main(void) { return 0; }
EOF
expect_fail "3 (named only in a comment)" \
    "declares kc_planted_call() but core/tests/test_abuse_planted.c never calls it"

cat > "$tmp/core/tests/test_abuse_planted.c" <<'EOF'
int main(void) { return kc_planted_call(-1) == -22 ? 0 : 1; }
EOF
expect_pass "4 (called)"

sed 's/kc_unpark[[:space:]]*(/kc_unpark_gone(/g' "$top/core/tests/test_abuse_park.c" \
    > "$tmp/core/tests/test_abuse_park.c"
expect_fail "5 (a call removed)" \
    "park.h declares kc_unpark() but core/tests/test_abuse_park.c never calls it"
cp "$top/core/tests/test_abuse_park.c" "$tmp/core/tests/"

grep -vx 'CORE_TESTS += abuse_timer' "$top/core/tests/module.mk" > "$tmp/core/tests/module.mk"
echo 'CORE_TESTS += abuse_planted' >> "$tmp/core/tests/module.mk"
expect_fail "6 (not built)" 'add "CORE_TESTS += abuse_timer" to core/tests/module.mk'

exit $rc
