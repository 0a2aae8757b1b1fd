"""PNG previews: a few sections of a dataset next to their labels, and synthetic vs real EM."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def label_colors(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """RGB uint8 image of ``labels`` (random colour per id, black for 0)."""
    ids, inv = np.unique(labels, return_inverse=True)
    lut = np.random.default_rng(seed).integers(40, 256, (len(ids), 3)).astype(np.uint8)
    lut[ids == 0] = 0
    return lut[inv.reshape(labels.shape)]


def preview_volume(volume, out: str | Path, *, n_sections: int = 4, title: str = "") -> Path:
    """Write ``n_sections`` evenly spaced consecutive-ish sections (raw above, labels below)
    and an xz reslice (z stretched by the anisotropy) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zmax = volume.shape[0]
    mid = zmax // 2
    zs = sorted({min(zmax - 1, max(0, mid + d)) for d in range(-(n_sections // 2),
                                                                 n_sections - n_sections // 2)})
    has_labels = volume.labels is not None
    rows = 2 if has_labels else 1
    fig, axes = plt.subplots(rows, len(zs) + 1, figsize=(3.2 * (len(zs) + 1), 3.3 * rows),
                             squeeze=False)
    for k, z in enumerate(zs):
        axes[0, k].imshow(np.asarray(volume.raw[z]), cmap="gray", vmin=0, vmax=255,
                          interpolation="nearest")
        axes[0, k].set_title(f"raw z={z}", fontsize=9)
        if has_labels:
            axes[1, k].imshow(label_colors(np.asarray(volume.labels[z])),
                              interpolation="nearest")
            axes[1, k].set_title(f"labels z={z}", fontsize=9)
    rz, ry, _ = volume.resolution_nm
    y = volume.shape[1] // 2
    axes[0, -1].imshow(np.asarray(volume.raw[:, y, :]), cmap="gray", vmin=0, vmax=255,
                       aspect=rz / ry, interpolation="nearest")
    axes[0, -1].set_title(f"xz reslice at y={y}", fontsize=9)
    if has_labels:
        axes[1, -1].imshow(label_colors(np.asarray(volume.labels[:, y, :])), aspect=rz / ry,
                           interpolation="nearest")
        axes[1, -1].set_title("labels xz", fontsize=9)
    for a in axes.ravel():
        a.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def real_vs_synthetic(synthetic_raw: np.ndarray, real_raw: np.ndarray, out: str | Path, *,
                      size: int = 192, real_name: str = "real ssTEM (ISBI 2012)") -> Path:
    """Side by side, at native pixel size: a synthetic section and a real EM section."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
    axes[0].imshow(synthetic_raw[:size, :size], cmap="gray", vmin=0, vmax=255,
                   interpolation="nearest")
    axes[0].set_title("synthetic phantom (40x4x4 nm)", fontsize=10)
    axes[1].imshow(real_raw[:size, :size], cmap="gray", vmin=0, vmax=255,
                   interpolation="nearest")
    axes[1].set_title(real_name, fontsize=10)
    for a in axes:
        a.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
