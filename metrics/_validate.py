"""Checks at the door: label arrays, ignore lists, resolution. Nothing is silently cast."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


class LabelDtypeError(TypeError, ValueError):
    """A label array has a non-integer dtype (float, bool, ...).

    Subclasses both TypeError (it is about the type) and ValueError (so command-line callers that
    report bad input values catch it too).
    """


def is_array_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__")


def check_label_array(name: str, arr: Any) -> None:
    """Raise unless ``arr`` is an array-like of an integer dtype (values are checked per block)."""
    if not is_array_like(arr):
        raise LabelDtypeError(
            f"{name} must be an integer label array (numpy, h5py or zarr); got {type(arr).__name__}"
        )
    dtype = np.dtype(arr.dtype)
    if dtype.kind == "f":
        raise LabelDtypeError(
            f"{name} has dtype {dtype} but labels must be an integer dtype (uint64 by convention); "
            "float labels (and NaN) are not accepted: round and cast explicitly if you mean it"
        )
    if dtype.kind not in "iu":
        raise LabelDtypeError(
            f"{name} has dtype {dtype} but labels must be an integer dtype (uint64 by convention)"
        )


def check_same_shape(gt: Any, seg: Any, mask: Any = None) -> tuple[int, ...]:
    shape = tuple(int(s) for s in gt.shape)
    if tuple(seg.shape) != shape:
        raise ValueError(
            f"shape mismatch: gt has shape {shape} but seg has shape {tuple(seg.shape)}"
        )
    if mask is not None:
        if not is_array_like(mask) or np.dtype(mask.dtype) != np.bool_:
            raise ValueError("mask must be a boolean array (True = voxel is evaluated)")
        if tuple(mask.shape) != shape:
            raise ValueError(f"shape mismatch: gt has shape {shape} but mask has {mask.shape}")
    return shape


def check_block_values(name: str, block: np.ndarray) -> None:
    """Reject negative labels (signed dtypes only; unsigned ones cannot be negative)."""
    if block.dtype.kind == "i" and block.size and block.min() < 0:
        n_neg = int(np.count_nonzero(block < 0))
        raise ValueError(
            f"{name} contains {n_neg} negative label(s) (min {int(block.min())}); labels must be "
            ">= 0 (0 = background)"
        )


def ignore_array(name: str, labels: Iterable[int] | None) -> np.ndarray:
    """Ignore list -> sorted uint64 array; every entry must be an integer in [0, 2**64)."""
    if labels is None:
        return np.zeros(0, dtype=np.uint64)
    if isinstance(labels, (int, np.integer)):
        labels = (labels,)
    out = []
    for v in labels:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be a sequence of integer labels; got {v!r}")
        if not 0 <= int(v) < 2**64:
            raise ValueError(f"{name} entries must be in [0, 2**64); got {int(v)}")
        out.append(int(v))
    return np.array(sorted(set(out)), dtype=np.uint64)


def check_resolution(resolution: Any) -> tuple[float, float, float]:
    try:
        res = tuple(float(r) for r in resolution)
    except TypeError:
        raise ValueError(
            f"resolution must be (z, y, x) in nm; got {resolution!r}"
        ) from None
    if len(res) != 3 or not all(np.isfinite(r) and r > 0 for r in res):
        raise ValueError(f"resolution must be three positive (z, y, x) sizes in nm; got {res}")
    return res
