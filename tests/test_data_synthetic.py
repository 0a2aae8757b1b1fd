"""The synthetic phantom: determinism, block-wise identity, label invariants, EM-like traits."""

import multiprocessing

import cc3d
import numpy as np
import pytest

from bench.data import SyntheticArray, generate_synthetic, generate_synthetic_block
from bench.data.synthetic import SyntheticParams, section_params

SHAPE = (24, 96, 96)


@pytest.fixture(scope="module")
def vol():
    return generate_synthetic(SHAPE, seed=0)


def test_same_seed_is_bit_identical(vol):
    again = generate_synthetic(SHAPE, seed=0)
    assert np.array_equal(vol.raw, again.raw)
    assert np.array_equal(vol.labels, again.labels)


def test_different_seeds_differ(vol):
    other = generate_synthetic(SHAPE, seed=1)
    assert np.mean(vol.raw != other.raw) > 0.5
    assert np.mean(vol.labels != other.labels) > 0.5


def test_dtypes_shape_resolution(vol):
    assert vol.raw.dtype == np.uint8 and vol.labels.dtype == np.uint64
    assert vol.shape == SHAPE and vol.labels.shape == SHAPE
    assert vol.resolution_nm == (40.0, 4.0, 4.0)
    # EM-like grey-level statistics (the real ISBI stack: mean 126, std 44)
    assert 100 < vol.raw.mean() < 170 and 25 < vol.raw.std() < 65


@pytest.mark.parametrize("roi", [((3, 17), (10, 61), (40, 96)), ((0, 24), (95, 96), (0, 1))])
def test_block_equals_region_of_whole_volume(vol, roi):
    raw, labels = generate_synthetic_block(SHAPE, roi, seed=0)
    sl = tuple(slice(a, b) for a, b in roi)
    assert np.array_equal(raw, vol.raw[sl])
    assert np.array_equal(labels, vol.labels[sl])


def test_lazy_array_slices_like_numpy(vol):
    lazy = SyntheticArray(SHAPE, "labels", seed=0)
    assert lazy.shape == SHAPE and lazy.dtype == np.uint64
    assert np.array_equal(lazy[5, 10:20, :], vol.labels[5, 10:20, :])
    assert np.array_equal(SyntheticArray(SHAPE, "raw", seed=0)[-1], vol.raw[-1])


def test_labels_zero_only_on_thin_boundaries(vol):
    lab = vol.labels
    zero = lab == 0
    assert 0.02 < zero.mean() < 0.15
    # every boundary voxel separates two different neurons within 2 px in its section
    for z in range(lab.shape[0]):
        sec = lab[z].astype(np.int64)
        pad = np.pad(sec, 2, mode="edge")
        win = np.lib.stride_tricks.sliding_window_view(pad, (5, 5))
        hi = np.where(win > 0, win, -1).max(axis=(2, 3))
        lo = np.where(win > 0, win, np.iinfo(np.int64).max).min(axis=(2, 3))
        inner = np.zeros_like(sec, bool)
        inner[2:-2, 2:-2] = True  # at the xy border the second neuron may lie outside
        sel = (sec == 0) & inner
        assert np.all(hi[sel] != lo[sel]), f"z={z}: a 0 voxel not between 2 ids"
    # boundaries are thin: no 0 voxel has a 3x3 neighbourhood of zeros only
    from scipy import ndimage

    core = ndimage.binary_erosion(zero, structure=np.ones((1, 3, 3), bool))
    assert core.sum() == 0


def test_labels_are_dense_3d_neurons(vol):
    lab = vol.labels
    ids = np.unique(lab)
    ids = ids[ids > 0]
    assert len(ids) >= 15
    # neurons run through many sections (3D ids, not per-section ones)
    spans = [np.ptp(np.flatnonzero((lab == i).any(axis=(1, 2)))) + 1 for i in ids]
    # (neurites leave through the xy sides, branches end: not every id spans the volume)
    assert np.median(spans) >= SHAPE[0] / 2
    assert np.mean(np.array(spans) == SHAPE[0]) > 0.25
    # each neuron is 6-connected in 3D except for small pieces (cut by the volume border)
    cc = cc3d.connected_components(lab, connectivity=6)
    outside = 0
    for i in ids:
        _, counts = np.unique(cc[lab == i], return_counts=True)
        outside += counts.sum() - counts.max()
    assert outside / (lab > 0).sum() < 0.02


def test_profiles_move_between_sections(vol):
    # cross-sections drift: a neuron's centroid moves by a pixel or more per section
    lab = vol.labels
    moves = []
    for i in np.unique(lab[SHAPE[0] // 2])[1:]:
        c = [np.argwhere(lab[z] == i).mean(0) for z in (10, 11) if (lab[z] == i).any()]
        if len(c) == 2:
            moves.append(np.linalg.norm(c[1] - c[0]))
    assert np.median(moves) > 0.5


def test_artifacts_occur_at_the_configured_rate():
    p = SyntheticParams()
    sp = [section_params(0, z, p) for z in range(2000)]
    for attr, rate in (("missing", p.p_missing), ("blurred", p.p_blurred)):
        assert abs(np.mean([getattr(s, attr) for s in sp]) - rate) < 0.015
    big = np.mean([np.hypot(*s.shift) > p.shift_px[0] for s in sp])
    assert abs(big - p.p_shifted) < 0.02


def test_missing_section_is_blank_but_labelled():
    p = SyntheticParams()
    z = next(z for z in range(500) if section_params(0, z, p).missing)
    raw, labels = generate_synthetic_block((z + 1, 48, 48), ((z, z + 1), (0, 48), (0, 48)))
    assert raw.std() < 10 and raw.mean() < 60
    assert (labels > 0).mean() > 0.8


def test_bad_shape_and_roi_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        generate_synthetic((10, 32))
    with pytest.raises(ValueError, match="roi axis 1"):
        generate_synthetic_block((4, 32, 32), ((0, 4), (0, 40), (0, 32)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="parallel rendering needs the fork start method")
def test_parallel_rendering_is_bit_identical_to_serial():
    serial = generate_synthetic((7, 40, 48), seed=3, workers=1)
    parallel = generate_synthetic((7, 40, 48), seed=3, workers=3)
    assert np.array_equal(parallel.raw, serial.raw)
    assert np.array_equal(parallel.labels, serial.labels)
    with pytest.raises(ValueError, match="workers"):
        generate_synthetic((7, 40, 48), seed=3, workers=0)
