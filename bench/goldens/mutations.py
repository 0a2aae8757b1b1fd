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
    # -- the benchmark's definition (issue 28): recipes of every reported profile, the real
    # datasets' splits, the post-processors' grids and the selection's defaults. The
    # protocol layer reads them; no other layer runs the quick or paper recipes or a real split
    Mutation("cad-smoke-start-ft", "recipe (smoke)", "cad/configs/cad.yaml",
             "    start_ft: 2\n", "    start_ft: 3\n",
             "cad's smoke recipe starts the feature distillation one iteration later"),
    Mutation("cad-quick-start-ft", "recipe (quick)", "cad/configs/cad.yaml",
             "start_ft: 80", "start_ft: 100",
             "cad's quick recipe distils from iteration 100 instead of 80"),
    Mutation("unet2d-quick-lr", "recipe (quick)", "baselines/configs/unet2d.yaml",
             "    log_every: 5\n    lr: 1.0e-3", "    log_every: 5\n    lr: 2.0e-3",
             "unet2d's quick learning rate doubled"),
    Mutation("rf-quick-trees", "recipe (quick)", "baselines/configs/rf.yaml",
             "    n_estimators: 40", "    n_estimators: 30",
             "rf's quick forest has 30 trees instead of 40"),
    Mutation("unet2d-cpu-real-iters", "recipe (cpu-real)", "baselines/configs/unet2d.yaml",
             "    iters: 2000\n", "    iters: 1800\n",
             "unet2d's cpu-real recipe trains 1800 iterations instead of 2000"),
    Mutation("rf-cpu-real-z-forest", "recipe (cpu-real)", "baselines/configs/rf.yaml",
             "    z_forest: true", "    z_forest: false",
             "rf's cpu-real recipe drops the z-affinity forest"),
    Mutation("cad-paper-infer-tile", "recipe (paper)", "cad/configs/cad.yaml",
             "  infer_tile: 2048            # whole", "  infer_tile: 1024            # whole",
             "cad's paper (official) inference tiles 1024-px instead of whole sections"),
    Mutation("unet2d-paper-eps", "recipe (paper)", "baselines/configs/unet2d.yaml",
             "  eps: 0.01\n", "  eps: 1.0e-8\n",
             "unet2d's paper recipe loses the official Adam eps of 0.01"),
    Mutation("superhuman3d-paper-iters", "recipe (paper)", "baselines/configs/superhuman3d.yaml",
             "  iters: 200000", "  iters: 100000",
             "superhuman3d's paper recipe trains half as long"),
    Mutation("wafer4-split-train", "split (wafer4)", "bench/data/datasets/cad_h5.py",
             '{"train": (None, 0, 90),', '{"train": (None, 0, 89),',
             "the CAD protocol's (wafer4, CREMI) train split one section shorter"),
    Mutation("cremi-split-test", "split (CREMI)", "bench/data/datasets/cremi.py",
             "        _load,\n        CAD_PROTOCOL,",
             '        _load,\n        __import__("bench.data.splits", fromlist=["x"])'
             '.SectionRanges('
             '{"train": (None, 0, 90), "val": (None, 90, 100), "test": (None, 101, 125)}, '
             'label="the paper protocol"),',
             "CREMI alone tests on the last 24 sections instead of 25"),
    Mutation("ac3ac4-split-test", "split (AC3/AC4)", "bench/data/datasets/snemi.py",
             '"test": ("AC3", 0, 100)', '"test": ("AC3", 0, 99)',
             "AC3's test split one section shorter"),
    Mutation("slab-sections", "VOI interval", "bench/pipeline/spec.py",
             "slab_sections: int = 4", "slab_sections: int = 5",
             "the VOI interval's sub-volumes are 5 sections instead of 4 (the run's default)"),
    Mutation("edge-forest-trees", "learned agglomeration", "bench/segment/learned.py",
             "    n_estimators: int = 100,\n    evaluate",
             "    n_estimators: int = 60,\n    evaluate",
             "the learned agglomeration's edge forest has 60 trees instead of 100"),
    Mutation("waterz-grid", "post-processor grid", "bench/segment/waterz_agglomeration.py",
             "default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)",
             "default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)",
             "waterz's default sweep grid loses 0.9"),
    Mutation("mws-grid", "post-processor grid", "bench/segment/mutex.py",
             "default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)",
             "default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)",
             "mutex watershed's bias grid gains 0.8"),
    Mutation("gala-min-size", "post-processor fixed parameter", "bench/segment/learned.py",
             "ws_threshold=0.5, sigma_seeds=0.0, min_size=20)",
             "ws_threshold=0.5, sigma_seeds=0.0, min_size=25)",
             "the learned post-processors' fragments drop segments under 25 voxels, not 20"),
)
