"""Mutation testing of the regression check: plant each regression of
:data:`bench.goldens.mutations.CATALOGUE` in a temporary copy of the tree and run
``python -m bench check --fail-fast`` there; every one must be caught.

``python -m bench.goldens.mutate [--only NAME,...] [--json] [--out FILE]`` prints one row per
mutation: caught or not, by which layer, and the first differing quantity. The copy holds the
files git tracks plus the working tree's changes to them (``git ls-files``), so it is the code
as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.goldens.mutations import CATALOGUE, Mutation

#: the check's one-line verdicts: golden layers, then the e2e layer
_FAILED = re.compile(r"^layer (\w+) FAILED: (.*?): golden|^end-to-end layer FAILED: (.*)$", re.M)


def copy_tree(root: Path, dest: Path) -> None:
    """The tracked files of ``root`` (as they are on disk) into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = root / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def apply(tree: Path, m: Mutation) -> None:
    path = tree / m.path
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise ValueError(f"mutation {m.name}: {m.path} holds the text to replace {count} times "
                         "(expected once); update the catalogue")
    path.write_text(text.replace(m.old, m.new))


def run_one(root: Path, m: Mutation, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mutant-") as tmp:
        tree = Path(tmp)
        copy_tree(root, tree)
        apply(tree, m)
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONDONTWRITEBYTECODE": "1"}
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "bench", "check", "--fail-fast"],
                                  cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            out, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired:
            out, code = "timed out", None
        seconds = time.perf_counter() - t0
    match = _FAILED.search(out)
    layer = quantity = None
    if match:
        layer = match.group(1) or "e2e"
        quantity = match.group(2) or match.group(3)
    elif code not in (0, None):
        layer, quantity = "error", out.strip().splitlines()[-1] if out.strip() else ""
    return {"name": m.name, "area": m.area, "why": m.why, "caught": code == 1 and bool(match),
            "layer": layer, "quantity": quantity, "seconds": round(seconds, 1),
            "exit_code": code}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.goldens.mutate", description=__doc__)
    p.add_argument("--only", default=None, help="comma separated mutation names")
    p.add_argument("--json", action="store_true",
                   help="print the rows as JSON on stdout (the table goes to stderr)")
    p.add_argument("--out", default=None, type=Path, help="also write the rows here (JSON)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation")
    args = p.parse_args(argv)
    chosen = list(CATALOGUE)
    if args.only:
        names = {n.strip() for n in args.only.split(",")}
        unknown = names - {m.name for m in CATALOGUE}
        if unknown:
            raise SystemExit(f"--only: unknown mutations {sorted(unknown)}; known: "
                             f"{', '.join(m.name for m in CATALOGUE)}")
        chosen = [m for m in CATALOGUE if m.name in names]
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True,
                               capture_output=True, text=True).stdout.strip())
    table = sys.stderr if args.json else sys.stdout  # --json keeps stdout for the JSON
    rows = []
    for m in chosen:
        row = run_one(root, m, args.timeout)
        rows.append(row)
        print(f"{row['name']:<26} {row['area']:<20} "
              f"{'caught by ' + str(row['layer']) if row['caught'] else 'NOT CAUGHT':<18} "
              f"{row['seconds']:>6.1f} s  {row['quantity']}", flush=True, file=table)
        if args.out:  # after every mutation, so a long run leaves what it has
            args.out.write_text(json.dumps(rows, indent=1))
    missed = [r["name"] for r in rows if not r["caught"]]
    print(f"{len(rows) - len(missed)} of {len(rows)} caught"
          + (f"; NOT caught: {', '.join(missed)}" if missed else ""), file=table)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
