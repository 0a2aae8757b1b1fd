"""Regression check: run the fixed smoke benchmark and compare it with a stored baseline.

A result regresses when a lower-is-better score (VOI, ARAND) grows beyond its limit:

* baseline of one seed: ``baseline + abs_tol + rel_tol * baseline``;
* baseline of several seeds (``--update --seeds 0-2``): the upper end of the 95% prediction
  interval of one new run, ``mean + t(0.975, n-1) * std * sqrt(1 + 1/n)``, at least
  ``mean + abs_tol``. The seed spread measured on the baseline's machine sets the tolerance,
  instead of a guess.

The check itself runs seed 0 only. Throughput is shown but never fails the check (it depends on
the machine).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from bench.results import ResultsStore, write_json

SCORES = ("voi", "arand")
DEFAULT_METHODS = ("cad", "unet2d")
#: the fixed benchmark: everything but the method is pinned
BENCHMARK = {"dataset": "synthetic", "profile": "smoke", "postprocess": ["waterz"], "seed": 0,
             "device": "cpu"}
#: recipe overrides on top of the smoke profile, so that each method learns enough in about a
#: minute of CPU for a regression to show (4 smoke iterations leave every method at "all merged")
CHECK_OVERRIDES: dict[str, dict[str, Any]] = {
    "cad": {"iters": 200, "mode": "fixed"},
    "cad-nofgi": {"iters": 200, "mode": "fixed"},
    "cad-nodistill": {"iters": 200, "mode": "fixed"},
}
DEFAULT_OVERRIDES: dict[str, Any] = {"iters": 100}


@dataclass
class Comparison:
    key: str
    score: str
    baseline: float | None
    current: float
    limit: float | None
    #: "fixed" (abs + rel tolerance) or "seeds (n=N)" (prediction interval from the seed spread)
    tolerance: str = "fixed"

    @property
    def regressed(self) -> bool:
        return self.limit is not None and self.current > self.limit


def run_benchmark(methods: list[str], results_dir: Path, seeds: list[int] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Scores of each method (``method/postprocess`` keys); with several seeds, their means,
    standard deviations and the per-seed values (the synthetic volume stays that of seed 0)."""
    from bench.pipeline import RunSpec, run

    store = ResultsStore(results_dir)
    seeds = list(seeds or [BENCHMARK["seed"]])
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    for method in methods:
        overrides = CHECK_OVERRIDES.get(method, DEFAULT_OVERRIDES)
        for seed in seeds:
            spec = RunSpec(method=method, overrides=dict(overrides),
                           **{**BENCHMARK, "seed": seed, "data_seed": BENCHMARK["seed"]})
            for row in run(spec, store).rows:
                per_seed.setdefault(f"{method}/{row['postprocess']}", {})[seed] = {
                    **{s: float(row[s]) for s in SCORES},
                    "infer_voxels_per_s": float(row["infer_voxels_per_s"]),
                }
    out: dict[str, dict[str, Any]] = {}
    for key, by_seed in per_seed.items():
        if len(by_seed) == 1:
            out[key] = next(iter(by_seed.values()))
            continue
        values = list(by_seed.values())
        summary: dict[str, Any] = {"n_seeds": len(values), "per_seed": by_seed}
        for name in (*SCORES, "infer_voxels_per_s"):
            v = np.array([x[name] for x in values])
            summary[name] = float(v.mean())
            summary[f"{name}_std"] = float(v.std(ddof=1))
        out[key] = summary
    return out


def seed_limit(mean: float, std: float, n: int, abs_tol: float) -> float:
    """Upper end of the 95% prediction interval of one new run, at least ``mean + abs_tol``."""
    half = float(sps.t.ppf(0.975, n - 1)) * std * np.sqrt(1 + 1 / n)
    return mean + max(half, abs_tol)


def compare(current: dict[str, dict[str, float]], baseline: dict[str, Any], *,
            abs_tol: float, rel_tol: float) -> list[Comparison]:
    rows = []
    for key, scores in sorted(current.items()):
        base = baseline.get("results", {}).get(key)
        n = int(base.get("n_seeds", 1)) if base else 1
        for score in SCORES:
            b = None if base is None else base.get(score)
            if b is not None and n >= 2 and base.get(f"{score}_std") is not None:
                limit = seed_limit(b, float(base[f"{score}_std"]), n, abs_tol)
                rows.append(Comparison(key, score, b, scores[score], limit, f"seeds (n={n})"))
                continue
            limit = None if b is None else b + abs_tol + rel_tol * b
            rows.append(Comparison(key, score, b, scores[score], limit))
    return rows


def format_comparison(rows: list[Comparison]) -> str:
    lines = [f"{'result':<24} {'score':<6} {'baseline':>9} {'current':>9} {'limit':>9}  "
             f"{'tolerance':<13} status", "-" * 84]
    for c in rows:
        b = "-" if c.baseline is None else f"{c.baseline:.4f}"
        lim = "-" if c.limit is None else f"{c.limit:.4f}"
        status = "REGRESSED" if c.regressed else ("new" if c.baseline is None else "ok")
        lines.append(f"{c.key:<24} {c.score:<6} {b:>9} {c.current:>9.4f} {lim:>9}  "
                     f"{c.tolerance:<13} {status}")
    return "\n".join(lines)


def check(baseline_path: Path, *, methods: list[str] | None = None, abs_tol: float = 0.05,
          rel_tol: float = 0.10, update: bool = False, results_dir: Path | None = None,
          seeds: list[int] | None = None) -> tuple[int, str]:
    """Run the benchmark; return (exit code, printable report).

    ``seeds`` (with ``update``) records the baseline over several seeds, so that later checks
    take their tolerance from the seed spread.
    """
    if seeds and not update:
        raise ValueError("--seeds records a baseline over seeds; use it with --update (the "
                         "check itself runs seed 0)")
    baseline_path = Path(baseline_path)
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else {}
    if not update and not baseline:
        raise FileNotFoundError(
            f"baseline {baseline_path} not found; create it with `python -m bench check --update`"
        )
    methods = list(methods or baseline.get("methods") or DEFAULT_METHODS)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        current = run_benchmark(methods, Path(results_dir or tmp), seeds)
    rows = compare(current, baseline, abs_tol=abs_tol, rel_tol=rel_tol)
    report = format_comparison(rows)
    if update:
        write_json(baseline_path, {"benchmark": BENCHMARK, "overrides": CHECK_OVERRIDES,
                                   "default_overrides": DEFAULT_OVERRIDES, "methods": methods,
                                   "results": current})
        return 0, report + f"\nbaseline written to {baseline_path}"
    regressed = [c for c in rows if c.regressed]
    if regressed:
        names = ", ".join(sorted({c.key for c in regressed}))
        return 1, report + f"\nREGRESSION beyond tolerance in: {names}"
    return 0, report + "\nno regression"
