#!/bin/sh
# mk/fuzz.sh - `make fuzz`: build and run the libFuzzer targets.
#
# Usage: fuzz.sh OUTDIR [seeds]
# Every core/fuzz/fuzz_*.c is built with clang -fsanitize=fuzzer,address,
# undefined (UBSan reports abort), together with the sources named on its
# `kc-fuzz-srcs:` line, and run on a working corpus OUTDIR/corpus/NAME that
# starts from the committed seeds core/fuzz/corpus/NAME. Each run lasts
# FUZZ_SECONDS (default 60) or, when FUZZ_RUNS is set, that many
# executions, on inputs of up to FUZZ_MAX_LEN bytes (default 4096). Leaks
# count as failures (LeakSanitizer). Crashing inputs land in
# OUTDIR/NAME-crash-*. With `seeds`, core/fuzz/gen_seeds.c rewrites the
# committed seed corpus instead.
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1; mode=${2:-run}
"$top/mk/need.sh" clang=/usr/bin/clang \
    libclang-rt-14-dev=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a \
    || exit 1
mkdir -p "$out"
cflags="-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra -Werror
    -I$top/core/include -I$top/core/src -I$top/graduated"
srcs_of() { sed -n 's|.*kc-fuzz-srcs:\(.*\)|\1|p' "$1" | head -n 1; }

if [ "$mode" = seeds ]; then
    src=$top/core/fuzz/gen_seeds.c
    # shellcheck disable=SC2086
    clang $cflags -o "$out/gen_seeds" "$src" $(for s in $(srcs_of "$src"); do echo "$top/$s"; done) ||
        exit 1
    mkdir -p "$top/core/fuzz/corpus/fuzz_wire"
    exec "$out/gen_seeds" "$top/core/fuzz/corpus/fuzz_wire"
fi

rc=0
for src in "$top"/core/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    bin="$out/$name"
    # shellcheck disable=SC2086
    clang $cflags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -o "$bin" "$src" $(for s in $(srcs_of "$src"); do echo "$top/$s"; done) || exit 1
    mkdir -p "$out/corpus/$name"
    if [ -n "${FUZZ_RUNS:-}" ]; then limit="-runs=$FUZZ_RUNS"; else limit="-max_total_time=${FUZZ_SECONDS:-60}"; fi
    echo "== $name ($limit)"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" "$limit" -max_len="${FUZZ_MAX_LEN:-4096}" -print_final_stats=1 -artifact_prefix="$out/$name-" \
        "$out/corpus/$name" "$top/core/fuzz/corpus/$name" > "$out/$name.log" 2>&1
    st=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )|ERROR|SUMMARY' \
        "$out/$name.log"
    if [ "$st" -ne 0 ]; then
        echo "fuzz: $name failed (exit $st); log: $out/$name.log" >&2
        rc=1
    fi
done
exit $rc
