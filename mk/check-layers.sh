#!/bin/sh
# mk/check-layers.sh [TOP] - the layers, as the modules declare them
# (mk/modules.mk, mk/lab.mk), held against the files. Part of `make lint`.
#
#  1. declarations: a module's services exist and none is an *_impl.h; each
#     header a module (or lab) uses is a service of another module of its
#     layer or below; its files exist.
#  2. includes: every quoted include of a module's files (core/src/<mod>,
#     graduated/<mod>, lab/<mod>/src, and a lab's main.c, tests/ and bench/)
#     names a public header (kcoro.h, kcoro/...), a header of its own folder
#     (never reaching out of it), or a service header its module declared
#     (lab benchmarks also share core's kc_bench_util.h).
#  3. public headers: each core/include/kcoro/*.h belongs to exactly one
#     module, or to a lab that has not graduated; kcoro.h includes only
#     public headers of the modules (core and graduated), nothing of a lab
#     that has not graduated, and core/include/MANIFEST (what `make install`
#     ships) lists kcoro.h and exactly the modules' public headers.
#  4. graduated modules: each graduated/<mod> has the module.mk and the
#     MANIFEST that make graduate writes.
# Prints each finding and exits non-zero if there is one.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
say() { echo "  $*" >> "$tmp/found"; }

make -s --no-print-directory -C "$top" print-modules > "$tmp/modules" || {
    echo "check-layers: make print-modules failed"; exit 1; }
: > "$tmp/labs"
for mk in lab/*/Makefile; do
    [ -f "$mk" ] || continue
    make -s --no-print-directory -C "$(dirname "$mk")" print-lab >> "$tmp/labs" ||
        say "$mk: make print-lab failed (does it declare LAB_LAYER? see mk/lab.mk)"
done

field() { # field FILE NAME N: field N of NAME's line
    awk -F'|' -v n="$2" -v k="$3" '$1 == n { print $k; exit }' "$1"
}
known() { awk -F'|' -v n="$1" '$1 == n { f = 1 } END { exit !f }' "$tmp/modules"; }

# ---- 1. declarations
check_uses() { # check_uses WHO LAYER USES...
    who=$1 layer=$2
    shift 2
    for u in "$@"; do
        case "$u" in */*) ;; *)
            say "$who: uses names $u, not <module>/<header>"; continue ;; esac
        p=${u%%/*} h=${u#*/}
        if ! known "$p"; then say "$who: uses $u: there is no module $p"; continue; fi
        pl=$(field "$tmp/modules" "$p" 3)
        case " $(field "$tmp/modules" "$p" 5) " in
        *" $h "*) ;;
        *) say "$who: uses $u: $h is not a service of $p (its private header)"; continue ;;
        esac
        [ "$pl" -le "$layer" ] ||
            say "$who: uses $u: $p is layer $pl, above $who's layer $layer"
    done
}
while IFS='|' read -r m dir layer srcs services uses public; do
    for h in $services; do
        case "$h" in *_impl.h) say "$dir/module.mk: $h is private (*_impl.h), not a service" ;; esac
        [ -f "$dir/$h" ] || say "$dir/module.mk: service $h does not exist"
    done
    for f in $srcs; do [ -f "$dir/$f" ] || say "$dir/module.mk: $f does not exist"; done
    for u in $uses; do [ "${u%%/*}" = "$m" ] && say "$dir/module.mk: uses its own $u"; done
    # shellcheck disable=SC2086
    check_uses "$m" "$layer" $uses
done < "$tmp/modules"
while IFS='|' read -r l layer lib services uses tuses public; do
    for h in $services; do
        case "$h" in *_impl.h) say "lab/$l/Makefile: $h is private (*_impl.h), not a service" ;; esac
        [ -f "lab/$l/src/$h" ] || say "lab/$l/Makefile: service $h does not exist in src/"
    done
    for f in $lib; do [ -f "lab/$l/src/$f" ] || say "lab/$l/Makefile: LAB_LIB $f is not in src/"; done
    # shellcheck disable=SC2086
    check_uses "lab $l" "$layer" $uses $tuses
done < "$tmp/labs"

# ---- 2. includes
check_file() { # check_file FILE ROOT WHO USES...: ROOT is the folder it may not leave
    f=$1 root=$2 who=$3
    shift 3
    allowed=" $* "
    own=${who#lab }
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
    while read -r x; do
        case "$x" in kcoro.h | kcoro/*) continue ;; esac
        case "$allowed" in *" $x "*) continue ;; esac
        d=$(dirname "$f")
        for base in "$d" "$root" "${root%/src}/src"; do
            if [ -f "$base/$x" ]; then
                r=$(cd "$(dirname "$base/$x")" && pwd -P)/$(basename "$x")
                rr=$(cd "$root" && pwd -P)
                case "$r" in "$rr"/*) continue 2 ;; esac
                say "$f includes \"$x\": outside $root, not a declared service of $who"
                continue 2
            fi
        done
        case "$x" in "$own"/*) [ -f "$root/${x#*/}" ] && continue ;; esac
        p=${x%%/*}
        if [ "$p" != "$x" ] && known "$p"; then
            case " $(field "$tmp/modules" "$p" 5) " in
            *" ${x#*/} "*) say "$f includes \"$x\": a service of $p that $who does not declare (uses)" ;;
            *) say "$f includes \"$x\": a private header of $p" ;;
            esac
        else
            say "$f includes \"$x\": not a public header, its own, or a declared service"
        fi
    done >> "$tmp/found"
}
while IFS='|' read -r m dir layer srcs services uses public; do
    find "$dir" -type f \( -name '*.[chS]' \) | sort > "$tmp/files"
    while read -r f; do
        # shellcheck disable=SC2086
        check_file "$f" "$dir" "$m" $uses
    done < "$tmp/files"
done < "$tmp/modules"
while IFS='|' read -r l layer lib services uses tuses public; do
    find "lab/$l/src" -type f -name '*.[chS]' 2>/dev/null | sort > "$tmp/files"
    while read -r f; do
        # shellcheck disable=SC2086
        check_file "$f" "lab/$l/src" "lab $l" $uses
    done < "$tmp/files"
    find "lab/$l" -type f -name '*.[ch]' ! -path "lab/$l/src/*" 2>/dev/null | sort > "$tmp/files"
    while read -r f; do
        # shellcheck disable=SC2086
        check_file "$f" "lab/$l" "lab $l" $uses $tuses kc_bench_util.h
    done < "$tmp/files"
done < "$tmp/labs"

# ---- 3. public headers
cut -d'|' -f7 "$tmp/modules" | tr ' ' '\n' | sed '/^$/d' | sort > "$tmp/pub_mod"
: > "$tmp/pub_lab"
while IFS='|' read -r l layer lib services uses tuses public; do
    known "$l" && continue # graduated: its module declares them
    for h in $public; do echo "$h" >> "$tmp/pub_lab"; done
done < "$tmp/labs"
sort -o "$tmp/pub_lab" "$tmp/pub_lab"
sort "$tmp/pub_mod" "$tmp/pub_lab" | uniq -d | while read -r h; do
    say "$h is declared public by more than one module or lab"
done
for f in core/include/kcoro/*.h; do
    [ -f "$f" ] || continue
    h=${f#core/include/}
    grep -qx "$h" "$tmp/pub_mod" "$tmp/pub_lab" ||
        say "$f belongs to no module or lab (declare it in <mod>.public or LAB_PUBLIC)"
done
for h in $(cat "$tmp/pub_mod" "$tmp/pub_lab"); do
    [ -f "core/include/$h" ] || say "public header $h is declared but core/include/$h does not exist"
done
sed -n 's/^#[[:space:]]*include[[:space:]]*"\(kcoro\/[^"]*\)".*/\1/p' core/include/kcoro.h | sort > "$tmp/umbrella"
comm -13 "$tmp/pub_mod" "$tmp/umbrella" | while read -r h; do
    if grep -qx "$h" "$tmp/pub_lab"; then
        say "core/include/kcoro.h includes $h, whose lab has not graduated"
    else
        say "core/include/kcoro.h includes $h, which no module declares public"
    fi
done

# core/include/MANIFEST (what `make install` installs) lists kcoro.h and
# exactly the modules' public headers: never a lab's that has not graduated.
if [ -f core/include/MANIFEST ]; then
    sed -n 's/^\(kcoro[a-z_/]*\.h\).*/\1/p' core/include/MANIFEST | sort > "$tmp/manifest"
    { echo kcoro.h; cat "$tmp/pub_mod"; } | sort > "$tmp/installable"
    comm -23 "$tmp/manifest" "$tmp/installable" | while read -r h; do
        if grep -qx "$h" "$tmp/pub_lab"; then
            say "core/include/MANIFEST installs $h, whose lab has not graduated"
        else
            say "core/include/MANIFEST installs $h, which no module declares public"
        fi
    done
    comm -13 "$tmp/manifest" "$tmp/installable" | while read -r h; do
        say "core/include/MANIFEST does not list $h, a public header of a module"
    done
fi

# ---- 4. graduated modules
for d in graduated/*/; do
    [ -d "$d" ] || continue
    d=${d%/}
    [ -f "$d/module.mk" ] || say "$d has no module.mk (make graduate LAB=${d#graduated/} writes it)"
    [ -f "$d/MANIFEST" ] || say "$d has no MANIFEST (make graduate LAB=${d#graduated/} writes it)"
done

if [ -s "$tmp/found" ]; then
    echo "lint: layers (mk/modules.mk, mk/lab.mk):"
    cat "$tmp/found"
    exit 1
fi
exit 0
