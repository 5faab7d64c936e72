#!/bin/sh
# mk/run-bench.sh - run benchmark programs and collect their BENCH lines.
#
# Usage: run-bench.sh OUTDIR ONLY BINARY...
# ONLY, when not empty, keeps the binaries whose name contains it (a module:
# `make bench ONLY=coro`). Every BENCH line also lands in OUTDIR/results.tsv
# (name, value, unit), which this script starts afresh.
out=$1; only=$2; shift 2
mkdir -p "$out"
: > "$out/results.tsv"
export KC_BENCH_TSV="$out/results.tsv"
rc=0
for bin in "$@"; do
    case "$(basename "$bin")" in *"$only"*) ;; *) continue ;; esac
    echo "== $(basename "$bin")"
    "$bin" || { echo "benchmark $(basename "$bin") failed" >&2; rc=1; }
done
echo "results: $out/results.tsv"
exit $rc
