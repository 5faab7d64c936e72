#!/bin/sh
# mk/test-lint.sh - the lint's own test: `make lint` runs it.
#
# Copies the tree (the files git knows, committed or not) to a temporary
# folder, checks that the copy passes, then plants one violation at a time
# and checks that the rule meant to catch it fails, naming it. A rule that
# lets its planted violation through fails this test.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
copy=$tmp/tree
mkdir -p "$copy"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -P -t "$copy" 2>/dev/null
git ls-files -co --exclude-standard | while read -r f; do
    [ -e "$copy/$f" ] || [ ! -e "$f" ] || { echo "test-lint: could not copy $f"; exit 1; }
done || exit 1
fail=0
n=0

# expect NAME CHECK PATTERN: CHECK (a command run in the copy) must fail
# and print PATTERN.
expect() {
    n=$((n + 1))
    out=$(cd "$copy" && eval "$2" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "test-lint: $1: the planted violation passed"; fail=1
    elif ! printf '%s\n' "$out" | grep -q -- "$3"; then
        echo "test-lint: $1: failed without naming it ($3):"
        printf '%s\n' "$out" | sed 's/^/    /'; fail=1
    fi
}
# plant FILE: keep FILE so restore puts it back.
plant() { mkdir -p "$tmp/keep/$(dirname "$1")" && cp -p "$copy/$1" "$tmp/keep/$1"; }
restore() {
    [ -d "$tmp/keep" ] && (cd "$tmp/keep" && find . -type f) | while read -r f; do cp -p "$tmp/keep/$f" "$copy/$f"; done
    rm -rf "$tmp/keep"
    for f in $created; do rm -rf "${copy:?}/$f"; done
    created=""
}
created=""
layers="mk/check-layers.sh ."
comments="mk/check-comments.sh ."

if ! (cd "$copy" && mk/check-layers.sh . && mk/check-includes.sh . && mk/check-comments.sh . &&
    mk/check-names.sh . && python3 mk/check-loops.py .) \
    > "$tmp/clean" 2>&1; then
    echo "test-lint: the unmodified tree does not pass:"; cat "$tmp/clean"; exit 1
fi

# ---- include rights
plant core/src/chan/kc_chan.c
sed -i '0,/^#include "chan\/kc_chan_impl.h"/s//&\n#include "sched\/kc_sched_impl.h"/' "$copy/core/src/chan/kc_chan.c"
expect "a layer-3 file includes the scheduler's private header" "$layers" \
    'kc_chan.c includes "sched/kc_sched_impl.h": a private header of sched'
restore

plant graduated/soa_bus/kc_bus.c
sed -i '0,/^#include "kc_bus_impl.h"/s//&\n#include "port\/kc_port.h"/' "$copy/graduated/soa_bus/kc_bus.c"
expect "a graduated file includes a service its module did not declare" "$layers" \
    'kc_bus.c includes "port/kc_port.h": a service of port that soa_bus does not declare'
restore

plant lab/soa_bus/src/kc_bus.c
sed -i '0,/^#include "kc_bus_impl.h"/s//&\n#include "..\/..\/..\/core\/src\/sched\/kc_sched_impl.h"/' \
    "$copy/lab/soa_bus/src/kc_bus.c"
expect "a lab reaches a private header through a relative path" "$layers" \
    'kc_bus.c includes "../../../core/src/sched/kc_sched_impl.h": outside lab/soa_bus/src'
restore

plant core/src/port/module.mk
sed -i 's|^port.uses .*|port.uses     := sched/kc_sched_svc.h|' "$copy/core/src/port/module.mk"
expect "layer 0 declares a service of layer 1" "$layers" \
    'port: uses sched/kc_sched_svc.h: sched is layer 1, above'
restore

plant core/src/sched/module.mk
sed -i 's|^sched.services .*|sched.services := kc_sched_svc.h kc_sched_impl.h|' "$copy/core/src/sched/module.mk"
expect "a module declares its private header a service" "$layers" \
    'kc_sched_impl.h is private (\*_impl.h), not a service'
restore

plant core/src/chan/module.mk
sed -i 's|^chan.uses .*|chan.uses     := base/kc_debug.h port/kc_futex.h sched/kc_sched_impl.h waiter_token/kc_waiter.h|' \
    "$copy/core/src/chan/module.mk"
expect "a module declares the use of another's private header" "$layers" \
    'uses sched/kc_sched_impl.h: kc_sched_impl.h is not a service of sched'
restore

# ---- what graduation decides
plant graduated/soa_bus/module.mk
rm "$copy/graduated/soa_bus/module.mk"
expect "kcoro.h includes the public header of a lab that has not graduated" "$layers" \
    'kcoro.h includes kcoro/bus.h, whose lab has not graduated'
expect "make install would ship the header of a lab that has not graduated" "$layers" \
    'core/include/MANIFEST installs kcoro/bus.h, whose lab has not graduated'
restore

created="core/include/kcoro/stray.h"
echo '/* stray.h - nobody declares it. */' > "$copy/core/include/kcoro/stray.h"
expect "a public header no module declares" "$layers" \
    'core/include/kcoro/stray.h belongs to no module or lab'
restore

plant graduated/arena/MANIFEST
rm "$copy/graduated/arena/MANIFEST"
expect "a graduated module without its MANIFEST" "$layers" 'graduated/arena has no MANIFEST'
restore

plant graduated/waiter_token/kc_waiter.c
echo '/* planted */' >> "$copy/graduated/waiter_token/kc_waiter.c"
expect "a graduated file edited in place" "mk/check-graduated.sh" \
    'graduated/waiter_token: files differ from its MANIFEST'
restore

created="graduated/waiter_token/kc_extra.c"
echo '/* planted */' > "$copy/graduated/waiter_token/kc_extra.c"
expect "a file in graduated/ that no graduation wrote" "mk/check-graduated.sh" \
    'graduated/waiter_token/kc_extra.c is not in the MANIFEST'
restore

# ---- comments name files that exist
plant core/src/chan/kc_chan_impl.h
sed -i '1s|$| (see kc_chan_nowhere.c)|' "$copy/core/src/chan/kc_chan_impl.h"
expect "a comment names a file that does not exist" "$comments" \
    'kc_chan_impl.h:1: names kc_chan_nowhere.c, which does not exist'
restore
plant mk/planned-files
echo 'core/src/chan/kc_chan.c  already written' >> "$copy/mk/planned-files"
expect "a planned file that exists" "$comments" \
    'mk/planned-files: core/src/chan/kc_chan.c exists now'
restore

# ---- include hygiene reaches graduated/ and lab/*/src
plant lab/arena/src/kc_arena.c
sed -i '0,/^#include "kc_arena_impl.h"/s//&\n#include <linux\/futex.h>/' "$copy/lab/arena/src/kc_arena.c"
expect "a lab's src includes a Linux header" "mk/check-includes.sh ." \
    'lab/arena/src/kc_arena.c includes <linux/futex.h>'
restore

# ---- invariant checks: kc__<mod>_check unless public API
plant lab/arena/src/kc_arena_check.c
printf 'int kc_arena_pages_check(void);\nint kc_arena_pages_check(void)\n{\n    return 0;\n}\n' \
    >> "$copy/lab/arena/src/kc_arena_check.c"
expect "an internal invariant check named like public API" "mk/check-names.sh ." \
    'defines kc_arena_pages_check, an invariant check that is not public API'
restore

# ---- no call loop between the files of a module folder
printf 'int kc__base_loop_b(int n);\nint kc__base_loop_a(int n)\n{\n    return n ? kc__base_loop_b(n - 1) : 0;\n}\n' \
    > "$copy/core/src/base/kc_loop_a.c"
printf 'int kc__base_loop_a(int n);\nint kc__base_loop_b(int n)\n{\n    return n ? kc__base_loop_a(n - 1) : 1;\n}\n' \
    > "$copy/core/src/base/kc_loop_b.c"
created="core/src/base/kc_loop_a.c core/src/base/kc_loop_b.c"
expect "two files of a module call each other" "python3 mk/check-loops.py ." \
    'core/src/base: call loop between kc_loop_a.c kc_loop_b.c'
restore
plant mk/loops-allowed
echo 'core/src/base planted' >> "$copy/mk/loops-allowed"
expect "mk/loops-allowed lists a folder without a loop" "python3 mk/check-loops.py ." \
    'core/src/base has no call loop any more'
restore

# ---- mk/need.sh checks a library the way the build links it: a header
# that another architecture's package also installs is not enough
expect "a present header without its library for this architecture" \
    "KC_NEED_CHECK_ONLY=1 mk/need.sh kc-planted=link:cc:stddef.h:-lkc_planted_absent" \
    'missing Debian packages: kc-planted'

# ---- make graduate: one named lab, committed, with folders and files only
expect "make graduate without LAB=" "mk/graduate.sh" 'name one lab: make graduate LAB=<mod>'
(cd "$copy" && git init -q && git add -A && git -c user.name=lint -c user.email=lint@localhost \
    commit -q -m "lint test") || { echo "test-lint: git init of the copy failed"; fail=1; }
plant lab/arena/src/kc_arena.c
echo '/* planted */' >> "$copy/lab/arena/src/kc_arena.c"
expect "make graduate of a lab with uncommitted changes" "mk/graduate.sh arena" \
    'lab/arena has uncommitted changes'
restore
(cd "$copy" && ln -s kc_arena.c lab/arena/src/kc_link.c && git add -A &&
    git -c user.name=lint -c user.email=lint@localhost commit -q -m "planted link")
expect "make graduate of a src/ holding a symbolic link" "mk/graduate.sh arena" \
    'holds what graduation does not copy'

if [ "$fail" -eq 0 ]; then
    echo "test-lint: the clean tree passes; all $n planted violations caught"
fi
exit $fail
