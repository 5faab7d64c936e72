#!/bin/sh
# core/relacy/verify.sh - run the Relacy tests of the lock-free algorithms
# and check that each of their mutants is refuted.
#
# Usage: verify.sh OUTDIR [TEST...]   (TEST: a name like deque, for rl_deque.cpp)
#
# Each core/relacy/rl_NAME.cpp says in its header, on lines starting "//!":
#   extract: FUNC...       the functions extract.pl copies from core/src,
#                          graduated/ and core/include (the real code with
#                          its real orders; KC_RELACY_ROOTS changes where);
#   mutant: NAME SPEC      one order weakened (extract.pl -m NAME=SPEC, SPEC
#                          being FUNC:NEEDLE[@N]:ORDER) that Relacy must refute;
#   slack: NAME SPEC       a weakening Relacy does not refute, kept on record
#                          (JOURNAL.md says why the order stays); it must still
#                          hold, so the record stays true.
# One binary per test holds every mutant (OUTDIR/NAME [MUTANT]). The test
# must hold. Iterations per scenario come from KC_RELACY_ITERS (make
# verify: a bounded count; make test-full: more). Exits 1 on any surprise;
# Relacy's reports go to OUTDIR/NAME[.MUTANT].log.
set -u
out=${1:?usage: verify.sh OUTDIR [TEST...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
CXX=${CXX_RELACY:-g++}
# Where extract.pl looks for the functions: what libkcoro is built from.
# A lab checks its own src/ before graduating with, for example,
# KC_RELACY_ROOTS="core/src lab/soa_bus/src core/include".
roots=${KC_RELACY_ROOTS:-core/src graduated core/include}
mkdir -p "$out"
status=0

# the "kind name spec" lines of a test's header
mutants() {
    sed -n -e 's#^//! mutant: *#mutant #p' -e 's#^//! slack: *#slack #p' "$1"
}

# build NAME SRC: extract the functions and every mutant, compile OUT/NAME
build() {
    dir="$out/$1.d"
    mkdir -p "$dir"
    funcs=$(sed -n 's#^//! extract: *##p' "$2")
    margs=$(mutants "$2" | while read -r kind m spec; do printf ' -m %s=%s' "$m" "$spec"; done)
    # shellcheck disable=SC2086 # word splitting of the lists is intended
    (cd "$top" && "$here/extract.pl" $margs $roots -- $funcs) \
        >"$dir/kc_relacy_gen.h" || return 1
    $CXX -std=c++17 -O1 -w -fpermissive -fno-sized-deallocation -I"$here" -I"$dir" \
        -o "$out/$1" "$2" >"$out/$1.build.log" 2>&1 || { cat "$out/$1.build.log"; return 1; }
}

# the first lines of a Relacy report, and its verdict line
excerpt() {
    grep -v '^ *[0-9]*% (' "$1" | head -n "${2:-40}" | sed 's/^/      /'
}
verdict() {
    grep -m1 -E '^[A-Z][A-Z ]+ \(' "$1"
}

tests=${*:-$(cd "$here" && ls rl_*.cpp | sed 's/^rl_//; s/\.cpp$//')}
for t in $tests; do
    src="$here/rl_$t.cpp"
    if ! build "$t" "$src"; then
        echo "  RELACY  $t: FAILED to build"; status=1; continue
    fi
    if "$out/$t" >"$out/$t.log" 2>&1; then
        echo "  RELACY  $t: holds in $(grep -c "^iterations:" "$out/$t.log") scenario(s)"
    else
        echo "  RELACY  $t: FAILED (report: $out/$t.log)"; excerpt "$out/$t.log" 60; status=1
    fi
    mutants "$src" >"$out/$t.mutants"
    while read -r kind m spec; do
        log="$out/$t.$m.log"
        if "$out/$t" "$m" >"$log" 2>&1; then
            if [ "$kind" = mutant ]; then
                echo "  RELACY  $t.$m: NOT refuted (the test misses the case)"; status=1
            else
                echo "  RELACY  $t.$m: holds (slack, see JOURNAL.md)"
            fi
        elif [ "$kind" = slack ]; then
            echo "  RELACY  $t.$m: now refuted: make it a mutant"; excerpt "$log"; status=1
        else
            v=$(verdict "$log")
            echo "  RELACY  $t.$m: refuted (${v:-failed, see $log})"
        fi
    done <"$out/$t.mutants"
done
exit $status
