"""Multi-seed studies: every (method, seed) of one configuration, resumable as a whole.

``python -m bench run --method cad,unet2d --seeds 0-4`` runs each method once per seed under the
same dataset split and post-processing. Every row records the study id, which is a hash of
the configuration without the method and the seed (dataset, profile, post-processors, recipe
overrides, ...), so that running the same command again (or with more seeds or methods) joins
the same study:

* a (method, seed) whose run directory is finished (``metrics.json`` exists) is skipped;
* an interrupted one (``config.yaml`` but no ``metrics.json``) is resumed in its directory;
* the rest are started.

Only run directories this harness made on this machine, every file as it wrote it, count
(:mod:`bench.provenance`): a folder someone planted or copied into ``runs/``, or a run with a
forged ``metrics.json`` or planted predictions, is logged and left alone, and its (method,
seed) is started afresh. Adopting a finished run inserts only the rows the database lacks: a
stored row that differs from the run's is kept and the difference is logged.

The synthetic volume is generated with seed 0 in every run of a study (``RunSpec.data_seed``):
all methods and seeds are trained and tested on the same split, and only training (weight
initialisation, sampling, augmentation) varies with the seed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from bench import progress
from bench.pipeline import RunOutcome, RunSpec, run
from bench.provenance import verify_run
from bench.results import ResultsStore, read_metrics_rows

log = logging.getLogger(__name__)

#: RunSpec fields that do not define a study: they vary inside it or do not change results
#: the synthetic volume's seed in a study (see the module docstring)
STUDY_DATA_SEED = 0
_NOT_IN_STUDY_ID = ("method", "seed", "study", "workers", "scheduler_address")


#: a study of more seeds than this needs the user's confirmation (``--yes``)
CONFIRM_SEEDS_ABOVE = 100
#: no study has more seeds than this, confirmed or not
MAX_SEEDS = 10_000


def parse_seeds(text: str, *, confirmed: bool = False) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,3,7"`` -> [0, 3, 7]; ``"0-2,9"`` -> [0, 1, 2, 9].

    Repeats are dropped (first occurrence kept). More than :data:`CONFIRM_SEEDS_ABOVE` seeds
    need ``confirmed`` (``--yes``), more than :data:`MAX_SEEDS` are refused; both are counted
    from the ranges before any list is built, so a huge range fails at once.
    """
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in str(text).split(",")):
        m = re.fullmatch(r"(\d{1,12})(?:-(\d{1,12}))?", part)
        if not m:
            raise ValueError(f"--seeds expects ranges and lists of non-negative integers such "
                             f"as 0-4 or 0,3,7; got {text!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"--seeds: range {part!r} ends before it starts")
        ranges.append((lo, hi))
    n = _union_size(ranges)
    if n > MAX_SEEDS:
        raise ValueError(f"--seeds {text}: {n} seeds; a study has at most {MAX_SEEDS}")
    if n > CONFIRM_SEEDS_ABOVE and not confirmed:
        raise ValueError(f"--seeds {text}: {n} seeds, i.e. {n} trainings per method; add --yes "
                         f"to run more than {CONFIRM_SEEDS_ABOVE}")
    seen: set[int] = set()
    seeds: list[int] = []
    for lo, hi in ranges:
        for s in range(lo, hi + 1):
            if s not in seen:
                seen.add(s)
                seeds.append(s)
    return seeds


def _union_size(ranges: list[tuple[int, int]]) -> int:
    """How many integers the closed ``ranges`` cover together (overlaps counted once)."""
    total, end = 0, -1
    for lo, hi in sorted(ranges):
        if hi > end:
            total += hi - max(lo, end + 1) + 1
            end = hi
    return total


def study_id(template: RunSpec) -> str:
    """``study-<dataset>-<profile>-<hash>`` of the configuration shared by the study's runs."""
    config = {k: v for k, v in asdict(template).items() if k not in _NOT_IN_STUDY_ID}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    return f"study-{template.dataset}-{template.profile}-{digest.hexdigest()[:8]}"


def _existing_runs(store: ResultsStore, study: str) -> dict[tuple[str, int], Path]:
    """(method, seed) -> run directory of the study's runs already started (the newest wins).

    Only directories this harness made (:func:`bench.provenance.verify_run`) count: a folder
    planted in or copied into ``runs/`` is neither resumed nor taken as done, and is logged.
    """
    found: dict[tuple[str, int], Path] = {}
    for run_id in store.run_ids():
        cfg = store.run_dir(run_id) / "config.yaml"
        if not cfg.exists():
            continue
        try:
            spec = yaml.safe_load(cfg.read_text()).get("spec", {})
            if spec.get("study") != study:
                continue
            key = (str(spec["method"]), int(spec["seed"]))
        except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError, OSError):
            continue  # not a run specification: never one of this study's runs
        why = verify_run(store.run_dir(run_id))
        if why:
            log.warning("study %s: not using run directory %s (%s seed %d): %s", study,
                        run_id, key[0], key[1], why)
            continue
        done = (store.run_dir(run_id) / "metrics.json").exists()
        # prefer a finished directory over an interrupted one
        if key not in found or done:
            found[key] = store.run_dir(run_id)
    return found


def run_study(methods: list[str], seeds: list[int], template: RunSpec,
              store: ResultsStore) -> list[RunOutcome]:
    """Run every (method, seed) of the study defined by ``template``; skip finished ones."""
    if not seeds:
        raise ValueError("a study needs at least one seed")
    if template.data_seed is None:
        template = replace(template, data_seed=STUDY_DATA_SEED)
    study = study_id(template)
    existing = _existing_runs(store, study)
    outcomes = []
    total = len(methods) * len(seeds)
    eta = _TimeLeft(total)
    with progress.bar(total=total, desc="study", unit="run", leave=True) as shown:
        for i, (method, seed) in enumerate(((m, s) for m in methods for s in seeds), start=1):
            spec = replace(template, method=method, seed=seed, study=study)
            run_dir = existing.get((method, seed))
            if run_dir is not None and (run_dir / "metrics.json").exists():
                rows = read_metrics_rows(run_dir / "metrics.json")
                # restores rows of a rebuilt or moved database; never replaces a stored row
                for mismatch in store.adopt_rows(rows):
                    log.warning("study %s: %s seed %d: the stored row differs from %s's "
                                "metrics.json and was kept: %s", study, method, seed,
                                run_dir.name, mismatch)
                log.info("[%d/%d] %s seed %d: done in %s, skipped", i, total, method, seed,
                         run_dir.name)
                outcomes.append(RunOutcome(run_dir.name, run_dir, rows))
                eta.skipped()
                shown.update(1)
                continue
            t0 = time.monotonic()
            if run_dir is not None:
                log.info("[%d/%d] %s seed %d: resuming %s%s", i, total, method, seed,
                         run_dir.name, eta.text())
                outcomes.append(run(spec, store, run_id=run_dir.name))
            else:
                log.info("[%d/%d] %s seed %d: starting (%s)%s", i, total, method, seed, study,
                         eta.text())
                outcomes.append(run(spec, store))
            eta.ran(time.monotonic() - t0)
            shown.set_postfix_str(eta.text().lstrip("; "), refresh=False)
            shown.update(1)
    return outcomes


class _TimeLeft:
    """Runs done and left and the time the rest should take: the mean duration of the runs
    this process ran times the runs left (skipped, finished runs cost nothing and do not count,
    unlike in tqdm's own rate)."""

    def __init__(self, total: int):
        self.total, self.done, self.seconds, self.n_ran = total, 0, 0.0, 0

    def skipped(self) -> None:
        self.done += 1

    def ran(self, seconds: float) -> None:
        self.done += 1
        self.n_ran += 1
        self.seconds += seconds

    def text(self) -> str:
        """``"; 2 runs left, about 5.1 min"`` once a run was timed, else ``""``."""
        left = self.total - self.done
        if not self.n_ran or not left:
            return ""
        return (f"; {left} run{'s' if left > 1 else ''} left, about "
                f"{progress.duration(self.seconds / self.n_ran * left)}")
