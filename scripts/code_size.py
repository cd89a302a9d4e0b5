#!/usr/bin/env python3
"""Files over 400 lines and functions over 80 lines in the product and its tests.

    python scripts/code_size.py [REV]     # the working tree, or the tree of a git revision

Counts physical lines of the `.py` files git tracks under reconcilers/, operator/,
emulators/, tests/ and bench/; a function's length runs from its `def` to its last line.
"""

from __future__ import annotations

import ast
import subprocess
import sys

FOLDERS = ("reconcilers", "operator", "emulators", "tests", "bench")
FILE_LIMIT, FUNCTION_LIMIT = 400, 80


def sources(rev: str | None) -> dict[str, str]:
    listing = ["git", "ls-tree", "-r", "--name-only", rev] if rev else ["git", "ls-files"]
    names = subprocess.run([*listing, "--", *FOLDERS], capture_output=True, text=True,
                           check=True).stdout.split()
    out = {}
    for name in names:
        if not name.endswith(".py"):
            continue
        if rev:
            out[name] = subprocess.run(["git", "show", f"{rev}:{name}"], capture_output=True,
                                       text=True, check=True).stdout
        else:
            with open(name, encoding="utf-8") as handle:
                out[name] = handle.read()
    return out


def main(argv: list[str]) -> int:
    files = sources(argv[1] if len(argv) > 1 else None)
    big_files = sorted(((len(text.splitlines()), name) for name, text in files.items()
                        if len(text.splitlines()) > FILE_LIMIT), reverse=True)
    long_functions = []
    for name, text in files.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LIMIT:
                    long_functions.append((length, f"{name}:{node.lineno} {node.name}"))
    print(f"files over {FILE_LIMIT} lines: {len(big_files)}")
    for lines, name in big_files:
        print(f"  {lines:5d}  {name}")
    print(f"functions over {FUNCTION_LIMIT} lines: {len(long_functions)}")
    for lines, where in sorted(long_functions, reverse=True):
        print(f"  {lines:5d}  {where}")
    print(f"python files: {len(files)}, lines: {sum(len(t.splitlines()) for t in files.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
