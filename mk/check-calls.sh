#!/bin/sh
# mk/check-calls.sh [TOP] [DIR...] - no call loop between the C files of a
# folder. Part of `make lint`; without DIR it checks every folder of
# core/src.
#
# File A calls file B when a function body of A calls a function that B
# defines with external linkage (and no other file of the folder defines).
# Files that call each other, directly or round a longer loop, are listed
# with one call of each step, e.g.
#   core/src/chan: call loop: kc_a.c -> kc_b.c (kc__b_fn) -> kc_a.c (kc__a_fn)
# A folder's files each do one thing and call only down (ARCHITECTURE.md:
# one front file holds a module's entry points and their dispatch); where
# two files must call each other they are one idea and belong in one file.
# Prints each loop and exits non-zero if there is one.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
[ $# -gt 0 ] && shift
cd "$top" || exit 1
if [ $# -eq 0 ]; then
    set -- core/src/*/
fi
python3 - "$@" <<'EOF'
import os, re, sys

STRIP = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
IDENT_CALL = re.compile(r'\b([A-Za-z_]\w*)\s*\(')


def clean(text):
    """Comments, strings and preprocessor lines out; line count kept."""
    text = STRIP.sub(lambda m: ' ' + '\n' * m.group(0).count('\n'), text)
    out = []
    cont = False
    for line in text.split('\n'):
        if cont or line.lstrip().startswith('#'):
            cont = line.rstrip().endswith('\\')
            out.append('')
        else:
            out.append(line)
    return '\n'.join(out)


def close_paren(t, i):
    """Index just past the ')' matching the '(' at t[i]."""
    depth = 0
    while i < len(t):
        if t[i] == '(':
            depth += 1
        elif t[i] == ')':
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(t)


def scan(t):
    """(external definitions, calls made inside function bodies)."""
    defs, calls = set(), set()
    depth, i, chunk = 0, 0, 0  # chunk: where the current top-level declaration began
    while i < len(t):
        c = t[i]
        if c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0:
                chunk = i + 1
        elif c == ';' and depth == 0:
            chunk = i + 1
        elif c.isalpha() or c == '_':
            m = IDENT_CALL.match(t, i)
            if m is None:
                j = i
                while j < len(t) and (t[j].isalnum() or t[j] == '_'):
                    j += 1
                i = j
                continue
            name = m.group(1)
            if depth > 0:
                calls.add(name)
                i = m.end() - 1
                continue
            end = close_paren(t, m.end() - 1)
            rest = t[end:]
            # a definition: the parameter list, optional attributes, then '{'
            rest = re.sub(r'^\s*(__attribute__\s*\(\(.*?\)\)\s*)*', '', rest, flags=re.S)
            if rest.startswith('{') and name != '__attribute__':
                if not re.search(r'\bstatic\b', t[chunk:i]):
                    defs.add(name)
                i = end
                continue
            i = m.end() - 1 if name == '__attribute__' else end
            continue
        i += 1
    return defs, calls


def loops(d):
    files = sorted(f for f in os.listdir(d) if f.endswith('.c'))
    owner, calls = {}, {}
    for f in files:
        with open(os.path.join(d, f), errors='replace') as fh:
            defs, used = scan(clean(fh.read()))
        calls[f] = used
        for name in defs:
            owner.setdefault(name, set()).add(f)
    edge = {f: {} for f in files}  # edge[a][b] = one function of b that a calls
    for f in files:
        for name in sorted(calls[f]):
            o = owner.get(name)
            if o and len(o) == 1:
                (b,) = o
                if b != f:
                    edge[f].setdefault(b, name)
    # strongly connected groups (Tarjan, iterative)
    index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]
    for root in files:
        if root in index:
            continue
        work = [(root, iter(sorted(edge[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edge[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    out = []
    for g in groups:
        # one loop through the group's first file, by breadth-first search
        start = g[0]
        prev = {start: None}
        queue = [start]
        found = None
        while queue and found is None:
            v = queue.pop(0)
            for w in sorted(edge[v]):
                if w not in g:
                    continue
                if w == start:
                    found = v
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        path = [found]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        path.reverse()
        path.append(start)
        steps = path[0] + ''.join(' -> %s (%s)' % (b, edge[a][b]) for a, b in zip(path, path[1:]))
        out.append('%s: call loop: %s' % (d.rstrip('/'), steps))
        rest = [f for f in g if f not in path]
        if rest:
            out.append('%s:   in the same loop: %s' % (d.rstrip('/'), ' '.join(rest)))
    return out


found = []
for d in sys.argv[1:]:
    if os.path.isdir(d):
        found += loops(d)
if found:
    print('check-calls: files of one folder that call each other (one front file over files that'
          ' only call down; see mk/check-calls.sh):')
    for line in found:
        print('  ' + line)
    sys.exit(1)
EOF
