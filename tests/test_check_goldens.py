"""The golden layers of ``bench check``: unchanged code passes, any change fails with the first
differing value and the command that rewrites the goldens."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.goldens import compare_goldens, run_layer

GOLDENS = Path(__file__).resolve().parents[1] / "results" / "goldens"


def test_compare_goldens_reports_the_first_difference_in_either_direction():
    golden = {"a": 1.0, "b": [1, 2, 3], "c": "x"}
    assert compare_goldens("eval", golden, dict(golden)) is None
    d = compare_goldens("eval", golden, {"a": 1.0, "b": [1, 5, 7], "c": "y"})
    assert (d.quantity, d.golden, d.current) == ("b[1]", 2, 5)
    assert "--update --layer eval" in str(d) and "golden 2, current 5" in str(d)
    smaller = compare_goldens("eval", golden, {**golden, "a": 0.999})
    assert smaller.quantity == "a" and smaller.current == 0.999  # better fails too
    assert compare_goldens("infer", golden, {**golden, "a": 1.01}, lambda q: 0.02) is None
    missing = compare_goldens("eval", golden, {"a": 1.0, "b": [1, 2, 3]})
    assert missing.quantity == "c" and missing.current == "(not computed)"


def test_eval_layer_passes_on_unchanged_code():
    diff, summary = run_layer("eval", GOLDENS)
    assert diff is None, summary


def test_eval_layer_catches_a_metric_that_flatters(monkeypatch):
    import metrics

    real = metrics.evaluate

    def flattering(gt, seg, **kw):
        out = dict(real(gt, seg, **kw))
        out["voi_merge"] *= 0.99
        return out

    monkeypatch.setattr(metrics, "evaluate", flattering)
    diff, summary = run_layer("eval", GOLDENS)
    assert diff is not None and diff.layer == "eval" and diff.quantity.endswith("/voi_merge")
    assert diff.current < diff.golden


def test_unknown_layer_is_refused_before_any_work(capsys):
    assert main(["check", "--layer", "nope"]) == 2
    assert ("--layer: expected one of protocol, eval, infer, train, e2e, got 'nope'"
            in capsys.readouterr().err)


@pytest.mark.slow
def test_no_false_alarm_under_other_kernels_and_thread_counts():
    """Unchanged code passes every golden layer under ATEN_CPU_CAPABILITY=default and avx2
    with 1 and 2 threads (each setting in a fresh process)."""
    from bench.goldens.matrix import SETTINGS, matrix

    rows = matrix(["eval", "infer", "train"], GOLDENS)
    assert len(rows) == 3 * len(SETTINGS)
    failed = [r["failure"] for r in rows if not r["passed"]]
    assert not failed, failed


def test_every_planted_regression_still_applies_once():
    """The catalogue stays valid as the code changes: each edit's text occurs exactly once, and
    the catalogue spans the stages the issue lists."""
    from bench.goldens.mutations import CATALOGUE

    root = GOLDENS.parents[1]
    for m in CATALOGUE:
        assert (root / m.path).read_text().count(m.old) == 1, m.name
    assert len(CATALOGUE) >= 12 and len({m.name for m in CATALOGUE}) == len(CATALOGUE)
    areas = {m.area for m in CATALOGUE}
    assert {"phantom", "splits", "sampler", "augmentation", "targets", "loss", "lr/optimiser",
            "network", "inference tiling", "inference blending", "affinity convention",
            "fragments", "agglomeration", "threshold selection", "metrics",
            "results writing"} <= areas


# -- the protocol layer (issue 28, item 1) ------------------------------------------------------
def test_protocol_layer_passes_on_unchanged_code():
    diff, summary = run_layer("protocol", GOLDENS)
    assert diff is None, summary


@pytest.mark.parametrize("change, quantity, golden, current", [
    # the wafer4 / CREMI split protocol: train one section shorter
    (lambda mp: _replace_split(mp, "wafer4", {"train": (None, 0, 89), "val": (None, 90, 100),
                                              "test": (None, 100, 125)}),
     "dataset/wafer4/split/train[2]", 90, 89),
    # every recipe's learning rate doubled through the recipe loader: the first quantity in
    # sorted order is the cpu-real profile's
    (lambda mp: mp.setattr("bench.train.recipe_method.load_recipe", _doubling_lr()),
     "recipe/cad-nodistill/cpu-real/lr", 1e-3, 2e-3),
])
def test_protocol_layer_names_the_dataset_or_method_key_and_both_values(
        monkeypatch, change, quantity, golden, current):
    change(monkeypatch)
    diff, summary = run_layer("protocol", GOLDENS)
    assert diff is not None and diff.layer == "protocol"
    assert (diff.quantity, diff.golden, diff.current) == (quantity, golden, current), summary
    assert "--update --layer protocol" in summary


def _replace_split(monkeypatch, name, ranges):
    import dataclasses

    from bench.data import registry
    from bench.data.splits import SectionRanges

    entry = registry.get_dataset(name)
    monkeypatch.setitem(registry.DATASETS, name, dataclasses.replace(
        entry, splits=SectionRanges(ranges, label="the paper protocol")))


def _doubling_lr():
    from bench.train import recipe_method

    real = recipe_method.load_recipe

    def doubled(*args, **kwargs):
        out = real(*args, **kwargs)
        out["lr"] = out["lr"] * 2
        return out

    return doubled


def test_protocol_layer_update_rewrites_its_goldens(tmp_path):
    diff, summary = run_layer("protocol", tmp_path, update=True)
    assert diff is None and (tmp_path / "protocol.json").is_file()
    assert run_layer("protocol", tmp_path)[0] is None
