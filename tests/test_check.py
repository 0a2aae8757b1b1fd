"""The end-to-end layer of ``bench check``: limits from the seed spread, refused baselines,
merging ``--update --methods``, and the smallest detectable change it prints."""

from __future__ import annotations

import json

import pytest
from scipy import stats as sps

import bench.check as check_mod
from bench.check import compare, min_detectable_difference, validate_baseline


def _entry(voi: float, voi_std: float, arand: float = 0.1, arand_std: float = 0.0,
           n: int = 3) -> dict:
    return {"voi": voi, "voi_std": voi_std, "arand": arand, "arand_std": arand_std,
            "n_seeds": n}


def test_limits_come_from_the_seed_spread_in_both_directions():
    # 3 seeds, std 0.1: half width = t(0.975, 2) * 0.1 * sqrt(1 + 1/3)
    base = {"results": {"cad/waterz": _entry(1.0, 0.1)}}
    half = 4.302652729911275 * 0.1 * (4 / 3) ** 0.5
    rows = compare({"cad/waterz": {"voi": 1.45, "arand": 0.1}}, base, abs_tol=0.05)
    voi = next(c for c in rows if c.score == "voi")
    assert voi.limit == pytest.approx(1.0 + half) and voi.low == pytest.approx(1.0 - half)
    assert not voi.regressed and not voi.improved and voi.tolerance == "seeds (n=3)"
    arand = next(c for c in rows if c.score == "arand")  # no spread: abs_tol is the floor
    assert arand.limit == pytest.approx(0.15) and arand.low == pytest.approx(0.05)
    worse = compare({"cad/waterz": {"voi": 1.6, "arand": 0.1}}, base, abs_tol=0.05)
    assert [c.score for c in worse if c.regressed] == ["voi"]
    # a change that flatters the method fails too
    flattered = compare({"cad/waterz": {"voi": 1.0, "arand": 0.01}}, base, abs_tol=0.05)
    assert [c.score for c in flattered if c.improved] == ["arand"]
    new = compare({"x/waterz": {"voi": 9.0, "arand": 0.9}}, base, abs_tol=0.05)
    assert not any(c.regressed or c.improved for c in new)


def test_min_detectable_difference_is_the_t_quantile_sum_times_the_new_run_spread():
    n, std = 5, 0.2
    expected = (sps.t.ppf(0.975, 4) + sps.t.ppf(0.8, 4)) * std * (1 + 1 / n) ** 0.5
    assert min_detectable_difference(std, n) == pytest.approx(expected)
    assert min_detectable_difference(std, 10) < min_detectable_difference(std, 3)
    # the mean of m new runs: sqrt(1/m + 1/n) in place of sqrt(1 + 1/n)
    three = (sps.t.ppf(0.975, 4) + sps.t.ppf(0.8, 4)) * std * (1 / 3 + 1 / n) ** 0.5
    assert min_detectable_difference(std, n, m=3) == pytest.approx(three)


def test_the_interval_of_a_mean_of_three_new_runs_is_narrower():
    base = {"results": {"cad/waterz": _entry(1.0, 0.1, n=5)}}
    half = sps.t.ppf(0.975, 4) * 0.1 * (1 / 3 + 1 / 5) ** 0.5
    rows = compare({"cad/waterz": {"voi": 1.0, "arand": 0.1, "n_seeds": 3}}, base,
                   abs_tol=0.05)
    voi = next(c for c in rows if c.score == "voi")
    assert voi.limit == pytest.approx(1.0 + half) and voi.tolerance == "mean of 3 (n=5)"


def test_a_baseline_of_two_seeds_is_refused(tmp_path):
    base = {"results": {"cad/waterz": _entry(2.0, 0.8, n=2)}}
    with pytest.raises(ValueError, match=r"cad/waterz was recorded over 2 seed\(s\).*at least 3"):
        validate_baseline(base, tmp_path / "b.json")


def test_a_limit_past_the_score_range_is_refused(tmp_path):
    ceilings = {"voi": 4.0, "arand": 1.0}
    wide = {"results": {"cad/waterz": _entry(1.0, 0.1, arand=0.5, arand_std=0.3)}}
    with pytest.raises(ValueError, match="cad/waterz arand limit .* reaches the end"):
        validate_baseline(wide, tmp_path / "b.json", ceilings)
    noisy = {"results": {"cad/waterz": _entry(2.3, 0.76)}}
    with pytest.raises(ValueError, match="cad/waterz voi limit 6.0"):
        validate_baseline(noisy, tmp_path / "b.json", ceilings)
    validate_baseline({"results": {"cad/waterz": _entry(1.0, 0.1)}}, tmp_path / "b.json",
                      ceilings)


@pytest.fixture
def fake_benchmark(monkeypatch):
    """run_benchmark without training: each method's score is fixed, spread 0.1 over seeds."""
    calls = []

    def fake(methods, results_dir, seeds=None):
        calls.append((list(methods), seeds))
        out = {}
        for i, m in enumerate(methods):
            vals = [1.0 + 0.1 * i + 0.1 * k for k in range(len(seeds or [0]))]
            mean = sum(vals) / len(vals)
            if seeds is None:
                out[f"{m}/waterz"] = {"voi": vals[0], "arand": 0.1, "infer_voxels_per_s": 1.0}
            else:
                out[f"{m}/waterz"] = {"voi": mean, "voi_std": 0.1, "arand": 0.1,
                                      "arand_std": 0.01, "n_seeds": len(seeds)}
        return out

    monkeypatch.setattr(check_mod, "run_benchmark", fake)
    monkeypatch.setattr(check_mod, "score_ceilings", lambda: {"voi": 5.0, "arand": 1.0})
    return calls


def test_update_with_methods_merges_and_replace_rewrites(tmp_path, fake_benchmark):
    path = tmp_path / "baseline.json"
    assert check_mod.check(path, methods=["cad", "unet2d"], update=True)[0] == 0
    assert fake_benchmark[-1] == (["cad", "unet2d"], [0, 1, 2, 3, 4])  # five seeds by default
    code, report = check_mod.check(path, methods=["unet2d"], update=True)
    assert code == 0 and "kept cad/waterz" in report
    stored = json.loads(path.read_text())
    assert stored["methods"] == ["cad", "unet2d"]
    assert set(stored["results"]) == {"cad/waterz", "unet2d/waterz"}
    check_mod.check(path, methods=["unet2d"], update=True, replace=True)
    stored = json.loads(path.read_text())
    assert stored["methods"] == ["unet2d"] and set(stored["results"]) == {"unet2d/waterz"}


def test_update_refuses_fewer_than_three_seeds_and_a_foreign_baseline(tmp_path, fake_benchmark):
    path = tmp_path / "baseline.json"
    with pytest.raises(ValueError, match="at least 3 seeds"):
        check_mod.check(path, methods=["cad"], update=True, seeds=[0, 1])
    path.write_text(json.dumps({"benchmark": {"profile": "quick"}, "results": {}}))
    with pytest.raises(ValueError, match="another benchmark.*--replace"):
        check_mod.check(path, methods=["cad"], update=True)
    assert not fake_benchmark  # refused before any training


def test_check_prints_the_smallest_detectable_change_and_names_failures(tmp_path,
                                                                        fake_benchmark):
    path = tmp_path / "baseline.json"
    check_mod.check(path, methods=["cad"], update=True)
    code, report = check_mod.check(path)
    assert code == 0 and "smallest VOI change detected" in report
    stored = json.loads(path.read_text())
    stored["results"]["cad/waterz"]["voi"] = 3.0  # the new runs (mean 1.1) look far better
    path.write_text(json.dumps(stored))
    code, report = check_mod.check(path)
    assert code == 1 and "end-to-end layer FAILED: cad/waterz voi 1.1000 outside" in report
    assert fake_benchmark[-1] == (["cad"], [0, 1, 2])  # the check runs seeds 0-2
