#!/usr/bin/env python3
"""The code-quality figures of issue 19, printed the same way before and
after a change: the longest production functions (lines from `fn` to its
closing brace, tests and benches excluded), and the public items without
docs per library crate (`missing_docs` warnings from `cargo check`).

    python3 scripts/quality-report.py [--top N]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def production_sources():
    for top in ("crates", "functions"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            if "/tests" in dirpath or "/benches" in dirpath:
                continue
            for name in files:
                if name.endswith(".rs"):
                    yield os.path.join(dirpath, name)


def functions_of(path):
    """(name, first line, length) of every fn outside `#[cfg(test)]` modules."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip().startswith("#[cfg(test)]"):
            break  # the test module is the last item of each file here
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, j, opened = 0, i, False
        while j < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0 or (not opened and code.rstrip().endswith(";")):
                break
            j += 1
        if opened:
            out.append((m.group(6), i + 1, j - i + 1))
        i = j + 1 if opened else i + 1
    return out


def missing_docs():
    """`missing_docs` warnings per library crate; `cargo rustc` passes the
    lint to that crate only, so no dependency is rebuilt."""
    counts = {}
    for crate in ("torium-domain", "torium-store", "torium-aws", "torium-runtime", "torium-delivery"):
        out = subprocess.run(
            ["cargo", "rustc", "--quiet", "--lib", "-p", crate, "--", "-W", "missing_docs"],
            cwd=ROOT, capture_output=True, text=True,
        )
        counts[crate] = sum(1 for line in out.stderr.splitlines() if line.startswith("warning: missing documentation"))
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--no-docs", action="store_true", help="skip the missing_docs build")
    args = parser.parse_args()
    found = []
    for path in production_sources():
        for name, line, length in functions_of(path):
            found.append((length, os.path.relpath(path, ROOT), line, name))
    found.sort(reverse=True)
    print(f"longest production functions (of {len(found)}):")
    for length, path, line, name in found[: args.top]:
        print(f"  {length:4} lines  {name}  {path}:{line}")
    print(f"  functions over 50 lines: {sum(1 for f in found if f[0] > 50)}")
    if not args.no_docs:
        counts = missing_docs()
        print("public items without docs (cargo check, -W missing_docs):")
        for crate, n in sorted(counts.items()):
            print(f"  {crate}: {n}")
        print(f"  total: {sum(counts.values())}")


if __name__ == "__main__":
    sys.exit(main())
