#!/bin/sh
# mk/count-ops.sh OUTDIR COUNT_OPS [FIGURE...] - `make bench-count`:
# instructions and locked instructions per operation of kcoro's hot paths,
# counted by Valgrind's callgrind, a signal the noise of a shared machine
# does not move. Each figure of core/bench/count_ops.c runs twice, with N
# and 2N operations; the difference of the two totals divided by N is the
# cost of one operation (set-up and exit cancel out). `Ir` counts executed
# instructions, `Ge` (--collect-bus=yes) locked instructions. Prints
# `BENCH count.<figure>.instr` and `.locked` lines and writes them to
# OUTDIR/count.tsv. COUNT_N sets N (default 20000).
out=$1; bin=$2; shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/mk/need.sh" valgrind=/usr/bin/valgrind || exit 1
# No FIGURE named: every figure of count_ops.c whose name contains
# COUNT_ONLY (a module, as `make bench-peers ONLY=...` passes it).
figs=$*
if [ -z "$figs" ]; then
    for f in coro.switch_roundtrip sched.yield_pingpong sched.spawn_join sched.timer_set_cancel \
        sched.timer_set_cancel_early chan.unbuf_pingpong chan.buf_send_recv chan.select_ready \
        chan.select_wait obs.pingpong_registered; do
        case "$f" in *"${COUNT_ONLY:-}"*) figs="$figs $f" ;; esac
    done
fi
[ -n "$figs" ] || exit 0
n=${COUNT_N:-20000}
case "$n" in '' | *[!0-9]* | 0) echo "count-ops: COUNT_N must be a positive number" >&2; exit 1 ;; esac
mkdir -p "$out"
: > "$out/count.tsv"
# totals FIGURE OPS: "Ir Ge" of one run
totals() {
    f="$out/callgrind.$1.$2"
    # the timer figures count their loop only (count_ops.c says why)
    case "$1" in
    sched.timer_*) only='--toggle-collect=count_timer_loop*' ;;
    *) only=--collect-atstart=yes ;; # the default: everything
    esac
    valgrind --tool=callgrind --collect-bus=yes "$only" --callgrind-out-file="$f" "$bin" "$1" "$2" \
        > /dev/null 2>&1 || { echo "count-ops: $1 failed under callgrind" >&2; return 1; }
    awk '/^events:/ { for (i = 2; i <= NF; i++) col[$i] = i - 1 }
         /^(summary|totals):/ { print $(col["Ir"] + 1), $(col["Ge"] + 1); exit }' "$f"
    rm -f "$f"
}
rc=0
for fig in $figs; do
    a=$(totals "$fig" "$n") && b=$(totals "$fig" $((2 * n))) || { rc=1; continue; }
    echo "$a $b" | awk -v fig="$fig" -v n="$n" -v tsv="$out/count.tsv" '{
        ir = ($3 - $1) / n; ge = ($4 - $2) / n
        printf "BENCH count.%s.instr %.1f instr\n", fig, ir
        printf "BENCH count.%s.locked %.2f instr\n", fig, ge
        printf "count.%s.instr\t%.1f\tinstr\ncount.%s.locked\t%.2f\tinstr\n", fig, ir, fig, ge > tsv }'
done
exit $rc
