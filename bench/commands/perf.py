"""``python -m bench perf TARGET``: throughput benchmarks (see ``TARGETS``).

Each target measures ours against a reference in the same run and prints the ratio.
"""

from __future__ import annotations

import argparse
import importlib

from bench.commands.lazy import LazySubParsers

TARGETS = {
    "metrics": ("bench.perf.metrics", "metrics vs scikit-image and waterz on a Wafer4-sized pair"),
    "infer": ("bench.perf.infer", "inference voxels/s: CAD student vs superhuman3d vs mala3d"),
    "segment": ("bench.perf.segment", "post-processing: threshold sweep vs single runs"),
    "blockwise": ("bench.perf.blockwise", "blockwise: peak memory vs size, 1 vs 2 workers"),
    "train": ("bench.perf.train", "training iterations/s alone and beside one busy process"),
    "skeleton": ("bench.perf.skeleton", "skeletonisation + ERL vs VOI time on the same arrays"),
    "classical": ("bench.perf.classical", "rf features and forest voxels/s beside a network"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perf", help="throughput benchmarks (" + ", ".join(TARGETS) + ")")
    # a target's module (torch, networks, reference libraries) is imported only when it runs
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True,
                               action=LazySubParsers)
    for name, (module, help_text) in TARGETS.items():
        targets.add_lazy(name, help_text, lambda action, n=name, m=module: _target(action, n, m))


def _target(action: LazySubParsers, name: str, module: str) -> None:
    help_text = TARGETS[name][1]
    tp = action.add_parser(name, help=help_text, description=help_text)
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # a missing optional piece should not break the whole CLI
        tp.set_defaults(func=lambda _a, e=exc: _unavailable(e))
        return
    mod.add_arguments(tp)
    tp.set_defaults(func=mod.run)


def _unavailable(exc: Exception) -> int:
    print(f"error: this benchmark is unavailable: {exc}")
    return 2
