#!/bin/sh
# run-peers.sh - kcoro's benchmarks side by side with peer runtimes.
#
# Usage: run-peers.sh OUTDIR ONLY OUR_BENCH_DIR
# Installs the peers' Debian packages if needed (Go, Boost.Context, jemalloc,
# mimalloc), builds every peer program in this folder (*.go with `go build`,
# *.cpp with g++, *.c with cc and core/bench/kc_bench_util.c, each with the
# libraries named on its `kc-peer-libs:` line), then runs KC_BENCH_ROUNDS
# rounds (default 3) that alternate our programs and the peers', so both see
# the same machine state. The median of each figure over the rounds goes
# into OUTDIR/peers.tsv; pairs.tsv says which figures compare, and the table
# of ratios is printed and written to OUTDIR/ratios.tsv (and ratios.png when
# gnuplot is installed).
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
out=$1; only=$2; ours=$3
mkdir -p "$out/peers"
"$top/mk/need.sh" golang-go=/usr/bin/go \
    libboost-context-dev=/usr/include/boost/context/fiber.hpp g++=/usr/bin/g++ \
    libjemalloc-dev=/usr/include/jemalloc/jemalloc.h libmimalloc-dev=/usr/include/mimalloc.h \
    || exit 1

# Build the peers.
export GOCACHE="$out/peers/gocache" GOPATH="$out/peers/gopath" GO111MODULE=off GOFLAGS=
for src in "$here"/*.go "$here"/*.cpp "$here"/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src"); name=${name%.*}
    case "$name" in *"$only"*) ;; *) continue ;; esac
    bin="$out/peers/$name"
    if [ "$bin" -nt "$src" ]; then continue; fi
    case "$src" in
    *.go) go build -o "$bin" "$src" || exit 1 ;;
    *.cpp)
        libs=$(sed -n 's|.*kc-peer-libs:\(.*\)|\1|p' "$src" | head -n 1)
        # shellcheck disable=SC2086
        g++ -O2 -std=c++17 -o "$bin" "$src" $libs || exit 1 ;;
    *.c)
        libs=$(sed -n 's|.*kc-peer-libs:\(.*\)|\1|p' "$src" | head -n 1)
        # shellcheck disable=SC2086
        cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -pthread -I"$here/.." -o "$bin" "$src" \
            "$here/../kc_bench_util.c" $libs || exit 1 ;;
    esac
done

rounds=${KC_BENCH_ROUNDS:-3}
all="$out/rounds.tsv"; : > "$all"
export KC_BENCH_TSV="$all"
r=1
while [ "$r" -le "$rounds" ]; do
    echo "== round $r of $rounds"
    for bin in "$ours"/bench_* "$out"/peers/*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        case "$(basename "$bin")" in *"$only"*) ;; *) continue ;; esac
        # Peers print BENCH lines too; we record them all the same way.
        "$bin" | tee /dev/stderr | awk '$1 == "BENCH" && $2 ~ /^peer\./ \
            { printf "%s\t%s\t%s\n", $2, $3, $4 }' >> "$all"
    done 2>&1 | grep '^BENCH'
    r=$((r + 1))
done

# Medians over the rounds, then the ratio table.
awk -F'\t' '{ v[$1] = v[$1] " " $2; u[$1] = $3 }
    END { for (k in v) { n = split(v[k], a, " "); 
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            m = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            printf "%s\t%g\t%s\t%g\t%g\n", k, m, u[k], a[1], a[n] } }' "$all" |
    sort > "$out/peers.tsv"

printf '\n%-30s %12s %12s %8s %8s  %s\n' figure kcoro peer ratio target verdict
awk -F'\t' 'NR == FNR { med[$1] = $2; unit[$1] = $3; next }
    /^#/ || NF < 4 { next }
    ($1 in med) && ($2 in med) {
        r = $3 == "lower" ? med[$2] / med[$1] : med[$1] / med[$2]
        v = r >= $4 ? "met" : "MISSED"
        printf "%-30s %9.4g %-3s %9.4g %-3s %7.2fx %7.2fx  %s (%s)\n", $1, med[$1], unit[$1],
            med[$2], unit[$2], r, $4, v, $2
        printf "%s\t%g\t%g\t%g\t%g\t%s\n", $1, med[$1], med[$2], r, $4, v > "'"$out"'/ratios.tsv"
    }' "$out/peers.tsv" "$here/pairs.tsv"
echo "(ratio = how many times kcoro beats the peer; medians of $rounds rounds)"

if command -v gnuplot >/dev/null 2>&1 && [ -s "$out/ratios.tsv" ]; then
    gnuplot <<GP 2>/dev/null
set terminal png size 900,500
set output "$out/ratios.png"
set style data histograms
set style fill solid 0.8
set ylabel "kcoro speed-up over peer (x)"
set xtics rotate by -30
set key off
plot "$out/ratios.tsv" using 4:xtic(1), "" using 5 with linespoints
GP
    echo "picture: $out/ratios.png"
fi
