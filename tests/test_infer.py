"""Streaming inference: tiling, padding, sliding-window blending, valid-conv windows."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.affinity.embedding import embedding_affinities_3d, trunc_affinities
from bench.infer import (
    embedding_affinity_fn,
    embedding_volume_affinities,
    gaussian_weights,
    predict_section_pairs,
    predict_sliding_window,
    tile_starts,
)
from bench.nets.unet3d import SuperhumanUNet3D


class LocalPairNet(nn.Module):
    """A small random section-pair net with receptive-field radius 3 (three 3x3 convs)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 4, 3, padding=1),
        )

    def forward(self, x):
        return self.body(x[:, :1]), self.body(x[:, 1:])


@pytest.fixture(scope="module")
def raw_small():
    return np.random.default_rng(0).integers(0, 256, (4, 100, 150), dtype=np.uint8)


def test_tile_starts_cover_and_end_at_size():
    assert tile_starts(100, 40, 30) == [0, 30, 60]
    assert tile_starts(40, 40, 10) == [0]
    assert tile_starts(101, 40, 30) == [0, 30, 60, 61]
    with pytest.raises(ValueError, match="smaller than the window"):
        tile_starts(10, 40, 30)


def test_section_pairs_tiled_equals_untiled(raw_small):
    net = LocalPairNet()
    whole, e_prev, e_curr = predict_section_pairs(
        net, raw_small, tile=None, device="cpu", return_embeddings=True
    )
    # overlap 8 >= 2 x receptive radius: every kept pixel sees its full context in its tile
    tiled, t_prev, t_curr = predict_section_pairs(
        net, raw_small, tile=(48, 64), overlap=8, batch_size=3, device="cpu",
        return_embeddings=True,
    )
    assert whole.shape == (3, 4, 100, 150) and whole.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    np.testing.assert_allclose(t_prev, e_prev, atol=1e-5)
    np.testing.assert_allclose(t_curr, e_curr, atol=1e-5)
    # too little overlap does show the seams (the check above is not vacuous)
    seamy = predict_section_pairs(net, raw_small, tile=(48, 64), overlap=2, device="cpu")
    assert np.abs(seamy - whole).max() > 1e-3


def test_section_pairs_pairs_padding_and_range(raw_small):
    net = LocalPairNet()
    affs, e_prev, e_curr = predict_section_pairs(
        net, raw_small, tile=None, device="cpu", return_embeddings=True
    )
    # pairs are (z-1, z) and (0, 0): prev embedding of z equals curr embedding of z-1
    np.testing.assert_allclose(e_prev[:, 1:], e_curr[:, :-1], atol=1e-6)
    np.testing.assert_allclose(e_prev[:, 0], e_curr[:, 0], atol=1e-6)
    assert affs.min() >= 0 and affs.max() <= 1
    # 100 x 150 is padded to 112 x 160 (symmetric reflect) and cropped back: compare with a
    # hand-made padded forward pass of section 2
    sec = np.pad(raw_small[1:3], ((0, 0), (6, 6), (5, 5)), mode="reflect")
    with torch.no_grad():
        x = torch.from_numpy(sec.astype(np.float32) / 255.0)[None]
        p, c = net(x)
        ref = trunc_affinities(p[..., 6:106, 5:155], c[..., 6:106, 5:155])[0].numpy()
    np.testing.assert_allclose(affs[:, 2], ref, atol=1e-6)


def test_section_pairs_reads_lazy_arrays_and_restores_mode(tmp_path, raw_small):
    path = tmp_path / "raw.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = raw_small
    net = LocalPairNet().train()
    want = predict_section_pairs(net, raw_small, tile=None, device="cpu")
    assert net.training  # mode restored after the call
    with h5py.File(path, "r") as f:
        got = predict_section_pairs(net, f["raw"], tile=(64, 64), overlap=16, device="cpu")
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_section_pairs_errors(raw_small):
    net = LocalPairNet()
    with pytest.raises(ValueError, match="uint8"):
        predict_section_pairs(net, raw_small.astype(np.float32), device="cpu")
    with pytest.raises(ValueError, match="multiples of 16"):
        predict_section_pairs(net, raw_small, tile=(50, 64), device="cpu")
    with pytest.raises(ValueError, match="overlap"):
        predict_section_pairs(net, raw_small, tile=(32, 32), overlap=32, device="cpu")


def test_gaussian_weights():
    w = gaussian_weights((5, 9, 9))
    assert w.shape == (5, 9, 9) and w.dtype == np.float32
    assert w[2, 4, 4] == pytest.approx(1.0 + 1e-6)
    assert w[0, 0, 0] == pytest.approx(np.exp(-3 / (2 * 0.04)) + 1e-6, rel=1e-5)
    assert w[2, 4, 3] < w[2, 4, 4] and w[2, 4, 3] == pytest.approx(w[2, 4, 5])  # symmetric


@pytest.mark.parametrize("blend", ["gaussian", "mean"])
def test_sliding_window_pointwise_net_is_exact(blend):
    # a 1x1x1 network gives identical values from every window: blending must not change them,
    # whatever the weights, and the padding must be cropped away exactly
    raw = np.random.default_rng(1).integers(0, 256, (11, 37, 45), dtype=np.uint8)
    torch.manual_seed(0)
    net = nn.Conv3d(1, 3, 1)
    out = predict_sliding_window(
        net, raw, out_channels=3, window=(6, 16, 16), blend=blend, batch_size=4, device="cpu"
    )
    with torch.no_grad():
        ref = net(torch.from_numpy(raw[None, None].astype(np.float32) / 255.0))[0].numpy()
    assert out.shape == (3, 11, 37, 45) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_sliding_window_valid_conv_net_matches_padded_convolution():
    # a valid 3x3x3 conv: window 6x16x16 -> output 4x14x14 with 1 voxel of context; stitching
    # must equal one convolution of the reflect-padded volume
    raw = np.random.default_rng(2).integers(0, 256, (9, 30, 41), dtype=np.uint8)
    torch.manual_seed(0)
    net = nn.Conv3d(1, 2, 3)
    out = predict_sliding_window(
        net, raw, out_channels=2, window=(6, 16, 16), output_window=(4, 14, 14),
        stride=(3, 5, 7), device="cpu",
    )
    with torch.no_grad():
        x = torch.from_numpy(raw.astype(np.float32) / 255.0)[None, None]
        ref = net(F.pad(x, (1, 1, 1, 1, 1, 1), mode="reflect"))[0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_sliding_window_blends_overlapping_windows():
    # a net that outputs the window's own z start: the blend of two overlapping windows must lie
    # between their values, weighted towards the window whose centre is nearer
    raw = np.zeros((12, 16, 16), dtype=np.uint8)
    raw[:] = np.arange(12, dtype=np.uint8)[:, None, None]

    def net_fn(x):  # output = first section's value of the window, constant over the window
        return (x[:, :, :1] * 255.0).expand(-1, -1, x.shape[2], -1, -1).contiguous()

    out = predict_sliding_window(
        net_fn, raw, out_channels=1, window=(8, 16, 16), stride=(4, 16, 16), pad=0,
        device="cpu",
    )[0, :, 8, 8]
    # windows start at z 0 and 4: z < 4 only window 0, z >= 8 only window 4
    np.testing.assert_allclose(out[:4], 0.0, atol=1e-5)
    np.testing.assert_allclose(out[8:], 4.0, atol=1e-5)
    mid = out[4:8]
    assert np.all(np.diff(mid) > 0) and mid.min() > 0 and mid.max() < 4


def test_sliding_window_superhuman_affinities_and_errors():
    raw = np.random.default_rng(3).integers(0, 256, (4, 32, 48), dtype=np.uint8)
    net = SuperhumanUNet3D()
    fn = embedding_affinity_fn(net)
    out = predict_sliding_window(
        fn, raw, out_channels=3, window=(4, 32, 32), stride=(4, 32, 16), pad=0, device="cpu",
    )  # 2 windows overlapping in x: keep this cheap, 3D convs are slow on a loaded CPU
    assert out.shape == (3, 4, 32, 48) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 and np.isfinite(out).all()
    assert net.training  # mode restored through the wrapper
    with pytest.raises(ValueError, match="net_fn returned shape"):
        predict_sliding_window(fn, raw, out_channels=12, window=(4, 32, 32), device="cpu")
    with pytest.raises(ValueError, match="output_window"):
        predict_sliding_window(
            fn, raw, out_channels=3, window=(4, 32, 32), output_window=(3, 32, 32), device="cpu"
        )
    with pytest.raises(ValueError, match="blend"):
        predict_sliding_window(fn, raw, out_channels=3, window=(4, 32, 32), blend="max")


def test_perf_infer_runs_and_writes_json(tmp_path, capsys):
    import argparse
    import json

    from bench.perf import infer as perf_infer

    parser = argparse.ArgumentParser()
    perf_infer.add_arguments(parser)
    out = tmp_path / "perf.json"
    args = parser.parse_args(
        ["--shape", "2", "32", "32", "--methods", "cad", "--device", "cpu", "--out", str(out),
         "--json"]
    )
    assert perf_infer.run(args) == 0
    result = json.loads(out.read_text())
    assert result["shape_zyx"] == [2, 32, 32]
    (row,) = result["results"]
    assert row["method"] == "cad" and row["n_parameters"] == 900_816
    assert row["voxels_per_s"] > 0 and row["student_speedup"] == pytest.approx(1.0)
    captured = capsys.readouterr()
    # --json: stdout is the JSON object alone (the same as the file); the table is on stderr
    assert json.loads(captured.out) == result
    assert "voxels/s" in captured.err
    with pytest.raises(ValueError, match="--methods"):
        perf_infer.run(parser.parse_args(["--methods", "unet9"]))


def test_stitched_valid_embedding_gives_seamless_affinities():
    # valid-conv embedding net tiled without overlap, then affinities of the stitched volume:
    # identical to the affinities of one full-volume pass (no seams at window borders)
    raw = np.random.default_rng(4).integers(0, 256, (9, 30, 41), dtype=np.uint8)
    torch.manual_seed(0)
    net = nn.Conv3d(1, 4, 3)
    emb = predict_sliding_window(
        net, raw, out_channels=4, window=(6, 16, 16), output_window=(4, 14, 14),
        stride=(4, 14, 14), blend="mean", device="cpu",
    )
    offsets = [(-1, 0, 0), (0, -1, 0), (0, 0, -1), (-3, 0, 0), (0, 2, 0)]
    affs = embedding_volume_affinities(emb, offsets, chunk_z=2, device="cpu")
    with torch.no_grad():
        x = torch.from_numpy(raw.astype(np.float32) / 255.0)[None, None]
        full = net(F.pad(x, (1, 1, 1, 1, 1, 1), mode="reflect"))
        ref = embedding_affinities_3d(full, offsets)[0].clamp(0, 1).numpy()
    assert affs.shape == (5, 9, 30, 41)
    # nearest-neighbour borders are filled from the adjacent plane; the rest is exact
    np.testing.assert_allclose(affs[0, 1:], ref[0, 1:], atol=1e-5)
    np.testing.assert_allclose(affs[0, 0], ref[0, 1], atol=1e-5)
    np.testing.assert_allclose(affs[1, :, 1:], ref[1, :, 1:], atol=1e-5)
    np.testing.assert_allclose(affs[1, :, 0], ref[1, :, 1], atol=1e-5)
    np.testing.assert_allclose(affs[2, :, :, 1:], ref[2, :, :, 1:], atol=1e-5)
    np.testing.assert_allclose(affs[2, :, :, 0], ref[2, :, :, 1], atol=1e-5)
    np.testing.assert_allclose(affs[3:], ref[3:], atol=1e-5)
    assert float(np.abs(affs[3, :3]).max()) == 0.0  # long-range borders stay 0
    assert float(np.abs(affs[4, :, -2:]).max()) == 0.0  # positive offset: border at the end


def test_mala3d_predicts_from_the_stitched_embedding(monkeypatch):
    """mala3d tiles its valid windows without overlap and computes affinities once."""
    from bench.registry import create_method

    method = create_method("mala3d", profile="smoke", device="cpu",
                           infer_window=[6, 16, 16], infer_stride=None)
    torch.manual_seed(0)
    net = nn.Conv3d(1, 16, 3)  # a small valid-convolution stand-in: output = window - 2
    net.emb_ch = 16
    method._nets["net"] = net
    monkeypatch.setattr(method, "output_shape", lambda shape: tuple(s - 2 for s in shape))
    raw = np.random.default_rng(5).integers(0, 256, (9, 30, 41), dtype=np.uint8)
    affs = method.predict(raw)
    with torch.no_grad():
        x = torch.from_numpy(raw.astype(np.float32) / 255.0)[None, None]
        emb = net(F.pad(x, (1, 1, 1, 1, 1, 1), mode="reflect"))[0].numpy()
    expected = embedding_volume_affinities(emb, device="cpu")
    np.testing.assert_allclose(affs, expected, atol=1e-5)
    # a configured stride keeps the blended per-window affinities, which differ at seams
    method.config["infer_stride"] = [2, 7, 7]
    assert np.abs(method.predict(raw) - affs).max() > 1e-3
