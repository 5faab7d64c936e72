#!/bin/sh
# model/verify.sh - check the bus's wake protocol model exhaustively with SPIN.
#
# Usage: verify.sh OUTDIR   (the lab Makefile's `verify` target passes
# build/<flavour>/lab/soa_bus/model). Each configuration of bus_wake.pml
# goes through mk/spin-check.sh: safety with 2 publishers x 2 messages,
# with close (x 3), with timeouts and close, and the LTL property
# no_lost_wakeup under weak fairness must hold; the three mutants (no race
# check; re-check before arming; disarm without absorbing a wake-up) must
# each be refuted, which shows the model can fail. Exits 1 on any surprise.
set -u
out=${1:?usage: verify.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
check="$here/../../../mk/spin-check.sh"
model="$here/bus_wake.pml"
command -v spin >/dev/null 2>&1 || { echo "verify: spin not found (apt-get install spin)"; exit 1; }
status=0
echo "  model bus_wake.pml ($(spin -V | head -n 1)):"
export PAN_CFLAGS="-DSAFETY -DNOCLAIM"
"$check" "$model" "$out" safety pass || status=1
"$check" "$model" "$out" close pass -DCLOSE=1 -DN=3 || status=1
"$check" "$model" "$out" timeout pass -DCLOSE=1 -DTIMEOUT=1 || status=1
PAN_CFLAGS="" PAN_RUN="-a -f -m1000000 -N no_lost_wakeup" \
    "$check" "$model" "$out" ltl pass || status=1
"$check" "$model" "$out" mutant1 refute -DMUTANT=1 || status=1
"$check" "$model" "$out" mutant2 refute -DMUTANT=2 || status=1
"$check" "$model" "$out" mutant3 refute -DMUTANT=3 -DTIMEOUT=1 || status=1
[ $status -eq 0 ] && echo "  verify: the wake protocol holds; all three mutants refuted" ||
    echo "  verify: FAILED"
exit $status
