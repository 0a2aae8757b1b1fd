"""The ``cpu-real`` profile (docs/notes/cpu-real-profile.md): a named profile in the methods'
recipe files that leaves smoke/quick/paper unchanged, refused where a recipe lacks it."""

import argparse

import numpy as np
import pytest

from baselines.features import filter_geometry
from baselines.methods import Superhuman3DMethod, UNet2DMethod
from baselines.rf import load_rf_recipe, recipe_sigmas
from bench.train.recipe import PROFILES, load_recipe

CAD_RECIPE = "cad/configs/cad.yaml"


def test_cpu_real_is_a_profile_of_every_learned_method_but_mala3d():
    assert "cpu-real" in PROFILES
    for path in (CAD_RECIPE, UNet2DMethod.recipe_file, Superhuman3DMethod.recipe_file):
        quick, real = load_recipe(path, "quick"), load_recipe(path, "cpu-real")
        assert real["profile"] == "cpu-real" and real["iters"] > quick["iters"]
    assert load_rf_recipe("cpu-real")["sigmas_2d"]
    with pytest.raises(ValueError, match="mala3d.*no 'cpu-real' profile"):
        load_recipe("baselines/configs/mala3d.yaml", "cpu-real", method="mala3d")


def test_rf_sigmas_2d_only_for_per_section_filters():
    quick, real = load_rf_recipe("quick"), load_rf_recipe("cpu-real")
    aniso, iso = filter_geometry((40.0, 4.0, 4.0)), filter_geometry((10.0, 10.0, 10.0))
    assert quick["sigmas_2d"] is None and recipe_sigmas(quick, aniso) == quick["sigmas"]
    assert recipe_sigmas(real, aniso) == real["sigmas_2d"]
    assert recipe_sigmas(real, iso) == real["sigmas"]
    # a forest saved before the key existed has a recipe without it
    old = {k: v for k, v in quick.items() if k != "sigmas_2d"}
    assert recipe_sigmas(old, aniso) == quick["sigmas"]
    with pytest.raises(ValueError, match="sigmas_2d"):
        load_rf_recipe("quick", {"sigmas_2d": "[]"})


def test_cli_accepts_the_profile():
    from bench.commands import run

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    run.register(sub)
    args = parser.parse_args(["run", "--method", "unet2d", "--profile", "cpu-real"])
    assert args.profile == "cpu-real"


def test_rf_cpu_real_fits_and_predicts_a_small_anisotropic_volume():
    from bench.data.types import Volume
    from bench.registry import create_method

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4).reshape(2, 2), 24, 0).repeat(24, 1)[None].repeat(6, 0) + 1
    raw = np.where(np.pad(np.diff(labels, axis=1) != 0, ((0, 0), (0, 1), (0, 0))), 60, 180)
    raw = (raw + rng.integers(0, 20, labels.shape)).astype(np.uint8)
    vol = Volume(raw=raw, labels=labels.astype(np.uint64), resolution_nm=(40.0, 4.0, 4.0),
                 name="toy")
    method = create_method("rf", profile="cpu-real", n_samples=400, n_estimators=2, n_jobs=1)
    summary = method.fit(vol)
    assert summary["filter_ndim"] == 2 and summary["features"][-1].endswith("_10")
    affs = method.predict(raw)
    assert affs.shape == (3, *raw.shape) and affs.dtype == np.float32


def test_rf_z_forest_predicts_the_z_affinity_and_round_trips(tmp_path):
    from bench.data.types import Volume
    from bench.registry import create_method

    rng = np.random.default_rng(1)
    # two neurons side by side in sections 0-3; in sections 4-7 the left one is replaced by a
    # third: a z boundary without any in-plane membrane at it
    labels = np.ones((8, 48, 48), np.uint64)
    labels[:, :, 24:] = 2
    labels[4:, :, :24] = 3
    raw = np.where(labels == 2, 170, np.where(labels == 1, 120, 200))
    raw[:, :, 23:25] = 40
    raw = (raw + rng.integers(0, 20, labels.shape)).astype(np.uint8)
    vol = Volume(raw=raw, labels=labels, resolution_nm=(40.0, 4.0, 4.0), name="toy")
    method = create_method("rf", profile="cpu-real", n_samples=600, n_estimators=4, n_jobs=1,
                           sigmas_2d="[0.7, 1.6]")
    summary = method.fit(vol)
    assert summary["z_forest_samples"] > 0 and method.forest_z is not None
    affs = method.predict(raw)
    assert affs[0, 4, :, :20].mean() < 0.5 < affs[0, 5, :, :20].mean()
    # slabs of 3 sections: the z pairs that straddle two slabs give the same forest and output
    slabbed = create_method("rf", profile="cpu-real", n_samples=600, n_estimators=4, n_jobs=1,
                            sigmas_2d="[0.7, 1.6]", block_z=3)
    slabbed.fit(vol)
    assert np.allclose(slabbed.predict(raw), affs, atol=1e-6)
    method.save(tmp_path / "rf.skops")
    again = create_method("rf", profile="cpu-real").load(tmp_path / "rf.skops")
    assert np.array_equal(again.predict(raw), affs)
    # without the key (quick) the z channel is the boundary rule's
    quick = create_method("rf", profile="quick", n_samples=600, n_estimators=4, n_jobs=1,
                          sigmas="[0.7, 1.6]")
    quick.fit(vol)
    assert quick.forest_z is None
