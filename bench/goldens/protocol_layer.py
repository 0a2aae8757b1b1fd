"""Protocol goldens: the benchmark's definition, compared exactly, without running anything.

A leaderboard number is bound to the split it was tested on, the recipe that trained the
method, the inference and post-processing settings and the metric. The other golden layers
execute code paths (the smoke recipes, the phantom crop); this one reads what the benchmark
declares, so a change to a profile nobody runs in the check (``quick`` is the main job,
``paper`` the reproduction), to a real dataset's split or to a post-processor's grid fails it:

* ``dataset/<name>/...``: every registered dataset's resolution, expected files and split
  (section ranges per split and the section count each volume must have; for fraction splits
  the rule and the splits it gives at the synthetic profiles' and some other section counts);
* ``recipe/<method>/<profile>/<key>``: every method x profile resolved recipe (training and
  inference keys; a variant such as ``cad-nofgi`` is a method of its own);
  ``official_inference/<method>``: the inference keys an official checkpoint runs with;
* ``postprocess/<name>/...``: every post-processor's swept parameter, single-run value, sweep
  grid, fewest validation sections and fixed parameters; ``selection/...``: the defaults of the
  parameter choice (learned agglomeration's edge forest, cross-fitting folds, the grid
  extension) and of the run (``RunSpec``: the VOI interval's ``slab_sections``, ``select``);
* ``metric/<key>/...``: the metric specification (:data:`metrics.spec.METRICS`);
* ``check/...``: the check's own fixed benchmark and the eval layer's fixed parameters.

* ``control/<name>/...``: every null control's family, whether it needs a source run, and its
  settings' defaults (the noise seed, the translation vectors); its rule's output is pinned by
  the infer layer.

A difference names the quantity (dataset, method and profile, or post-processor, and the key)
and both values. ``python -m bench check --update --layer protocol`` rewrites the goldens: do
it only in a commit that changes the benchmark's definition on purpose, and say so in its
message (docs/integrity.md).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

RULE = "exact"
#: section counts at which a fraction split rule is written out (besides the synthetic ones)
FRACTION_SECTION_COUNTS = (20, 50, 100, 125)


def tolerance(quantity: str) -> float:
    return 0.0


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples -> lists); non-JSON objects by their repr."""
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _flat(prefix: str, mapping: dict[str, Any], out: dict[str, Any]) -> None:
    """One quantity per key; nested mappings joined with '.'."""
    for key in sorted(mapping):
        value = mapping[key]
        if isinstance(value, dict):
            _flat(f"{prefix}{key}.", value, out)
        else:
            out[f"{prefix}{key}"] = _plain(value)


def _defaults(fn: Any) -> dict[str, Any]:
    """The keyword defaults of ``fn`` that are plain values (a grid of None stays None)."""
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if p.default is inspect.Parameter.empty or callable(p.default):
            continue
        out[name] = _plain(p.default)
    return out


def datasets() -> dict[str, Any]:
    from bench.data.datasets.phantom import SYNTHETIC_PROFILES
    from bench.data.registry import dataset_names, get_dataset
    from bench.data.splits import FractionSplits, SectionRanges, describe_splits, fraction_splits

    out: dict[str, Any] = {}
    for name in _builtin_datasets(dataset_names(), get_dataset):
        entry = get_dataset(name)
        p = f"dataset/{name}/"
        out[p + "resolution_nm"] = _plain(entry.info.resolution_nm)
        out[p + "expected_files"] = _plain(entry.info.expected_files)
        spec = entry.splits
        if isinstance(spec, SectionRanges):
            need: dict[str, int] = {}
            for split, (vol, start, stop) in spec.ranges.items():
                out[p + f"split/{split}"] = [vol or "(the volume)", start,
                                            "end" if stop is None else stop]
                key = vol or "(the volume)"
                need[key] = max(need.get(key, 0), stop if stop is not None else start + 1)
            for vol, n in sorted(need.items()):
                out[p + f"sections_expected/{vol}"] = n
        elif isinstance(spec, FractionSplits):
            out[p + "split/rule"] = _plain(dataclasses.asdict(spec))
            counts = ({prof: shape[0] for prof, shape in SYNTHETIC_PROFILES.items()}
                      if name == "synthetic" else {})
            counts.update({f"{n}_sections": n for n in FRACTION_SECTION_COUNTS})
            for label, n in counts.items():
                splits = fraction_splits(name, n, min_test=spec.min_test, min_val=spec.min_val)
                for split, s in splits.items():
                    out[p + f"split/{label}/{split}"] = [s.start, s.stop]
            if name == "synthetic":
                for prof, shape in SYNTHETIC_PROFILES.items():
                    out[p + f"shape/{prof}"] = list(shape)
        else:  # a plain callable: what it says about itself
            out[p + "split/description"] = _plain(describe_splits(spec))
    # a file given as a dataset spec (path.h5:raw:labels) is split by this rule
    for n in FRACTION_SECTION_COUNTS:
        for split, s in fraction_splits("file", n, min_test=1, min_val=1).items():
            out[f"dataset/(file spec)/split/{n}_sections/{split}"] = [s.start, s.stop]
    return out


def _builtin_datasets(names: list[str], get: Any) -> list[str]:
    """The datasets this project defines (their loader lives in ``bench.data``); an outside
    package's dataset has no protocol goldens in this repository."""
    return [n for n in names
            if str(getattr(get(n).loader, "__module__", "")).startswith("bench.data")]


def outside() -> list[tuple[str, str]]:
    """The registered datasets, methods and post-processors this layer leaves out."""
    from bench.data.registry import dataset_names, get_dataset
    from bench.goldens import without_goldens
    from bench.registry import METHODS, POSTPROCESSORS

    builtin = set(_builtin_datasets(dataset_names(), get_dataset))
    return ([(n, "dataset") for n in dataset_names() if n not in builtin]
            + [(n, "method") for n in without_goldens(METHODS)]
            + [(n, "post-processor") for n in without_goldens(POSTPROCESSORS)])


def recipes() -> dict[str, Any]:
    from bench.registry import METHODS
    from bench.train.recipe import PROFILES

    out: dict[str, Any] = {}
    from bench.goldens import with_goldens

    for name in with_goldens(METHODS):
        cls = METHODS.get(name).cls
        if not getattr(cls, "learned", True):  # a control: its settings are its definition
            out[f"control/{name}/family"] = cls.family
            out[f"control/{name}/needs_source_run"] = bool(getattr(cls, "needs_source_run",
                                                                   False))
            _flat(f"control/{name}/defaults/", dict(getattr(cls, "defaults", {})), out)
            continue
        for profile in PROFILES:
            try:
                method = METHODS.create(name, profile=profile, device="cpu", seed=0)
            except ValueError as exc:  # a profile the method's recipe does not offer
                if "profile" not in str(exc):
                    raise
                out[f"recipe/{name}/{profile}"] = "(not offered)"
                continue
            _flat(f"recipe/{name}/{profile}/", dict(getattr(method, "config", {}) or {}), out)
        keys = getattr(cls, "official_inference_keys", None)
        if keys:
            out[f"official_inference/{name}"] = list(keys)
    return out


def postprocessors() -> dict[str, Any]:
    from bench.goldens import with_goldens
    from bench.pipeline.scoring import score_segmentation
    from bench.pipeline.spec import RunSpec
    from bench.registry import POSTPROCESSORS
    from bench.segment import learned, selection

    out: dict[str, Any] = {}
    for name in with_goldens(POSTPROCESSORS):
        f = POSTPROCESSORS.get(name).factory
        p = f"postprocess/{name}/"
        out[p + "parameter"] = f.parameter
        out[p + "default_value"] = float(f.default_value)
        out[p + "grid"] = [float(v) for v in f.default_values]
        out[p + "min_val_sections"] = int(f.min_val_sections)
        out[p + "learned"] = bool(getattr(f, "learned", False))
        _flat(p + "fixed/", {k: v for k, v in f.defaults().items()}, out)
    _flat("selection/select_learned/", _defaults(learned.select_learned), out)
    _flat("selection/fit_edge_model/", _defaults(learned.fit_edge_model), out)
    _flat("selection/select_parameter/", _defaults(selection.select_parameter), out)
    out["selection/criteria"] = list(selection.CRITERIA)
    # the grid extension past an edge of the default grid, on the default grid's two edges
    grid = [0.1 * k for k in range(1, 10)]
    out["selection/beyond_edge/low"] = selection._beyond_edge(min(grid), grid)
    out["selection/beyond_edge/high"] = selection._beyond_edge(max(grid), grid)
    _flat("selection/score_segmentation/", _defaults(score_segmentation), out)
    spec = {f.name: f.default for f in dataclasses.fields(RunSpec)
            if f.default is not dataclasses.MISSING}
    spec.update({f.name: f.default_factory() for f in dataclasses.fields(RunSpec)
                 if f.default_factory is not dataclasses.MISSING})
    _flat("run/", spec, out)
    return out


def metric_spec() -> dict[str, Any]:
    from bench import stats
    from metrics.spec import METRICS

    out: dict[str, Any] = {}
    for key, m in METRICS.items():
        fields = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)
                  if f.name != "compute"}
        fields["computed_by"] = "builtin" if m.compute is None else repr(m.compute)
        _flat(f"metric/{key}/", fields, out)
    out["stats/n_boot"] = stats.N_BOOT
    return out


def check_definition() -> dict[str, Any]:
    from bench import check
    from bench.goldens import eval_layer
    from bench.registry import check_overrides

    out: dict[str, Any] = {}
    _flat("check/benchmark/", check.BENCHMARK, out)
    _flat("check/default_overrides/", check.DEFAULT_OVERRIDES, out)
    _flat("check/overrides/", check_overrides(), out)
    out["check/methods"] = list(check.DEFAULT_METHODS)
    out["check/min_seeds"] = check.MIN_SEEDS
    out["check/alpha_power"] = [check.ALPHA, check.POWER]
    _flat("check/eval_fixed/", eval_layer.FIXED, out)
    out["check/eval_select_grid"] = list(eval_layer.SELECT_GRID)
    return out


def compute(goldens: Path, *, update: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in (datasets, recipes, postprocessors, metric_spec, check_definition):
        out.update(part())
    return out
