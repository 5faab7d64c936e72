#!/bin/sh
# mk/lint.sh - `make lint`: the project's static checks.
#
#  1. include hygiene: no file in core/ outside core/src/port includes a
#     Linux header or any system header beyond C11 and POSIX.1-2008
#     (tests may also include cmocka.h, peer benchmarks their peer's header);
#  2. doc coverage: every macro, constant and enum value in core/include
#     carries a comment (on the line itself or in the comment just above);
#  3. layout: every C file under core/ and lab/ follows .clang-format;
#  4. cppcheck over core/src and core/include reports nothing;
#  5. core/include/MANIFEST (what `make install` installs) lists exactly
#     the headers under core/include;
#  6. compile-must-fail: mismatched typed channel macros do not compile;
#  7. API abuse: every KC_API function of core/include/kcoro/NAME.h is
#     called in core/tests/test_abuse_NAME.c (mk/lint-abuse.sh), and the
#     check still catches violations planted in a copy (mk/lint-abuse-test.sh).
# Prints what it finds and exits non-zero if anything was found.
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
"$top/mk/need.sh" cppcheck=/usr/bin/cppcheck clang-format=/usr/bin/clang-format || exit 1
fail=0

# ---- 1. include hygiene
allowed='assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h
locale.h math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h
stdint.h stdio.h stdlib.h stdnoreturn.h string.h tgmath.h time.h uchar.h wchar.h wctype.h
aio.h arpa/inet.h dirent.h dlfcn.h fcntl.h fnmatch.h glob.h grp.h iconv.h langinfo.h
libgen.h monetary.h mqueue.h net/if.h netdb.h netinet/in.h netinet/tcp.h nl_types.h
poll.h pthread.h pwd.h regex.h sched.h search.h semaphore.h spawn.h strings.h
sys/mman.h sys/resource.h sys/select.h sys/socket.h sys/stat.h sys/statvfs.h sys/time.h
sys/times.h sys/types.h sys/uio.h sys/un.h sys/utsname.h sys/wait.h syslog.h termios.h
unistd.h utime.h wordexp.h'
bad=$(find core -name '*.[ch]' ! -path 'core/src/port/*' | sort | while read -r f; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$f" |
    while read -r h; do
        case " $(echo $allowed) " in *" $h "*) continue ;; esac
        case "$f:$h" in core/tests/*:cmocka.h) continue ;; esac
        case "$f:$h" in core/examples/*:kcoro.h | core/examples/*:kcoro/*) continue ;; esac # as users write it
        case "$f" in core/bench/peers/*) continue ;; esac # peers include their library
        echo "  $f includes <$h>: not C11/POSIX (platform code belongs in core/src/port)"
    done
done)
if [ -n "$bad" ]; then echo "lint: include hygiene:"; echo "$bad"; fail=1; fi

# ---- 2. doc coverage of the public headers
undoc=$(for f in core/include/kcoro.h core/include/kcoro/*.h; do
    awk -v file="$f" '
    function documented() { return prev_comment || $0 ~ /\/\*/ }
    /^[[:space:]]*\/\*/ || /^[[:space:]]*\*/ { prev_comment = 1; incomment = ($0 !~ /\*\//); next }
    incomment { if ($0 ~ /\*\//) incomment = 0; prev_comment = 1; next }
    /^#define[[:space:]]+KC[A-Z0-9_]*/ {
        name = $2; sub(/\(.*/, "", name)
        if (name !~ /_H$/ && !documented()) printf "  %s:%d: %s has no comment\n", file, FNR, name
        prev_comment = 0; cont = ($0 ~ /\\$/); next }
    cont { cont = ($0 ~ /\\$/); next }
    /^[[:space:]]*KC_[A-Z0-9_]+[[:space:]]*(=|,|$)/ {
        name = $1; sub(/[=,].*/, "", name)
        if (!documented()) printf "  %s:%d: enum value %s has no comment\n", file, FNR, name
        prev_comment = 0; next }
    /^[[:space:]]*$/ { next }
    { prev_comment = 0 }' "$f"
done)
if [ -n "$undoc" ]; then echo "lint: undocumented public names:"; echo "$undoc"; fail=1; fi

# ---- 3. layout
unformatted=$(find core $(test -d lab && echo lab) -name '*.[ch]' | sort | while read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f"
done)
if [ -n "$unformatted" ]; then
    echo "lint: not formatted per .clang-format (fix: clang-format -i FILE):"
    echo "$unformatted"; fail=1
fi

# ---- 4. cppcheck
if ! cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,style,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem -D__x86_64__ -D_POSIX_C_SOURCE=200809L \
    -Icore/include -Icore/src -Igraduated --template='  {file}:{line}: {severity}: {message} [{id}]' \
    core/src $(test -d graduated && echo graduated) 2>&1; then
    echo "lint: cppcheck findings above"; fail=1
fi

# ---- 5. the install manifest lists exactly the public headers
listed=$(sed -n 's/^\(kcoro[a-z_/]*\.h\).*/\1/p' core/include/MANIFEST | sort)
present=$(cd core/include && find . -name '*.h' | sed 's|^\./||' | sort)
if [ "$listed" != "$present" ]; then
    echo "lint: core/include/MANIFEST does not match the headers under core/include:"
    echo "  listed:  $(echo $listed)"
    echo "  present: $(echo $present)"
    fail=1
fi

# ---- 6. typed channel mismatches must not compile (mk/compile-fail.sh)
if ! "$top/mk/compile-fail.sh"; then
    echo "lint: compile-must-fail checks above"; fail=1
fi

# ---- 7. API-abuse coverage, and proof that the check bites
if ! "$top/mk/lint-abuse.sh"; then
    echo "lint: public functions without an API-abuse test (above)"; fail=1
fi
if ! "$top/mk/lint-abuse-test.sh"; then
    echo "lint: mk/lint-abuse.sh missed a planted violation (above)"; fail=1
fi

[ "$fail" -eq 0 ] &&
    echo "lint: clean (includes, doc coverage, layout, cppcheck, manifest, compile-fail, API abuse)"
exit $fail
