"""``python -m bench check``: the layered regression check (goldens, then the smoke benchmark)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="regression check: protocol, evaluation, inference and training goldens, "
        "then the smoke benchmark against its seed spread",
        description="Run the layers of the regression check in order: protocol (the "
        "benchmark's definition: splits, resolved recipes, post-processing grids, metric "
        "specification, exact, nothing run), eval (post-processing "
        "and scores, exact), infer (every method's affinities from seeded weights), train (a "
        "few seeded training steps per method), e2e (the smoke benchmark against the seed "
        "spread of the baseline). Exit 1 when a layer fails; the output names the layer, the "
        "quantity and both values.",
    )
    p.add_argument("--layer", action="append", default=None, metavar="NAME",
                   help="run only this layer (repeatable or comma separated): protocol, eval, "
                   "infer, train, e2e")
    p.add_argument("--goldens", default="results/goldens", type=Path,
                   help="folder of the committed goldens (default results/goldens)")
    p.add_argument("--fail-fast", action="store_true",
                   help="stop at the first layer that fails")
    p.add_argument("--baseline", default="results/baseline.json", type=Path,
                   help="the e2e layer's baseline (default results/baseline.json)")
    p.add_argument("--methods", default=None,
                   help="e2e layer: comma separated methods (default: the baseline's)")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="e2e layer: the least half-width of the interval (default 0.05)")
    p.add_argument("--update", action="store_true",
                   help="rewrite the goldens (and the e2e baseline) of the selected layers "
                   "deliberately; e2e with --methods merges those methods into the baseline")
    p.add_argument("--replace", action="store_true",
                   help="with --update: rewrite the e2e baseline with the given methods only")
    p.add_argument("--seeds", default=None, metavar="LIST",
                   help="e2e layer: the seeds the check runs of each method, their mean compared "
                   "(default 0-2); with --update: record the baseline over these seeds "
                   "(default 0-4, at least 3), the check takes its tolerance from their spread")
    p.set_defaults(func=main)


def parse_layers(values: list[str] | None) -> list[str]:
    from bench.goldens import LAYERS

    names = [n.strip() for v in (values or [",".join(LAYERS)]) for n in v.split(",")
             if n.strip()]
    for n in names:
        if n not in LAYERS:
            raise ValueError(f"--layer: expected one of {', '.join(LAYERS)}, got {n!r}")
    return [n for n in LAYERS if n in names]


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (phantom rendering workers)."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(args: argparse.Namespace) -> int:
    from bench.check import check
    from bench.goldens import run_layer

    layers = parse_layers(args.layer)
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    seeds = None
    if args.seeds:
        from bench.study import parse_seeds

        seeds = parse_seeds(args.seeds)
    if (seeds or args.replace or methods) and "e2e" not in layers:
        raise ValueError("--seeds, --replace and --methods apply to the e2e layer; add "
                         "--layer e2e")
    failed = []
    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    for name in layers:
        w, c = time.perf_counter(), _cpu_seconds()
        if name == "e2e":
            code, report = check(args.baseline, methods=methods, abs_tol=args.tolerance,
                                 update=args.update, seeds=seeds, replace=args.replace)
            diff = code != 0
        else:
            diff, report = run_layer(name, args.goldens, update=args.update)
        print(report)
        print(f"  ({name}: {time.perf_counter() - w:.1f} s wall, "
              f"{_cpu_seconds() - c:.1f} s CPU)", flush=True)
        if diff:
            failed.append(name)
            if args.fail_fast:
                break
    print(f"check: {time.perf_counter() - wall0:.1f} s wall, "
          f"{_cpu_seconds() - cpu0:.1f} s CPU (this process and its children); "
          + (f"FAILED layers: {', '.join(failed)}" if failed else
             f"layers passed: {', '.join(layers)}"))
    return 1 if failed else 0
