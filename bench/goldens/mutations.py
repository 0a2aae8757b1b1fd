"""Planted regressions the regression check must catch (``python -m bench.goldens.mutate``).

Each is one small, plausible edit (an exact text replacement that must occur once in its file),
of the kind a refactoring or a well-meant tweak introduces, spread over every stage of a run.
Each must change behaviour: two earlier candidates (dropping ``fg[there]`` from the label
affinities, dropping ``lo != big`` from border widening) turned out to be equivalent rewrites
that no check could catch, and were replaced.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    area: str
    path: str
    old: str
    new: str
    why: str


CATALOGUE: tuple[Mutation, ...] = (
    Mutation("phantom-warp", "phantom", "bench/data/phantom_geometry.py",
             "warp_px: float = 4.0", "warp_px: float = 4.5",
             "the phantom's boundary warp 12 % stronger"),
    Mutation("split-val-fraction", "splits", "bench/data/splits.py",
             "round(0.15 * n_sections)", "round(0.2 * n_sections)",
             "validation takes 20 % of the synthetic sections instead of 15 %"),
    Mutation("sampler-last-offset", "sampler", "bench/train/sampler.py",
             "int(self.rng.integers(0, n - s + 1))", "int(self.rng.integers(0, max(n - s, 1)))",
             "an off-by-one: the last crop position is never drawn"),
    Mutation("augment-zflip-prob", "augmentation", "bench/train/augment.py",
             "if rng.random() < 0.5:\n        raw, labels = raw[::-1], labels[::-1]",
             "if rng.random() < 0.4:\n        raw, labels = raw[::-1], labels[::-1]",
             "z-reversal 40 % of the time instead of 50 %"),
    Mutation("targets-widen-window", "targets", "bench/train/targets.py",
             "size = (1, 2 * tsz_h + 1, 2 * tsz_h + 1)",
             "size = (1, 2 * tsz_h + 1, 2 * tsz_h)",
             "the border-widening window one pixel narrower in x (an asymmetric typo)"),
    Mutation("loss-normaliser", "loss", "bench/train/losses.py",
             "return (weight * (pred - target) ** 2).sum() / n",
             "return (weight * (pred - target) ** 2).sum() / (n + 1)",
             "the weighted MSE divides by N + 1"),
    Mutation("adam-lr", "lr/optimiser", "bench/train/loop.py",
             'lr=float(recipe["lr"]),', 'lr=float(recipe["lr"]) * 1.05,',
             "learning rate 5 % higher"),
    Mutation("ynet-padding-mode", "network", "bench/nets/ynet.py",
             "nn.Conv2d(in_ch, out_ch, 3, padding=1),",
             'nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode="reflect"),',
             "the Y-net's first convolution of each block pads by reflection, not zeros"),
    Mutation("tile-midpoint", "inference tiling", "bench/infer.py",
             "bounds.append((cur + prev + window) // 2)",
             "bounds.append((cur + prev + window) // 2 + 1)",
             "neighbouring section-pair tiles split their overlap one pixel off the midpoint"),
    Mutation("blend-sigma", "inference blending", "bench/infer.py",
             "sigma: float = 0.2, floor", "sigma: float = 0.25, floor",
             "the 3D windows' Gaussian blending weights wider"),
    Mutation("affinity-replicate-y", "affinity convention", "bench/affinity/__init__.py",
             "out[1, :, 0] = fg[:, 0]", "out[1, :, 0] = 0",
             "the y channel's first row is 0 instead of the replicated edge (2D targets)"),
    Mutation("fragments-threshold", "fragments", "bench/segment/fragments.py",
             "inside = b < threshold", "inside = b <= threshold",
             "fragment seeds include voxels exactly at the boundary threshold"),
    Mutation("waterz-affinity-gamma", "agglomeration", "bench/segment/waterz_agglomeration.py",
             "nearest = np.ascontiguousarray(affs[:3])",
             "nearest = np.ascontiguousarray(affs[:3] ** 1.1)",
             "waterz agglomerates affinities raised to the power 1.1 (merges a little later)"),
    Mutation("select-by-arand", "threshold selection", "bench/segment/selection.py",
             'return min(rows, key=lambda row: (row["voi"], row["arand"], row["value"]))',
             'return min(rows, key=lambda row: (row["arand"], row["voi"], row["value"]))',
             "the validation sweep picks the lowest ARAND instead of the lowest VOI"),
    Mutation("voi-merge-normaliser", "metrics", "metrics/scores.py",
             "merge = float(-(c * np.log2(c / b)).sum() / n)",
             "merge = float(-(c * np.log2(c / b)).sum() / (n + 1))",
             "VOI merge divided by N + 1: every method looks slightly better"),
    Mutation("results-rounding", "results writing", "bench/results.py",
             "con.executemany(sql, [tuple(r[n] for n in names) for r in rows])",
             "con.executemany(sql, [tuple(round(r[n], 4) if isinstance(r[n], float) else r[n] "
             "for n in names) for r in rows])",
             "the results database stores scores rounded to 4 decimals"),
)
