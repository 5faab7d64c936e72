#!/bin/sh
# mk/run-tests.sh - run cmocka test binaries and summarise them.
#
# Usage: run-tests.sh "RUNNER" LOGFILE BINARY...
# RUNNER prefixes each binary (empty, qemu-aarch64 ..., valgrind ...).
# Each binary gets KCORO_TEST_TIMEOUT seconds (default 600). Counts come from
# cmocka's own summary lines; a binary that dies before printing its summary
# counts as one failure. When KC_SUMMARY names a file, "PASSED FAILED" is
# appended to it so a caller can total several runs.
runner=$1; log=$2; shift 2
mkdir -p "$(dirname "$log")"; : > "$log"
limit=${KCORO_TEST_TIMEOUT:-600}
passed=0; failed=0; bad=""
for bin in "$@"; do
    name=$(basename "$bin")
    out=$(mktemp)
    # shellcheck disable=SC2086
    timeout -k 5 "$limit" $runner "$bin" > "$out" 2>&1
    rc=$?
    cat "$out" >> "$log"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$out" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$out" | tail -n 1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        [ "$rc" -eq 124 ] && echo "  TIMEOUT $name after ${limit}s" || echo "  CRASH   $name (exit $rc)"
        tail -n 20 "$out" | sed 's/^/    | /'
    fi
    if [ "$f" -ne 0 ]; then
        echo "  FAIL    $name: $p passed, $f failed"
        grep -E '^\[  (FAILED|ERROR)  \]|Failure!|error:' "$out" | head -n 20 | sed 's/^/    | /'
        bad="$bad $name"
    else
        echo "  PASS    $name: $p passed"
    fi
    passed=$((passed + p)); failed=$((failed + f))
    rm -f "$out"
done
[ -n "$KC_SUMMARY" ] && echo "$passed $failed" >> "$KC_SUMMARY"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
