#!/bin/sh
# mk/view.sh DIR NAME=TARGET... - make DIR a folder of links NAME -> TARGET
# (a module's include view, mk/modules.mk), and nothing else. DIR/.view
# lists the pairs; it is rewritten, and the links remade, only when the
# list changed, so objects depending on it rebuild only then.
dir=$1
shift
want=$(printf '%s\n' "$@")
[ -f "$dir/.view" ] && [ "$(cat "$dir/.view")" = "$want" ] && exit 0
rm -rf "$dir" && mkdir -p "$dir" || exit 1
for pair in "$@"; do
    name=${pair%%=*}
    target=${pair#*=}
    if [ ! -e "$target" ]; then
        echo "view: $dir: $name names $target, which does not exist" >&2
        rm -rf "$dir"; exit 1
    fi
    mkdir -p "$dir/$(dirname "$name")" && ln -sfn "$target" "$dir/$name" || exit 1
done
printf '%s\n' "$want" > "$dir/.view"
