#!/bin/sh
# model/verify.sh - check the rendezvous cell model exhaustively with SPIN.
#
# Usage: verify.sh OUTDIR   (the lab Makefile's `verify` target passes
# build/<flavour>/lab/waiter_token/model). For each configuration of
# rv_cell.pml it generates the verifier with `spin -a`, compiles pan with cc
# (safety mode: assertions and invalid end states), runs a full search with
# exact state storage and reads pan's report. PAIR and SELECT must finish
# with 0 errors and a complete search; NO_CLAIMING, the five-state variant
# without the reservation, must be refuted (SPIN must find its
# use-after-free), which shows the model can fail. Exits 1 on any surprise.
set -u
out=${1:?usage: verify.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null 2>&1 || { echo "verify: spin not found (apt-get install spin)"; exit 1; }
mkdir -p "$out" || exit 1
status=0

# check NAME EXPECT SPIN-FLAGS...: EXPECT is "pass" or "refute".
check() {
    name=$1; expect=$2; shift 2
    dir=$out/$name
    rm -rf "$dir" && mkdir -p "$dir" && cp "$here/rv_cell.pml" "$dir/" || return 1
    if ! (cd "$dir" && spin "$@" -a rv_cell.pml > spin.log 2>&1); then
        echo "  FAIL    $name: spin -a failed"; sed 's/^/    | /' "$dir/spin.log"; return 1
    fi
    if ! cc -O2 -DSAFETY -o "$dir/pan" "$dir/pan.c" 2> "$dir/cc.log"; then
        echo "  FAIL    $name: pan does not compile"; sed 's/^/    | /' "$dir/cc.log"; return 1
    fi
    (cd "$dir" && ./pan -m1000000 > pan.log 2>&1)
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
    states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$dir/pan.log" | tail -n 1)
    trans=$(sed -n 's/^ *\([0-9][0-9]*\) transitions.*/\1/p' "$dir/pan.log" | tail -n 1)
    depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
    if [ -z "$errors" ] || [ -z "$states" ]; then
        echo "  FAIL    $name: no report from pan"; tail -n 20 "$dir/pan.log" | sed 's/^/    | /'
        return 1
    fi
    if grep -q -e 'max search depth too small' -e 'search not completed' "$dir/pan.log"; then
        echo "  FAIL    $name: search incomplete"; return 1
    fi
    if [ "$expect" = pass ]; then
        if [ "$errors" -ne 0 ]; then
            echo "  FAIL    $name: $errors error(s)"
            grep -E '^pan:' "$dir/pan.log" | head -n 5 | sed 's/^/    | /'
            (cd "$dir" && spin "$@" -t -p rv_cell.pml > trail.txt 2>&1)
            echo "    trail: $dir/trail.txt"
            return 1
        fi
        echo "  PASS    $name: $states states, $trans transitions, depth $depth, errors: 0"
    else
        if [ "$errors" -eq 0 ]; then
            echo "  FAIL    $name: expected SPIN to refute this variant, it did not"; return 1
        fi
        what=$(grep -m 1 'violated' "$dir/pan.log" | sed 's/^pan:[0-9]*: *//')
        echo "  REFUTED $name (as expected): $what"
    fi
    return 0
}

echo "  model rv_cell.pml ($(spin -V | head -n 1)):"
check pair pass || status=1
check select pass -DSELECT || status=1
check no_claiming refute -DSELECT -DNO_CLAIMING || status=1
[ $status -eq 0 ] && echo "  verify: all configurations as expected" || echo "  verify: FAILED"
exit $status
