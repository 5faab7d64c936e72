#!/bin/sh
# mk/graduate.sh LAB - `make graduate LAB=<mod>`: promote a lab's code into
# core (ARCHITECTURE.md section 4). One lab at a time:
#   1. refuse a lab with uncommitted changes (the MANIFEST's commit must pin
#      the source) and a src/ holding anything but folders and regular
#      files (links, devices: named, nothing copied);
#   2. stage lab/<mod>/src, folders and all, in graduated/<mod>/ (what was
#      there is kept aside), with the module.mk the lab's declaration
#      becomes (`make -C lab/<mod> declaration`, mk/lab.mk): so the library
#      the lab links is built with the code it is about to graduate;
#   3. build the lab and run its tests, plainly and under ASan+UBSan; any
#      failure puts the previous graduated/<mod> back and stops;
#   4. write graduated/<mod>/MANIFEST: lab path, date, commit, test summary
#      and the sha256 of every file (module.mk included).
# Only the files the declaration lists (LAB_LIB) join libkcoro; the rest of
# src/ is kept for reference.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "graduate: name one lab: make graduate LAB=<mod> (labs: $(ls lab 2>/dev/null | tr '\n' ' '))"
    exit 1
fi
lab=$1
dir="lab/$lab"
if [ ! -d "$dir/src" ]; then
    echo "graduate: $dir/src does not exist"; exit 1
fi
if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    echo "graduate: $top is not a git checkout with a commit: the MANIFEST could not pin the source"
    exit 1
fi
if [ -n "$(git status --porcelain -- "$dir")" ]; then
    echo "graduate: $dir has uncommitted changes; commit them first, so the MANIFEST's commit pins the source:"
    git status --short -- "$dir" | sed 's/^/    /'
    exit 1
fi
odd=$(find "$dir/src" ! -type f ! -type d)
if [ -n "$odd" ]; then
    echo "graduate: $dir/src holds what graduation does not copy (only folders and regular files):"
    echo "$odd" | sed 's/^/    /'
    exit 1
fi
for f in module.mk MANIFEST; do
    if [ -e "$dir/src/$f" ]; then
        echo "graduate: $dir/src/$f would be overwritten by the $f graduation writes; rename it"
        exit 1
    fi
done
decl=$(make -s --no-print-directory -C "$dir" declaration) || {
    echo "graduate: $dir/Makefile has no complete declaration (see mk/lab.mk)"; exit 1; }

dest="graduated/$lab"
keep="build/graduate-previous/$lab"
rm -rf "$keep" && mkdir -p "$(dirname "$keep")"
had=0
if [ -d "$dest" ]; then cp -a "$dest" "$keep" && had=1; fi
put_back() {
    rm -rf "$dest"
    [ "$had" -eq 1 ] && cp -a "$keep" "$dest"
}
rm -rf "$dest" && mkdir -p "$dest"
cp -a "$dir/src/." "$dest/"
printf '%s\n' "$decl" > "$dest/module.mk"

echo "graduate: $lab: testing"
summary=""
for flavor in default asan; do
    log="build/$flavor/lab/$lab/graduate.log"
    mkdir -p "$(dirname "$log")"
    if ! make --no-print-directory -C "$dir" test FLAVOR=$flavor > "$log" 2>&1; then
        tail -n 20 "$log"
        put_back
        echo "graduate: $lab: tests failed under $flavor; graduated/$lab put back as it was"
        exit 1
    fi
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    summary="$summary${summary:+; }$flavor: $line"
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "# Written by make graduate; do not edit. make check-graduated verifies it."
    echo "lab: $dir"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $commit"
    echo "tests: $summary"
    echo "files:"
    (cd "$dest" && find . -type f ! -name MANIFEST | sed 's|^\./||' | LC_ALL=C sort |
        while read -r f; do sha256sum "$f"; done)
} > "$dest/MANIFEST"
rm -rf "$keep"
echo "graduate: $lab: graduated ($summary)"
