#!/bin/sh
# mk/spin-check.sh - one exhaustive SPIN check of a Promela model.
#
# Usage: spin-check.sh MODEL OUTDIR NAME EXPECT [SPIN-DEFINES...]
# Generates the verifier of MODEL with `spin -a` (and the defines) in
# OUTDIR/NAME, compiles pan in safety mode (assertions and invalid end
# states), runs a complete search with exact state storage and reads pan's
# report. EXPECT is "pass" (no error, search complete) or "refute" (SPIN
# must find an error: a broken variant, which shows the model can fail).
# Prints one PASS / REFUTED / FAIL line; exits 1 on any surprise. Used by
# every `make verify` (core/model/verify.sh, lab/*/model/verify.sh).
# PAN_CFLAGS (default -DSAFETY) and PAN_RUN (default -m1000000) change how
# pan is compiled and run: a liveness property is checked with PAN_CFLAGS=
# and PAN_RUN='-a -f -m1000000 -N <ltl name>'.
set -u
model=${1:?usage: spin-check.sh MODEL OUTDIR NAME EXPECT [SPIN-DEFINES...]}
out=$2; name=$3; expect=$4; shift 4
command -v spin >/dev/null 2>&1 || { echo "verify: spin not found (apt-get install spin)"; exit 1; }
file=$(basename "$model")
dir=$out/$name
rm -rf "$dir" && mkdir -p "$dir" && cp "$model" "$dir/" || exit 1
if ! (cd "$dir" && spin "$@" -a "$file" > spin.log 2>&1); then
    echo "  FAIL    $name: spin -a failed"; sed 's/^/    | /' "$dir/spin.log"; exit 1
fi
# shellcheck disable=SC2086
if ! cc -O2 -w ${PAN_CFLAGS--DSAFETY} -o "$dir/pan" "$dir/pan.c" 2> "$dir/cc.log"; then
    echo "  FAIL    $name: pan does not compile"; sed 's/^/    | /' "$dir/cc.log"; exit 1
fi
# shellcheck disable=SC2086
(cd "$dir" && ./pan ${PAN_RUN:--m1000000} > pan.log 2>&1)
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$dir/pan.log" | tail -n 1)
trans=$(sed -n 's/^ *\([0-9][0-9]*\) transitions.*/\1/p' "$dir/pan.log" | tail -n 1)
depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
if [ -z "$errors" ] || [ -z "$states" ]; then
    echo "  FAIL    $name: no report from pan"; tail -n 20 "$dir/pan.log" | sed 's/^/    | /'
    exit 1
fi
if grep -q -e 'max search depth too small' -e 'search not completed' "$dir/pan.log"; then
    echo "  FAIL    $name: search incomplete"; exit 1
fi
if [ "$expect" = pass ]; then
    if [ "$errors" -ne 0 ]; then
        echo "  FAIL    $name: $errors error(s)"
        grep -E '^pan:' "$dir/pan.log" | head -n 5 | sed 's/^/    | /'
        (cd "$dir" && spin "$@" -t -p "$file" > trail.txt 2>&1)
        echo "    trail: $dir/trail.txt"
        exit 1
    fi
    echo "  PASS    $name: $states states, $trans transitions, depth $depth, errors: 0"
else
    if [ "$errors" -eq 0 ]; then
        echo "  FAIL    $name: expected SPIN to refute this variant, it did not"; exit 1
    fi
    what=$(grep -m 1 '^pan:[0-9]' "$dir/pan.log" | sed 's/^pan:[0-9]*: *//')
    echo "  REFUTED $name (as expected): $what"
fi
exit 0
