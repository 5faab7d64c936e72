#!/bin/sh
# model/verify.sh - check the rendezvous cell model exhaustively with SPIN.
#
# Usage: verify.sh OUTDIR   (the lab Makefile's `verify` target passes
# build/<flavour>/lab/waiter_token/model). Each configuration of
# rv_cell.pml goes through mk/spin-check.sh (spin -a, pan in safety mode,
# a complete search with exact state storage). PAIR and SELECT must finish
# with 0 errors and a complete search; NO_CLAIMING, the five-state variant
# without the reservation, must be refuted (SPIN must find its
# use-after-free), which shows the model can fail. Exits 1 on any surprise.
set -u
out=${1:?usage: verify.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
check="$here/../../../mk/spin-check.sh"
command -v spin >/dev/null 2>&1 || { echo "verify: spin not found (apt-get install spin)"; exit 1; }
status=0
echo "  model rv_cell.pml ($(spin -V | head -n 1)):"
"$check" "$here/rv_cell.pml" "$out" pair pass || status=1
"$check" "$here/rv_cell.pml" "$out" select pass -DSELECT || status=1
"$check" "$here/rv_cell.pml" "$out" no_claiming refute -DSELECT -DNO_CLAIMING || status=1
[ $status -eq 0 ] && echo "  verify: all configurations as expected" || echo "  verify: FAILED"
exit $status
