"""3D networks of the benchmark: the superhuman/PNI residual U-Net and the MALA U-Net.

Both output a raw 16-channel embedding per voxel; affinities come from
:func:`bench.affinity.embedding.embedding_affinities_3d` (CAD's teacher, ``embedding_mode`` 5).
Tensors are ``(B, C, Z, Y, X)``.

* :class:`SuperhumanUNet3D` re-implements ``UNet_PNI_embedding`` from docs/cad.md section 3
  (CAD's 3D teacher and the ``superhuman3d`` baseline): same-size output, 1,478,036 parameters,
  196 state_dict entries with the official key names.
* :class:`MalaUNet3D` is the MALA valid-convolution U-Net (Funke et al. 2018, as used by CAD's
  extension EM-SliceCrafter): 84,020,644 parameters; a 53x268x268 input gives a 25x56x56 output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MalaUNet3D", "SuperhumanUNet3D"]


def _check_input(x: torch.Tensor, in_ch: int) -> None:
    if x.ndim != 5 or x.shape[1] != in_ch:
        raise ValueError(f"x: expected shape (B, {in_ch}, Z, Y, X), got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------
# superhuman / PNI residual U-Net
# --------------------------------------------------------------------------------------------

_BN_MOMENTUM = 0.001  # the official teacher's BatchNorm3d momentum (docs/cad.md section 3)


class ZLastConv3d(nn.Conv3d):
    """``nn.Conv3d`` (same parameters, same state_dict) that is about 3x faster for one small CPU
    sample, e.g. the CAD teacher's 1x1x8x48x48 training patch.

    For a batch of one whose ``N*C*D*H`` is at most 20,480, PyTorch's CPU backend picks its
    unvectorised ``slow_conv3d`` (forward and backward) over oneDNN. A convolution commutes with
    a permutation of the spatial axes applied to input and kernel alike, so on CPU this layer
    convolves the ``(N, C, Y, X, Z)`` view; where even that view is small (the coarse levels of
    a U-Net) it appends an all-zero second sample, which oneDNN convolves faster than the slow
    path convolves one, and keeps the first output (the zero sample adds nothing to any
    gradient). The result equals the plain convolution up to float rounding (the untrained
    teacher's embedding of a 1x1x8x48x48 patch: at most 5e-4 apart, on values up to 257); on
    other devices, and for larger batches, it is the plain convolution.
    """

    _SLOW_PATH_MAX = 20_480  # N*C*D*H up to which PyTorch's CPU backend avoids oneDNN

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.ndim != 5 or x.shape[0] != 1:
            return super().forward(x)
        (sz, sy, sx), (pz, py, px) = self.stride, self.padding
        dz, dy, dx = self.dilation
        xp = x.permute(0, 1, 3, 4, 2)
        small = xp.shape[1] * xp.shape[2] * xp.shape[3] <= self._SLOW_PATH_MAX
        if small:
            xp = torch.cat([xp, xp.new_zeros(xp.shape)])
        y = F.conv3d(xp, self.weight.permute(0, 1, 3, 4, 2), self.bias,
                     (sy, sx, sz), (py, px, pz), (dy, dx, dz), self.groups)
        if small:
            y = y[:1]
        return y.permute(0, 1, 4, 2, 3)


def _bn(ch: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(ch, momentum=_BN_MOMENTUM)


class _ResBlock(nn.Module):
    """Anisotropic residual block: ``r = ELU(BN(conv1x3x3(x)))``, ``ELU(BN(r + f(r)))``.

    ``f`` is conv3^3 -> BN -> ELU -> conv3^3; convolutions have no bias (BN follows) and zero
    padding, so the output has the input's size.
    """

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.block1 = nn.Sequential(
            ZLastConv3d(in_ch, out_ch, (1, 3, 3), padding=(0, 1, 1), bias=False),
            _bn(out_ch),
            nn.ELU(inplace=True),
        )
        self.block2 = nn.Sequential(
            ZLastConv3d(out_ch, out_ch, 3, padding=1, bias=False),
            _bn(out_ch),
            nn.ELU(inplace=True),
            ZLastConv3d(out_ch, out_ch, 3, padding=1, bias=False),
        )
        self.block3 = _bn(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.block1(x)
        return F.elu(self.block3(r + self.block2(r)))


class SuperhumanUNet3D(nn.Module):
    """CAD's 3D teacher ``UNet_PNI_embedding`` (superhuman/PNI residual U-Net).

    Parameters
    ----------
    in_ch
        Input channels (1: raw / 255).
    filters
        Widths of the five stages (CAD: 28, 36, 48, 64, 80).
    emb_ch
        Embedding channels of the output (16).

    Notes
    -----
    ``forward(x)``: ``x`` ``(B, in_ch, Z, Y, X)`` with Y and X multiples of 16 (four (1,2,2)
    max-pools; z is never pooled) -> embedding ``(B, emb_ch, Z, Y, X)``, raw (no activation).
    Decoder: trilinear x(1,2,2) upsampling (align_corners=True) + 1x1x1 conv, merge by addition
    with the skip, BN + ELU, residual block. BatchNorm momentum 0.001 as in the official
    teacher; convolution weights kaiming-normal, biases zero.
    """

    size_multiple: tuple[int, int, int] = (1, 16, 16)

    def __init__(
        self, in_ch: int = 1, filters: Sequence[int] = (28, 36, 48, 64, 80), emb_ch: int = 16
    ):
        super().__init__()
        if len(filters) != 5:
            raise ValueError(f"filters: expected 5 stage widths, got {list(filters)}")
        f = [filters[0], *filters]  # conv0 keeps the stem width
        self.in_ch, self.emb_ch = in_ch, emb_ch
        self.embed_in = nn.Sequential(
            ZLastConv3d(in_ch, f[0], (1, 5, 5), padding=(0, 2, 2)), nn.ELU(inplace=True)
        )
        self.conv0 = _ResBlock(f[0], f[1])
        self.conv1 = _ResBlock(f[1], f[2])
        self.conv2 = _ResBlock(f[2], f[3])
        self.conv3 = _ResBlock(f[3], f[4])
        self.center = _ResBlock(f[4], f[5])
        self.pool = nn.MaxPool3d((1, 2, 2))
        for k, (hi, lo) in enumerate([(f[5], f[4]), (f[4], f[3]), (f[3], f[2]), (f[2], f[1])]):
            up = nn.Sequential(
                nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear", align_corners=True),
                ZLastConv3d(hi, lo, 1),
            )
            self.add_module(f"up{k}", up)
            self.add_module(f"cat{k}", nn.Sequential(_bn(lo), nn.ELU(inplace=True)))
            self.add_module(f"conv{k + 4}", _ResBlock(lo, lo))
        self.embed_out = nn.Sequential(
            ZLastConv3d(f[1], f[0], (1, 5, 5), padding=(0, 2, 2)), nn.ELU(inplace=True)
        )
        self.out_put = nn.Sequential(ZLastConv3d(f[0], emb_ch, 1))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_ch)
        if x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"x: Y and X must be multiples of 16, got {tuple(x.shape[-3:])}")
        skips = []
        h = self.embed_in(x)
        for stage in (self.conv0, self.conv1, self.conv2, self.conv3):
            h = stage(h)
            skips.append(h)
            h = self.pool(h)
        h = self.center(h)
        for k in range(4):
            h = getattr(self, f"up{k}")(h) + skips[3 - k]
            h = getattr(self, f"conv{k + 4}")(getattr(self, f"cat{k}")(h))
        return self.out_put(self.embed_out(h))


# --------------------------------------------------------------------------------------------
# MALA valid-convolution U-Net
# --------------------------------------------------------------------------------------------


class _ValidConvPair(nn.Module):
    """Two 3x3x3 valid convolutions (with bias), each followed by leaky ReLU (slope 0.005)."""

    def __init__(self, in_ch: int, out_ch: int, slope: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(in_ch, out_ch, 3),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv3d(out_ch, out_ch, 3),
            nn.LeakyReLU(slope, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _MalaUp(nn.Module):
    """Depthwise transposed conv (1,3,3)/(1,3,3) without bias, then a 1x1x1 conv (with bias).

    The depthwise kernel starts at 1, i.e. as nearest-neighbour upsampling, and is learned;
    the 1x1x1 conv reduces the width by the level factor and is linear (no activation).
    """

    def __init__(self, in_ch: int, out_ch: int, factor: tuple[int, int, int]):
        super().__init__()
        self.upsample = nn.ConvTranspose3d(
            in_ch, in_ch, factor, stride=factor, groups=in_ch, bias=False
        )
        self.reduce = nn.Conv3d(in_ch, out_ch, 1)
        nn.init.ones_(self.upsample.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.upsample(x))


def _center_crop(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    starts = [(n - m) // 2 for n, m in zip(x.shape[-3:], shape, strict=True)]
    return x[
        ...,
        starts[0] : starts[0] + shape[0],
        starts[1] : starts[1] + shape[1],
        starts[2] : starts[2] + shape[2],
    ]


class MalaUNet3D(nn.Module):
    """The MALA 3D U-Net (valid convolutions), 16-channel embedding output.

    Layout (widths 12, 60, 300, 1500: factor 5; all pools (1,3,3); leaky ReLU 0.005)::

        level l = 0..3:  enc[l]  = 2 x (conv3^3 valid + lrelu)   1->12, 12->60, 60->300, 300->1500
                         pool (1,3,3) between levels
        level l = 2..0:  ups[l]  = depthwise ConvTranspose (1,3,3)/(1,3,3), no bias, + conv1^3
                                   (width / 5)
                         concat [centre crop of enc[l] output, upsampled]   (2 x width)
                         dec[l]  = 2 x (conv3^3 valid + lrelu)          600->300, 120->60, 24->12
        out = conv1^3 12 -> 16 (linear)

    This layout gives exactly 84,020,644 parameters (the count docs/cad.md gives for
    ``UNet3D_MALA_embedding``); a full transposed convolution instead of the depthwise one would
    give 87.75M and plain upsampling + 1x1 conv 84.00M.

    Sizes: each level loses 4 voxels per axis to the two valid convs. With ``b`` the x/y size at
    the bottom, the input x/y size is ``27 b + 160`` and the output ``27 b - 52`` (b >= 2); z
    loses 28 (input ``z``, output ``z - 28``, z >= 29). 53x268x268 -> 25x56x56. Use
    :meth:`output_shape` / :meth:`input_shape_for` to pick windows; the output is centred in the
    input (context ``(input - output) / 2`` on each side).
    """

    #: number of (1,3,3) poolings and the x/y pool factor
    _levels: int = 3
    _pool_xy: int = 3

    def __init__(
        self,
        in_ch: int = 1,
        emb_ch: int = 16,
        base: int = 12,
        factor: int = 5,
        slope: float = 0.005,
    ):
        super().__init__()
        self.in_ch, self.emb_ch = in_ch, emb_ch
        widths = [base * factor**k for k in range(self._levels + 1)]
        pool = (1, self._pool_xy, self._pool_xy)
        enc_in = [in_ch, *widths[:-1]]
        self.enc = nn.ModuleList(
            [_ValidConvPair(i, o, slope) for i, o in zip(enc_in, widths, strict=True)]
        )
        self.pool = nn.MaxPool3d(pool)
        self.ups = nn.ModuleList(
            [_MalaUp(widths[k + 1], widths[k], pool) for k in range(self._levels)]
        )
        self.dec = nn.ModuleList(
            [_ValidConvPair(2 * widths[k], widths[k], slope) for k in range(self._levels)]
        )
        self.out = nn.Conv3d(widths[0], emb_ch, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)

    # ---- size arithmetic (pure functions of the architecture) ----------------------------

    @classmethod
    def _xy_out(cls, n: int) -> int | None:
        """Output x/y size for input ``n``, or None if ``n`` is not a valid size."""
        for _ in range(cls._levels):
            n -= 4
            if n <= 0 or n % cls._pool_xy:
                return None
            n //= cls._pool_xy
        n -= 4  # bottom convs
        if n <= 0:
            return None
        for _ in range(cls._levels):
            n = n * cls._pool_xy - 4
            if n <= 0:
                return None
        return n

    @classmethod
    def output_shape(cls, input_shape: Sequence[int]) -> tuple[int, int, int]:
        """Output (Z, Y, X) for an input (Z, Y, X); ValueError when the size is not valid.

        Valid x/y sizes are ``27 b + 160`` for b >= 2 (214, 241, 268, ...); z >= 29.
        """
        if len(input_shape) != 3:
            raise ValueError(f"input_shape: expected (Z, Y, X), got {tuple(input_shape)}")
        z = int(input_shape[0]) - 4 * (2 * cls._levels + 1)
        yx = [cls._xy_out(int(n)) for n in input_shape[1:]]
        if z < 1 or None in yx:
            raise ValueError(
                f"input_shape {tuple(input_shape)} is not valid for MALA: need z >= 29 and "
                "y, x of the form 27*b + 160 with b >= 2 (214, 241, 268, ...)"
            )
        return (z, yx[0], yx[1])  # type: ignore[return-value]

    @classmethod
    def input_shape_for(cls, min_output_shape: Sequence[int]) -> tuple[int, int, int]:
        """The smallest valid input (Z, Y, X) whose output covers ``min_output_shape``."""
        z = max(int(min_output_shape[0]), 1) + 4 * (2 * cls._levels + 1)
        yx = []
        for want in min_output_shape[1:]:
            b = 2
            while 27 * b - 52 < int(want):
                b += 1
            yx.append(27 * b + 160)
        return (z, yx[0], yx[1])

    @classmethod
    def min_input_shape(cls) -> tuple[int, int, int]:
        """The smallest valid input, (29, 214, 214) -> output (1, 2, 2)."""
        return cls.input_shape_for((1, 1, 1))

    #: the training/inference window of EM-SliceCrafter's MALA
    default_input_shape: tuple[int, int, int] = (53, 268, 268)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_ch)
        self.output_shape(tuple(x.shape[-3:]))  # clear error on an invalid size
        skips = []
        h = x
        for k, block in enumerate(self.enc):
            h = block(h)
            if k < self._levels:
                skips.append(h)
                h = self.pool(h)
        for k in reversed(range(self._levels)):
            up = self.ups[k](h)
            h = self.dec[k](torch.cat([_center_crop(skips[k], up.shape[-3:]), up], dim=1))
        return self.out(h)
