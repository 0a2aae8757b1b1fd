"""Blockwise prediction / segmentation / evaluation equal their whole-volume counterparts, and a
killed-and-resumed run equals an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from scipy import ndimage

from bench.blockwise import (
    INTENSITY_PREDICTOR,
    BlockPredictor,
    evaluate_blockwise,
    intensity_affinities,
    make_blocks,
    run_blockwise,
    segment_blockwise,
)
from bench.data import SyntheticArray, generate_synthetic
from bench.segment import affinities_from_labels, segment
from metrics import overlap_table, scores

ROOT = Path(__file__).resolve().parents[1]


def test_blocks_cover_volume_once_and_context_is_clipped():
    blocks = make_blocks((5, 7, 9), (2, 4, 4), ((1, 0), 2, (0, 3)))
    count = np.zeros((5, 7, 9), int)
    for b in blocks:
        count[b.write_slices] += 1
        for (r0, r1), (w0, w1), n in zip(b.read_roi, b.write_roi, (5, 7, 9), strict=True):
            assert 0 <= r0 <= w0 < w1 <= r1 <= n
    assert (count == 1).all()
    assert blocks[0].read_roi == ((0, 2), (0, 6), (0, 7))
    assert blocks[-1].read_roi == ((3, 5), (2, 7), (8, 9))
    with pytest.raises(ValueError, match="block_shape"):
        make_blocks((5, 7, 9), (0, 4, 4))


@pytest.mark.parametrize("block_shape", [(3, 24, 32), (4, 64, 64)])
def test_blockwise_affinities_equal_whole_volume(tmp_path, block_shape):
    raw = SyntheticArray((10, 64, 64), "raw", seed=2)
    res = run_blockwise(INTENSITY_PREDICTOR, raw, tmp_path / "o.zarr", block_shape=block_shape,
                        workers=2, segment=False)
    assert res["n_blocks"] == len(make_blocks((10, 64, 64), block_shape))
    out = zarr.open_group(str(tmp_path / "o.zarr"), mode="r")["affinities"]
    assert out.chunks == (3, *block_shape)
    np.testing.assert_array_equal(out[:], intensity_affinities(raw[...]))


def test_blockwise_torch_net_matches_whole_volume(tmp_path):
    torch.manual_seed(0)
    # two 3x3x3 convolutions: reach 2 voxels; zero padding at the volume edge only, which the
    # clipped read region reproduces
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv3d(4, 3, 3, padding=1), torch.nn.Sigmoid()).eval()

    @torch.no_grad()
    def fn(raw: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(raw.astype(np.float32) / 255.0)[None, None]
        return net(x)[0].numpy()

    raw = SyntheticArray((9, 48, 40), "raw", seed=5)[...]
    pred = BlockPredictor(fn, 2, 3, "tiny-conv")
    run_blockwise(pred, raw, tmp_path / "o.zarr", block_shape=(4, 16, 16), workers=2,
                  segment=False)
    out = zarr.open_group(str(tmp_path / "o.zarr"), mode="r")["affinities"][:]
    np.testing.assert_allclose(out, fn(raw), atol=1e-5)


def test_blockwise_smoke_method_matches_whole_volume(tmp_path):
    from bench.registry import create_method

    method = create_method("unet2d", profile="smoke")
    raw = SyntheticArray((6, 64, 64), "raw", seed=4)[...]
    # whole sections per block: section pairs (z-1, z) are then exactly those of predict()
    run_blockwise(method, raw, tmp_path / "o.zarr", block_shape=(2, 64, 64), segment=False)
    out = zarr.open_group(str(tmp_path / "o.zarr"), mode="r")["affinities"][:]
    np.testing.assert_allclose(out, method.predict(raw), atol=1e-5)


def _noisy_affinities(shape=(16, 128, 128), seed=3) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(generate_synthetic(shape, seed=seed).labels)
    affs = ndimage.gaussian_filter(affinities_from_labels(labels), (0, 0, 1, 1))
    affs += np.random.default_rng(0).normal(0, 0.15, affs.shape).astype(np.float32)
    return np.clip(affs, 0, 1).astype(np.float32), labels


@pytest.mark.parametrize("block_shape", [(8, 128, 128), (8, 64, 64)])
@pytest.mark.parametrize("threshold, bound", [(0.1, 0.15), (0.3, 0.05)])
def test_blockwise_segmentation_close_to_whole_volume(tmp_path, block_shape, threshold, bound):
    # at 0.1 and 0.3 the whole-volume result is good (VOI 0.15 and 0.08 against the labels); at
    # 0.5 it merges nearly everything, and two all-merged results would agree trivially. At 0.1
    # a face merge needs a median affinity above 0.9 (a mean stitch left VOI 0.7 here)
    affs, labels = _noisy_affinities()
    whole = segment(affs, "waterz", threshold=threshold)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    segment_blockwise(affs, group, block_shape=block_shape, work_dir=tmp_path / "w",
                      threshold=threshold, workers=2, scheduler="threads", scheduler_address=None,
                      retries=0)
    seg = group["segmentation"]
    ids = np.unique(seg[:])
    assert ids[0] == 1 and ids[-1] == len(ids)  # consecutive, no 0
    between = scores(overlap_table(whole, seg[:], ignore_gt=()))
    print(f"\nVOI(whole, blockwise {block_shape}) = {between['voi']:.4f} "
          f"(split {between['voi_split']:.4f}, merge {between['voi_merge']:.4f})")
    assert between["voi"] < bound
    # streaming evaluation over the zarr output equals the in-memory one
    assert evaluate_blockwise(labels, seg) == pytest.approx(scores(overlap_table(labels, seg[:])))


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from bench.blockwise import BlockPredictor, intensity_affinities, run_blockwise
    from bench.data import SyntheticArray

    counter = Path(sys.argv[2])

    def dying(raw):
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        if n + 1 == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
        return intensity_affinities(raw)

    pred = BlockPredictor(dying, ((1, 0), (1, 0), (1, 0)), 3, "intensity")
    run_blockwise(pred, SyntheticArray((8, 64, 64), "raw", seed=7), sys.argv[1],
                  block_shape=(2, 32, 64), scheduler="synchronous")
""")


def test_killed_and_resumed_run_equals_uninterrupted(tmp_path):
    raw = SyntheticArray((8, 64, 64), "raw", seed=7)
    kwargs = dict(block_shape=(2, 32, 64), scheduler="synchronous")
    ref = run_blockwise(INTENSITY_PREDICTOR, raw, tmp_path / "ref.zarr", **kwargs)
    assert ref["skipped"]["predict"] == 0
    out = tmp_path / "resumed.zarr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(out), str(tmp_path / "n"), "5"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    markers = list((tmp_path / "resumed.zarr.blockwise" / "predict").glob("*.npz"))
    assert len(markers) == 4  # blocks 0..3 finished, block 4 was being computed
    res = run_blockwise(INTENSITY_PREDICTOR, raw, out, **kwargs)
    assert res["skipped"]["predict"] == 4
    a, b = zarr.open_group(str(tmp_path / "ref.zarr")), zarr.open_group(str(out))
    for name in ("affinities", "segments_local", "segmentation"):
        np.testing.assert_array_equal(a[name][:], b[name][:])
    # a second resume does nothing and changes nothing
    again = run_blockwise(INTENSITY_PREDICTOR, raw, out, **kwargs)
    assert set(again["skipped"].values()) == {ref["n_blocks"]}
    np.testing.assert_array_equal(a["segmentation"][:], b["segmentation"][:])


def test_resume_with_other_parameters_is_refused(tmp_path):
    raw = SyntheticArray((4, 32, 32), "raw", seed=1)
    run_blockwise(INTENSITY_PREDICTOR, raw, tmp_path / "o.zarr", block_shape=(2, 32, 32),
                  segment=False)
    with pytest.raises(ValueError, match="other parameters"):
        run_blockwise(INTENSITY_PREDICTOR, raw, tmp_path / "o.zarr", block_shape=(4, 32, 32),
                      segment=False)
    with pytest.raises(ValueError, match="raw: expected"):
        run_blockwise(INTENSITY_PREDICTOR, np.zeros((4, 4), np.uint8), tmp_path / "p.zarr",
                      block_shape=2)
