"""Affinity-level scores: chunk-wise results equal whole-array references."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from metrics.affinity import affinity_scores


def _pair(seed=0, shape=(3, 6, 10, 12)):
    rng = np.random.default_rng(seed)
    target = (rng.random(shape) > 0.3).astype(np.float32)
    # uint8-style predictions (k / 255), correlated with the target, some exactly 0 and 1
    noisy = np.clip(target * 0.6 + rng.random(shape) * 0.5 - 0.05, 0, 1)
    pred = (np.rint(noisy * 255) / 255).astype(np.float32)
    return pred, target


def test_hand_computed():
    pred = np.array([0.2, 0.8, 0.6, 0.4], np.float32).reshape(1, 1, 1, 4)
    target = np.array([0, 1, 0, 1], np.float32).reshape(1, 1, 1, 4)
    r = affinity_scores(pred, target)
    assert r["mse"] == pytest.approx((0.04 + 0.04 + 0.36 + 0.36) / 4)
    bce = -(np.log(0.8) + np.log(0.8) + np.log(0.4) + np.log(0.4)) / 4
    assert r["bce"] == pytest.approx(bce, rel=1e-6)
    # predicted boundaries {0, 3}, true boundaries {0, 2}: tp 1, fp 1, fn 1
    assert (r["boundary_precision"], r["boundary_recall"], r["boundary_f1"]) == (0.5, 0.5, 0.5)
    # ranking by 1 - pred: 0 (T), 3 (F), 2 (T), 1 (F): AP = (1/1 + 2/3) / 2
    assert r["average_precision"] == pytest.approx((1 + 2 / 3) / 2)


def test_chunked_h5_equals_whole_array_references(tmp_path):
    pred, target = _pair()
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("pred", data=pred, chunks=(3, 2, 10, 12))
        f.create_dataset("target", data=target, chunks=(3, 1, 10, 12))
    with h5py.File(path, "r") as f:
        r = affinity_scores(f["pred"], f["target"], ap_bins=256, block_voxels=700)
    p, t = torch.from_numpy(pred.astype(np.float64)), torch.from_numpy(target.astype(np.float64))
    assert r["mse"] == pytest.approx(float(((p - t) ** 2).mean()), rel=1e-12)
    bce = float(torch.nn.functional.binary_cross_entropy(p, t))
    assert r["bce"] == pytest.approx(bce, rel=1e-12)
    ap = average_precision_score((target < 0.5).ravel(), 1.0 - pred.ravel())
    assert r["average_precision"] == pytest.approx(ap, abs=1e-12)
    pb, tb = pred < 0.5, target < 0.5
    tp = np.sum(pb & tb)
    assert r["boundary_f1"] == pytest.approx(2 * tp / (pb.sum() + tb.sum()))
    assert r["n_values"] == pred.size


def test_mask_selects_values():
    pred, target = _pair(1)
    mask = np.zeros(pred.shape[1:], bool)
    mask[2:4] = True
    r = affinity_scores(pred, target, mask=mask)
    ref = affinity_scores(pred[:, 2:4], target[:, 2:4])
    assert r == pytest.approx(ref)


@pytest.mark.parametrize(
    "pred, target, match",
    [
        (np.zeros((3, 2, 2), np.float32), np.zeros((3, 2, 2), np.float32), r"\(C, Z, Y, X\)"),
        (np.zeros((1, 2, 2, 2), np.uint8), np.zeros((1, 2, 2, 2), np.float32), "float"),
        (np.full((1, 2, 2, 2), np.nan, np.float32), np.zeros((1, 2, 2, 2), np.float32), "NaN"),
        (np.full((1, 2, 2, 2), 2, np.float32), np.zeros((1, 2, 2, 2), np.float32), r"\[0, 1\]"),
        (np.zeros((1, 2, 2, 2), np.float32), np.zeros((1, 2, 2, 3), np.float32), "mismatch"),
    ],
)
def test_bad_input(pred, target, match):
    with pytest.raises(ValueError, match=match):
        affinity_scores(pred, target)
