#!/bin/sh
# test_multihost.sh - the two-host demonstration's ledger check, and the demonstration.
#
# First core/tools/multihost/ledger.sh against ledgers made here: one that
# balances must pass, and each planted fault must fail it (a value recorded
# twice, a value missing, a value out of range, a producer that reports
# fewer values sent, one whose unacknowledged count does not explain the
# missing value). Then core/tools/multihost/demo.sh itself with
# MULTIHOST_SKIP_OK=1: it runs where network namespaces can be made (as
# root), and says why it skips elsewhere. Needs OUT.
set -u
OUT=${OUT:?OUT must name the build output}
top=$(cd "$(dirname "$0")/../../.." && pwd)
ledger=$top/core/tools/multihost/ledger.sh
work=$(mktemp -d /tmp/kcoro-multihost-test.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fails=0
n=50
# report SENT ACKED: a producer's lines
report() { printf 'role producer\nsent %s\nacked %s\nreput 3\n' "$1" "$2" >"$work/prod"; }
expect() { # expect RC WHAT
    sh "$ledger" test "$n" "$work/ledger" "$work/prod" >"$work/got" 2>&1
    rc=$?
    if [ "$rc" -ne "$1" ]; then
        echo "  FAIL    test_multihost: $2: ledger.sh exited $rc, not $1"
        sed 's/^/    /' "$work/got"
        fails=$((fails + 1))
    fi
}
seq 0 $((n - 1)) | sort -R >"$work/ledger"
report $n $n
expect 0 "a balanced ledger"
grep -q "sent 50 = received 50 + undelivered 0" "$work/got" ||
    { echo "  FAIL    test_multihost: the balanced line: $(cat "$work/got")"; fails=$((fails + 1)); }

seq 0 $((n - 1)) >"$work/ledger" && echo 17 >>"$work/ledger"
expect 1 "a value recorded twice"
grep -q "values recorded twice (17 )" "$work/got" ||
    { echo "  FAIL    test_multihost: the duplicate is not named: $(cat "$work/got")"; fails=$((fails + 1)); }

seq 0 $((n - 1)) | grep -vx 23 >"$work/ledger"
expect 1 "a value missing, nothing reported undelivered"
report $n $((n - 1))
expect 1 "a value missing, reported undelivered: still not every value"

seq 0 $((n - 1)) >"$work/ledger" && echo $n >>"$work/ledger"
report $n $n
expect 1 "a value out of range"

seq 0 $((n - 1)) >"$work/ledger"
report $((n - 1)) $((n - 1))
expect 1 "fewer values sent than the count"

printf 'role producer\n' >"$work/prod"
expect 1 "a producer's report without its counts"

if [ $fails -ne 0 ]; then
    echo "  FAIL    test_multihost: $fails ledger checks"
    exit 1
fi
echo "  PASS    test_multihost: ledger.sh passes a balanced ledger and fails 6 planted faults"
MULTIHOST_SKIP_OK=1 OUT=$OUT sh "$top/core/tools/multihost/demo.sh" >"$work/demo.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    echo "  FAIL    test_multihost: demo-multihost exited $rc"
    sed 's/^/    /' "$work/demo.log" | tail -40
    exit 1
fi
if grep -q "SKIP" "$work/demo.log"; then
    cat "$work/demo.log"
else
    echo "  PASS    test_multihost: $(tail -1 "$work/demo.log")"
fi
exit 0
