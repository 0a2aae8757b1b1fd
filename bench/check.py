"""The end-to-end layer of the regression check: run the fixed smoke benchmark and compare it
with a baseline recorded over seeds.

A result fails when a score (VOI, ARAND) leaves the 95% prediction interval of one new run,
``mean ± t(0.975, n-1) * std * sqrt(1 + 1/n)`` (at least ``± abs_tol``), in either direction:
a change that flatters every method is as suspect as one that costs them. The seed spread
measured on the baseline's machine sets the tolerance, instead of a guess.

The baseline's own defects are refused rather than turned into a check that cannot fail:

* a baseline needs at least :data:`MIN_SEEDS` seeds (with two, ``t(0.975, 1) = 12.7`` gives
  limits past any score);
* no limit may reach the end of its score's range: ARAND 1, and for both scores the value of the
  all-merged segmentation of the smoke test volume (a limit there passes a method that merges
  everything);
* ``--update --methods X`` merges X into the baseline; ``--replace`` rewrites it with X alone.

The check itself runs :data:`CHECK_SEEDS` (seeds 0-2) of every method and compares the mean
of each score over them with the interval for the mean of that many new runs,
``mean ± t(0.975, n-1) * std * sqrt(1/m + 1/n)`` (``m`` new runs, ``n`` baseline seeds); it
prints the smallest VOI difference it detects with probability 0.8 at alpha 0.05
(:func:`min_detectable_difference`). Throughput is shown but never fails the check (it depends
on the machine).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from bench.registry import check_overrides
from bench.results import ResultsStore, write_json
from metrics.spec import METRICS, checked_metrics


def checked_scores() -> tuple[str, ...]:
    """The scores the check compares: those of :data:`metrics.spec.METRICS` marked ``checked``
    (VOI and ARAND; a score registered with ``checked=True`` joins them)."""
    return tuple(m.key for m in checked_metrics())

#: the seeds the check runs of every method (their mean is compared; ``--seeds`` overrides)
CHECK_SEEDS = (0, 1, 2)
#: unet2d and rf: CAD's smoke spread (VOI std 0.76 over three seeds at 200 iterations) puts its
#: limit past the all-merged VOI, so no CAD result could fail; CAD's recipe is checked by the
#: inference and training goldens instead (bench.goldens)
DEFAULT_METHODS = ("unet2d", "rf")
#: the fixed benchmark: everything but the method is pinned
BENCHMARK = {"dataset": "synthetic", "profile": "smoke", "postprocess": ["waterz"], "seed": 0,
             "device": "cpu"}
#: recipe overrides on top of the smoke profile, so that each method learns enough in about a
#: minute of CPU for a regression to show (4 smoke iterations leave every method at "all
#: merged"): each method's own, from its recipe's ``check`` mapping
#: (:func:`bench.registry.check_overrides`), else DEFAULT_OVERRIDES
#: 400 unet2d iterations (about a minute on 2 cores): VOI std over five seeds 0.30, against
#: 0.85 over three seeds at 100 iterations
DEFAULT_OVERRIDES: dict[str, Any] = {"iters": 400}


@dataclass
class Comparison:
    key: str
    score: str
    baseline: float | None
    current: float
    limit: float | None
    #: "seeds (n=N)": the prediction interval from the baseline's seed spread
    tolerance: str = "-"
    #: lower end of the interval (a score below it changed too: flattering changes fail)
    low: float | None = None

    @property
    def _lower_is_better(self) -> bool:
        metric = METRICS.get(self.score)
        return metric is None or metric.lower_is_better

    @property
    def regressed(self) -> bool:
        if self._lower_is_better:
            return self.limit is not None and self.current > self.limit
        return self.low is not None and self.current < self.low

    @property
    def improved(self) -> bool:
        if self._lower_is_better:
            return self.low is not None and self.current < self.low
        return self.limit is not None and self.current > self.limit


def run_benchmark(methods: list[str], results_dir: Path, seeds: list[int] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Scores of each method (``method/postprocess`` keys); with several seeds, their means,
    standard deviations and the per-seed values (the synthetic volume stays that of seed 0)."""
    from bench.pipeline import RunSpec, run

    store = ResultsStore(results_dir)
    seeds = list(seeds or [BENCHMARK["seed"]])
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    by_method = check_overrides()  # reads every method's recipe once
    for method in methods:
        overrides = by_method.get(method, DEFAULT_OVERRIDES)
        for seed in seeds:
            spec = RunSpec(method=method, overrides=dict(overrides),
                           **{**BENCHMARK, "seed": seed, "data_seed": BENCHMARK["seed"]})
            for row in run(spec, store).rows:
                per_seed.setdefault(f"{method}/{row['postprocess']}", {})[seed] = {
                    **{s: float(row[s]) for s in checked_scores()},
                    "infer_voxels_per_s": float(row["infer_voxels_per_s"]),
                }
    return summarise(per_seed)


def summarise(per_seed: dict[str, dict[int, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """Per result: the one run's scores, or over several seeds their means, standard
    deviations and the per-seed values."""
    out: dict[str, dict[str, Any]] = {}
    for key, by_seed in per_seed.items():
        if len(by_seed) == 1:
            out[key] = next(iter(by_seed.values()))
            continue
        values = list(by_seed.values())
        summary: dict[str, Any] = {"n_seeds": len(values), "per_seed": by_seed}
        for name in (*checked_scores(), "infer_voxels_per_s"):
            v = np.array([x[name] for x in values])
            summary[name] = float(v.mean())
            summary[f"{name}_std"] = float(v.std(ddof=1))
        out[key] = summary
    return out


#: the fewest seeds a baseline may hold (two give t(0.975, 1) = 12.7: limits past any score)
MIN_SEEDS = 3
#: the seeds ``--update`` records when none are given (five: t(0.975, 4) = 2.78, not 4.30)
DEFAULT_UPDATE_SEEDS = (0, 1, 2, 3, 4)
#: the end-to-end check's error rates for :func:`min_detectable_difference`
ALPHA, POWER = 0.05, 0.8


def seed_limits(mean: float, std: float, n: int, abs_tol: float, m: int = 1
                ) -> tuple[float, float]:
    """The 95% prediction interval of the mean of ``m`` new runs (one by default), at least
    ``mean ± abs_tol``."""
    half = max(float(sps.t.ppf(0.975, n - 1)) * std * np.sqrt(1 / m + 1 / n), abs_tol)
    return mean - half, mean + half


def seed_limit(mean: float, std: float, n: int, abs_tol: float, m: int = 1) -> float:
    """Upper end of :func:`seed_limits`."""
    return seed_limits(mean, std, n, abs_tol, m)[1]


def min_detectable_difference(std: float, n: int, *, m: int = 1, alpha: float = ALPHA,
                              power: float = POWER) -> float:
    """The smallest true shift of the mean of ``m`` new runs' score that the two-sided
    prediction-interval test (``alpha``) detects with probability ``power``, given a baseline
    of ``n`` seeds with standard deviation ``std``:
    ``(t(1-alpha/2, n-1) + t(power, n-1)) * std * sqrt(1/m + 1/n)``."""
    df = n - 1
    q = float(sps.t.ppf(1 - alpha / 2, df)) + float(sps.t.ppf(power, df))
    return q * std * float(np.sqrt(1 / m + 1 / n))


def score_ceilings() -> dict[str, float]:
    """The bad end of each checked score's useful range on the check's test volume: the score
    of the all-merged segmentation (one segment) for the scores it is the worst case of
    (``merged_is_worst``: VOI, ARAND), kept within the score's own range (ARAND <= 1); the end
    of the range for the others. For a score where higher is better it is the low end."""
    from bench.data import load_dataset
    from metrics.scores import scores
    from metrics.spec import table_scores
    from metrics.table import overlap_table

    ds = load_dataset(BENCHMARK["dataset"], profile=BENCHMARK["profile"],
                      seed=BENCHMARK["seed"])
    gt = np.asarray(ds.split("test").labels[...])
    table = overlap_table(gt, np.ones_like(gt))
    merged = table_scores(table, scores(table))
    out = {}
    for m in checked_metrics():
        lo, hi = m.bounds
        end = hi if m.lower_is_better else lo
        value = float(merged[m.key]) if m.merged_is_worst else end
        out[m.key] = min(value, hi) if m.lower_is_better else max(value, lo)
    return out


def validate_baseline(baseline: dict[str, Any], path: Path,
                      ceilings: dict[str, float] | None = None, abs_tol: float = 0.05,
                      m: int = 1) -> None:
    """Refuse a baseline that cannot fail: fewer than :data:`MIN_SEEDS` seeds, or a limit at or
    past the end of its score's range (``ValueError`` naming the file, result and score)."""
    for key, entry in baseline.get("results", {}).items():
        n = int(entry.get("n_seeds", 1))
        if n < MIN_SEEDS:
            raise ValueError(f"{path}: {key} was recorded over {n} seed(s); a baseline needs at "
                             f"least {MIN_SEEDS} (record it with `python -m bench check --update "
                             f"--seeds 0-{MIN_SEEDS - 1}`)")
        for score in checked_scores():
            if f"{score}_std" not in entry:
                raise ValueError(f"{path}: {key} lacks {score}_std; record it again with "
                                 "`python -m bench check --update`")
        if ceilings is None:
            continue
        for score in checked_scores():
            low, high = seed_limits(float(entry[score]), float(entry[f"{score}_std"]), n,
                                    abs_tol, m)
            lower_is_better = METRICS[score].lower_is_better
            limit = high if lower_is_better else low
            if (limit >= ceilings[score]) if lower_is_better else (limit <= ceilings[score]):
                raise ValueError(
                    f"{path}: {key} {score} limit {limit:.3f} reaches the end of the score's "
                    f"range ({ceilings[score]:.3f}, the all-merged segmentation): its seed spread "
                    f"(std {float(entry[f'{score}_std']):.3f} over {n} seeds) is too wide for the "
                    "check to fail; record more seeds")


def compare(current: dict[str, dict[str, float]], baseline: dict[str, Any], *,
            abs_tol: float) -> list[Comparison]:
    """One :class:`Comparison` per (result, score) against a validated baseline."""
    rows = []
    for key, scores in sorted(current.items()):
        base = baseline.get("results", {}).get(key)
        for score in checked_scores():
            if base is None:
                rows.append(Comparison(key, score, None, scores[score], None))
                continue
            n = int(base["n_seeds"])
            m = int(scores.get("n_seeds", 1))  # the mean of m new runs
            low, high = seed_limits(float(base[score]), float(base[f"{score}_std"]), n, abs_tol,
                                    m)
            # within the score's range (VOI and ARAND are >= 0)
            low, high = max(low, METRICS[score].bounds[0]), min(high, METRICS[score].bounds[1])
            rows.append(Comparison(key, score, float(base[score]), scores[score], high,
                                   f"seeds (n={n})" if m == 1 else f"mean of {m} (n={n})",
                                   low=low))
    return rows


def format_comparison(rows: list[Comparison], baseline: dict[str, Any] | None = None,
                      m: int = 1) -> str:
    lines = [f"{'result':<24} {'score':<6} {'baseline':>9} {'current':>9} {'interval':>19}  "
             f"{'tolerance':<13} status", "-" * 94]
    for c in rows:
        b = "-" if c.baseline is None else f"{c.baseline:.4f}"
        lim = "-" if c.limit is None else f"[{c.low:.4f}, {c.limit:.4f}]"
        status = ("REGRESSED" if c.regressed else "CHANGED (better)" if c.improved
                  else "new" if c.baseline is None else "ok")
        lines.append(f"{c.key:<24} {c.score:<6} {b:>9} {c.current:>9.4f} {lim:>19}  "
                     f"{c.tolerance:<13} {status}")
    for key, entry in sorted((baseline or {}).get("results", {}).items()):
        if "voi_std" in entry and any(c.key == key for c in rows):
            mdd = min_detectable_difference(float(entry["voi_std"]), int(entry["n_seeds"]), m=m)
            runs = "one run" if m == 1 else f"the mean of {m} seeds"
            lines.append(f"{key}: smallest VOI change detected (alpha {ALPHA}, power {POWER}, "
                         f"{runs} against std {float(entry['voi_std']):.3f} over "
                         f"{entry['n_seeds']} seeds): {mdd:.3f}")
    return "\n".join(lines)


def check(baseline_path: Path, *, methods: list[str] | None = None, abs_tol: float = 0.05,
          update: bool = False, results_dir: Path | None = None,
          seeds: list[int] | None = None, replace: bool = False) -> tuple[int, str]:
    """Run the benchmark; return (exit code, printable report).

    With ``update``, record the baseline over ``seeds`` (default 0-4, at least
    :data:`MIN_SEEDS`), merged into the existing file unless ``replace``.
    """
    if replace and not update:
        raise ValueError("--replace rewrites the baseline; use it with --update")
    baseline_path = Path(baseline_path)
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else {}
    if not update and not baseline:
        raise FileNotFoundError(
            f"baseline {baseline_path} not found; create it with `python -m bench check --update`"
        )
    header = {"benchmark": BENCHMARK, "overrides": check_overrides(),
              "default_overrides": DEFAULT_OVERRIDES}
    if update:
        seeds = list(seeds or DEFAULT_UPDATE_SEEDS)
        if len(seeds) < MIN_SEEDS:
            raise ValueError(f"--seeds: a baseline needs at least {MIN_SEEDS} seeds (their "
                             f"spread sets the limits), got {len(seeds)}")
        same = all(_jsonable(baseline.get(k)) == _jsonable(v) for k, v in header.items())
        if baseline and not replace and not same:
            raise ValueError(f"{baseline_path} was recorded with another benchmark or recipe "
                             "overrides; rewrite it with --update --replace")
        if baseline and not replace and methods is None:
            methods = list(baseline.get("methods") or DEFAULT_METHODS)
    else:  # a baseline that cannot fail is refused before the benchmark runs, not after
        seeds = list(seeds or CHECK_SEEDS)
        validate_baseline(baseline, baseline_path, score_ceilings(), abs_tol, len(seeds))
    methods = list(methods or baseline.get("methods") or DEFAULT_METHODS)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        current = run_benchmark(methods, Path(results_dir or tmp), seeds)
    if update:
        kept = {} if replace else {k: v for k, v in baseline.get("results", {}).items()
                                   if k.split("/")[0] not in methods}
        all_methods = ([] if replace else [m for m in baseline.get("methods", [])
                                           if m not in methods]) + methods
        new = {**header, "methods": all_methods, "results": {**kept, **current}}
        validate_baseline(new, baseline_path, score_ceilings(), abs_tol)
        write_json(baseline_path, new)
        merged = f" (kept {', '.join(sorted(kept))})" if kept else ""
        return 0, (format_comparison(compare(current, new, abs_tol=abs_tol), new)
                   + f"\nbaseline written to {baseline_path}{merged}")
    rows = compare(current, baseline, abs_tol=abs_tol)
    report = format_comparison(rows, baseline, m=len(seeds))
    failed = [c for c in rows if c.regressed or c.improved]
    if failed:
        names = ", ".join(f"{c.key} {c.score} {c.current:.4f} outside "
                          f"[{c.low:.4f}, {c.limit:.4f}] (baseline {c.baseline:.4f})"
                          for c in failed)
        return 1, report + f"\nend-to-end layer FAILED: {names}"
    return 0, report + "\nend-to-end layer: no change beyond the seed spread"


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparing headers."""
    return json.loads(json.dumps(value, sort_keys=True))
