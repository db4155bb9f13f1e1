#!/usr/bin/env python3
"""Fails when the top-level modules of any workspace crate depend on each
other in a cycle, or when the domain crate uses I/O.

A module is `src/NAME.rs` or `src/NAME/` (with its sub-files). Module A
depends on B when A's files mention `crate::B` (also inside a grouped
`use crate::{...}`), or a name that `lib.rs` re-exports from B. Test code
is included: a cycle through a test helper is still a cycle.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def top_modules(src):
    mods = {}
    for p in src.iterdir():
        if p.name in ("lib.rs", "main.rs"):
            continue
        if p.is_file() and p.suffix == ".rs":
            mods[p.stem] = [p]
        elif p.is_dir():
            mods[p.name] = sorted(p.rglob("*.rs"))
    return mods


def reexports(lib, mods):
    """Names lib.rs re-exports, mapped to the module they come from."""
    out = {}
    if not lib.exists():
        return out
    text = lib.read_text()
    for m in re.finditer(r"pub use (\w+)::(\{[^}]*\}|\w+)", text):
        module, names = m.group(1), m.group(2)
        if module not in mods:
            continue
        for name in re.findall(r"\w+", names):
            out[name] = module
    return out


def group_names(body):
    """Top-level names of a `crate::{...}` group (nested groups skipped)."""
    names, depth, current = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and ch not in ",{} \n\t":
            current += ch
        elif depth == 0 or ch in ",":
            if current:
                names.append(current.split("::")[0])
            current = ""
    if current:
        names.append(current.split("::")[0])
    return names


def edges(mods, exported):
    graph = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            # Doc links and comments are not dependencies.
            text = "\n".join(
                line for line in f.read_text().splitlines()
                if not line.lstrip().startswith("//")
            )
            targets = re.findall(r"\bcrate::(\w+)", text)
            for g in re.finditer(r"\bcrate::\{", text):
                start = g.end()
                depth, i = 1, start
                while i < len(text) and depth:
                    depth += {"{": 1, "}": -1}.get(text[i], 0)
                    i += 1
                targets += group_names(text[start:i - 1])
            for t in targets:
                t = exported.get(t, t)
                if t in mods and t != m:
                    graph[m].add(t)
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def main():
    failed = False
    for src in sorted(ROOT.glob("crates/*/src")):
        mods = top_modules(src)
        graph = edges(mods, reexports(src / "lib.rs", mods))
        cycle = find_cycle(graph)
        if cycle:
            failed = True
            print(f"module cycle in {src.parent.name}: {' -> '.join(cycle)}")
    domain = ROOT / "crates/domain/src"
    for f in sorted(domain.rglob("*.rs")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(r"\bstd::(fs|net|process)\b|\b(diesel|actix_web|tokio)::", line):
                failed = True
                print(f"I/O in the domain crate: {f.relative_to(ROOT)}:{n}: {line.strip()}")
    if failed:
        sys.exit(1)
    print("no module cycles; the domain crate does no I/O")


if __name__ == "__main__":
    main()
