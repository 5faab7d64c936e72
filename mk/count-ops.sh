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
        chan.select_wait obs.pingpong_registered ipc.rpc_rtt_64 ipc.rpc_inflight64; do
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
# The two-process RPC figures of core/bench/bench_ipc.c (ipc.rpc_rtt_64,
# ipc.rpc_inflight64; the bench_ipc beside COUNT_OPS): callgrind follows the
# forked server, so the client (the process started) and the server are
# counted apart, as `.client` and `.server` figures, per call or request.
# Two runs of one repetition, at KC_BENCH_SCALE 2 and 6 (1,000 and 3,000
# calls; 4,000 and 12,000 requests), differenced as above.
# ipc_totals FIGURE SCALE: "client-Ir client-Ge server-Ir server-Ge"
ipc_totals() {
    d="$out/callgrind.$1.$2"
    rm -rf "$d" && mkdir -p "$d" || return 1
    KC_BENCH_REPS=1 KC_BENCH_SCALE=$2 valgrind --tool=callgrind --collect-bus=yes --trace-children=yes \
        --callgrind-out-file="$d/cg.%p" "$(dirname "$bin")/bench_ipc" "$1" > /dev/null 2>&1 &
    pid=$!
    wait $pid || { echo "count-ops: $1 failed under callgrind" >&2; rm -rf "$d"; return 1; }
    for f in "$d"/cg.*; do
        awk -v who="$([ "$f" = "$d/cg.$pid" ] && echo c || echo s)" '
            /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i - 1 }
            /^(summary|totals):/ { print who, $(col["Ir"] + 1), $(col["Ge"] + 1); exit }' "$f"
    done | awk '{ ir[$1] += $2; ge[$1] += $3 } END { print ir["c"] + 0, ge["c"] + 0, ir["s"] + 0, ge["s"] + 0 }'
    rm -rf "$d"
}
rc=0
for fig in $figs; do
    case "$fig" in
    ipc.*)
        case "$fig" in
        ipc.rpc_rtt_64) per=500 ;;      # calls per percent of scale
        ipc.rpc_inflight64) per=2000 ;;
        *) echo "count-ops: no figure $fig" >&2; rc=1; continue ;;
        esac
        a=$(ipc_totals "$fig" 2) && b=$(ipc_totals "$fig" 6) || { rc=1; continue; }
        echo "$a $b" | awk -v fig="$fig" -v n=$((4 * per)) -v tsv="$out/count.tsv" '{
            split("client server", side, " ")
            for (k = 0; k < 2; k++) {
                ir = ($(5 + 2 * k) - $(1 + 2 * k)) / n; ge = ($(6 + 2 * k) - $(2 + 2 * k)) / n
                f = fig "." side[k + 1]
                printf "BENCH count.%s.instr %.1f instr\n", f, ir
                printf "BENCH count.%s.locked %.2f instr\n", f, ge
                printf "count.%s.instr\t%.1f\tinstr\ncount.%s.locked\t%.2f\tinstr\n", f, ir, f, ge >> tsv
            } }'
        continue ;;
    esac
    a=$(totals "$fig" "$n") && b=$(totals "$fig" $((2 * n))) || { rc=1; continue; }
    echo "$a $b" | awk -v fig="$fig" -v n="$n" -v tsv="$out/count.tsv" '{
        ir = ($3 - $1) / n; ge = ($4 - $2) / n
        printf "BENCH count.%s.instr %.1f instr\n", fig, ir
        printf "BENCH count.%s.locked %.2f instr\n", fig, ge
        printf "count.%s.instr\t%.1f\tinstr\ncount.%s.locked\t%.2f\tinstr\n", fig, ir, fig, ge >> tsv }'
done
exit $rc
