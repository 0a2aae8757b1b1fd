"""The report's image panels: a few test sections of raw, ground truth and each method's
segmentation side by side, with one random but stable colour per segment id."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.report.plots import point_label
from bench.results import CORRUPT_FILE_ERRORS, ResultsStore, skip_file


def panels_plot(store: ResultsStore, rows, path: Path, dataset: str,
                 skipped: list[tuple[Path, str]] | None = None) -> Path | None:
    import h5py
    import matplotlib.pyplot as plt

    # one post-processor (waterz when present) keeps the panel readable: raw | gt | methods
    pps = sorted({r["postprocess"] for r in rows}, key=lambda p: (p != "waterz", p))
    rows = sorted((r for r in rows if r["postprocess"] == pps[0]), key=lambda r: r["voi"])
    segs, raw, gt, zs = [], None, None, None
    for r in rows:
        try:
            f = store.run_dir(r["run_id"]) / "segmentation.h5"
        except ValueError:  # an unsafe run id from an old row: no run directory to read
            continue
        if not f.exists():
            continue
        try:
            with h5py.File(f, "r") as h:
                if r["postprocess"] not in h or "panels" not in h:
                    continue
                panels = read_panels(h) if raw is None else (raw, gt, zs)
                if h["panels/z"].shape != panels[2].shape:
                    continue
                seg = h[r["postprocess"]][...][panels[2]]
                if seg.shape != panels[1].shape:
                    raise ValueError(f"{r['postprocess']}: panel sections of shape {seg.shape}, "
                                     f"expected {panels[1].shape}")
        except CORRUPT_FILE_ERRORS as exc:
            skip_file(skipped, f, f"image panels unreadable ({type(exc).__name__}: {exc})")
            continue
        raw, gt, zs = panels
        segs.append((point_label(r), seg))
    if raw is None:
        return None
    cols = 2 + len(segs)
    n = raw.shape[0]
    aspect = raw.shape[1] / raw.shape[2]  # height / width of a section
    fig, axes = plt.subplots(n, cols, figsize=(2.2 * cols, 2.2 * aspect * n + 0.6), dpi=100,
                             squeeze=False)
    for i in range(n):
        panels = [("raw", raw[i], "gray"), ("ground truth", colorize(gt[i]), None)]
        panels += [(name, colorize(s[i]), None) for name, s in segs]
        for j, (title, img, cmap) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(img, cmap=cmap, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{dataset}: test sections", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def read_panels(h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """raw, gt and z of ``panels/``: (n, Y, X) images of the same shape, n section indices."""
    raw, gt, zs = h["panels/raw"][...], h["panels/gt"][...], h["panels/z"][...]
    if raw.ndim != 3 or raw.shape != gt.shape or zs.shape != (raw.shape[0],):
        raise ValueError(f"panels: raw {raw.shape}, gt {gt.shape} and z {zs.shape} do not "
                         "match (expected (n, Y, X) twice and (n,))")
    if zs.dtype.kind not in "iu" or gt.dtype.kind not in "iu" or raw.dtype.kind not in "iuf":
        raise ValueError(f"panels: unexpected dtypes raw {raw.dtype}, gt {gt.dtype}, z {zs.dtype}")
    return raw, gt, zs


def colorize(labels: np.ndarray) -> np.ndarray:
    """Random but stable colours per id; 0 (boundary/background) is black."""
    ids, inverse = np.unique(labels, return_inverse=True)
    rng = np.random.default_rng(12345)
    colors = rng.uniform(0.25, 1.0, size=(len(ids), 3))
    colors[ids == 0] = 0.0
    return colors[inverse.reshape(labels.shape)]
