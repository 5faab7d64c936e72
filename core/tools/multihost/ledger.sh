#!/bin/sh
# ledger.sh - check one direction of the two-host demonstration's ledger.
#
# Usage: ledger.sh LABEL COUNT LEDGER PRODUCER_OUT
#   LEDGER        the consumer's file: one recorded value a line (all its
#                 incarnations appended to it)
#   PRODUCER_OUT  the producer's "key value" lines (kcoro-multihost)
# The direction balances when the producer sent exactly COUNT values,
# every one of 0..COUNT-1 is in LEDGER exactly once, nothing else is, and
# sent = received + undelivered, where undelivered (values sent that no
# consumer recorded) must be what the producer reports as unacknowledged
# (sent - acked). Prints one line and exits 0 when it balances; otherwise
# says what is wrong and exits 1. core/docs/OBSERVABILITY.md, "The
# two-host demonstration", says why this is the ledger.
set -u
label=$1 count=$2 ledger=$3 prod=$4
val() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "missing" }' "$prod"; }
sent=$(val sent) acked=$(val acked) reput=$(val reput)
bad=""
[ -r "$ledger" ] || { echo "ledger $label: FAIL: no ledger file $ledger"; exit 1; }
lines=$(grep -c . "$ledger")
twice=$(sort -n "$ledger" | uniq -d | wc -l)
first_twice=$(sort -n "$ledger" | uniq -d | head -3 | tr '\n' ' ')
outside=$(awk -v n="$count" '!/^[0-9]+$/ || $1 + 0 >= n' "$ledger" | wc -l)
distinct=$(sort -n "$ledger" | uniq | wc -l)
received=$distinct
case "$sent$acked" in *missing*|*[!0-9]*)
    echo "ledger $label: FAIL: the producer's report has no sent/acked lines"; exit 1 ;;
esac
undelivered=$((sent - received))
reported=$((sent - acked))
[ "$sent" -eq "$count" ] || bad="$bad sent $sent != $count;"
[ "$twice" -eq 0 ] || bad="$bad $twice values recorded twice ($first_twice);"
[ "$outside" -eq 0 ] || bad="$bad $outside lines not a value below $count;"
[ "$lines" -eq "$distinct" ] || bad="$bad $lines lines for $distinct values;"
[ "$undelivered" -eq "$reported" ] ||
    bad="$bad $undelivered values not recorded but $reported reported undelivered;"
[ "$received" -eq "$count" ] || bad="$bad $received of $count values recorded;"
echo "ledger $label: sent $sent = received $received + undelivered $undelivered" \
    "(reported $reported); each value once: $([ "$twice" -eq 0 ] && echo yes || echo NO);" \
    "put again after a lost connection: $reput"
if [ -n "$bad" ]; then
    echo "ledger $label: FAIL:$bad"
    exit 1
fi
exit 0
