"""The phantom's geometry: which neurite owns each voxel, as a pure function of
``(shape, seed, params)`` (stage 1 of :mod:`bench.data.synthetic`, which renders it).

Neurites are tubes whose centre line is a straight oblique line that follows a smooth,
divergence-free flow field plus a slow wiggle; their calibre varies along z; some branch. Every
voxel belongs to the tube minimising ``distance_to_centre - radius``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["NeuriteGeometry", "SyntheticParams", "build_geometry", "unit_vectors"]


def unit_vectors(angle: np.ndarray) -> np.ndarray:
    """Unit vectors (y, x) at ``angle`` (radians), stacked on a new last axis."""
    return np.stack([np.sin(angle), np.cos(angle)], -1)


@dataclass(frozen=True)
class SyntheticParams:
    """Knobs of the phantom (pixel units are xy pixels, "section" is one z step)."""

    resolution_nm: tuple[float, float, float] = (40.0, 4.0, 4.0)
    # packing: large and small neurites on jittered grids
    big_spacing_px: float = 70.0
    big_radius_px: tuple[float, float] = (11.0, 17.0)
    small_spacing_px: float = 21.0
    small_radius_px: tuple[float, float] = (4.0, 8.0)
    calibre_variation: float = 0.25  # relative amplitude of radius changes along z
    # motion through sections (what makes 3D context matter)
    drift_px_per_section: tuple[float, float] = (0.8, 2.0)  # common oblique direction
    flow_px_per_section: float = 0.9  # spatially varying part (divergence free)
    wiggle_px: float = 2.5
    warp_px: float = 4.0  # rms displacement bending cell boundaries
    branch_probability: float = 0.35
    # appearance (grey levels 0-255)
    membrane_width_px: float = 1.1
    membrane_darkness: float = 100.0
    mitochondria_per_100_sections: float = 5.0
    noise_sigma: float = 9.0
    psf_sigma_px: float = 0.8
    sub_slices: int = 3  # samples through the section thickness for membranes
    # serial-section artifacts (probabilities per section)
    p_missing: float = 0.03
    p_blurred: float = 0.04
    p_shifted: float = 0.06
    shift_px: tuple[float, float] = (3.0, 8.0)

    def scaled(self, factor: float) -> SyntheticParams:
        """The same phantom with every xy length multiplied by ``factor``."""
        def s(v):
            return tuple(x * factor for x in v)

        return replace(
            self,
            big_spacing_px=self.big_spacing_px * factor,
            big_radius_px=s(self.big_radius_px),
            small_spacing_px=self.small_spacing_px * factor,
            small_radius_px=s(self.small_radius_px),
            wiggle_px=self.wiggle_px * factor,
            warp_px=self.warp_px * factor,
        )


@dataclass
class NeuriteGeometry:
    """Tubes of one synthetic volume, all arrays indexed by tube.

    ``center(z)`` = ``p0 + v (z - zref) + wiggle(z) - wiggle(zref)``, in (y, x) pixels.
    """

    ids: np.ndarray  # (N,) uint64 neuron id (branches share their parent's id)
    p0: np.ndarray  # (N, 2) centre at zref
    zref: np.ndarray  # (N,)
    v: np.ndarray  # (N, 2) px per section
    wig_amp: np.ndarray  # (N, K, 2)
    wig_freq: np.ndarray  # (N, K)
    wig_phase: np.ndarray  # (N, K, 2)
    r0: np.ndarray  # (N,)
    r_freq: np.ndarray  # (N,)
    r_phase: np.ndarray  # (N,)
    z0: np.ndarray  # (N,) first section (inclusive, float)
    z1: np.ndarray  # (N,) last section
    calibre_variation: float
    # mitochondria: tube index, z range, offset from the tube centre (y, x), radius
    mito_tube: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mito_z: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    mito_offset: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    mito_radius: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # per-id appearance (indexed by id; id 0 unused)
    cyto_level: np.ndarray = field(default_factory=lambda: np.zeros(1))
    vesicle_rich: np.ndarray = field(default_factory=lambda: np.zeros(1, bool))
    # smooth warp of tissue coordinates: sum of plane waves (k = (ky, kx, kz), phase, amplitude)
    warp_k: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    warp_phase: np.ndarray = field(default_factory=lambda: np.zeros(0))
    warp_amp: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def warp_px(self) -> float:
        """Upper bound of the warp displacement."""
        return float(np.abs(self.warp_amp).sum(0).max()) if len(self.warp_amp) else 0.0

    def center(self, z: float, idx: np.ndarray) -> np.ndarray:
        w = self.wig_freq[idx]
        ph = self.wig_phase[idx]
        zr = self.zref[idx][:, None, None]
        wig = np.sin(w[:, :, None] * z + ph) - np.sin(w[:, :, None] * zr + ph)
        lin = self.v[idx] * (z - self.zref[idx])[:, None]
        return self.p0[idx] + lin + (self.wig_amp[idx] * wig).sum(axis=1)

    def radius(self, z: float, idx: np.ndarray) -> np.ndarray:
        r = self.r0[idx] * (1.0 + self.calibre_variation * np.sin(self.r_freq[idx] * z
                                                                 + self.r_phase[idx]))
        # branches taper over their last sections instead of stopping abruptly
        to_end = np.minimum(z - self.z0[idx], self.z1[idx] - z)
        return r * np.clip(0.4 + 0.15 * to_end, 0.4, 1.0)


def build_geometry(shape: tuple[int, int, int], seed: int,
                   params: SyntheticParams) -> NeuriteGeometry:
    """The neurite tubes of a volume of ``shape`` (Z, Y, X); deterministic in ``seed``."""
    Z, Y, X = shape
    p = params
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E0]))
    zmid = (Z - 1) / 2.0
    # common drift and a divergence-free flow field psi -> v = (dpsi/dx, -dpsi/dy)
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(*p.drift_px_per_section)
    v_common = speed * np.array([np.sin(angle), np.cos(angle)])
    n_modes = 3
    k_len = 2 * np.pi / rng.uniform(150, 400, n_modes)
    k_dir = rng.uniform(0, 2 * np.pi, n_modes)
    kvec = np.stack([k_len * np.sin(k_dir), k_len * np.cos(k_dir)], 1)  # (modes, 2) (ky, kx)
    k_phase = rng.uniform(0, 2 * np.pi, n_modes)
    k_amp = p.flow_px_per_section / (k_len * n_modes)

    def flow(pts: np.ndarray) -> np.ndarray:
        arg = pts @ kvec.T + k_phase  # (N, modes)
        c = np.cos(arg) * k_amp
        return np.stack([c @ kvec[:, 1], -(c @ kvec[:, 0])], 1)

    vmax = speed + p.flow_px_per_section + 0.3
    margin = p.big_spacing_px + p.big_radius_px[1]
    pad = vmax * (Z / 2.0) + 2 * p.wiggle_px + margin

    def jittered_grid(spacing: float) -> np.ndarray:
        ny = int(np.ceil((Y + 2 * pad) / spacing))
        nx = int(np.ceil((X + 2 * pad) / spacing))
        gy, gx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        pts = np.stack([gy.ravel(), gx.ravel()], 1).astype(float) + 0.5
        # hexagonal offset of odd rows packs more evenly than a square grid
        pts[:, 1] += 0.5 * (gy.ravel() % 2)
        pts += rng.uniform(-0.35, 0.35, pts.shape)
        return pts * spacing - pad

    big = jittered_grid(p.big_spacing_px)
    big_r = rng.uniform(*p.big_radius_px, len(big))
    small = jittered_grid(p.small_spacing_px)
    small_r = rng.uniform(*p.small_radius_px, len(small))
    # no small neurite inside (or hugging) a large one at the reference section
    dist, _ = cKDTree(big).query(small, k=1)
    keep = dist > p.big_radius_px[1] + 0.6 * p.small_spacing_px
    small, small_r = small[keep], small_r[keep]
    p0 = np.concatenate([big, small])
    r0 = np.concatenate([big_r, small_r])
    n = len(p0)
    v = v_common + flow(p0) + rng.normal(0, 0.08, (n, 2))
    zref = np.full(n, zmid)
    z0 = np.full(n, -1e9)
    z1 = np.full(n, 1e9)

    # keep only tubes whose path comes near the volume
    zs = np.linspace(0, max(Z - 1, 0), max(2, int(np.ceil(Z / 4)) + 1))
    path = p0[:, None, :] + v[:, None, :] * (zs[None, :, None] - zmid)
    reach = r0[:, None] + margin + 2 * p.wiggle_px
    inside = ((path[..., 0] > -reach) & (path[..., 0] < Y + reach)
              & (path[..., 1] > -reach) & (path[..., 1] < X + reach)).any(1)
    p0, r0, v = p0[inside], r0[inside], v[inside]
    zref, z0, z1 = zref[inside], z0[inside], z1[inside]
    n = len(p0)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    order = rng.permutation(n)  # ids do not encode position
    ids = ids[order]

    K = 2
    wig_size = rng.uniform(0, p.wiggle_px, (n, K, 1))  # drawn before the directions, as always
    wig_amp = wig_size * unit_vectors(rng.uniform(0, 2 * np.pi, (n, K)))
    wig_freq = rng.uniform(0.04, 0.2, (n, K))
    wig_phase = rng.uniform(0, 2 * np.pi, (n, K, 2))
    r_freq = rng.uniform(0.05, 0.25, n)
    r_phase = rng.uniform(0, 2 * np.pi, n)
    geo = NeuriteGeometry(ids, p0, zref, v, wig_amp, wig_freq, wig_phase, r0, r_freq, r_phase,
                          z0, z1, p.calibre_variation)

    # branches: start at the parent's centre at section zb and diverge for a while
    parents = np.flatnonzero((rng.random(n) < p.branch_probability) & (r0 >= 5.0))
    nb = len(parents)
    if nb:
        zb = rng.uniform(0, max(Z - 1, 1), nb)
        start = np.stack([geo.center(float(z), np.array([i]))[0]
                          for z, i in zip(zb, parents, strict=True)])
        length = rng.uniform(12, 45, nb)
        up = rng.random(nb) < 0.5
        deflect = rng.uniform(1.0, 2.5, nb)[:, None] * unit_vectors(rng.uniform(0, 2 * np.pi, nb))
        geo.ids = np.concatenate([geo.ids, ids[parents]])
        geo.p0 = np.concatenate([geo.p0, start])
        geo.zref = np.concatenate([geo.zref, zb])
        geo.v = np.concatenate([geo.v, v[parents] + deflect])
        geo.wig_amp = np.concatenate([geo.wig_amp, 0.5 * wig_amp[parents]])
        geo.wig_freq = np.concatenate([geo.wig_freq, wig_freq[parents]])
        geo.wig_phase = np.concatenate([geo.wig_phase, rng.uniform(0, 2 * np.pi, (nb, K, 2))])
        geo.r0 = np.concatenate([geo.r0, np.maximum(3.0, 0.55 * r0[parents])])
        geo.r_freq = np.concatenate([geo.r_freq, r_freq[parents]])
        geo.r_phase = np.concatenate([geo.r_phase, r_phase[parents]])
        geo.z0 = np.concatenate([geo.z0, np.where(up, zb, zb - length)])
        geo.z1 = np.concatenate([geo.z1, np.where(up, zb + length, zb)])

    # mitochondria run along their neurite for a few to a few tens of sections
    rate = p.mitochondria_per_100_sections * max(Z, 1) / 100.0 * (r0 / r0.mean())
    counts = rng.poisson(rate)
    mt = np.repeat(np.arange(n), counts)
    m = len(mt)
    mz_c = rng.uniform(-5, Z + 5, m)
    mz_l = rng.uniform(4, 20, m)
    mrad = np.clip(rng.uniform(0.3, 0.5, m) * r0[mt], 2.5, 7.0)
    off = rng.uniform(0, 1, (m, 1)) * np.maximum(r0[mt] - mrad, 0)[:, None] * unit_vectors(
        rng.uniform(0, 2 * np.pi, m))
    geo.mito_tube = mt
    geo.mito_z = np.stack([mz_c - mz_l / 2, mz_c + mz_l / 2], 1)
    geo.mito_offset = off
    geo.mito_radius = mrad

    # per-neuron appearance: most cytoplasm light grey, a few dark neurites
    n_ids = n + 1
    level = rng.normal(168, 12, n_ids)
    dark = rng.random(n_ids) < 0.08
    level[dark] = rng.normal(120, 10, dark.sum())
    geo.cyto_level = level
    geo.vesicle_rich = rng.random(n_ids) < 0.25

    # warp: bends Voronoi edges into curved membranes; slow along z so shapes persist
    n_w = 6
    lam = rng.uniform(25, 90, n_w) * (p.small_spacing_px / 21.0)
    a = rng.uniform(0, 2 * np.pi, n_w)
    kz = rng.uniform(-1, 1, n_w) * 2 * np.pi / 40.0
    geo.warp_k = np.stack([np.sin(a) * 2 * np.pi / lam, np.cos(a) * 2 * np.pi / lam, kz], 1)
    geo.warp_phase = rng.uniform(0, 2 * np.pi, n_w)
    geo.warp_amp = rng.normal(0, 1, (n_w, 2)) * p.warp_px / np.sqrt(n_w)
    return geo
