"""Readers for the formats EM data is released in, with checks at the door.

Files are opened by :func:`metrics.io.open_array`, the project's one opener (all containers
return lazy arrays when no conversion is needed):

- HDF5 (``.h5``, ``.hdf``, ``.hdf5``): any key; the CAD layout uses key ``main``, the official
  CREMI files ``volumes/raw`` and ``volumes/labels/neuron_ids`` with a ``resolution`` attribute.
- zarr (a ``.zarr`` directory, v2 or v3): any array path inside it.
- TIFF stacks (``.tif``/``.tiff``, one multi-page file, as SNEMI3D / AC3 / AC4): read whole.

Dtype policy (documented in docs/data.md):

- raw must be uint8. uint16 is converted by a right shift of 8 bits when its maximum exceeds
  255 (12/16-bit detectors), else cast; float raw in [0, 1] is scaled by 255 and rounded. Both
  read the array into memory and warn. Any other dtype or float range is rejected.
- labels must be integers; they are cast to uint64 lazily. Float labels and negative ids are
  rejected.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.types import Volume
from metrics.io import (  # the one opener of volume files, shared with metrics and blockwise
    HDF5_SUFFIXES,
    TIFF_SUFFIXES,
    DataFormatError,
    open_array,
    open_h5,
)

H5_SUFFIXES = HDF5_SUFFIXES
TIF_SUFFIXES = TIFF_SUFFIXES
CREMI_RAW = "volumes/raw"
CREMI_LABELS = "volumes/labels/neuron_ids"


class AsUint64:
    """Lazy view of an integer array that casts every slice to uint64."""

    def __init__(self, array: Any, source: str):
        self._a = array
        self._source = source
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(np.uint64)
        self.ndim = len(self.shape)

    def __getitem__(self, key) -> np.ndarray:
        block = np.asarray(self._a[key])
        if block.dtype.kind == "i" and block.size and block.min() < 0:
            raise DataFormatError(f"{self._source}: negative label ids; expected ids >= 0")
        return block.astype(np.uint64)

    def __array__(self, dtype=None, copy=None):
        a = self[...]
        return a if dtype is None else a.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def check_raw(array: Any, source: str) -> Any:
    """``array`` as uint8 (lazy when it already is); converts uint16 and float [0, 1] with a
    warning; rejects other dtypes. ``source`` ("file:key") names the array in messages."""
    if array.ndim != 3:
        raise DataFormatError(f"{source}: raw must be 3-D (Z, Y, X), got shape {array.shape}")
    dt = np.dtype(array.dtype)
    if dt == np.uint8:
        return array
    if dt == np.uint16:
        data = np.asarray(array[...])
        hi = int(data.max()) if data.size else 0
        warnings.warn(f"{source}: raw is uint16 (max {hi}); converting to uint8 "
                      f"({'>> 8' if hi > 255 else 'cast'})", stacklevel=3)
        return (data >> 8).astype(np.uint8) if hi > 255 else data.astype(np.uint8)
    if dt.kind == "f":
        data = np.asarray(array[...], dtype=np.float32)
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0 or not np.isfinite(data).all():
            raise DataFormatError(
                f"{source}: float raw must lie in [0, 1] to be converted, found [{lo}, {hi}]; "
                "expected uint8"
            )
        warnings.warn(f"{source}: raw is {dt} in [0, 1]; converting to uint8 (x 255)",
                      stacklevel=3)
        return np.rint(data * 255.0).astype(np.uint8)
    raise DataFormatError(f"{source}: raw has dtype {dt}; expected uint8 (uint16 and float in "
                          "[0, 1] are converted)")


def check_labels(array: Any, source: str) -> Any:
    """``array`` as (lazy) uint64 labels; rejects float and non-3-D labels."""
    if array.ndim != 3:
        raise DataFormatError(f"{source}: labels must be 3-D (Z, Y, X), got shape {array.shape}")
    dt = np.dtype(array.dtype)
    if dt.kind not in "iub":
        raise DataFormatError(f"{source}: labels have dtype {dt}; expected integer ids "
                              "(uint64, 0 = background/boundary)")
    if dt == np.uint64:
        return array
    return AsUint64(array, source)


def read_resolution(attrs: dict[str, Any], source: str,
                    default: tuple[float, float, float]) -> tuple[float, float, float]:
    """The ``resolution`` attribute (z, y, x) in nm, or ``default`` with a warning."""
    res = attrs.get("resolution")
    if res is None:
        warnings.warn(f"{source}: no 'resolution' attribute; using the dataset's known "
                      f"default {tuple(default)} nm (z, y, x)", stacklevel=3)
        return tuple(float(r) for r in default)
    res = tuple(float(r) for r in np.asarray(res).ravel())
    if len(res) != 3 or min(res) <= 0:
        raise DataFormatError(f"{source}: 'resolution' attribute {res} is not 3 positive "
                              "numbers (z, y, x) in nm")
    return res


def load_volume(raw_path: str | Path, raw_key: str | None, labels_path: str | Path | None,
                labels_key: str | None, *, name: str,
                default_resolution_nm: tuple[float, float, float]) -> Volume:
    """A checked :class:`Volume` from a raw array and an (optional) labels array.

    Raw and labels may live in the same or different files of any supported container.
    """
    raw_src = f"{raw_path}:{raw_key}" if raw_key else str(raw_path)
    raw, attrs = open_array(raw_path, raw_key)
    raw = check_raw(raw, raw_src)
    labels = None
    if labels_path is not None:
        lab_src = f"{labels_path}:{labels_key}" if labels_key else str(labels_path)
        labels, lattrs = open_array(labels_path, labels_key)
        labels = check_labels(labels, lab_src)
        if tuple(labels.shape) != tuple(raw.shape):
            raise DataFormatError(f"{lab_src}: labels shape {tuple(labels.shape)} differs from "
                                  f"raw shape {tuple(raw.shape)} of {raw_src}")
        attrs = {**lattrs, **attrs} if "resolution" in attrs else {**attrs, **lattrs}
    res = read_resolution(attrs, raw_src, default_resolution_nm)
    return Volume(raw, labels, res, name=name)


def load_cremi_file(path: str | Path, *, name: str | None = None,
                    default_resolution_nm: tuple[float, float, float] = (40.0, 4.0, 4.0),
                    require_labels: bool = True) -> Volume:
    """An official-CREMI-format file: ``volumes/raw``, ``volumes/labels/neuron_ids`` and a
    ``resolution`` attribute (z, y, x) in nm. Test files without labels need
    ``require_labels=False``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found (expected a CREMI-format HDF5 file)")
    with open_h5(path) as f:
        has_labels = CREMI_LABELS in f
    if require_labels and not has_labels:
        raise KeyError(f"{path}: no dataset {CREMI_LABELS!r} (CREMI format expects "
                       f"{CREMI_RAW!r} and {CREMI_LABELS!r})")
    return load_volume(path, CREMI_RAW, path if has_labels else None,
                       CREMI_LABELS if has_labels else None, name=name or path.stem,
                       default_resolution_nm=default_resolution_nm)
