#!/usr/bin/env python3
"""mk/check-loops.py TOP - `make lint`: no call loops between the C files of a module.

A file depends on another file of its folder when it calls a function that
file defines with external linkage. Inside each module folder (core/src/*,
graduated/*, lab/*/src) those dependencies must form no loop: every file
only calls down. A loop is printed with the functions that make each of its
edges, so the fix is easy to see.

mk/loops-allowed names the folders whose loop is known and being removed,
one per line with the reason. Such a folder is reported, not failed; a
listed folder that has no loop any more fails too, so the list stays true.
Exits 1 on any failure.
"""
import os
import re
import sys

KEYWORDS = {'if', 'for', 'while', 'switch', 'return', 'sizeof', 'do', 'else', 'case',
            '_Alignof', '_Static_assert', '_Generic', 'defined', '__attribute__'}
TOKEN = re.compile(r'[A-Za-z_]\w*|\S')
NOISE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|^[ \t]*#[^\n]*(?:\\\n[^\n]*)*',
                   re.S | re.M)


def scan(path):
    """Return (functions defined with external linkage, functions called)."""
    with open(path, errors='replace') as f:
        toks = TOKEN.findall(NOISE.sub(' ', f.read()))
    defined, called = set(), set()
    depth, i, is_static = 0, 0, False
    while i < len(toks):
        t = toks[i]
        if t == '{':
            depth += 1
        elif t == '}':
            depth -= 1
            if depth == 0:
                is_static = False
        elif t == ';' and depth == 0:
            is_static = False
        elif t == 'static' and depth == 0:
            is_static = True
        elif (t[0].isalpha() or t[0] == '_') and i + 1 < len(toks) and toks[i + 1] == '(' \
                and t not in KEYWORDS:
            if depth > 0:
                called.add(t)
            else:
                # A definition when the parenthesis closes on a '{'.
                j, par = i + 1, 0
                while j < len(toks):
                    par += toks[j] == '('
                    par -= toks[j] == ')'
                    if par == 0:
                        break
                    j += 1
                if j + 1 < len(toks) and toks[j + 1] == '{' and not is_static:
                    defined.add(t)
        i += 1
    return defined, called


def loops(folder):
    """Strongly connected groups of 2+ files, with the functions on each edge."""
    files = sorted(f for f in os.listdir(folder) if f.endswith('.c'))
    info = {f: scan(os.path.join(folder, f)) for f in files}
    owner = {}
    for f, (defined, _) in info.items():
        for name in defined:
            owner.setdefault(name, set()).add(f)
    edges = {f: {} for f in files}
    for f, (_, called) in info.items():
        for name in called:
            o = owner.get(name)
            if o and len(o) == 1 and f not in o:
                edges[f].setdefault(next(iter(o)), []).append(name)
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
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

    for f in files:
        if f not in index:
            visit(f)
    return groups, edges


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else '.'
    os.chdir(top)
    allowed = {}
    if os.path.exists('mk/loops-allowed'):
        with open('mk/loops-allowed') as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith('#'):
                    folder, _, why = line.partition(' ')
                    allowed[folder.rstrip('/')] = why.strip()
    folders = []
    for base in ('core/src', 'graduated'):
        if os.path.isdir(base):
            folders += [os.path.join(base, d) for d in sorted(os.listdir(base))]
    if os.path.isdir('lab'):
        folders += [os.path.join('lab', d, 'src') for d in sorted(os.listdir('lab'))]
    fail = 0
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        groups, edges = loops(folder)
        if not groups:
            if folder in allowed:
                print(f'check-loops: {folder} has no call loop any more: '
                      'remove it from mk/loops-allowed')
                fail = 1
            continue
        verdict = 'known (mk/loops-allowed)' if folder in allowed else 'call loop'
        for g in groups:
            print(f'check-loops: {folder}: {verdict} between {" ".join(g)}')
            if folder in allowed:
                continue
            for a in g:
                for b in sorted(edges[a]):
                    if b in g:
                        print(f'    {a} -> {b}: {" ".join(sorted(edges[a][b]))}')
        if folder not in allowed:
            fail = 1
    for folder in allowed:
        if folder not in folders:
            print(f'check-loops: mk/loops-allowed names {folder}, which is not a module folder')
            fail = 1
    return fail


if __name__ == '__main__':
    sys.exit(main())
