"""The CAD 2D student: a Y-shaped U-Net over a pair of consecutive sections.

Re-implemented from the description in docs/cad.md section 1 (``CoDetectionCNN`` of the
official code). Module and parameter names follow the official state_dict exactly, so the
authors' released checkpoints load with strict key matching (see :mod:`cad.checkpoint`).

Layout (B = batch, H and W multiples of 16)::

    prev (z-1) -inc-> a0 -down.0-> a1 -.                    .-up3_t--up4_t--outc_t--> emb_prev
                                       +-> down.1..3, up1, up2
    curr (z)   -inc-> b0 -down.0-> b1 -'                    '-up3_tn-up4_tn-outc_tn-> emb_curr

``inc`` and ``down.0`` are shared by the two sections; every decoder block upsamples its input
bilinearly x2 (align_corners=True), concatenates ``[skip, upsampled]`` and applies a
double-conv block. The outputs are raw 16-channel embeddings (no sigmoid); affinities are made
from them by :func:`bench.affinity.embedding.trunc_affinities`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["YNetStudent"]


class _DoubleConv(nn.Module):
    """Conv3x3 -> BN -> ReLU -> Conv3x3 -> BN -> ReLU (keys ``conv.{0,1,3,4}``)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Inc(nn.Module):
    # extra ``conv`` level so the keys read ``inc.conv.conv.*`` as in the official checkpoints
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = _DoubleConv(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Down(nn.Module):
    """2x2 max-pool then double conv (keys ``mpconv.1.conv.*``)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.mpconv = nn.Sequential(nn.MaxPool2d(2), _DoubleConv(in_ch, out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mpconv(x)


class _Up(nn.Module):
    """Bilinear x2 upsampling, concatenation ``[skip, up]``, double conv (keys ``conv.conv.*``)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = _DoubleConv(in_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        if up.shape[-2:] != skip.shape[-2:]:
            # cannot happen for H, W multiples of 16 (checked in forward); kept explicit so a
            # future caller gets a clear message instead of a cat() shape error
            raise ValueError(f"decoder size {tuple(up.shape)} != skip size {tuple(skip.shape)}")
        return self.conv(torch.cat([skip, up], dim=1))


class _OutConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class YNetStudent(nn.Module):
    """CAD's 2D Y-shaped student (``CoDetectionCNN``), 900,816 parameters at the defaults.

    Parameters
    ----------
    in_ch
        Channels of one section (1 for EM).
    emb_ch
        Embedding channels of each output (16 in CAD).
    base
        Width of the first level (16 in CAD); the levels are
        ``base, 2*base, 4*base (both sections), 4*base, 8*base, 8*base``.

    Notes
    -----
    ``forward(x)`` takes ``x`` of shape ``(B, 2*in_ch, H, W)``, float in [0, 1] (raw / 255),
    channel block 0 the previous section z-1 and block 1 the current section z; H and W must be
    multiples of 16. It returns ``(emb_prev, emb_curr)``, each ``(B, emb_ch, H, W)``.
    """

    #: spatial sizes must be multiples of this (four 2x poolings)
    size_multiple: int = 16

    def __init__(self, in_ch: int = 1, emb_ch: int = 16, base: int = 16):
        super().__init__()
        self.in_ch = in_ch
        self.emb_ch = emb_ch
        b = base
        self.inc = _Inc(in_ch, b)
        # down.0 runs on each section separately; down.1.. on the concatenation of both
        self.down = nn.ModuleList(
            [_Down(b, 2 * b), _Down(4 * b, 4 * b), _Down(4 * b, 8 * b), _Down(8 * b, 8 * b)]
        )
        self.up1 = _Up(16 * b, 4 * b)
        self.up2 = _Up(8 * b, 2 * b)
        self.up3_t = _Up(4 * b, b)
        self.up3_tn = _Up(4 * b, b)
        self.up4_t = _Up(2 * b, 2 * b)
        self.up4_tn = _Up(2 * b, 2 * b)
        self.outc_t = _OutConv(2 * b, emb_ch)
        self.outc_tn = _OutConv(2 * b, emb_ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 2 * self.in_ch:
            raise ValueError(
                f"x: expected shape (B, {2 * self.in_ch}, H, W) (previous and current section), "
                f"got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f"x: H and W must be multiples of {m}, got {h}x{w} (pad first)")
        prev, curr = x[:, : self.in_ch], x[:, self.in_ch :]
        a0, b0 = self.inc(prev), self.inc(curr)
        a1, b1 = self.down[0](a0), self.down[0](b0)
        e1 = self.down[1](torch.cat([a1, b1], dim=1))
        e2 = self.down[2](e1)
        e3 = self.down[3](e2)
        d = self.up2(self.up1(e3, e2), e1)
        emb_prev = self.outc_t(self.up4_t(self.up3_t(d, a1), a0))
        emb_curr = self.outc_tn(self.up4_tn(self.up3_tn(d, b1), b0))
        return emb_prev, emb_curr
