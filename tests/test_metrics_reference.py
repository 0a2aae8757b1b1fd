"""metrics against independent references: scikit-image, waterz, and the cremi/gala formulas
transcribed densely from their published definitions; on random labels and real EM labels."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from skimage.metrics import adapted_rand_error, variation_of_information

import metrics

TOL = 1e-9


def _random_pair(seed, shape=(6, 20, 20), n_gt=12, n_seg=9, dtype=np.uint64):
    rng = np.random.default_rng(seed)
    # blocky objects plus noise, so tables have both large and tiny overlaps
    gt = np.kron(rng.integers(0, n_gt, (shape[0], shape[1] // 4, shape[2] // 4)),
                 np.ones((1, 4, 4), np.int64))
    seg = np.where(rng.random(shape) < 0.8, gt % n_seg, rng.integers(0, n_seg, shape))
    return gt.astype(dtype), seg.astype(dtype)


def _skimage(gt, seg, ignore_gt=(0,)):
    split, merge = variation_of_information(gt, seg, ignore_labels=ignore_gt)
    are, prec, rec = adapted_rand_error(gt, seg, ignore_labels=ignore_gt)
    # scikit-image's `prec` divides by the gt pairs: that is the recall (see metrics.scores)
    return {"voi_split": split, "voi_merge": merge, "arand": are,
            "rand_precision": rec, "rand_recall": prec}


def _assert_close(ours, ref):
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, abs=TOL, rel=TOL), k


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.uint64, np.int32, np.uint8])
def test_matches_skimage_on_random_labels(seed, dtype):
    gt, seg = _random_pair(seed, dtype=dtype)
    _assert_close(metrics.evaluate(gt, seg), _skimage(gt, seg))
    # no ignored label (scikit-image's VOI default)
    _assert_close(metrics.evaluate(gt, seg, ignore_gt=()), _skimage(gt, seg, ()))


def _waterz(gt, seg):
    waterz = pytest.importorskip("waterz")
    w = waterz.evaluate(np.ascontiguousarray(seg, np.uint64), np.ascontiguousarray(gt, np.uint64))
    return {"voi_split": w["voi_split"], "voi_merge": w["voi_merge"],
            "rand_precision": w["rand_merge"], "rand_recall": w["rand_split"]}


@pytest.mark.parametrize("seed", range(4))
def test_matches_waterz_on_random_labels(seed):
    gt, seg = _random_pair(seed)
    _assert_close(metrics.evaluate(gt, seg, convention="waterz"), _waterz(gt, seg))


def _dense_table(gt, seg):
    g, s = gt.ravel().astype(np.int64), seg.ravel().astype(np.int64)
    p = np.zeros((g.max() + 1, s.max() + 1))
    np.add.at(p, (g, s), 1.0)
    return p, g.size


def _cremi_gala_rand(gt, seg):
    """SNEMI3D/gala adapted Rand written from its published formula: gt row 0 dropped, seg
    column 0 voxels as singletons weighted 1/n (n: all voxels), F of sumAB/sumB, sumAB/sumA."""
    p, n = _dense_table(gt, seg)
    a = p[1:, :].sum(axis=1)
    b = p[1:, 1:].sum(axis=0)
    c = p[1:, 0].sum()
    sum_a = (a ** 2).sum()
    sum_b = (b ** 2).sum() + c / n
    sum_ab = (p[1:, 1:] ** 2).sum() + c / n
    prec, rec = sum_ab / sum_b, sum_ab / sum_a
    return {"rand_precision": prec, "rand_recall": rec, "arand": 1 - 2 * prec * rec / (prec + rec)}


def _entropies(p):
    """(H(col|row), H(row|col)) in bits of a dense count table."""
    p = p / p.sum()
    pr, pc = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    h_c_given_r = -(p[nz] * np.log2((p / np.where(pr > 0, pr, 1))[nz])).sum()
    h_r_given_c = -(p[nz] * np.log2((p / np.where(pc > 0, pc, 1))[nz])).sum()
    return h_c_given_r, h_r_given_c


@pytest.mark.parametrize("seed", range(3))
def test_cremi_and_gala_match_their_published_formulas(seed):
    gt, seg = _random_pair(seed, n_seg=5)  # seg 0 frequent: exercises the singleton term
    p, _ = _dense_table(gt, seg)
    rand = _cremi_gala_rand(gt, seg)
    cremi = metrics.evaluate(gt, seg, convention="cremi")
    split, merge = _entropies(p[1:, :])  # cremi: gt 0 ignored, seg 0 counted
    _assert_close(cremi, {**rand, "voi_split": split, "voi_merge": merge})
    gala = metrics.evaluate(gt, seg, convention="gala")
    split, merge = _entropies(p[1:, 1:])  # gala: 0 ignored on both sides
    _assert_close(gala, {**rand, "voi_split": split, "voi_merge": merge})


FIXTURES = [
    ("gala_fib/train.cremi.h5", "volumes/labels/neuron_ids", "volumes/labels/watershed_fragments"),
    ("gala_fib/test.cremi.h5", "volumes/labels/neuron_ids", "volumes/labels/watershed_fragments"),
    ("snemi_mini/snemi_mini.labels_only.h5", "volumes/labels/neuron_ids",
     "volumes/labels/watershed_fragments"),
]


@pytest.mark.shared
@pytest.mark.parametrize("path, gt_key, seg_key", FIXTURES)
def test_real_labels_match_skimage_and_waterz(shared_data, path, gt_key, seg_key):
    with h5py.File(shared_data / path, "r") as f:
        gt, seg = f[gt_key][...], f[seg_key][...]
        lazy = metrics.evaluate(f[gt_key], f[seg_key], block_voxels=100_000)
    ours = metrics.evaluate(gt, seg)
    _assert_close(ours, _skimage(gt, seg))
    assert lazy == pytest.approx(ours, abs=TOL, rel=TOL)  # chunked read, same numbers
    _assert_close(metrics.evaluate(gt, seg, convention="waterz"), _waterz(gt, seg))
    # fragments over-segment: many more splits than merges
    assert ours["voi_split"] > ours["voi_merge"]
    # as a threshold sweep would: the table of (gt, fragments) relabelled equals re-reading
    table = metrics.overlap_table(gt, seg)
    ids = table.seg_ids
    merged = metrics.scores(table.relabel_seg(ids, ids // 3))
    lut_seg = (seg // 3).astype(np.uint64)
    _assert_close(merged, metrics.evaluate(gt, lut_seg))
