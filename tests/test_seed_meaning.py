"""One meaning of "seed": ``--seed N`` is the seed-N run of ``--seeds``; the phantom's seed is
its own option, and both are recorded in every row."""

from __future__ import annotations

from bench.cli import main
from bench.results import ResultsStore

FAST = ["--method", "unet2d", "--profile", "smoke", "--device", "cpu", "--set", "iters=3"]
#: what may differ between two runs of one configuration: identity, time and the study id
_PER_RUN = {"run_id", "created", "study", "train_seconds", "infer_voxels_per_s",
            "postprocess_voxels_per_s", "end_to_end_seconds", "peak_rss_mb"}


def test_seed_and_seeds_give_identical_rows(tmp_path):
    single, study = tmp_path / "single", tmp_path / "study"
    assert main(["run", *FAST, "--seed", "1", "--results", str(single)]) == 0
    assert main(["run", *FAST, "--seeds", "1", "--results", str(study)]) == 0
    (a,), (b,) = ResultsStore(single).rows(), ResultsStore(study).rows()
    assert a["seed"] == b["seed"] == 1 and a["phantom_seed"] == b["phantom_seed"] == 0
    assert b["study"] and a["study"] is None
    differing = {k for k in a if k not in _PER_RUN and a[k] != b[k]}
    assert not differing, {k: (a[k], b[k]) for k in differing}


def test_phantom_seed_is_its_own_option_and_recorded(tmp_path, capsys):
    assert main(["run", *FAST, "--seed", "1", "--phantom-seed", "2",
                 "--results", str(tmp_path)]) == 0
    (row,) = ResultsStore(tmp_path).rows()
    assert row["seed"] == 1 and row["phantom_seed"] == 2
    assert main(["run", *FAST, "--phantom-seed", "-1", "--results", str(tmp_path / "x")]) == 2
    assert "--phantom-seed: expected a non-negative integer, got -1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
