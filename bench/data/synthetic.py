"""Synthetic serial-section EM phantom: the embedded default dataset.

The phantom is built in two stages:

1. **Geometry** (:class:`~bench.data.phantom_geometry.NeuriteGeometry`, in
   :mod:`bench.data.phantom_geometry`), a pure function of ``(shape, seed, params)``:
   neurites are tubes whose centre line is a straight oblique line that follows a smooth,
   divergence-free flow field (so neighbours move together and the packing stays dense), plus a
   slow wiggle; their calibre varies along z; some branch (a branch starts at its parent's centre
   and diverges, keeping the parent's id). Every voxel belongs to the tube minimising
   ``distance_to_centre - radius`` (an additively weighted Voronoi partition of each section),
   which packs the space densely with cell-shaped profiles.
2. **Rendering** (:func:`generate_synthetic_block`), section by section: cytoplasm grey level per
   neuron, fine grain and mottling, dark membranes along cell boundaries (averaged over the
   section thickness, so oblique membranes look blurred and faint, as in ssTEM), locally weakened
   membranes (ambiguous in 2D, resolvable in 3D), mitochondria with cristae, vesicle clouds,
   point-spread blur, shot-like noise, per-section contrast/brightness and illumination gradient,
   and serial-section artifacts: shifted (misaligned) sections, blurred sections and missing
   (blank) sections. Labels follow the shifted image, as annotators label the aligned stack.

Every random quantity is derived from the seed and *global* coordinates (geometry from a seeded
generator, per-section parameters from ``(seed, z)``, per-voxel noise from a coordinate hash), so
any block of a volume can be generated alone and is bit-identical to the same region of the whole
volume. Arrays are ``(Z, Y, X)``; raw is uint8; labels uint64 with 0 only on thin (about 1 px)
boundaries between neurons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bench.data._noise import hash_normal, hash_uniform
from bench.data.phantom_geometry import (
    NeuriteGeometry,
    SyntheticParams,
    build_geometry,
)
from bench.data.types import Volume
from bench.threads import available_cores

# hash tags of the independent noise fields
_T_GRAIN, _T_MOTTLE, _T_CONTRAST, _T_VESICLE, _T_NOISE, _T_BLANK, _T_ROUGH = 1, 2, 3, 4, 5, 6, 7
_HALO = 20  # xy context rendered around a block so filters give identical values at its edge



@dataclass(frozen=True)
class SectionParams:
    """Per-section acquisition parameters; a pure function of ``(seed, z)``."""

    shift: tuple[float, float]
    missing: bool
    blurred: bool
    gain: float
    offset: float
    gradient: tuple[float, float]
    gamma: float


def section_params(seed: int, z: int, params: SyntheticParams) -> SectionParams:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EC, int(z) & 0xFFFFFFFF]))
    u = rng.random(3)
    shift = (0.0, 0.0)
    if u[2] < params.p_shifted:
        mag = rng.uniform(*params.shift_px)
        a = rng.uniform(0, 2 * np.pi)
        shift = (mag * math.sin(a), mag * math.cos(a))
    else:
        shift = tuple(rng.normal(0, 0.4, 2))  # residual alignment error
    return SectionParams(
        shift=(float(shift[0]), float(shift[1])),
        missing=bool(u[0] < params.p_missing),
        blurred=bool(u[1] < params.p_blurred),
        gain=float(rng.uniform(0.8, 1.2)),
        offset=float(rng.normal(0, 10)),
        gradient=(float(rng.normal(0, 0.04)), float(rng.normal(0, 0.04))),
        gamma=float(2 ** rng.uniform(-0.25, 0.25)),
    )


def _partition(geo: NeuriteGeometry, z: float, yy: np.ndarray, xx: np.ndarray, y_lo: float,
               x_lo: float, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Voronoi labels of one (sub-)section at the tissue coordinates ``(yy, xx)``.

    ``yy``/``xx`` are 2-D float arrays: a unit-step grid starting at ``(y_lo, x_lo)`` displaced
    by at most ``geo.warp_px`` (the warp bends the otherwise straight Voronoi edges).
    Returns ``(label, d1, d2)``: the winning id, its weighted distance, and the best weighted
    distance among *other* ids (their difference measures the distance to the boundary).
    """
    h, w = yy.shape
    label = np.zeros((h, w), np.uint64)
    d1 = np.full((h, w), np.inf, np.float32)
    d2 = np.full((h, w), np.inf, np.float32)
    active = np.flatnonzero((geo.z0 <= z) & (z <= geo.z1))
    if len(active) == 0:
        return label, d1, d2
    c = geo.center(z, active)
    r = geo.radius(z, active)
    reach = r + margin
    pad = geo.warp_px + 1
    near = ((c[:, 0] + reach > y_lo - pad) & (c[:, 0] - reach < y_lo + h + pad)
            & (c[:, 1] + reach > x_lo - pad) & (c[:, 1] - reach < x_lo + w + pad))
    for t in np.flatnonzero(near):
        cy, cx, rr, R = c[t, 0], c[t, 1], r[t], reach[t] + pad
        i0 = max(0, int(np.floor(cy - R - y_lo)))
        i1 = min(h, int(np.ceil(cy + R - y_lo)) + 1)
        j0 = max(0, int(np.floor(cx - R - x_lo)))
        j1 = min(w, int(np.ceil(cx + R - x_lo)) + 1)
        if i0 >= i1 or j0 >= j1:
            continue
        dy = yy[i0:i1, j0:j1] - np.float32(cy)
        dx = xx[i0:i1, j0:j1] - np.float32(cx)
        d = np.sqrt(dy * dy + dx * dx) - np.float32(rr)
        tid = geo.ids[active[t]]
        L = label[i0:i1, j0:j1]
        D1 = d1[i0:i1, j0:j1]
        D2 = d2[i0:i1, j0:j1]
        same = L == tid
        better = d < D1
        # a different id takes over: the old winner becomes the runner-up
        takeover = better & ~same
        D2[takeover] = D1[takeover]
        # a different id that does not win may still be the best runner-up
        runner = ~better & ~same & (d < D2)
        D2[runner] = d[runner]
        D1[better] = d[better]
        L[takeover] = tid
    return label, d1, d2


def _tissue_coords(geo: NeuriteGeometry, z: float, ys: np.ndarray,
                   xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warped float32 coordinates of the grid ``ys x xs`` (smooth in x, y and z)."""
    yy = np.broadcast_to(ys[:, None], (len(ys), len(xs))).astype(np.float32)
    xx = np.broadcast_to(xs[None, :], (len(ys), len(xs))).astype(np.float32)
    wy = np.zeros_like(yy)
    wx = np.zeros_like(xx)
    for k in range(len(geo.warp_k)):
        ky, kx, kz = geo.warp_k[k]
        arg = (ky * ys[:, None] + kx * xs[None, :] + kz * z + geo.warp_phase[k]).astype(np.float32)
        s = np.sin(arg)
        wy += np.float32(geo.warp_amp[k, 0]) * s
        wx += np.float32(geo.warp_amp[k, 1]) * np.cos(arg)
    return yy + wy, xx + wx


def _smooth_noise(seed: int, tag: int, z: int, ys: np.ndarray, xs: np.ndarray,
                  sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit variance on the grid ``ys x xs``.

    The noise is drawn on a grid extended by the filter radius, so the values depend only on
    global coordinates (identical whichever block asks for them).
    """
    r = int(4.0 * sigma + 0.5) + 1
    ys_x = np.arange(ys[0] - r, ys[-1] + r + 1)
    xs_x = np.arange(xs[0] - r, xs[-1] + r + 1)
    n = hash_normal(seed, tag, z, ys_x, xs_x)
    f = ndimage.gaussian_filter(n, sigma, mode="nearest")[r:-r, r:-r]
    return f * np.float32(2 * sigma * math.sqrt(math.pi))


def _render_section(geo: NeuriteGeometry, seed: int, z: int, y0: int, y1: int, x0: int, x1: int,
                    p: SyntheticParams) -> tuple[np.ndarray, np.ndarray]:
    sp = section_params(seed, z, p)
    ys_i = np.arange(y0 - _HALO, y1 + _HALO)
    xs_i = np.arange(x0 - _HALO, x1 + _HALO)
    # the section is imaged shifted: sample the tissue at shifted coordinates
    ys = ys_i + sp.shift[0]
    xs = xs_i + sp.shift[1]
    margin = 1.3 * p.small_spacing_px
    yy, xx = _tissue_coords(geo, float(z), ys, xs)
    y_lo, x_lo = float(ys[0]), float(xs[0])
    label, d1, d2 = _partition(geo, float(z), yy, xx, y_lo, x_lo, margin)
    gap = d2 - d1
    crop = (slice(_HALO, _HALO + y1 - y0), slice(_HALO, _HALO + x1 - x0))
    # 1 px boundaries: a voxel is 0 where its label differs from the next one along y or x
    # (the halo supplies the neighbours, so blocks agree with the whole volume)
    edge = np.zeros(label.shape, bool)
    edge[:-1] |= label[:-1] != label[1:]
    edge[:, :-1] |= label[:, :-1] != label[:, 1:]
    labels = np.where(edge, 0, label)[crop].astype(np.uint64)

    # membranes: average the dark boundary profile through the section thickness
    n_sub = max(1, p.sub_slices)
    offsets = [0.0] if n_sub == 1 else list(np.linspace(-0.4, 0.4, n_sub))
    memb = np.zeros_like(d1)
    for o in offsets:
        g = gap if o == 0.0 else np.subtract(
            *_partition(geo, z + o, yy, xx, y_lo, x_lo, margin)[2:0:-1])
        memb += np.exp(-((0.5 * g / p.membrane_width_px) ** 2))
    memb /= len(offsets)
    # membranes of real tissue are not uniform lines: vary their thickness and darkness
    rough = _smooth_noise(seed, _T_ROUGH, z, ys_i, xs_i, 2.0)
    memb = memb ** np.float32(1.0 / 1.6) * np.clip(1.0 + 0.35 * rough, 0.4, 1.6)

    img = geo.cyto_level[label.astype(np.int64)].astype(np.float32)
    # cytoplasm: fine granular texture (ribosomes, cytoskeleton) plus slow mottling
    grain = _smooth_noise(seed, _T_GRAIN, z, ys_i, xs_i, 0.9)
    img += 13.0 * grain - 10.0 * np.maximum(grain - 1.2, 0) ** 2
    img += 7.0 * _smooth_noise(seed, _T_MOTTLE, z, ys_i, xs_i, 3.0)
    # membrane contrast varies slowly; where it is weak the boundary is ambiguous in 2D
    cfield = _smooth_noise(seed, _T_CONTRAST, z, ys_i, xs_i, 8.0)
    contrast = np.clip(0.85 + 0.35 * cfield, 0.3, 1.0)
    img -= p.membrane_darkness * contrast * memb

    # mitochondria: dark bodies with bright stripes (cristae), clipped to their neurite
    mit = np.flatnonzero((geo.mito_z[:, 0] <= z) & (z <= geo.mito_z[:, 1]))
    if len(mit):
        tubes = geo.mito_tube[mit]
        alive = (geo.z0[tubes] <= z) & (z <= geo.z1[tubes])
        mit, tubes = mit[alive], tubes[alive]
    if len(mit):
        mc = geo.center(float(z), tubes) + geo.mito_offset[mit]
        for k, t in enumerate(tubes):
            rm = geo.mito_radius[mit[k]]
            i0 = max(0, int(np.floor(mc[k, 0] - rm - 2 - ys[0])))
            i1 = min(len(ys), int(np.ceil(mc[k, 0] + rm + 2 - ys[0])) + 1)
            j0 = max(0, int(np.floor(mc[k, 1] - rm - 2 - xs[0])))
            j1 = min(len(xs), int(np.ceil(mc[k, 1] + rm + 2 - xs[0])) + 1)
            if i0 >= i1 or j0 >= j1:
                continue
            dy = (ys[i0:i1] - mc[k, 0])[:, None]
            dx = (xs[j0:j1] - mc[k, 1])[None, :]
            dist = np.sqrt(dy ** 2 + dx ** 2)
            body = np.clip(rm + 0.5 - dist, 0, 1) * (label[i0:i1, j0:j1] == geo.ids[t])
            angle = 2.3 * mit[k]
            stripes = np.cos((dy * math.sin(angle) + dx * math.cos(angle)) * 1.4)
            rim = np.exp(-((dist - rm) / 0.8) ** 2) * (label[i0:i1, j0:j1] == geo.ids[t])
            img[i0:i1, j0:j1] -= (body * (70.0 - 30.0 * stripes) + 35.0 * rim).astype(np.float32)

    # vesicles: small dark rings, dense in some neurites (boutons), sparse elsewhere
    u = hash_uniform(seed, _T_VESICLE, z, ys_i, xs_i)
    rich = geo.vesicle_rich[label.astype(np.int64)]
    density = np.where(rich, 0.006, 0.0008) * (memb < 0.2) * (label > 0)
    spikes = (u < density).astype(np.float32)
    img -= 45.0 * ndimage.convolve(spikes, _RING, mode="constant")

    # optics and acquisition
    img = ndimage.gaussian_filter(img, 2.5 if sp.blurred else p.psf_sigma_px, mode="nearest")
    yy = (ys_i - 0.0)[:, None].astype(np.float32)
    xx = (xs_i - 0.0)[None, :].astype(np.float32)
    img = (img - 128.0) * sp.gain + 128.0 + sp.offset
    img += sp.gradient[0] * (yy % 512 - 256) + sp.gradient[1] * (xx % 512 - 256)
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** sp.gamma
    img += p.noise_sigma * hash_normal(seed, _T_NOISE, z, ys_i, xs_i)
    if sp.missing:
        # a lost section: a flat, noisy frame (labels stay, as in annotated stacks)
        img = 35.0 + 6.0 * hash_normal(seed, _T_BLANK, z, ys_i, xs_i)
    raw = np.clip(np.rint(img[crop]), 0, 255).astype(np.uint8)
    return raw, labels


def _ring_kernel(radius: float = 3.2, width: float = 0.9) -> np.ndarray:
    r = int(np.ceil(radius + 3 * width))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    d = np.sqrt(yy ** 2 + xx ** 2)
    return np.exp(-((d - radius) / width) ** 2).astype(np.float32)


_RING = _ring_kernel()


def _normalize_roi(shape: tuple[int, int, int], roi) -> tuple[tuple[int, int], ...]:
    if roi is None:
        return tuple((0, s) for s in shape)
    if len(roi) != 3:
        raise ValueError(f"roi must give 3 ranges (z, y, x), got {roi!r}")
    out = []
    for axis, (r, s) in enumerate(zip(roi, shape, strict=True)):
        if isinstance(r, slice):
            if r.step not in (None, 1):
                raise ValueError(f"roi axis {axis}: step must be 1, got {r.step}")
            a, b = r.indices(s)[:2]
        else:
            a, b = (int(r[0]), int(r[1]))
        if not 0 <= a < b <= s:
            raise ValueError(f"roi axis {axis}: range [{a}, {b}) is empty or outside [0, {s})")
        out.append((a, b))
    return tuple(out)


def _check_shape(shape) -> tuple[int, int, int]:
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"shape must be 3 positive sizes (Z, Y, X), got {shape!r}")
    return tuple(int(s) for s in shape)


_GEOMETRY_CACHE: dict = {}


def _geometry(shape, seed, params) -> NeuriteGeometry:
    key = (shape, int(seed), params)
    if key not in _GEOMETRY_CACHE:
        if len(_GEOMETRY_CACHE) > 8:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = build_geometry(shape, seed, params)
    return _GEOMETRY_CACHE[key]


def generate_synthetic_block(
    shape: tuple[int, int, int],
    roi,
    *,
    seed: int = 0,
    params: SyntheticParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw and labels of region ``roi`` of the synthetic volume of size ``shape``.

    Parameters
    ----------
    shape
        Size ``(Z, Y, X)`` of the whole (virtual) volume; the geometry depends on it.
    roi
        Region as three ``slice`` objects or ``(start, stop)`` pairs; ``None`` = everything.
    seed
        Any non-negative integer; the same seed gives bit-identical data.
    params
        Appearance and geometry knobs (:class:`SyntheticParams`).

    Returns
    -------
    raw, labels
        ``(z, y, x)`` uint8 and uint64 arrays of the region, bit-identical to the same region
        of :func:`generate_synthetic` of the whole volume.
    """
    shape = _check_shape(shape)
    params = params or SyntheticParams()
    (z0, z1), (y0, y1), (x0, x1) = _normalize_roi(shape, roi)
    geo = _geometry(shape, seed, params)
    raw = np.empty((z1 - z0, y1 - y0, x1 - x0), np.uint8)
    labels = np.empty(raw.shape, np.uint64)
    for k, z in enumerate(range(z0, z1)):
        raw[k], labels[k] = _render_section(geo, seed, z, y0, y1, x0, x1, params)
    return raw, labels


#: volumes of at least this many voxels are rendered by worker processes where the machine
#: has more than one core (a 256 x 256 section takes about 0.17 s)
_PARALLEL_MIN_VOXELS = 2 ** 21


def _render_chunk(args) -> tuple[np.ndarray, np.ndarray]:
    shape, z_range, seed, params = args
    return generate_synthetic_block(shape, (z_range, (0, shape[1]), (0, shape[2])), seed=seed,
                                    params=params)


def _default_workers(shape: tuple[int, int, int]) -> int:
    """Worker processes for the whole volume: the cores this process may use for a big volume
    where ``fork`` exists (no re-import of the caller's script) and this process may have
    children (not a daemon, e.g. a pool worker); 1 otherwise."""
    import multiprocessing

    if (int(np.prod(shape)) < _PARALLEL_MIN_VOXELS
            or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):
        return 1
    return available_cores()


def _render_parallel(shape: tuple[int, int, int], seed: int, params: SyntheticParams,
                     workers: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole volume, its sections split into ``workers`` contiguous runs rendered by forked
    processes. Every section is a pure function of the arguments, so the result is
    bit-identical to the serial one."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bounds = np.linspace(0, shape[0], workers + 1).round().astype(int)
    chunks = [(shape, (int(a), int(b)), seed, params)
              for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    # fork: the workers only run NumPy/SciPy (never the parent's OpenMP pool), like torch's
    # DataLoader workers
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(len(chunks), mp_context=ctx) as pool:
        parts = list(pool.map(_render_chunk, chunks))
    return (np.concatenate([r for r, _ in parts]), np.concatenate([lab for _, lab in parts]))


def generate_synthetic(
    shape: tuple[int, int, int],
    *,
    seed: int = 0,
    params: SyntheticParams | None = None,
    name: str = "synthetic",
    workers: int | None = None,
) -> Volume:
    """A synthetic serial-section EM volume with dense 3D neuron labels.

    Parameters
    ----------
    shape
        ``(Z, Y, X)`` in voxels.
    seed
        Same seed -> bit-identical volume; different seeds give different tissue.
    params
        :class:`SyntheticParams`; its ``resolution_nm`` (default 40 x 4 x 4 nm, z first) is
        recorded on the volume.

    workers
        Processes rendering sections side by side (Linux and other systems with ``fork``);
        default: the cores this process may use for a volume of at least 2**21 voxels, else 1.
        The volume is the same either way.

    Returns
    -------
    Volume
        raw ``(Z, Y, X)`` uint8 and labels uint64 (0 only on ~1 px boundaries between neurons).
    """
    params = params or SyntheticParams()
    shape = _check_shape(shape)
    workers = _default_workers(shape) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    workers = min(workers, shape[0])
    if workers > 1:
        raw, labels = _render_parallel(shape, seed, params, workers)
    else:
        raw, labels = generate_synthetic_block(shape, None, seed=seed, params=params)
    return Volume(raw, labels, tuple(float(r) for r in params.resolution_nm), name=name)


class SyntheticArray:
    """A lazy, read-only ``(Z, Y, X)`` view of a synthetic volume of any size.

    Indexing with slices generates only the requested region (``kind`` "raw" or "labels"),
    so volumes far larger than memory can be fed to block-wise pipelines (dask, tiling).
    """

    def __init__(self, shape, kind: str, *, seed: int = 0, params: SyntheticParams | None = None):
        if kind not in ("raw", "labels"):
            raise ValueError(f"kind must be 'raw' or 'labels', got {kind!r}")
        self.shape = _check_shape(shape)
        self.kind = kind
        self.seed = seed
        self.params = params or SyntheticParams()
        self.dtype = np.dtype(np.uint8 if kind == "raw" else np.uint64)
        self.ndim = 3

    def __getitem__(self, key) -> np.ndarray:
        if key is Ellipsis:
            key = (slice(None),) * 3
        if not isinstance(key, tuple):
            key = (key,)
        key = tuple(key) + (slice(None),) * (3 - len(key))
        squeeze = []
        roi = []
        for axis, (k, s) in enumerate(zip(key, self.shape, strict=True)):
            if isinstance(k, (int, np.integer)):
                k = int(k) + (s if k < 0 else 0)
                roi.append((k, k + 1))
                squeeze.append(axis)
            elif isinstance(k, slice) and k.step in (None, 1):
                a, b = k.indices(s)[:2]
                roi.append((a, max(a, b)))
            else:
                raise IndexError(f"SyntheticArray supports ints and unit-step slices, got {k!r}")
        if any(a >= b for a, b in roi):
            out = np.zeros(tuple(b - a for a, b in roi), self.dtype)
        else:
            raw, labels = generate_synthetic_block(self.shape, roi, seed=self.seed,
                                                   params=self.params)
            out = raw if self.kind == "raw" else labels
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out

    def __array__(self, dtype=None, copy=None):
        a = self[...]
        return a.astype(dtype) if dtype is not None else a

    def __len__(self) -> int:
        return self.shape[0]
