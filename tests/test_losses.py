"""CAD losses: normalisation, valid regions, and the faithful/fixed FGI and cross-loss logic."""

import pytest
import torch

from bench.affinity import LONG_RANGE_OFFSETS
from bench.train.losses import loss_3d, trunc_slice_loss, weighted_mse
from cad.losses import cross_loss, faithful_cross_shift, fgi_loss, fgi_terms


def test_weighted_mse_is_not_divided_by_channels():
    pred = torch.ones(2, 3, 4, 5)
    zero = torch.zeros_like(pred)
    # sum w (p - t)^2 = 2*3*4*5, divided by B * H * W = 2*4*5 -> 3 (the channel count)
    assert weighted_mse(pred, zero, torch.ones_like(pred), 2).item() == pytest.approx(3.0)
    # weights scale linearly; a single-channel slice is a plain weighted mean
    assert weighted_mse(pred[:, 0], zero[:, 0], 2 * torch.ones(2, 4, 5), 2).item() == 2.0
    # 3 spatial dims: (B, Z, Y, X)
    assert (
        weighted_mse(torch.ones(2, 3, 4, 5), torch.zeros(2, 3, 4, 5), torch.ones(2, 3, 4, 5), 3)
        == 1
    )
    with pytest.raises(ValueError, match="one shape"):
        weighted_mse(pred, zero[:, :2], zero, 2)


def test_trunc_slice_loss_skips_first_row_and_column():
    t = torch.zeros(1, 3, 4, 4)
    w = torch.ones_like(t)
    p = torch.zeros_like(t)
    p[:, 1, 0, :] = 1.0  # y error only on row 0 (no predecessor)
    p[:, 2, :, 0] = 1.0  # x error only on column 0
    assert trunc_slice_loss(p, t, w).item() == 0.0
    p[:, 0] = 0.5  # z error everywhere: 0.25 per pixel, times affs0_weight
    assert trunc_slice_loss(p, t, w, affs0_weight=2.0).item() == pytest.approx(0.5)
    p[:, 1, 1:, :] = 1.0  # y error on the 3 valid rows: mean over 3x4 pixels = 1
    assert trunc_slice_loss(p, t, w, affs0_weight=2.0).item() == pytest.approx(1.5)


def test_loss_3d_leaves_out_borders_and_weights_nearest():
    shape = (1, 12, 5, 30, 30)
    t = torch.zeros(shape)
    w = torch.ones(shape)
    a = torch.zeros(shape)
    for c, off in enumerate(LONG_RANGE_OFFSETS):
        border = (0, c, *(slice(0, -o) if o else slice(None) for o in off))
        a[border] = 1.0  # errors only where the offset leaves the patch
    assert loss_3d(a, t, w).item() == 0.0
    a = torch.zeros(shape)
    a[:, 0] = 1.0  # channel 0 (z, s=1) wrong everywhere: valid mean 1, weight 10
    a[:, 3] = 1.0  # channel 3 (z, s=2): weight 1
    assert loss_3d(a, t, w, near_weight=10.0).item() == pytest.approx(11.0)


def _terms(z, depth, mode):
    return [
        (t.z, t.s, t.branch, t.teacher_index, t.channel, t.target_index)
        for t in fgi_terms(z, depth, mode)
    ]


def test_fgi_faithful_keeps_one_offset_and_wrong_targets_for_depth_18():
    # bug 2: one s per z, the largest with z + s <= 16; bug 3: targets at z+1 / z+2
    for z in range(13):
        assert _terms(z, 18, "faithful") == [
            (z, 4, "t", z + 4, 9, z + 1),
            (z, 4, "tn", z + 5, 9, z + 2),
        ]
    assert _terms(13, 18, "faithful") == [(13, 3, "t", 16, 6, 14), (13, 3, "tn", 17, 6, 15)]
    assert _terms(14, 18, "faithful") == [(14, 2, "t", 16, 3, 15), (14, 2, "tn", 17, 3, 16)]
    assert _terms(15, 18, "faithful") == [(15, 1, "t", 16, 0, 16), (15, 1, "tn", 17, 0, 17)]
    assert _terms(16, 18, "faithful") == []


def test_fgi_fixed_accumulates_every_offset_with_right_targets():
    used = [t for z in range(17) for t in _terms(z, 18, "fixed")]
    assert _terms(0, 18, "fixed") == [
        (0, s, b, s + (b == "tn"), ch, s + (b == "tn"))
        for s, ch in ((1, 0), (2, 3), (3, 6), (4, 9))
        for b in ("t", "tn")
    ]
    assert all(t[3] == t[5] for t in used)  # teacher section == target index
    assert all(t[3] <= 17 for t in used) and _terms(16, 18, "fixed") == []
    assert [t[1] for t in _terms(14, 18, "fixed")] == [1, 1, 2, 2]
    assert len(used) == 2 * sum(min(4, 16 - z) for z in range(17))


def test_fgi_other_depths():
    # faithful with depth 8 clips the hard-coded bound 16 to depth - 2 = 6
    assert [t.s for z in range(7) for t in fgi_terms(z, 8, "faithful")][::2] == [4, 4, 4, 3, 2, 1]
    # depth 24: faithful keeps the hard-coded 16 (sections past 17 never used), fixed uses 22
    assert max(t.teacher_index for z in range(23) for t in fgi_terms(z, 24, "faithful")) == 17
    assert max(t.teacher_index for z in range(23) for t in fgi_terms(z, 24, "fixed")) == 23
    with pytest.raises(ValueError, match="mode"):
        fgi_terms(0, 18, "buggy")
    with pytest.raises(ValueError, match="depth"):
        fgi_terms(17, 18, "fixed")


def test_cross_loss_crop_follows_the_overwritten_shift():
    assert [faithful_cross_shift(z) for z in range(3)] == [1, 27, 27]
    p3 = torch.zeros(1, 3, 32, 32)
    w = torch.ones_like(p3)
    p2 = torch.zeros_like(p3)
    p2[..., 5:20] = 1.0  # differences only in columns 5..19
    assert cross_loss(p2, p3, w, z=1, mode="faithful").item() == 0.0  # cropped to x >= 27
    # z = 0 keeps x >= 1: 3 channels x 15 of 31 columns
    assert cross_loss(p2, p3, w, z=0, mode="faithful").item() == pytest.approx(3 * 15 / 31)
    assert cross_loss(p2, p3, w, z=1, mode="fixed").item() == pytest.approx(
        15 / 32 + 15 / 32 + 15 / 31
    )
    # before start_ft the faithful crop is on rows instead
    p2 = torch.zeros_like(p3)
    p2[..., 0, :] = 1.0
    assert cross_loss(p2, p3, w, z=0, mode="faithful", after_start_ft=False).item() == 0.0


def test_fgi_loss_hand_computed():
    e_prev = torch.zeros(1, 2, 2, 2)
    e_curr = torch.zeros(1, 2, 2, 2)
    teacher = torch.zeros(1, 2, 6, 2, 2)
    e_prev[:, 0] = 2.0
    teacher[:, 0, 4] = 0.25  # <e_prev, E3[4]> = 0.5 everywhere
    target = torch.zeros(1, 12, 6, 2, 2)
    weight = torch.ones_like(target)
    target[:, 9, 1] = 1.0  # faithful scores the s=4 pair of z=0 against index z+1 = 1
    terms = fgi_terms(0, 6, "faithful")
    assert [(t.s, t.teacher_index, t.target_index) for t in terms] == [(4, 4, 1), (4, 5, 2)]
    # t term: (0.5 - 1)^2 = 0.25; tn term: clamp(0) vs target 0 -> 0
    assert fgi_loss(e_prev, e_curr, teacher, target, weight, terms).item() == pytest.approx(0.25)
    # raw dot products are clamped to [0, 1]
    teacher[:, 0, 4] = 10.0
    assert fgi_loss(e_prev, e_curr, teacher, target, weight, terms).item() == pytest.approx(0.0)
    assert fgi_loss(e_prev, e_curr, teacher, target, weight, []).item() == 0.0
