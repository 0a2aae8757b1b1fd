"""The authors' weights run the authors' inference (issue 28, item 3).

A run from an official CAD checkpoint uses the paper profile's inference (whole sections)
whatever ``--profile`` says, and every run, checkpoint-only included, writes its resolved
recipe (``recipe.yaml``) into its folder. Needs the official weights in ``../shared/data``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CKPT = SHARED / "cad_official" / "CremiA.ckpt"
ISBI = SHARED / "isbi2012" / "isbi2012_train.h5"

needs_weights = pytest.mark.skipif(not CKPT.is_file() or not ISBI.is_file(),
                                   reason="needs ../shared/data (official CAD weights, ISBI)")


def _pair_1250() -> np.ndarray:
    """Two real ssTEM sections (ISBI 2012, 10 and 11) mirrored out to 1250 x 1250."""
    with h5py.File(ISBI, "r") as f:
        raw = f["volumes/raw"][10:12]
    pad = (1250 - raw.shape[1]) // 2
    out = np.pad(raw, ((0, 0), (pad, 1250 - raw.shape[1] - pad),
                       (pad, 1250 - raw.shape[2] - pad)), mode="reflect")
    return np.ascontiguousarray(out, dtype=np.uint8)


@pytest.mark.slow  # two 1250 x 1250 pair inferences: about 25 s of CPU
@pytest.mark.shared
@needs_weights
def test_an_official_checkpoint_infers_whole_sections_under_the_quick_profile():
    from bench.infer import predict_section_pairs
    from bench.registry import METHODS
    from cad.checkpoint import load_official_student

    method = METHODS.create("cad", profile="quick", device="cpu", seed=0)
    assert method.config["infer_tile"] == 256  # the quick profile tiles
    method.load_checkpoint(CKPT)
    assert method.config["infer_tile"] >= 1250  # the paper profile's whole sections
    raw = _pair_1250()
    affs = method.predict(raw)
    reference = predict_section_pairs(load_official_student(CKPT), raw, tile=None,
                                      device="cpu", progress=False)
    reference = np.clip(reference, 0.0, 1.0)
    assert affs.shape == reference.shape == (3, 2, 1250, 1250)
    assert float(np.abs(affs - reference).max()) <= 1e-5


@pytest.mark.shared
@needs_weights
def test_an_explicit_inference_override_is_kept(tmp_path):
    from bench.registry import METHODS

    method = METHODS.create("cad", profile="quick", device="cpu", seed=0, infer_tile=512)
    method.load_checkpoint(CKPT)
    assert method.config["infer_tile"] == 512
    assert method.config["infer_overlap"] == METHODS.create(
        "cad", profile="paper", device="cpu", seed=0).config["infer_overlap"]


@pytest.mark.shared
@needs_weights
def test_a_checkpoint_only_run_writes_its_resolved_recipe(tmp_path):
    from bench.cli import main
    from bench.provenance import verify_file
    from bench.results import ResultsStore

    results = tmp_path / "results"
    assert main(["run", "--method", "cad", "--profile", "smoke", "--device", "cpu",
                 "--checkpoint", str(CKPT), "--results", str(results)]) == 0
    store = ResultsStore(results)
    run_dir = store.run_dir(store.run_ids()[0])
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert recipe["profile"] == "smoke" and recipe["infer_tile"] == 2048
    assert verify_file(run_dir, "recipe.yaml") is None
    assert not (run_dir / "model.pt").exists()  # nothing was trained


def test_a_trained_run_writes_its_resolved_recipe(tmp_path):
    from bench.cli import main
    from bench.results import ResultsStore

    results = tmp_path / "results"
    assert main(["run", "--method", "unet2d", "--profile", "smoke", "--device", "cpu",
                 "--set", "iters=2", "--results", str(results)]) == 0
    store = ResultsStore(results)
    recipe = yaml.safe_load((store.run_dir(store.run_ids()[0]) / "recipe.yaml").read_text())
    assert recipe["iters"] == 2 and recipe["method"] == "unet2d"
