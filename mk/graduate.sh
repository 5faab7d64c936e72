#!/bin/sh
# mk/graduate.sh - `make graduate [LAB=name]`: promote lab code into core.
#
# For each lab named (ARCHITECTURE.md section 4):
#   1. stage lab/<mod>/src/* in graduated/<mod>/ (replacing what was there,
#      kept aside), so the library the lab links is built with the code it
#      is about to graduate: a lab that changes what core calls (a function
#      that became inline, say) is tested against the core it will join;
#   2. build the lab and run its tests, plainly and under ASan+UBSan; any
#      failure puts the previous graduated/<mod> back and stops this lab;
#   3. write graduated/<mod>/MANIFEST: lab path, date, commit, test summary
#      and the sha256 of every copied file.
# Exits non-zero if any lab failed to graduate.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
[ $# -gt 0 ] || { echo "graduate: no labs to graduate"; exit 1; }
rc=0
for lab in "$@"; do
    dir="lab/$lab"
    if [ ! -d "$dir/src" ]; then
        echo "graduate: $dir/src does not exist"; rc=1; continue
    fi
    dest="graduated/$lab"
    keep="build/graduate-previous/$lab"
    rm -rf "$keep" && mkdir -p "$keep"
    [ -d "$dest" ] && cp -p "$dest"/* "$keep/" 2>/dev/null
    rm -rf "$dest" && mkdir -p "$dest"
    cp "$dir"/src/* "$dest/"
    echo "graduate: $lab: testing"
    summary=""
    for flavor in default asan; do
        log="build/$flavor/lab/$lab/graduate.log"
        mkdir -p "$(dirname "$log")"
        if ! make --no-print-directory -C "$dir" test FLAVOR=$flavor > "$log" 2>&1; then
            tail -n 20 "$log"
            rm -rf "$dest" && mkdir -p "$dest" && cp -p "$keep"/* "$dest/" 2>/dev/null
            echo "graduate: $lab: tests failed under $flavor; graduated/$lab put back as it was"
            rc=1; continue 2
        fi
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        summary="$summary${summary:+; }$flavor: $line"
    done
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git status --porcelain -- "$dir" 2>/dev/null)" ]; then
        commit="$commit+uncommitted-lab-changes"
    fi
    {
        echo "# Written by make graduate; do not edit. make check-graduated verifies it."
        echo "lab: $dir"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit: $commit"
        echo "tests: $summary"
        echo "files:"
        (cd "$dest" && for f in $(ls | grep -v '^MANIFEST$'); do sha256sum "$f"; done)
    } > "$dest/MANIFEST"
    echo "graduate: $lab: graduated ($summary)"
done
exit $rc
