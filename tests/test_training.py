"""Training: smoke fits of every registered method, checkpoint/resume, recipes, official weights.

Uses a tiny synthetic volume (a Voronoi tessellation of random points, membranes drawn dark
with noise), built here so the tests depend on nothing else.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from baselines.methods import UNet2DMethod
from bench.affinity import affinities_from_labels
from bench.data.types import Volume
from bench.registry import create_method, list_methods
from bench.train.augment import AugmentConfig, augment
from bench.train.loop import CHECKPOINT_NAME, LOG_NAME
from bench.train.recipe import load_recipe
from bench.train.recipe_method import MODEL_NAME, affinity_agreement
from bench.train.targets import seg_widen_border
from cad.methods import CAD_RECIPE
from cad.official_config import official_overrides, recipe_from_official

FAST_METHODS = ["cad", "cad-nofgi", "cad-nodistill", "unet2d", "superhuman3d"]


def voronoi_volume(shape=(8, 32, 32), n_points=12, seed=0) -> Volume:
    """Labels: nearest of random seed points (z stretched x4); raw: dark smoothed borders."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n_points, 3)) * np.array(shape)
    grid = np.indices(shape).reshape(3, -1).T.astype(float)
    scale = np.array([4.0, 1.0, 1.0])
    _, idx = cKDTree(pts * scale).query(grid * scale)
    labels = (idx + 1).reshape(shape).astype(np.uint64)
    edge = np.zeros(shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :, 1:] |= labels[:, :, 1:] != labels[:, :, :-1]
    mem = ndimage.gaussian_filter(edge.astype(float), (0, 1, 1))
    raw = 0.75 - 0.6 * mem / mem.max() + rng.normal(0, 0.04, shape)
    labels[edge] = 0
    return Volume((np.clip(raw, 0, 1) * 255).astype(np.uint8), labels, (40.0, 4.0, 4.0), "vor")


@pytest.fixture(scope="module")
def volume() -> Volume:
    return voronoi_volume()


def _log(run_dir):
    with open(run_dir / LOG_NAME, newline="") as f:
        return list(csv.DictReader(f))


def test_registry_lists_all_methods_with_families():
    fams = {e.name: e.family for e in list_methods()}
    assert {k: fams[k] for k in [*FAST_METHODS, "mala3d"]} == {
        "cad": "distilled",
        "cad-nofgi": "distilled",
        "cad-nodistill": "distilled",
        "unet2d": "2d",
        "superhuman3d": "3d",
        "mala3d": "3d",
    }


def test_load_recipe_profiles_variants_and_overrides():
    paper = load_recipe(CAD_RECIPE, "paper")
    assert paper["patch_3d"] == [18, 160, 160] and paper["eps"] == 0.01 and paper["amsgrad"]
    assert paper["start_ft"] == 10000 and paper["iters"] == 200000 and paper["batch_3d"] == 2
    assert load_recipe(CAD_RECIPE, "paper", method="cad-nofgi")["loss_interaction_weight"] == 0.0
    nod = load_recipe(CAD_RECIPE, "smoke", method="cad-nodistill")
    assert nod["loss_cross_weight"] == 0.0 and nod["loss_interaction_weight"] == 0.0
    r = load_recipe(CAD_RECIPE, "quick", {"lr": "3e-4", "patch_3d": "[6, 32, 32]", "mode": "fixed"})
    assert r["lr"] == 3e-4 and r["patch_3d"] == [6, 32, 32] and r["mode"] == "fixed"
    assert load_recipe(UNet2DMethod.recipe_file, "smoke", {"augment.p_misalign": "0.2"})["augment"][
        "p_misalign"
    ] == pytest.approx(0.2)
    with pytest.raises(KeyError, match="valid keys: .*start_ft"):
        load_recipe(CAD_RECIPE, "quick", {"start_fft": "3"})
    with pytest.raises(ValueError, match="profile"):
        load_recipe(CAD_RECIPE, "huge")
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_recipe("nowhere.yaml")


def test_official_yaml_configs_map_onto_the_recipe(tmp_path):
    cfg2d = tmp_path / "2d.yaml"
    cfg2d.write_text(
        "NAME: 2d_wafer4\nMODEL: {input_nc: 1, output_nc: 16, filter_channel: 16, "
        "if_sigmoid: False}\nTRAIN: {loss_func: WeightedMSELoss, loss_mode: trunc, "
        "affs0_weight: 1, loss_weight: 0.0, loss_2d_slice_weight: 1.0, loss_cross_weight: 1.0, "
        "loss_interaction: 0.5, loss_3d_weight: 1.0, interaction: True, only_z: False, "
        "if_verse: False, total_iters: 200000, base_lr: 0.0001, end_lr: 0.0001, "
        "batch_size: 16, random_seed: 555, save_freq: 1000}\nDATA: {dataset_name: wafer4, "
        "patch_size: [256, 256], padding: 50, if_dilate: True, widen_way: True, "
        "if_scale_aug: True, if_filp_aug: True, if_rotation_aug: False}\n"
    )
    cfg3d = tmp_path / "3d.yaml"
    cfg3d.write_text(
        "MODEL: {model_type: superhuman, filters: [28, 36, 48, 64, 80], emd: 16, "
        "pre_train: False}\nTRAIN: {embedding_mode: 5, affs0_weight: 10.0, start_ft: 5000, "
        "ft_lr_ratio: 0.5, base_lr: 0.0001, total_iters: 200000, batch_size: 2}\n"
        "DATA: {padding: 20, if_scale_aug: False, if_elastic_aug: True}\n"
    )
    recipe, info = recipe_from_official(cfg2d, cfg3d)
    assert recipe["start_ft"] == 5000 and recipe["teacher_lr_ratio"] == 0.5
    assert recipe["loss_interaction_weight"] == 0.5 and recipe["augment_2d"]["rotate"] is False
    assert recipe["patch_2d"] == 256 and recipe["affs0_weight_3d"] == 10.0
    assert info["data"] == {"dataset_name": "wafer4"} and info["name"] == "2d_wafer4"
    assert any("loss_weight" in k for k in info["ignored"])
    cfg3d.write_text("MODEL: {model_type: mala}\nTRAIN: {}\nDATA: {}\n")
    with pytest.raises(ValueError, match="model_type"):
        official_overrides(cfg2d, cfg3d)


def test_augment_is_seeded_and_keeps_shapes():
    rng = np.random.default_rng(3)
    raw = rng.random((6, 40, 40)).astype(np.float32)
    lab = rng.integers(0, 4, (6, 40, 40)).astype(np.uint64)
    cfg = AugmentConfig(p_mix=1.0, p_each=1.0, rescale=True, p_misalign=1.0, p_missing_section=1.0)
    a1, l1 = augment(raw, lab, np.random.default_rng(1), cfg)
    a2, l2 = augment(raw, lab, np.random.default_rng(1), cfg)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(l1, l2)
    assert a1.shape == raw.shape and a1.dtype == np.float32 and 0 <= a1.min() <= a1.max() <= 1
    assert set(np.unique(l1)) <= set(np.unique(lab))  # nearest-neighbour labels
    assert (a1.reshape(6, -1).max(1) == 0).sum() >= 1  # a missing (blank) section
    off = augment(raw, lab, np.random.default_rng(1), AugmentConfig(enabled=False))
    np.testing.assert_array_equal(off[0], raw)


# cad runs in "fixed" mode here; the resume test below trains it in the default "faithful" mode
SMOKE_CASES = [
    ("cad", {"mode": "fixed"}),
    ("cad-nofgi", {}),
    ("cad-nodistill", {}),
    ("unet2d", {}),
    ("superhuman3d", {}),
]


@pytest.mark.parametrize(("name", "overrides"), SMOKE_CASES, ids=[c[0] for c in SMOKE_CASES])
def test_smoke_fit_decreases_loss_and_writes_checkpoint_and_log(name, overrides, volume, tmp_path):
    method = create_method(name, profile="smoke", device="cpu", **overrides)
    val = volume if name == "unet2d" else None
    summary = method.fit(volume, val, run_dir=tmp_path)
    assert summary["finished"] and summary["step"] == method.config["iters"]
    for f in (CHECKPOINT_NAME, LOG_NAME, "recipe.yaml", "summary.json"):
        assert (tmp_path / f).is_file(), f
    rows = _log(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(1, method.config["iters"] + 1))
    # the supervised term every method has (CAD: also the 3D loss) goes down
    key = "loss_slice" if name.startswith("cad") else "loss"
    assert float(rows[-1][key]) < float(rows[0][key])
    if name.startswith("cad"):
        assert float(rows[-1]["loss_3d"]) < float(rows[0]["loss_3d"])
        assert [int(r["distill_on"]) for r in rows] == [0, 0, 1, 1]
        assert (float(rows[-1]["loss_int"]) > 0) == (name == "cad")
    affs = method.predict(volume.raw)
    assert affs.shape == (3, *volume.shape) and affs.dtype == np.float32
    assert 0.0 <= affs.min() and affs.max() <= 1.0
    # the weights are written once, by the caller (the pipeline's model.pt)
    assert not (tmp_path / MODEL_NAME).exists()
    # save/load round trip through a fresh instance, and the same file as --checkpoint
    method.save(tmp_path / MODEL_NAME)
    other = create_method(name, profile="smoke", device="cpu").load(tmp_path / MODEL_NAME)
    again = create_method(name, profile="smoke", device="cpu", checkpoint=tmp_path / MODEL_NAME)
    np.testing.assert_array_equal(again.predict(volume.raw), affs)
    for key, net in method.nets.items():
        for (k, a), b in zip(
            net.state_dict().items(), other.nets[key].state_dict().values(), strict=True
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{key}.{k}")
    if name == "unet2d":
        assert set(summary["val"]) == {"aff_mae", "boundary_f1"}
        np.testing.assert_array_equal(other.predict(volume.raw), affs)
        with pytest.raises(NotImplementedError, match="long-range"):
            method.predict_long_range(volume.raw)
    if name == "superhuman3d":
        assert summary["bn_recalibrated_layers"] > 0
        long, offsets = method.predict_long_range(volume.raw)
        assert long.shape == (12, *volume.shape) and len(offsets) == 12
        assert offsets[:3] == [(-1, 0, 0), (0, -1, 0), (0, 0, -1)]
        assert 0.0 <= long.min() and long.max() <= 1.0


def test_resume_after_kill_matches_uninterrupted_run(volume, tmp_path):
    full = create_method("cad", profile="smoke", device="cpu")
    assert full.config["mode"] == "faithful"
    full.fit(volume, run_dir=tmp_path / "full")
    # "killed" after 3 steps: the last checkpoint is at step 2, step 3 is lost
    part = create_method("cad", profile="smoke", device="cpu", stop_after=3)
    s = part.fit(volume, run_dir=tmp_path / "part")
    assert not s["finished"] and s["step"] == 3
    assert torch.load(tmp_path / "part" / CHECKPOINT_NAME, weights_only=True)["step"] == 2
    assert not (tmp_path / "part" / MODEL_NAME).exists()
    resumed = create_method("cad", profile="smoke", device="cpu")
    s = resumed.fit(volume, run_dir=tmp_path / "part")
    assert s["start_step"] == 2 and s["step"] == 4 and s["finished"]
    assert [int(r["step"]) for r in _log(tmp_path / "part")] == [1, 2, 3, 4]
    for name, net in full.nets.items():
        for (k, a), b in zip(
            net.state_dict().items(), resumed.nets[name].state_dict().values(), strict=True
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name}.{k}")
    assert _log(tmp_path / "full")[-1]["loss"] == _log(tmp_path / "part")[-1]["loss"]
    # a finished run is not trained again
    again = create_method("cad", profile="smoke", device="cpu").fit(
        volume, run_dir=tmp_path / "full"
    )
    assert again["start_step"] == 4 and again["step"] == 4


def test_affinity_agreement_is_perfect_for_the_ground_truth(volume):
    gt = affinities_from_labels(seg_widen_border(volume.labels), pad="replicate")
    assert affinity_agreement(gt, volume.labels) == {"aff_mae": 0.0, "boundary_f1": 1.0}


@pytest.mark.shared
def test_official_checkpoint_predicts_golden_affinities(shared_data):
    ckpt = shared_data / "cad_official" / "wafer4.ckpt"
    golden = np.load(shared_data / "cad_official" / "cad_wafer4_golden.npz", allow_pickle=False)
    method = create_method("cad", checkpoint=str(ckpt), device="cpu", profile="quick")
    assert method.n_parameters() == 900_816
    affs = method.predict(golden["input_sections"])
    assert affs.shape == (3, 2, 256, 256) and affs.dtype == np.float32
    assert 0.0 <= affs.min() and affs.max() <= 1.0
    np.testing.assert_allclose(affs[:, 1], golden["affinities_zyx"], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_mala_smoke_fit(volume, tmp_path):
    method = create_method("mala3d", profile="smoke", device="cpu")
    summary = method.fit(volume, run_dir=tmp_path)
    assert summary["finished"] and (tmp_path / CHECKPOINT_NAME).is_file()
    assert len(_log(tmp_path)) == method.config["iters"]
