#!/bin/sh
# mk/check-comments.sh [TOP] - every file a comment names exists. Part of
# `make lint`.
#
# Reads the comments of the C and assembler files under core/, graduated/
# and lab/ and takes each word that looks like a file name (ends in .c, .h,
# .S, .md, .sh, .mk or .pml). The name counts as existing when it is a path
# from the commenting file's folder or one above it (a graduated module's
# folder stands for its lab's), from the top, core/include or core/src, the
# name of a file anywhere in the tree, a system header or an absolute path
# (a peer library's header, installed or not), or one of the
# blueprint's documents kept beside the tree (ARCHITECTURE.md, STYLE.md). A
# `<name>` in a word (test_<N>.c) is a pattern, not a name, and is skipped.
# mk/planned-files lists the files that landed work names before they
# exist (one path per line, with the issue that will write it); a listed
# file that exists fails the check, so the list only holds what is due.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

find core graduated lab mk .ci -type f 2>/dev/null | sed 's|.*/||' | sort -u > "$tmp/names"
find core graduated lab -type f \( -name '*.[ch]' -o -name '*.S' -o -name '*.cpp' \) 2>/dev/null |
    sort > "$tmp/files"

: > "$tmp/found"
sed -n 's/^\([^#[:space:]][^[:space:]]*\).*/\1/p' mk/planned-files 2>/dev/null > "$tmp/planned"
while read -r p; do
    [ -e "$p" ] || [ -e "core/include/$p" ] &&
        echo "  mk/planned-files: $p exists now; take it off the list" >> "$tmp/found"
done < "$tmp/planned"
while read -r f; do
    # comment text only, as "LINE<TAB>text" (block and line comments; string
    # literals are dropped first so "a.h" in a string is not a comment)
    awk '
    {
        line = $0; out = ""
        gsub(/"([^"\\]|\\.)*"/, "\"\"", line)
        while (length(line) > 0) {
            if (inblock) {
                e = index(line, "*/")
                if (e == 0) { out = out " " line; line = "" }
                else { out = out " " substr(line, 1, e - 1); line = substr(line, e + 2); inblock = 0 }
            } else {
                b = index(line, "/*"); l = index(line, "//")
                if (l > 0 && (b == 0 || l < b)) { out = out " " substr(line, l + 2); line = "" }
                else if (b > 0) { inblock = 1; line = substr(line, b + 2) }
                else line = ""
            }
        }
        if (out ~ /[A-Za-z0-9_]\.(c|h|S|md|sh|mk|pml)/) print NR "\t" out
    }' "$f" |
    while IFS='	' read -r n text; do
        for w in $(printf '%s\n' "$text" | tr -s ' \t(),;:`"'"'"'[]{}=' '\n' |
            grep -E '^[<>A-Za-z0-9_./%*-]*[A-Za-z0-9_]\.(c|h|S|md|sh|mk|pml)\.?$'); do
            w=${w%.}
            case "$w" in *'<'* | *'>'* | *'*'* | *'%'* | *...*) continue ;; esac
            case "$w" in ARCHITECTURE.md | STYLE.md | /*) continue ;; esac # absolute: the system's
            grep -qxF "$w" "$tmp/planned" && continue
            d=$(dirname "$f")
            case "$d" in graduated/*) d=lab/${d#graduated/}/src ;; esac
            while [ "$d" != . ] && [ ! -e "$d/$w" ]; do d=$(dirname "$d"); done
            [ -e "$d/$w" ] && continue
            [ -e "core/include/$w" ] || [ -e "core/src/$w" ] || [ -e "/usr/include/$w" ] && continue
            case "$w" in */*) ;; *) grep -qxF "$w" "$tmp/names" && continue ;; esac
            echo "  $f:$n: names $w, which does not exist"
        done
    done >> "$tmp/found"
done < "$tmp/files"

if [ -s "$tmp/found" ]; then
    echo "lint: comments naming files that do not exist:"
    cat "$tmp/found"
    exit 1
fi
exit 0
