"""The classical method ``rf``: filter bank, forest, affinities, persistence, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from baselines import features
from baselines.rf import boundary_targets
from bench.affinity import affinities_from_boundary
from bench.data import load_dataset
from bench.registry import METHODS, create_method


@pytest.fixture(scope="module")
def smoke():
    ds = load_dataset("synthetic", profile="smoke")
    return ds.split("train").load(), ds.split("test").load()


@pytest.fixture(scope="module")
def fitted(smoke):
    method = create_method("rf", profile="smoke", seed=3)
    summary = method.fit(smoke[0])
    return method, summary


def test_rf_is_registered_in_the_classical_family():
    assert METHODS.get("rf").family == "classical"


def test_fit_samples_class_balanced_voxels_and_predicts_affinities(fitted, smoke):
    method, summary = fitted
    assert summary["n_samples"] == 2000 and summary["n_boundary_samples"] == 1000
    assert summary["filter_ndim"] == 2  # 40x4x4 nm is anisotropic: per-section filters
    affs = method.predict(smoke[1].raw)
    assert affs.shape == (3, *smoke[1].shape) and affs.dtype == np.float32
    assert 0.0 <= affs.min() and affs.max() <= 1.0
    # n_parameters is the forest's total node count
    assert method.n_parameters() == sum(t.tree_.node_count for t in method.forest.estimators_)


def test_same_seed_gives_the_same_affinities(fitted, smoke):
    again = create_method("rf", profile="smoke", seed=3)
    again.fit(smoke[0])
    assert np.array_equal(again.predict(smoke[1].raw), fitted[0].predict(smoke[1].raw))


def test_save_load_round_trip_gives_identical_affinities(fitted, smoke, tmp_path):
    method, _ = fitted
    method.save(tmp_path / "rf.skops")
    loaded = create_method("rf", profile="quick").load(tmp_path / "rf.skops")
    assert loaded.config["sigmas"] == method.config["sigmas"]
    assert np.array_equal(loaded.predict(smoke[1].raw), method.predict(smoke[1].raw))


def test_load_refuses_types_outside_the_allow_list(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    sio.dump({"method": "rf", "forest": LogisticRegression()}, tmp_path / "bad.skops")
    with pytest.raises(ValueError, match="allow-list"):
        create_method("rf").load(tmp_path / "bad.skops")


def test_boundary_to_affinity_conversion_by_hand():
    # aff_c(v) = 1 - max(p(v), p(v - e_c)); where v - e_c is outside the volume, 1 - p(v)
    p = np.array([[[0.1, 0.9]], [[0.2, 0.4]]], dtype=np.float32)  # (Z=2, Y=1, X=2)
    affs = affinities_from_boundary(p)
    assert affs.shape == (3, 2, 1, 2) and affs.dtype == np.float32
    np.testing.assert_allclose(affs[0], [[[0.9, 0.1]], [[0.8, 0.1]]], rtol=1e-6)  # z
    np.testing.assert_allclose(affs[1], 1 - p)  # y: one row, no partner anywhere
    np.testing.assert_allclose(affs[2], [[[0.9, 0.1]], [[0.8, 0.6]]], rtol=1e-6)  # x


def test_boundary_targets_mark_both_sides_of_an_interface_and_background():
    labels = np.array([[[1, 1, 2, 2, 0]]], dtype=np.uint64)
    assert boundary_targets(labels, 2).tolist() == [[[False, True, True, True, True]]]


def test_blockwise_features_equal_whole_volume_features():
    raw = (np.random.default_rng(1).random((12, 20, 24)) * 255).astype(np.uint8)
    geometry = features.filter_geometry((10, 10, 10))
    whole = features.compute_features(raw, [1.0], geometry)
    parts = np.concatenate([f for _, _, f in features.features_blockwise(raw, [1.0], geometry,
                                                                         block_z=5)], axis=1)
    assert np.allclose(parts, whole, atol=1e-5)


def test_geometry_rule_3d_for_near_isotropic_per_section_for_anisotropic():
    assert features.filter_geometry((10, 10, 10)).ndim == 3
    assert features.filter_geometry((15, 8, 8)).axis_scale == (8 / 15, 1.0, 1.0)
    assert features.filter_geometry((40, 4, 4)).ndim == 2


def test_a_recipe_with_zero_sampled_voxels_is_refused():
    with pytest.raises(ValueError, match="n_samples"):
        create_method("rf", profile="smoke", n_samples=0)


def test_a_volume_smaller_than_the_filter_radius_is_refused(fitted):
    method, _ = fitted
    tiny = np.zeros((2, 3, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"shape \(2, 3, 3\) is too small for the filter bank"):
        method.predict(tiny)


def test_unknown_recipe_keys_and_unfitted_predict_get_clear_errors():
    with pytest.raises(KeyError, match="valid keys"):
        create_method("rf", n_trees=3)
    with pytest.raises(RuntimeError, match="fit"):
        create_method("rf").predict(np.zeros((4, 32, 32), dtype=np.uint8))


def test_a_block_with_the_methods_context_predicts_exactly_the_whole_volume(fitted, smoke):
    method, _ = fitted
    raw = smoke[1].raw
    (zb, za), (yb, ya), (xb, xa) = method.block_context()
    whole = method.predict(raw)
    z0, z1, y0, y1, x0, x1 = 3, 6, 40, 60, 30, 50
    crop = raw[z0 - zb:z1 + za, y0 - yb:y1 + ya, x0 - xb:x1 + xa]
    block = method.predict(crop)[:, zb:zb + z1 - z0, yb:yb + y1 - y0, xb:xb + x1 - x0]
    assert np.allclose(block, whole[:, z0:z1, y0:y1, x0:x1], atol=1e-6)
