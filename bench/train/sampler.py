"""Random training patches with targets, for every method (docs/cad.md sections 4-6).

Input volumes are ``(Z, Y, X)``: raw uint8, labels integer (0 = background). Patches are drawn
with the run's ``numpy.random.Generator``, cropped with a margin, augmented
(:mod:`bench.train.augment`) and centre-cropped, then turned into targets
(:mod:`bench.train.targets`).
"""

from __future__ import annotations

from collections.abc import Sequence

import fastremap
import numpy as np
import torch

from bench.train.augment import AugmentConfig, augment
from bench.train.targets import long_range_targets, pair_targets, seg_widen_border

__all__ = ["PatchSampler", "prepare_labels"]


def prepare_labels(labels: np.ndarray, widen_border: bool = True) -> np.ndarray:
    """Training labels: renumbered to small ids (so interpolation stays exact) and widened."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels: expected (Z, Y, X), got shape {labels.shape}")
    small, _ = fastremap.renumber(np.ascontiguousarray(labels), preserve_zero=True)
    small = small.astype(np.uint32, copy=False)
    return seg_widen_border(small) if widen_border else small


def _centre_crop(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    starts = [(n - s) // 2 for n, s in zip(a.shape[-3:], shape, strict=True)]
    sl = tuple(slice(o, o + s) for o, s in zip(starts, shape, strict=True))
    return a[(..., *sl)]


class PatchSampler:
    """Draws augmented training patches from one labelled volume.

    Parameters
    ----------
    raw
        ``(Z, Y, X)`` uint8.
    labels
        ``(Z, Y, X)`` integer labels, already prepared (:func:`prepare_labels`).
    rng
        The run's generator (shared, so a checkpoint of it makes sampling resumable).
    """

    def __init__(self, raw: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        raw = np.asarray(raw)
        labels = np.asarray(labels)
        if raw.ndim != 3 or raw.shape != labels.shape:
            raise ValueError(
                f"raw {raw.shape} and labels {labels.shape}: expected one (Z, Y, X) shape"
            )
        if raw.dtype != np.uint8:
            raise ValueError(f"raw: expected uint8, got {raw.dtype}")
        self.raw = raw
        self.labels = labels
        self.rng = rng

    def _crop(self, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """A random crop of ``shape``; the volume is reflect-padded where it is smaller."""
        raw, lab = self.raw, self.labels
        pads = [max(0, s - n) for s, n in zip(shape, raw.shape, strict=True)]
        if any(pads):
            width = [(p // 2, p - p // 2) for p in pads]
            # reflect needs the pad below the axis length; symmetric always works
            raw = np.pad(raw, width, mode="symmetric")
            lab = np.pad(lab, width, mode="symmetric")
        starts = [
            int(self.rng.integers(0, n - s + 1)) for s, n in zip(shape, raw.shape, strict=True)
        ]
        sl = tuple(slice(o, o + s) for o, s in zip(starts, shape, strict=True))
        return raw[sl].astype(np.float32) / 255.0, np.array(lab[sl])

    def patch(
        self, shape: Sequence[int], margin_yx: int, aug: AugmentConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """One augmented ``(raw, labels)`` patch of ``shape`` (cut with a y/x margin)."""
        d, h, w = (int(s) for s in shape)
        raw, lab = self._crop((d, h + 2 * margin_yx, w + 2 * margin_yx))
        raw, lab = augment(raw, lab, self.rng, aug)
        return _centre_crop(raw, (d, h, w)), _centre_crop(lab, (d, h, w))

    def batch_3d(
        self,
        batch: int,
        shape: Sequence[int],
        margin_yx: int,
        aug: AugmentConfig,
        target_shape: Sequence[int] | None = None,
        weights: str = "global",
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch for a 3D net: inputs ``(B, 1, D, H, W)``, 12-channel targets and weights.

        ``target_shape`` (valid-convolution nets) centre-crops the labels before the targets
        are made; default: the input shape. ``weights``: see :func:`long_range_targets`.
        """
        samples = []
        for _ in range(batch):
            raw, lab = self.patch(shape, margin_yx, aug)
            if target_shape is not None:
                lab = _centre_crop(lab, target_shape)
            samples.append((raw[None], *long_range_targets(lab, weights)))
        return _stack_batch(samples)

    def batch_2d(
        self, batch: int, size: int, margin_yx: int, aug: AugmentConfig
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch of section pairs: inputs ``(B, 2, H, W)`` (z-1, z), targets and weights
        ``(B, 3, H, W)`` of section z (2D provider: replicate pad, per-channel weights)."""
        samples = []
        for _ in range(batch):
            raw, lab = self.patch((2, size, size), margin_yx, aug)
            samples.append((raw, *pair_targets(lab)))
        return _stack_batch(samples)


def _stack_batch(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input, target, weight) samples -> three batch tensors."""
    xs, ts, ws = zip(*samples, strict=True)
    return (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts)),
            torch.from_numpy(np.stack(ws)))
