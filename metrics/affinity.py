"""Affinity-level scores for training and validation, computed block by block along z.

Inputs are ``(C, Z, Y, X)`` float affinities in [0, 1], channel order (z, y, x), value at v =
affinity of v to v - e_axis (waterz convention). ``target`` is the ground-truth affinity (usually
0/1). Blocks of z-sections are read one at a time (numpy, h5py or zarr), so no second copy of a
large volume is held; only sums and two histograms are kept.

Scores (over all channels and valid voxels):

- ``mse``: mean of ``(pred - target)**2``.
- ``bce``: mean binary cross-entropy in nats, as ``torch.nn.functional.binary_cross_entropy``
  (each log clamped at -100, so a confident wrong prediction costs at most 100).
- Boundary detection, where *boundary* means *not connected*: predicted boundary
  ``pred < threshold``, true boundary ``target < 0.5``. ``boundary_precision``,
  ``boundary_recall`` and ``boundary_f1`` of the predicted boundaries (1.0 when there is
  nothing to find and nothing was predicted).
- ``average_precision``: scikit-learn's ``average_precision_score`` of the true boundaries
  ranked by ``1 - pred``. To stay chunk-wise, predictions are rounded to the grid
  ``k / (ap_bins - 1)`` and counted in histograms; for predictions already on that grid (e.g.
  affinities stored as uint8 / 255 with ``ap_bins=256``) it equals scikit-learn on the full arrays
  exactly, otherwise it is the AP of the rounded predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.table import DEFAULT_BLOCK_VOXELS, iter_blocks


def _check(name: str, arr: Any) -> None:
    if not (hasattr(arr, "shape") and hasattr(arr, "dtype")):
        raise ValueError(f"{name} must be a (C, Z, Y, X) float array; got {type(arr).__name__}")
    if len(arr.shape) != 4:
        raise ValueError(f"{name} must be (C, Z, Y, X); got shape {tuple(arr.shape)}")
    if np.dtype(arr.dtype).kind != "f":
        raise ValueError(f"{name} must be a float array in [0, 1]; got dtype {arr.dtype}")


def _check_values(name: str, block: np.ndarray) -> None:
    if block.size == 0:
        return
    lo, hi = float(np.min(block)), float(np.max(block))
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"{name} contains NaN")
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must lie in [0, 1]; found values in [{lo:g}, {hi:g}]")


def affinity_scores(
    pred: Any,
    target: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ap_bins: int = 1 << 16,
    block_voxels: int = DEFAULT_BLOCK_VOXELS,
) -> dict[str, float | int]:
    """MSE, BCE, boundary precision/recall/F1 and average precision of ``pred`` vs ``target``.

    Parameters
    ----------
    pred, target : float array-like, (C, Z, Y, X), values in [0, 1]
        Predicted and ground-truth affinities (numpy, h5py or zarr; read block by block along z).
    threshold : float
        Predicted boundary where ``pred < threshold``.
    mask : bool array-like, (Z, Y, X) or (C, Z, Y, X), optional
        Score only where True (e.g. affinities that cross the volume edge or touch ignored gt).
    ap_bins : int
        Histogram resolution of the chunk-wise average precision (see module docstring).
    block_voxels : int
        Values read per block (all channels together).

    Returns
    -------
    dict with ``mse``, ``bce``, ``boundary_precision``, ``boundary_recall``, ``boundary_f1``,
    ``average_precision`` (NaN when there is no true boundary) and ``n_values`` (values scored).
    """
    _check("pred", pred)
    _check("target", target)
    shape = tuple(int(s) for s in pred.shape)
    if tuple(target.shape) != shape:
        raise ValueError(f"shape mismatch: pred {shape} vs target {tuple(target.shape)}")
    if mask is not None and tuple(mask.shape) not in (shape, shape[1:]):
        raise ValueError(f"mask must have shape {shape[1:]} or {shape}; got {tuple(mask.shape)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    if ap_bins < 2:
        raise ValueError(f"ap_bins must be >= 2; got {ap_bins}")
    sq = bce = 0.0
    n = tp = fp = fn = 0
    hist_pos = np.zeros(ap_bins, dtype=np.int64)
    hist_neg = np.zeros(ap_bins, dtype=np.int64)
    zshape = shape[1:]
    per_block = max(1, block_voxels // max(1, shape[0]))
    for sl in iter_blocks(zshape, [pred, target], per_block, z_axis=1):
        p = np.asarray(pred[:, sl], dtype=np.float64)
        t = np.asarray(target[:, sl], dtype=np.float64)
        _check_values("pred", p)
        _check_values("target", t)
        if mask is not None:
            m = np.asarray(mask[sl] if len(mask.shape) == 3 else mask[:, sl], dtype=bool)
            m = np.broadcast_to(m, p.shape)
            p, t = p[m], t[m]
        else:
            p, t = p.ravel(), t.ravel()
        n += p.size
        d = p - t
        sq += float(d @ d)
        log_p = np.maximum(np.log(p, where=p > 0, out=np.full_like(p, -np.inf)), -100.0)
        log_q = np.maximum(np.log1p(-p, where=p < 1, out=np.full_like(p, -np.inf)), -100.0)
        bce -= float(t @ log_p + (1.0 - t) @ log_q)
        pb, tb = p < threshold, t < 0.5
        tp += int(np.count_nonzero(pb & tb))
        fp += int(np.count_nonzero(pb & ~tb))
        fn += int(np.count_nonzero(~pb & tb))
        q = np.rint(p * (ap_bins - 1)).astype(np.int64)
        hist_pos += np.bincount(q[tb], minlength=ap_bins)
        hist_neg += np.bincount(q[~tb], minlength=ap_bins)
    if n == 0:
        raise ValueError("no affinity value to score (empty volume or mask all False)")
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {
        "mse": sq / n,
        "bce": bce / n,
        "boundary_precision": precision,
        "boundary_recall": recall,
        "boundary_f1": f1,
        "average_precision": _average_precision(hist_pos, hist_neg),
        "n_values": n,
    }


def _average_precision(hist_pos: np.ndarray, hist_neg: np.ndarray) -> float:
    if hist_pos.sum() == 0:
        return float("nan")  # no true boundary: AP undefined (scikit-learn warns and says 0)
    from sklearn.metrics import average_precision_score

    bins = np.nonzero(hist_pos + hist_neg)[0]
    pos, neg = hist_pos[bins], hist_neg[bins]
    keep_p, keep_n = pos > 0, neg > 0
    # boundaries are ranked by 1 - pred, i.e. by -bin; weights stand for repeated samples
    scores = np.concatenate([-bins[keep_p], -bins[keep_n]]).astype(np.float64)
    labels = np.concatenate([np.ones(keep_p.sum()), np.zeros(keep_n.sum())])
    weights = np.concatenate([pos[keep_p], neg[keep_n]]).astype(np.float64)
    return float(average_precision_score(labels, scores, sample_weight=weights))
