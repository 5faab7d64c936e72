#!/bin/sh
# core/model/verify.sh - check the seq-ring channel and select models exhaustively with SPIN.
#
# Usage: verify.sh OUTDIR (the top Makefile's `verify` target passes
# build/<flavour>/core/model). Each configuration of chan_seq.pml (one
# channel: the ring, the handshake, retries, close) and of
# chan_seq_select.pml (a select over two seq-ring channels) and of
# select_remote.pml (remote select: the claim word against remote fires,
# the register/notify/claim protocol with leases and a crash) goes through
# mk/spin-check.sh (spin -a, pan in safety mode, a complete search with
# exact state storage). The models must hold in every configuration listed
# as "pass" and be refuted in every mutant, which shows they can fail.
# Exits 1 on any surprise.
set -u
out=${1:?usage: verify.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
check="$here/../../mk/spin-check.sh"
status=0

m=$here/chan_seq.pml
echo "  SPIN    core/model/chan_seq.pml"
"$check" "$m" "$out" recv2_send2x1 pass -DCLOSE=0 -DNS=2 -DK=1 -DNR=2 || status=1
"$check" "$m" "$out" recv2_send1x4 pass -DCLOSE=0 -DNS=1 -DK=4 -DNR=2 || status=1
"$check" "$m" "$out" recv1_send2x2 pass -DCLOSE=0 -DNS=2 -DK=2 -DNR=1 || status=1
"$check" "$m" "$out" close_recv1_send2x1 pass -DCLOSE=1 -DNS=2 -DK=1 -DNR=1 || status=1
"$check" "$m" "$out" close_recv2_send1x3 pass -DCLOSE=1 -DNS=1 -DK=3 -DNR=2 || status=1
"$check" "$m" "$out" mutant1_attempt_before_announce refute -DMUTANT=1 -DCLOSE=0 -DNS=1 -DK=2 \
    -DNR=1 || status=1
"$check" "$m" "$out" mutant2_no_counter_read refute -DMUTANT=2 -DCLOSE=0 -DNS=1 -DK=2 -DNR=1 ||
    status=1
m=$here/chan_seq_select.pml
echo "  SPIN    core/model/chan_seq_select.pml"
"$check" "$m" "$out" select_two_channels pass || status=1
"$check" "$m" "$out" select_mutant1_no_pass_on refute -DMUTANT=1 || status=1
m=$here/select_remote.pml
echo "  SPIN    core/model/select_remote.pml"
"$check" "$m" "$out" remote_local_crash_halfopen pass -DLOCAL=1 -DTIMEOUT=0 -DLEASES=0 -DCRASH=1 \
    -DDETECT=0 || status=1
"$check" "$m" "$out" remote_timeout_lease pass -DLOCAL=0 -DTIMEOUT=1 -DLEASES=1 -DCRASH=0 ||
    status=1
"$check" "$m" "$out" remote_crash_detected pass -DLOCAL=0 -DTIMEOUT=0 -DLEASES=0 -DCRASH=1 \
    -DDETECT=1 || status=1
"$check" "$m" "$out" remote_mutant1_no_lease refute -DMUTANT=1 -DLOCAL=0 -DTIMEOUT=0 -DLEASES=0 ||
    status=1
"$check" "$m" "$out" remote_mutant2_claim_before_cas refute -DMUTANT=2 -DLOCAL=1 -DTIMEOUT=0 \
    -DCRASH=0 -DLEASES=0 || status=1
"$check" "$m" "$out" remote_mutant3_no_pass_on refute -DMUTANT=3 -DLOCAL=1 -DTIMEOUT=0 -DCRASH=0 \
    -DLEASES=0 || status=1
exit $status
