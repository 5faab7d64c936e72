#!/bin/sh
# core/model/verify.sh - check the cell channel models exhaustively with SPIN.
#
# Usage: verify.sh OUTDIR (the top Makefile's `verify` target passes
# build/<flavour>/core/model). Each configuration of chan_cells.pml (one
# channel: the ring, the handshake, retries, close) and of
# chan_cells_select.pml (a select over two cell channels) is
# generated with `spin -a`, compiled in safety mode (assertions and invalid
# end states) and searched completely with exact state storage. The model
# must hold in every configuration listed under "pass" and be refuted in
# every mutant, which shows the model can fail. Exits 1 on any surprise.
set -u
out=${1:?usage: verify.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null 2>&1 || { echo "verify: spin not found (apt-get install spin)"; exit 1; }
mkdir -p "$out" || exit 1
status=0

# check MODEL NAME EXPECT SPIN-DEFINES...: EXPECT is "pass" or "refute".
check() {
    model=$1; name=$2; expect=$3; shift 3
    dir=$out/$name
    rm -rf "$dir" && mkdir -p "$dir" && cp "$here/$model" "$dir/" || return 1
    if ! (cd "$dir" && spin "$@" -a "$model" > spin.log 2>&1); then
        echo "  FAIL    $name: spin -a failed"; sed 's/^/    | /' "$dir/spin.log"; return 1
    fi
    if ! cc -O2 -w -DSAFETY -DNOCLAIM -o "$dir/pan" "$dir/pan.c" 2> "$dir/cc.log"; then
        echo "  FAIL    $name: pan does not compile"; sed 's/^/    | /' "$dir/cc.log"; return 1
    fi
    (cd "$dir" && ./pan -m300000 > pan.log 2>&1)
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
    states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$dir/pan.log" | tail -n 1)
    if [ -z "$errors" ] || [ -z "$states" ]; then
        echo "  FAIL    $name: no report from pan"; tail -n 20 "$dir/pan.log" | sed 's/^/    | /'
        return 1
    fi
    if [ "$expect" = pass ]; then
        if grep -q -e 'max search depth too small' -e 'search not completed' "$dir/pan.log"; then
            echo "  FAIL    $name: search incomplete"; return 1
        fi
        if [ "$errors" != 0 ]; then
            echo "  FAIL    $name: $errors error(s)"; grep '^pan:' "$dir/pan.log" | sed 's/^/    | /'
            return 1
        fi
        echo "  PASS    $name: $states states, errors: 0"
    else
        if [ "$errors" = 0 ]; then
            echo "  FAIL    $name: the mutant was not refuted"; return 1
        fi
        echo "  PASS    $name: refuted ($(grep -m 1 '^pan:' "$dir/pan.log"))"
    fi
}

m=chan_cells.pml
echo "  SPIN    core/model/$m"
check $m recv2_send2x1 pass -DCLOSE=0 -DNS=2 -DK=1 -DNR=2 || status=1
check $m recv2_send1x4 pass -DCLOSE=0 -DNS=1 -DK=4 -DNR=2 || status=1
check $m recv1_send2x2 pass -DCLOSE=0 -DNS=2 -DK=2 -DNR=1 || status=1
check $m close_recv1_send2x1 pass -DCLOSE=1 -DNS=2 -DK=1 -DNR=1 || status=1
check $m close_recv2_send1x3 pass -DCLOSE=1 -DNS=1 -DK=3 -DNR=2 || status=1
check $m mutant1_attempt_before_announce refute -DMUTANT=1 -DCLOSE=0 -DNS=1 -DK=2 -DNR=1 || status=1
check $m mutant2_no_counter_read refute -DMUTANT=2 -DCLOSE=0 -DNS=1 -DK=2 -DNR=1 || status=1
m=chan_cells_select.pml
echo "  SPIN    core/model/$m"
check $m select_two_channels pass || status=1
check $m select_mutant1_no_pass_on refute -DMUTANT=1 || status=1
exit $status
