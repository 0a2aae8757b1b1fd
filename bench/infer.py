"""Model-agnostic inference that streams over z (docs/cad.md section 7).

Two schemes, each independent of which network runs inside:

* :func:`predict_section_pairs` runs a 2D section-pair network (CAD's student, the 2D baseline)
  over every pair (z-1, z), section 0 paired with itself, and turns the two embeddings into
  ``trunc`` affinities. Large sections are tiled in y/x.
* :func:`predict_sliding_window` runs a 3D network over overlapping windows and blends them
  (Gaussian weights as the official 3D provider); with ``output_window`` smaller than
  ``window`` it serves valid-convolution networks such as MALA.

Only the windows/tiles of the current batch (and, for section pairs, the embeddings of the
section being stitched) live on the device; the inputs are read section by section (so ``raw``
may be a lazy h5py/zarr array) and the outputs are accumulated on the host.

Conventions: ``raw`` is ``(Z, Y, X)`` uint8 and is fed to networks as ``raw / 255`` float32;
outputs are float32 ``(C, Z, Y, X)``; affinity channel order (z, y, x), the value at v being the
affinity of v to ``v - e_axis``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.affinity import NEAREST_OFFSETS, fill_nearest_borders
from bench.affinity.embedding import embedding_affinities_3d, trunc_affinities
from bench.device import autocast, resolve_device
from bench.method import check_raw

__all__ = [
    "embedding_affinity_fn",
    "embedding_volume_affinities",
    "gaussian_weights",
    "predict_section_pairs",
    "predict_sliding_window",
    "tile_starts",
]

EmbedFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
NetFn = Callable[[torch.Tensor], torch.Tensor]

#: spatial sizes of section-pair inputs are padded to multiples of this (four 2x poolings)
SIZE_MULTIPLE = 16


# --------------------------------------------------------------------------------------------
# small shared pieces
# --------------------------------------------------------------------------------------------


def _triple(name: str, value: int | Sequence[int]) -> tuple[int, int, int]:
    vals = (value,) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(vals) != 3:
        raise ValueError(f"{name}: expected 3 values (z, y, x), got {value!r}")
    return vals  # type: ignore[return-value]


def tile_starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts covering ``[0, size)``: ``0, stride, 2*stride, ...``, the last one moved
    back so that it ends exactly at ``size`` (requires ``size >= window``)."""
    if window < 1 or stride < 1:
        raise ValueError(f"window ({window}) and stride ({stride}) must be >= 1")
    if size < window:
        raise ValueError(f"size {size} is smaller than the window {window}")
    n = math.ceil((size - window) / stride) + 1
    return sorted({min(i * stride, size - window) for i in range(n)})


def _owned_ranges(starts: list[int], window: int, size: int) -> list[tuple[int, int]]:
    """The part of each tile that is kept when tiles are stitched by cropping their centres.

    Neighbouring tiles split their overlap at its midpoint, so every output pixel comes from
    the tile in which it lies farthest from an edge (at least half the overlap inside).
    """
    bounds = [0]
    for prev, cur in zip(starts, starts[1:], strict=False):
        bounds.append((cur + prev + window) // 2)
    bounds.append(size)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


@contextlib.contextmanager
def _prepared(fn: Any, device: torch.device) -> Iterator[None]:
    """Modules go to ``device`` in eval mode for the duration; their mode is restored after."""
    if isinstance(fn, nn.Module):
        was_training = fn.training
        fn.to(device).eval()
        try:
            yield
        finally:
            fn.train(was_training)
    else:
        yield


def _progress(total: int, enabled: bool | None, desc: str):
    """A :func:`bench.progress.bar` (``enabled=None``: a bar on a terminal, log lines
    otherwise), or None when ``enabled`` is False."""
    if enabled is False:
        return None
    from bench import progress as shown

    return shown.bar(total=total, desc=desc, unit="win")


# --------------------------------------------------------------------------------------------
# 2D section pairs
# --------------------------------------------------------------------------------------------


def _pad_to_multiple(n: int, m: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """Symmetric (before, after) padding of a length ``n`` up to a multiple of ``m``."""
    total = -n % m
    return total // 2, total - total // 2


def predict_section_pairs(
    embed_fn: EmbedFn | nn.Module,
    raw: Any,
    *,
    tile: tuple[int, int] | None = (2048, 2048),
    overlap: int = 128,
    batch_size: int = 1,
    device: str | torch.device = "auto",
    return_embeddings: bool = False,
    amp: bool = False,
    progress: bool | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Affinities of a volume from a 2D section-pair network, streaming over z.

    Parameters
    ----------
    embed_fn
        ``embed_fn(x) -> (emb_prev, emb_curr)`` with ``x`` float32 ``(B, 2, h, w)`` on
        ``device`` (channel 0 section z-1, channel 1 section z, values raw / 255; h, w multiples
        of 16) and each embedding ``(B, E, h, w)``. A :class:`torch.nn.Module` (e.g.
        :class:`bench.nets.ynet.YNetStudent`) is moved to ``device`` and put in eval mode for the
        call (its previous train/eval mode is restored afterwards).
    raw
        ``(Z, Y, X)`` uint8, numpy or lazy (h5py/zarr); read one section at a time.
    tile
        ``(th, tw)``, multiples of 16, or None for whole sections. Sections (after padding)
        larger than a tile are cut into tiles overlapping by at least ``overlap`` pixels. The
        default runs every CAD dataset (1024 and 1250-pixel sections) whole, as the official
        inference does, and tiles only larger sections, to bound device memory.
    overlap
        Minimum overlap of neighbouring tiles. Tiles are stitched by cropping their centres
        (neighbours split the overlap at its midpoint), not blended: each embedding pixel comes
        from exactly one tile, at least ``overlap // 2`` pixels from that tile's cut edges.
        The affinities are computed once from the stitched embeddings, so y/x affinities across
        tile seams are real neighbour affinities. Tiled output equals untiled output exactly for
        networks whose receptive-field radius is at most ``overlap // 2`` and which are
        translation-equivariant by multiples of 16; CAD's student is neither (its bilinear
        ``align_corners=True`` upsampling depends on the tile size and its receptive field is
        far larger), so tiling changes its output measurably: on the 256x256 golden input,
        128-pixel tiles with overlap 32 differ from the whole-section affinities by 0.046 on
        average (max 0.98); 160-pixel tiles with overlap 64 by 0.022 (max 0.74). Use tiles as
        large as memory allows.
    batch_size
        Section pairs (untiled) or tiles (tiled) per forward pass.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ... (:func:`bench.device.resolve_device`).
    return_embeddings
        Also return the embeddings (each ``(E, Z, Y, X)`` float32).
    amp
        bfloat16 autocast on CUDA (ignored on CPU; :func:`bench.device.autocast`).
    progress
        ``None`` (default): a progress bar on a terminal and log lines otherwise
        (:mod:`bench.progress`); ``False``: nothing.

    Returns
    -------
    numpy.ndarray or tuple
        ``affs`` float32 ``(3, Z, Y, X)`` in [0, 1] (order z, y, x; see
        :func:`bench.affinity.embedding.trunc_affinities`), or ``(affs, emb_prev, emb_curr)``.

    Notes
    -----
    Y and X are reflect-padded symmetrically to multiples of 16 (as the official inference does
    for 1250-pixel sections: 7 pixels each side) and the embeddings are cropped back before the
    affinities are computed.
    """
    z_size, y_size, x_size = check_raw(raw)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pad_y, pad_x = _pad_to_multiple(y_size), _pad_to_multiple(x_size)
    hp, wp = y_size + sum(pad_y), x_size + sum(pad_x)
    if tile is None:
        th, tw = hp, wp
    else:
        th, tw = (int(t) for t in tile)
        if th % SIZE_MULTIPLE or tw % SIZE_MULTIPLE or th < 1 or tw < 1:
            raise ValueError(f"tile: expected positive multiples of {SIZE_MULTIPLE}, got {tile}")
        if not 0 <= overlap < min(th, tw):
            raise ValueError(f"overlap: expected 0 <= overlap < tile size, got {overlap}")
        th, tw = min(th, hp), min(tw, wp)
    ys = tile_starts(hp, th, th - overlap if th < hp else th)
    xs = tile_starts(wp, tw, tw - overlap if tw < wp else tw)
    own_y, own_x = _owned_ranges(ys, th, hp), _owned_ranges(xs, tw, wp)
    tiles = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    dev = resolve_device(device)

    affs = np.empty((3, z_size, y_size, x_size), dtype=np.float32)
    embs: list[np.ndarray] = []
    sections: dict[int, np.ndarray] = {}  # padded uint8 sections; at most two kept

    def section(z: int) -> np.ndarray:
        if z not in sections:
            for old in [k for k in sections if k < z - 1]:
                del sections[old]
            sections[z] = np.pad(np.asarray(raw[z]), (pad_y, pad_x), mode="reflect")
        return sections[z]

    # one job per (section, tile), in z order; a section is finished when its last tile is done
    jobs = [(z, t) for z in range(z_size) for t in tiles]
    pending: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    bar = _progress(len(jobs), progress, "section pairs")

    def finish(z: int) -> None:
        e_prev, e_curr = pending.pop(z)
        crop = (slice(None), slice(pad_y[0], pad_y[0] + y_size), slice(pad_x[0], pad_x[0] + x_size))
        e_prev, e_curr = e_prev[crop][None], e_curr[crop][None]
        affs[:, z] = trunc_affinities(e_prev.float(), e_curr.float())[0].cpu().numpy()
        if return_embeddings:
            if not embs:
                n_emb = e_prev.shape[1]
                embs.extend(np.empty((n_emb, z_size, y_size, x_size), np.float32) for _ in "pc")
            embs[0][:, z] = e_prev[0].float().cpu().numpy()
            embs[1][:, z] = e_curr[0].float().cpu().numpy()

    with _prepared(embed_fn, dev), torch.inference_mode(), autocast(dev, amp):
        for b0 in range(0, len(jobs), batch_size):
            batch = jobs[b0 : b0 + batch_size]
            x = np.empty((len(batch), 2, th, tw), dtype=np.uint8)
            for k, (z, (i, j)) in enumerate(batch):
                win = (slice(ys[i], ys[i] + th), slice(xs[j], xs[j] + tw))
                x[k, 0] = section(max(z - 1, 0))[win]
                x[k, 1] = section(z)[win]
            xt = torch.from_numpy(x).to(dev).float().div_(255.0)
            out_prev, out_curr = embed_fn(xt)
            for k, (z, (i, j)) in enumerate(batch):
                if z not in pending:
                    n_emb = out_prev.shape[1]
                    pending[z] = (
                        out_prev.new_empty((n_emb, hp, wp)),
                        out_curr.new_empty((n_emb, hp, wp)),
                    )
                (y0, y1), (x0, x1) = own_y[i], own_x[j]
                dst = (slice(None), slice(y0, y1), slice(x0, x1))
                src = (slice(None), slice(y0 - ys[i], y1 - ys[i]), slice(x0 - xs[j], x1 - xs[j]))
                pending[z][0][dst] = out_prev[k][src]
                pending[z][1][dst] = out_curr[k][src]
                if (i, j) == tiles[-1]:
                    finish(z)
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    if return_embeddings:
        return affs, embs[0], embs[1]
    return affs


# --------------------------------------------------------------------------------------------
# 3D sliding window
# --------------------------------------------------------------------------------------------


def gaussian_weights(shape: Sequence[int], sigma: float = 0.2, floor: float = 1e-6) -> np.ndarray:
    """Blending weights of the official 3D provider: ``exp(-d^2 / (2 sigma^2)) + floor``.

    ``d`` is the Euclidean distance from the window centre in coordinates normalised to
    [-1, 1] on every axis (``linspace(-1, 1, n)``).
    """
    grids = np.meshgrid(*[np.linspace(-1.0, 1.0, int(n)) for n in shape], indexing="ij")
    d2 = sum(g**2 for g in grids)
    return (np.exp(-d2 / (2.0 * sigma**2)) + floor).astype(np.float32)


def predict_sliding_window(
    net_fn: NetFn | nn.Module,
    raw: Any,
    *,
    out_channels: int,
    window: Sequence[int],
    stride: Sequence[int] | None = None,
    output_window: Sequence[int] | None = None,
    pad: int | Sequence[int] | None = None,
    pad_mode: str = "reflect",
    blend: str = "gaussian",
    batch_size: int = 1,
    device: str | torch.device = "auto",
    amp: bool = False,
    progress: bool | None = None,
) -> np.ndarray:
    """Run a 3D network over overlapping windows of a volume and blend the outputs.

    Parameters
    ----------
    net_fn
        ``net_fn(x) -> y`` with ``x`` float32 ``(B, 1, *window)`` on ``device`` (raw / 255) and
        ``y`` ``(B, out_channels, *output_window)``. A module is moved to ``device`` and put in
        eval mode for the call (its mode is restored afterwards). Use
        :func:`embedding_affinity_fn` to turn an embedding network into an affinity one.
    raw
        ``(Z, Y, X)`` uint8, numpy or lazy; read one z-slab at a time.
    out_channels
        Channels of ``y``.
    window
        Input window (z, y, x): a method's recipe ``infer_window`` (the official 3D inference
        window, 18x160x160, is ``superhuman3d``'s paper recipe).
    stride
        Step between output windows; default half the output window (rounded up), i.e. 50 %
        overlap. The official protocol uses (15, 80, 80) or (10, 80, 80).
    output_window
        Output size of the network for one input window. None (default): same as ``window``
        (same-padding networks such as :class:`bench.nets.unet3d.SuperhumanUNet3D`). Smaller for
        valid-convolution networks (e.g. MALA: window (53, 268, 268), output (25, 56, 56)); the
        output is assumed centred, so each window sees ``(window - output_window) / 2`` voxels
        of context on every side.
    pad
        Extra border (z, y, x) added to the volume so that its edge voxels are predicted from
        windows that extend past them (the official provider pads (4, p, p)). Default: a
        quarter of the output window for same-size networks, 0 for valid networks (their
        context already reaches past the edge). The volume is further padded where it is
        smaller than a window.
    pad_mode
        numpy padding mode for everything outside the volume ("reflect", "edge", "constant").
    blend
        "gaussian" (weights of :func:`gaussian_weights`) or "mean" (uniform weights).
    batch_size
        Windows per forward pass.
    device, amp, progress
        As in :func:`predict_section_pairs`.

    Returns
    -------
    numpy.ndarray
        float32 ``(out_channels, Z, Y, X)``, the weighted mean of all windows covering each voxel.
    """
    shape = check_raw(raw)
    win = _triple("window", window)
    out_win = win if output_window is None else _triple("output_window", output_window)
    if any(o > w or (w - o) % 2 for w, o in zip(win, out_win, strict=True)):
        raise ValueError(
            f"output_window {out_win} must fit centred in window {win} (window - output even)"
        )
    ctx = tuple((w - o) // 2 for w, o in zip(win, out_win, strict=True))
    strd = tuple(math.ceil(o / 2) for o in out_win) if stride is None else _triple("stride", stride)
    if any(s < 1 or s > o for s, o in zip(strd, out_win, strict=True)):
        raise ValueError(f"stride {strd} must be in [1, output_window {out_win}] on every axis")
    if pad is None:
        pad = tuple(o // 4 for o in out_win) if out_win == win else (0, 0, 0)
    padv = _triple("pad", pad)
    if blend not in ("gaussian", "mean"):
        raise ValueError(f"blend: expected 'gaussian' or 'mean', got {blend!r}")
    if pad_mode not in ("reflect", "edge", "constant", "symmetric"):
        raise ValueError(
            f"pad_mode: expected reflect, edge, symmetric or constant, got {pad_mode!r}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    # output domain: the volume plus `pad` on both sides, grown at the end to hold one window
    extra = tuple(max(0, o - (n + 2 * p)) for n, p, o in zip(shape, padv, out_win, strict=True))
    dom = tuple(n + 2 * p + e for n, p, e in zip(shape, padv, extra, strict=True))
    starts = [tile_starts(d, o, s) for d, o, s in zip(dom, out_win, strd, strict=True)]
    # input coordinates = domain coordinates shifted by the context; map them to raw indices
    before = tuple(p + c for p, c in zip(padv, ctx, strict=True))
    after = tuple(p + e + c for p, e, c in zip(padv, extra, ctx, strict=True))

    def source_index(axis: int) -> np.ndarray:
        n, b, a = shape[axis], before[axis], after[axis]
        if pad_mode in ("reflect", "symmetric"):
            mode = pad_mode if n > 1 else "edge"
            return np.pad(np.arange(n), (b, a), mode=mode)
        return np.pad(np.arange(n), (b, a), mode="edge")  # constant is applied as a mask below

    idx = [source_index(a) for a in range(3)]
    inside = [
        np.pad(np.ones(n, bool), (b, a), mode="constant")
        for n, b, a in zip(shape, before, after, strict=True)
    ]

    weights = gaussian_weights(out_win) if blend == "gaussian" else np.ones(out_win, np.float32)
    acc = np.zeros((out_channels, *dom), dtype=np.float32)
    wsum = np.zeros(dom, dtype=np.float32)
    dev = resolve_device(device)
    wins = [(z, y, x) for z in starts[0] for y in starts[1] for x in starts[2]]
    bar = _progress(len(wins), progress, "windows")
    slab: dict[int, np.ndarray] = {}  # padded input slab for one z start

    def read_slab(z0: int) -> np.ndarray:
        if z0 not in slab:
            slab.clear()
            zi = idx[0][z0 : z0 + win[0]]
            lo, hi = int(zi.min()), int(zi.max()) + 1
            block = np.asarray(raw[lo:hi])[zi - lo]  # (wz, Y, X), lazy arrays read contiguously
            block = block[:, idx[1]][:, :, idx[2]]
            if pad_mode == "constant":
                mask = inside[0][z0 : z0 + win[0], None, None] & inside[1][None, :, None] \
                    & inside[2][None, None, :]
                block = np.where(mask, block, 0).astype(np.uint8)
            slab[z0] = block
        return slab[z0]

    with _prepared(net_fn, dev), torch.inference_mode(), autocast(dev, amp):
        for b0 in range(0, len(wins), batch_size):
            batch = wins[b0 : b0 + batch_size]
            x = np.stack([read_slab(z)[:, y : y + win[1], xx : xx + win[2]] for z, y, xx in batch])
            xt = torch.from_numpy(x[:, None]).to(dev).float().div_(255.0)
            y_out = net_fn(xt)
            expected = (len(batch), out_channels, *out_win)
            if tuple(y_out.shape) != expected:
                raise ValueError(
                    f"net_fn returned shape {tuple(y_out.shape)}, expected {expected} "
                    "(check out_channels and output_window)"
                )
            y_np = y_out.float().cpu().numpy()
            for k, (z, y, xx) in enumerate(batch):
                region = (slice(z, z + out_win[0]), slice(y, y + out_win[1]),
                          slice(xx, xx + out_win[2]))
                acc[(slice(None), *region)] += y_np[k] * weights
                wsum[region] += weights
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    crop = tuple(slice(p, p + n) for p, n in zip(padv, shape, strict=True))
    out = acc[(slice(None), *crop)]
    out /= wsum[crop]
    return np.ascontiguousarray(out)


def embedding_affinity_fn(
    net: NetFn | nn.Module, offsets: Sequence[Sequence[int]] = NEAREST_OFFSETS
) -> NetFn:
    """Wrap an embedding network (``(B, 1, ...) -> (B, E, ...)``) into an affinity network.

    The affinities are the teacher's cosines
    (:func:`bench.affinity.embedding.embedding_affinities_3d`) clamped to [0, 1];
    nearest-neighbour channels get their zero border (the window's first plane along their axis)
    filled from the adjacent plane, as for the distillation targets, so blending does not average
    in artificial zeros. This computes affinities per window; for valid-convolution networks
    tiled without overlap prefer stitching the embedding and calling
    :func:`embedding_volume_affinities`, which is exact at the seams.
    """
    offsets = [tuple(int(v) for v in off) for off in offsets]

    def fn(x: torch.Tensor) -> torch.Tensor:
        aff = embedding_affinities_3d(net(x), offsets)
        return fill_nearest_borders(aff, offsets).clamp_(0.0, 1.0)

    if isinstance(net, nn.Module):
        # let predict_sliding_window manage device and eval mode of the wrapped module
        return _ModuleFn(net, fn)
    return fn


def embedding_volume_affinities(
    emb: np.ndarray,
    offsets: Sequence[Sequence[int]] = NEAREST_OFFSETS,
    *,
    chunk_z: int = 16,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Affinities of a whole stitched embedding volume, computed in z-chunks.

    Parameters
    ----------
    emb
        ``(E, Z, Y, X)`` float embedding, e.g. :func:`predict_sliding_window` output of a
        valid-convolution network run with ``stride == output_window`` (exactly the full-volume
        embedding, so these affinities have no window seams).
    offsets
        ``(dz, dy, dx)`` per channel (default: the nearest neighbours z, y, x).
    chunk_z, device
        Sections per chunk (plus a halo of ``max |dz|``) moved to ``device`` at a time.

    Returns
    -------
    numpy.ndarray
        float32 ``(len(offsets), Z, Y, X)``: cosines clamped to [0, 1], 0 where the partner
        voxel lies outside the volume, except nearest-neighbour channels whose border plane is
        copied from the adjacent one (as in :func:`embedding_affinity_fn`).
    """
    if not isinstance(emb, np.ndarray) or emb.ndim != 4:
        got = getattr(emb, "shape", type(emb).__name__)
        raise ValueError(f"emb: expected a numpy array (E, Z, Y, X), got {got}")
    offsets = [tuple(int(v) for v in off) for off in offsets]
    if chunk_z < 1:
        raise ValueError(f"chunk_z must be >= 1, got {chunk_z}")
    dev = resolve_device(device)
    z_size = emb.shape[1]
    halo = max(abs(off[0]) for off in offsets)
    out = np.empty((len(offsets), *emb.shape[1:]), dtype=np.float32)
    with torch.inference_mode():
        for z0 in range(0, z_size, chunk_z):
            z1 = min(z_size, z0 + chunk_z)
            lo, hi = max(0, z0 - halo), min(z_size, z1 + halo)
            e = torch.from_numpy(np.ascontiguousarray(emb[:, lo:hi], dtype=np.float32))
            aff = embedding_affinities_3d(e.to(dev)[None], offsets)[0]
            out[:, z0:z1] = aff[:, z0 - lo : z1 - lo].clamp_(0.0, 1.0).cpu().numpy()
    # borders are filled on the host, after stitching, so only the volume's own borders count
    fill_nearest_borders(out, offsets)
    return out


class _ModuleFn(nn.Module):
    """A module that calls ``fn`` (which closes over ``net``), so ``.to()``/``.eval()`` reach
    ``net``."""

    def __init__(self, net: nn.Module, fn: NetFn):
        super().__init__()
        self.net = net
        self._fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)
