"""The ISA x threads matrix of the golden layers: how far each layer moves with the machine.

``python -m bench.goldens.matrix [--layer infer,train] [--goldens DIR]`` computes each layer in
a fresh process per setting of ``ATEN_CPU_CAPABILITY`` (``default``: PyTorch's portable kernels;
``avx2``: the vectorised ones; both run on any AVX2 machine, so one host imitates two) and of
torch's thread count (1, 2), and prints, per layer and setting, the largest absolute difference
from the committed goldens over all numeric quantities, and whether the layer passes at its
tolerance. This is how :data:`bench.goldens.infer_layer.MEASURED_MAX_DIFF` and
:data:`bench.goldens.train_layer.MEASURED` were measured; ``tests/test_check_goldens.py`` runs the
same matrix as the false-alarm test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.goldens import DEFAULT_GOLDENS, GOLDEN_LAYERS, compare_goldens, golden_path

SETTINGS = tuple((isa, threads) for isa in ("default", "avx2") for threads in (1, 2))

_CHILD = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[3]))
from bench.goldens import layer_module
out = layer_module(sys.argv[1]).compute(__import__("pathlib").Path(sys.argv[2]))
json.dump(out, open(sys.argv[4], "w"))
"""


def max_difference(golden: Any, current: Any) -> float:
    """The largest absolute difference between numbers at the same place (0 when none)."""
    if isinstance(golden, list) and isinstance(current, list) and len(golden) == len(current):
        return max((max_difference(g, c) for g, c in zip(golden, current, strict=True)),
                   default=0.0)
    if isinstance(golden, (int, float)) and isinstance(current, (int, float)):
        return abs(float(golden) - float(current))
    return 0.0 if golden == current else float("inf")


def run_setting(layer: str, goldens: Path, isa: str, threads: int) -> dict[str, Any]:
    """The layer's quantities computed in a fresh process with that ISA and thread count."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": isa, "OMP_WAIT_POLICY": "PASSIVE"}
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        out = Path(tmp) / "out.json"
        subprocess.run([sys.executable, "-c", _CHILD, layer, str(goldens), str(threads),
                        str(out)], check=True, env=env, cwd=Path.cwd())
        return json.loads(out.read_text())


def matrix(layers: list[str], goldens: Path = DEFAULT_GOLDENS) -> list[dict[str, Any]]:
    """One row per (layer, ISA, threads): the largest difference and the verdict."""
    from bench.goldens import layer_module

    rows = []
    for layer in layers:
        golden = json.loads(golden_path(goldens, layer).read_text())
        module = layer_module(layer)
        for isa, threads in SETTINGS:
            current = run_setting(layer, goldens, isa, threads)
            diffs = {q: max_difference(golden[q], current.get(q)) for q in golden}
            worst = max(diffs, key=diffs.get)
            failure = compare_goldens(layer, golden, current, module.tolerance,
                                      getattr(module, "RELATIVE", False))
            rows.append({"layer": layer, "isa": isa, "threads": threads,
                         "max_diff": diffs[worst], "worst": worst,
                         "passed": failure is None,
                         "failure": None if failure is None else str(failure)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.goldens.matrix", description=__doc__)
    p.add_argument("--layer", default=",".join(GOLDEN_LAYERS))
    p.add_argument("--goldens", default=DEFAULT_GOLDENS, type=Path)
    args = p.parse_args(argv)
    layers = [n.strip() for n in args.layer.split(",") if n.strip()]
    rows = matrix(layers, args.goldens)
    print(f"{'layer':<6} {'ISA':<8} {'threads':>7} {'max |diff|':>11}  {'worst quantity':<28} "
          "verdict")
    for r in rows:
        print(f"{r['layer']:<6} {r['isa']:<8} {r['threads']:>7} {r['max_diff']:>11.3g}  "
              f"{r['worst']:<28} {'pass' if r['passed'] else 'FAIL: ' + r['failure']}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
