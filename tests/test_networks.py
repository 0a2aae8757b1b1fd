"""Architectures of CAD_SPEC.md sections 1-3: sizes, key names, shapes, affinity maths."""

from __future__ import annotations

import pytest
import torch

from bench.affinity.embedding import (
    TEACHER_OFFSETS,
    embedding_affinities_3d,
    trunc_affinities,
)
from bench.nets.unet3d import MalaUNet3D, SuperhumanUNet3D
from bench.nets.ynet import YNetStudent
from cad.losses import teacher_distill_targets


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------- 2D student


def test_student_size_and_keys():
    net = YNetStudent()
    sd = net.state_dict()
    assert n_params(net) == 900_816
    assert len(sd) == 158
    # spot checks of the official key paths and shapes (docs/cad.md section 8)
    assert tuple(sd["inc.conv.conv.0.weight"].shape) == (16, 1, 3, 3)
    assert tuple(sd["down.0.mpconv.1.conv.0.weight"].shape) == (32, 16, 3, 3)
    assert tuple(sd["down.3.mpconv.1.conv.3.weight"].shape) == (128, 128, 3, 3)
    assert tuple(sd["up1.conv.conv.0.weight"].shape) == (64, 256, 3, 3)
    assert tuple(sd["up4_tn.conv.conv.4.running_var"].shape) == (32,)
    assert tuple(sd["outc_t.conv.weight"].shape) == (16, 32, 1, 1)
    # per-module parameter counts of the spec
    by_module = {
        m: sum(p.numel() for k, p in net.named_parameters() if k.startswith(m + "."))
        for m in ("inc", "down", "up1", "up2", "up3_t", "up4_t", "outc_t")
    }
    assert by_module == {
        "inc": 2_544, "down": 605_760, "up1": 184_704, "up2": 46_272,
        "up3_t": 11_616, "up4_t": 18_624, "outc_t": 528,
    }


def test_student_forward_shapes_and_errors():
    net = YNetStudent().eval()
    with torch.no_grad():
        prev, curr = net(torch.rand(2, 2, 32, 48))
    assert prev.shape == curr.shape == (2, 16, 32, 48)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.rand(1, 2, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        net(torch.rand(1, 1, 32, 32))


# ---------------------------------------------------------------- 3D teacher


def test_superhuman_size_keys_and_forward():
    net = SuperhumanUNet3D()
    sd = net.state_dict()
    assert n_params(net) == 1_478_036
    assert len(sd) == 196
    for key in (
        "embed_in.0.weight", "embed_in.0.bias",
        "conv0.block1.0.weight", "conv0.block1.1.running_mean",
        "conv3.block2.0.weight", "conv3.block2.1.weight", "conv3.block2.3.weight",
        "center.block3.weight", "up0.1.weight", "up3.1.bias", "cat2.0.running_var",
        "conv7.block3.bias", "embed_out.0.weight", "out_put.0.weight", "out_put.0.bias",
    ):
        assert key in sd, key
    assert "conv0.block1.0.bias" not in sd  # residual convs have no bias
    assert tuple(sd["embed_in.0.weight"].shape) == (28, 1, 1, 5, 5)
    assert tuple(sd["center.block1.0.weight"].shape) == (80, 64, 1, 3, 3)
    assert tuple(sd["up0.1.weight"].shape) == (64, 80, 1, 1, 1)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert bns and all(m.momentum == 0.001 for m in bns)
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in net.modules()
               if isinstance(m, torch.nn.Conv3d) and m.bias is not None)
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 3, 32, 48))
    assert out.shape == (1, 16, 3, 32, 48)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.rand(1, 1, 3, 24, 32))


# ---------------------------------------------------------------- MALA


def test_mala_size_arithmetic():
    assert MalaUNet3D.output_shape((53, 268, 268)) == (25, 56, 56)
    assert MalaUNet3D.min_input_shape() == (29, 214, 214)
    assert MalaUNet3D.output_shape((29, 214, 214)) == (1, 2, 2)
    assert MalaUNet3D.output_shape((44, 484, 484)) == (16, 272, 272)
    assert MalaUNet3D.input_shape_for((25, 56, 56)) == (53, 268, 268)
    assert MalaUNet3D.input_shape_for((16, 256, 256)) == (44, 484, 484)
    for bad in [(53, 267, 268), (28, 268, 268), (53, 187, 187)]:
        with pytest.raises(ValueError, match="not valid for MALA"):
            MalaUNet3D.output_shape(bad)


def test_mala_size_keys_and_forward():
    # the only MALA instance of the fast tests (84M parameters, ~340 MB)
    net = MalaUNet3D().eval()
    assert n_params(net) == 84_020_644
    sd = net.state_dict()
    assert len(sd) == 39  # 14 convs x 2 + 3 upsampling kernels + 3 x (1x1 conv) x 2 + out x 2
    assert tuple(sd["ups.0.upsample.weight"].shape) == (60, 1, 1, 3, 3)  # depthwise
    assert tuple(sd["enc.3.body.2.weight"].shape) == (1500, 1500, 3, 3, 3)
    with torch.no_grad():
        out = net(torch.rand(1, 1, *MalaUNet3D.min_input_shape()))
    assert out.shape == (1, 16, 1, 2, 2)
    with pytest.raises(ValueError, match="not valid for MALA"):
        net(torch.rand(1, 1, 29, 215, 214))
    del net


# ---------------------------------------------------------------- affinities


def test_trunc_affinities_by_hand():
    # 2-channel embeddings whose cosines are easy: unit vectors at angles
    torch.manual_seed(1)
    h = w = 4
    ang_curr = torch.rand(h, w) * 3.0
    ang_prev = torch.rand(h, w) * 3.0

    def emb(ang: torch.Tensor, scale: float) -> torch.Tensor:
        return scale * torch.stack([torch.cos(ang), torch.sin(ang)])[None]

    aff = trunc_affinities(emb(ang_prev, 2.0), emb(ang_curr, 0.5))[0]
    assert aff.shape == (3, h, w)
    cos = torch.cos
    torch.testing.assert_close(aff[0], cos(ang_prev - ang_curr).clamp(0, 1))
    torch.testing.assert_close(aff[1, 1:], cos(ang_curr[1:] - ang_curr[:-1]).clamp(0, 1))
    torch.testing.assert_close(aff[2, :, 1:], cos(ang_curr[:, 1:] - ang_curr[:, :-1]).clamp(0, 1))
    # the first row/column comes from the reflect pad of the valid part: row 0 == row 2
    torch.testing.assert_close(aff[1, 0], aff[1, 2])
    torch.testing.assert_close(aff[2, :, 0], aff[2, :, 2])
    with pytest.raises(ValueError, match="differ"):
        trunc_affinities(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 5))


def test_teacher_offsets_match_spec_table():
    assert TEACHER_OFFSETS[:3] == ((-1, 0, 0), (0, -1, 0), (0, 0, -1))
    assert TEACHER_OFFSETS[3:6] == ((-2, 0, 0), (0, -3, 0), (0, 0, -3))
    assert TEACHER_OFFSETS[6:9] == ((-3, 0, 0), (0, -9, 0), (0, 0, -9))
    assert TEACHER_OFFSETS[9:] == ((-4, 0, 0), (0, -27, 0), (0, 0, -27))


def test_embedding_affinities_3d_brute_force():
    torch.manual_seed(2)
    emb = torch.randn(1, 4, 5, 6, 7)
    offsets = [(-1, 0, 0), (0, -3, 0), (0, 0, -2), (1, -1, 0), (0, -9, 0)]
    aff = embedding_affinities_3d(emb, offsets)[0]
    e = emb[0] / emb[0].norm(dim=0, keepdim=True)
    z_n, y_n, x_n = e.shape[1:]
    for c, (dz, dy, dx) in enumerate(offsets):
        for z in range(z_n):
            for y in range(y_n):
                for x in range(x_n):
                    zz, yy, xx = z + dz, y + dy, x + dx
                    inside = 0 <= zz < z_n and 0 <= yy < y_n and 0 <= xx < x_n
                    want = float((e[:, z, y, x] * e[:, zz, yy, xx]).sum()) if inside else 0.0
                    assert abs(float(aff[c, z, y, x]) - want) < 1e-5, (c, z, y, x)
    assert float(aff.min()) < 0  # raw cosines, not clamped


def test_teacher_distill_targets():
    torch.manual_seed(3)
    aff = embedding_affinities_3d(torch.randn(2, 16, 4, 5, 6))
    assert aff.shape == (2, 12, 4, 5, 6)
    t = teacher_distill_targets(aff)
    assert t.shape == (2, 3, 4, 5, 6)
    assert float(t.min()) >= 0
    torch.testing.assert_close(t[:, 0, 0], aff[:, 0, 1].relu())
    torch.testing.assert_close(t[:, 1, :, 0], aff[:, 1, :, 1].relu())
    torch.testing.assert_close(t[:, 2, :, :, 0], aff[:, 2, :, :, 1].relu())
    torch.testing.assert_close(t[:, 0, 1:], aff[:, 0, 1:].relu())
    assert float(aff[:, 0, 0].abs().max()) == 0.0  # input untouched
