#!/bin/sh
# run-peers.sh - kcoro's benchmarks side by side with peer runtimes.
#
# Usage: run-peers.sh OUTDIR ONLY OUR_BENCH_DIR
# Installs the peers' Debian packages if needed (Go, Boost.Context, jemalloc,
# mimalloc, and what a peer's `kc-peer-need:` line names: ZeroMQ, nng,
# nghttp2), builds every peer program in this folder (*.go with `go build`,
# *.cpp with g++, *.c with cc and core/bench/kc_bench_util.c, each with the
# libraries named on its `kc-peer-libs:` line, and every */Cargo.toml
# project with Debian's cargo, offline, against Debian's packaged crates:
# cargo and librust-tokio-dev are installed when missing, and the Rust peers
# are skipped with a note when they cannot be), then runs ROUNDS rounds
# (`make bench-peers ROUNDS=n`, or KC_BENCH_ROUNDS; default 5) that
# alternate our programs and the peers', so both see the same machine
# state. Every BENCH line of every round lands in OUTDIR/rounds.tsv (name,
# value, unit, round); the median, minimum and maximum of each figure over
# the rounds go into OUTDIR/peers.tsv. pairs.tsv says which figures
# compare: a pair's ratio is taken round by round (kcoro and the peer ran
# back to back), and the table gives the median ratio with a 95% bootstrap
# interval of that median (2,000 resamples of the rounds, seeded, so a
# rerun on the same numbers prints the same interval). A gate is met when
# the whole interval clears it, MISSED when the whole interval falls short,
# and "crosses" when the interval straddles it: the noise decides, and the
# figure must be measured again. The table is printed and written to
# OUTDIR/ratios.tsv (and ratios.png when gnuplot is installed).
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
out=$1; only=$2; ours=$3
mkdir -p "$out/peers"
"$top/mk/need.sh" golang-go=/usr/bin/go \
    libboost-context-dev=/usr/include/boost/context/fiber.hpp g++=/usr/bin/g++ \
    libjemalloc-dev=/usr/include/jemalloc/jemalloc.h libmimalloc-dev=/usr/include/mimalloc.h \
    || exit 1

# Rust peers: Debian's cargo and rustc (not a rustup toolchain on PATH),
# building a copy of each project under OUTDIR (so no Cargo.lock lands in
# the source tree) with the project's .cargo/config.toml pointing crates.io
# at /usr/share/cargo/registry.
build_cargo() {
    dir=$1; name=$(basename "$dir"); bin="$out/peers/$name"
    if [ -x "$bin" ] && [ -z "$(find "$dir" -newer "$bin" -type f | head -n 1)" ]; then
        return 0
    fi
    rm -rf "$out/peers/src/$name" && mkdir -p "$out/peers/src" &&
        cp -R "$dir" "$out/peers/src/$name" || return 1
    (cd "$out/peers/src/$name" &&
        CARGO_HOME="$out/peers/cargo-home" RUSTC=/usr/bin/rustc /usr/bin/cargo build \
            --offline --release --quiet --target-dir "$out/peers/cargo-target") || return 1
    cp "$out/peers/cargo-target/release/$name" "$bin"
}
for proj in "$here"/*/Cargo.toml; do
    [ -e "$proj" ] || continue
    dir=$(dirname "$proj"); name=$(basename "$dir")
    case "$name" in *"$only"*) ;; *) continue ;; esac
    if ! "$top/mk/need.sh" cargo=/usr/bin/cargo rustc=/usr/bin/rustc \
            librust-tokio-dev=/usr/share/doc/librust-tokio-dev; then
        echo "run-peers: $name skipped: Debian's cargo or librust-tokio-dev is missing" >&2
        continue
    fi
    build_cargo "$dir" || { echo "run-peers: $name did not build (see above)" >&2; exit 1; }
done

# Peers declare the Debian packages they need on a `kc-peer-need:` line
# (PACKAGE=PATH, as mk/need.sh takes them): ZeroMQ, nng, nghttp2, ...
for src in "$here"/*.c "$here"/*.cpp; do
    [ -e "$src" ] || continue
    name=$(basename "$src"); name=${name%.*}
    case "$name" in *"$only"*) ;; *) continue ;; esac
    need=$(sed -n 's|.*kc-peer-need:\(.*\)|\1|p' "$src" | head -n 1)
    # shellcheck disable=SC2086
    [ -z "$need" ] || "$top/mk/need.sh" $need || exit 1
done

# Build the peers.
export GOCACHE="$out/peers/gocache" GOPATH="$out/peers/gopath" GO111MODULE=off GOFLAGS=
for src in "$here"/*.go "$here"/*.cpp "$here"/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src"); name=${name%.*}
    case "$name" in *"$only"*) ;; *) continue ;; esac
    bin="$out/peers/$name"
    if [ "$bin" -nt "$src" ] && [ "$bin" -nt "$here/kc_ipc_peer.h" ] &&
        [ "$bin" -nt "$here/../kc_bench_util.c" ]; then continue; fi
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

rounds=${ROUNDS:-${KC_BENCH_ROUNDS:-5}}
case "$rounds" in '' | *[!0-9]* | 0) echo "run-peers: ROUNDS must be a positive number, not '$rounds'" >&2; exit 1 ;; esac
all="$out/rounds.tsv"; : > "$all"
unset KC_BENCH_TSV # every figure is taken from the BENCH lines on stdout
r=1
while [ "$r" -le "$rounds" ]; do
    echo "== round $r of $rounds"
    for bin in "$ours"/bench_* "$out"/peers/*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        case "$(basename "$bin")" in *"$only"*) ;; *) continue ;; esac
        "$bin" | tee /dev/stderr | awk -v r="$r" '$1 == "BENCH" && NF >= 4 \
            { printf "%s\t%s\t%s\t%s\n", $2, $3, $4, r }' >> "$all"
    done 2>&1 | grep '^BENCH'
    r=$((r + 1))
done

# Median, minimum and maximum of each figure over the rounds.
awk -F'\t' '{ v[$1] = v[$1] " " $2; u[$1] = $3 }
    END { for (k in v) { n = split(v[k], a, " ")
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            m = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            printf "%s\t%g\t%s\t%g\t%g\t%d\n", k, m, u[k], a[1], a[n], n } }' "$all" |
    sort > "$out/peers.tsv"

# A peer column `limit:N` is a bound rather than a program (N is the most a
# `lower` figure may reach, the least a `higher` one may); a target `-`
# records the ratio without a gate. A pair whose kcoro figure does not exist
# yet is listed as pending and changes nothing else.
: > "$out/ratios.tsv"
printf '\n%-30s %16s %16s %7s %15s %6s  %s\n' figure "kcoro (spread)" "peer (spread)" ratio \
    "95% interval" target verdict
awk -F'\t' -v out="$out/ratios.tsv" '
    function median(x, n,    i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
            if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
        return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
    }
    function spread(k) { return med[k] > 0 ? 100 * (hi[k] - lo[k]) / med[k] : 0 }
    FILENAME ~ /rounds\.tsv$/ { val[$1, $4] = $2 + 0; nr[$1] = $4 > nr[$1] ? $4 : nr[$1]; next }
    FILENAME ~ /peers\.tsv$/ { med[$1] = $2; unit[$1] = $3; lo[$1] = $4; hi[$1] = $5
        if ($1 ~ /^peer\./) { split($1, p, "."); ran[p[3]] = 1 }; next }
    /^#/ || NF < 4 { next }
    { lim = $2 ~ /^limit:/; split($1, k, ".")
      peer_ran = lim ? (k[1] in ran) : ($2 in med)
      if (!peer_ran) next
      pv = lim ? substr($2, 7) + 0 : med[$2]; pu = lim ? "" : unit[$2] }
    !($1 in med) {
        printf "%-30s %16s %12.4g %-3s %7s %15s %5sx  pending: no kcoro figure yet (%s)\n",
            $1, "-", pv, pu, "-", "-", $4, $2
        next }
    {
        # the ratio of each round in which both sides ran
        n = 0; delete rr
        for (i = 1; i <= nr[$1]; i++) {
            if (!(($1, i) in val) || val[$1, i] <= 0) continue
            if (lim) q = pv
            else if (($2, i) in val) q = val[$2, i]
            else continue
            if (q <= 0) continue
            rr[++n] = $3 == "lower" ? q / val[$1, i] : val[$1, i] / q
        }
        if (n == 0) next
        for (i = 1; i <= n; i++) c[i] = rr[i]
        r = median(c, n)
        # bootstrap the median ratio: resample the rounds with replacement
        # (the median of a resample is one of few values: count them, then
        # walk the sorted distinct values for the 2.5% and 97.5% quantiles)
        srand(1); B = 2000; delete cnt
        for (b = 1; b <= B; b++) {
            for (i = 1; i <= n; i++) c[i] = rr[int(rand() * n) + 1]
            cnt[median(c, n)]++
        }
        nd = 0; delete d
        for (x in cnt) d[++nd] = x + 0
        median(d, nd)
        clo = chi = ""; acc = 0
        for (i = 1; i <= nd; i++) {
            acc += cnt[d[i]]
            if (clo == "" && acc >= 0.025 * B) clo = d[i]
            if (chi == "" && acc >= 0.975 * B) chi = d[i]
        }
        if ($4 == "-") v = "recorded"
        else if (clo >= $4) v = "met"
        else if (chi < $4) v = "MISSED"
        else v = "crosses the gate"
        ps = lim ? "" : sprintf("%3.0f%%", spread($2))
        printf "%-30s %9.4g %-3s%3.0f%% %9.4g %-3s%4s %6.2fx [%5.2f, %5.2f] %5sx  %s (%s, %d rounds)\n",
            $1, med[$1], unit[$1], spread($1), pv, lim ? unit[$1] : pu, ps, r, clo, chi, $4, v,
            $2, n
        printf "%s\t%g\t%g\t%g\t%s\t%s\t%g\t%g\n", $1, med[$1], pv, r, $4, v, clo, chi > out
    }' "$all" "$out/peers.tsv" "$here/pairs.tsv"
echo "(ratio = how many times kcoro beats the peer: the median of the rounds' ratios;"
echo " spread = (max - min) / median over $rounds rounds; interval: 95% bootstrap of the median)"

# The noise-free signal beside the times: instructions and locked
# instructions per operation of the hot paths this run covers, counted by
# callgrind (mk/count-ops.sh; `make bench-count` runs them all).
cnt="$ours/count_ops"
if [ -x "$cnt" ] && command -v valgrind >/dev/null 2>&1; then
    echo "== instructions per operation (callgrind)"
    COUNT_ONLY="$only" "$top/mk/count-ops.sh" "$out" "$cnt"
fi

# The bus against tokio: deliveries/s against fanout, one picture.
if command -v gnuplot >/dev/null 2>&1 && grep -q '^peer\.tokio\.bus\.' "$out/peers.tsv"; then
    awk -F'\t' '{ m[$1] = $2 }
        END { split("1 4 8 16", f, " "); split("_f1_cap64 _f4_cap64 _f8 _f16_cap128", r, " ")
              for (i = 1; i <= 4; i++) {
                  p = "paced_f" f[i] "_cap256_b256"
                  printf "%s %g %g %g %g %g %g\n", f[i], m["bus.deliveries" r[i]],
                      m["bus_aos.deliveries" r[i]], m["peer.tokio.bus.deliveries" r[i]],
                      m["bus." p], m["bus_aos." p], m["peer.tokio.bus." p] } }' \
        "$out/peers.tsv" > "$out/bus_peers.dat"
    gnuplot <<GP 2>/dev/null
set terminal png size 900,500
set output "$out/bus_fanout_peers.png"
set xlabel "subscribers (fanout)"
set ylabel "M deliveries/s"
set logscale xy 2
set key below
set grid
plot "$out/bus_peers.dat" u 1:2 w lp t "kcoro SoA, burst=cap, one thread", \
     "" u 1:3 w lp t "kcoro AoS baseline, same", "" u 1:4 w lp t "tokio broadcast, same", \
     "" u 1:5 w lp t "kcoro SoA, paced b256 cap256, 2 workers", \
     "" u 1:6 w lp t "kcoro AoS, same", "" u 1:7 w lp t "tokio, same"
GP
    echo "picture: $out/bus_fanout_peers.png"
fi

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
