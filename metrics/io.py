"""Open a label volume given as ``FILE[:KEY]`` (HDF5, zarr, TIFF, NPY) for evaluation.

HDF5 and zarr arrays are returned lazily (read block by block by :func:`metrics.evaluate`); TIFF
is read into memory; ``.npy`` is memory-mapped.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".cremi")
TIFF_SUFFIXES = (".tif", ".tiff")
#: dataset tried first when no key is given (CREMI layout)
DEFAULT_KEYS = ("volumes/labels/neuron_ids", "labels", "segmentation", "seg", "gt")


def split_spec(spec: str) -> tuple[Path, str | None]:
    """``"a.h5:volumes/labels"`` -> (Path("a.h5"), "volumes/labels"); an existing path wins."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    path, key = spec.rsplit(":", 1)
    return Path(path), key or None


def _pick_key(name: str, keys: list[str], key: str | None, path: Path) -> str:
    if key is not None:
        if key not in keys:
            raise KeyError(f"{path}: no array {key!r}; arrays: {', '.join(keys) or 'none'}")
        return key
    for k in DEFAULT_KEYS:
        if k in keys:
            return k
    if len(keys) == 1:
        return keys[0]
    raise ValueError(
        f"{path}: holds several arrays, say which one as {name} FILE:KEY; arrays: {', '.join(keys)}"
    )


def _resolution_from_attrs(*attr_sets: Any) -> tuple[float, float, float] | None:
    for attrs in attr_sets:
        for name in ("resolution", "resolution_nm"):
            if name in attrs:
                res = tuple(float(v) for v in np.asarray(attrs[name]).ravel())
                if len(res) == 3:
                    return res
    return None


def open_labels(spec: str, stack: ExitStack, name: str = "--gt"):
    """Open ``spec``; returns ``(array, resolution_nm or None)``. Files close with ``stack``."""
    path, key = split_spec(spec)
    if not path.exists():
        raise FileNotFoundError(f"{name}: {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES or path.name.endswith(".cremi.h5"):
        import h5py

        try:
            f = stack.enter_context(h5py.File(path, "r"))
        except OSError as exc:  # h5py's message names neither the file nor the option
            raise ValueError(
                f"{name}: {path} cannot be read as HDF5 ({path.stat().st_size} bytes; corrupt, "
                f"truncated or not an HDF5 file): {exc}") from None
        keys: list[str] = []
        f.visititems(lambda k, o: keys.append(k) if isinstance(o, h5py.Dataset) else None)
        ds = f[_pick_key(name, keys, key, path)]
        return ds, _resolution_from_attrs(ds.attrs, ds.parent.attrs, f.attrs)
    if suffix == ".zarr" or (path / ".zarray").exists() or (path / "zarr.json").exists():
        import zarr

        node = zarr.open(str(path), mode="r")
        if hasattr(node, "shape"):
            if key is not None:
                raise ValueError(f"{name}: {path} is a single zarr array; drop the :{key}")
            return node, _resolution_from_attrs(node.attrs)
        keys = [k for k, _ in node.arrays()] if key is None else [key]
        arr = node[_pick_key(name, keys, key, path)]
        return arr, _resolution_from_attrs(arr.attrs, node.attrs)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        return tifffile.imread(path), None
    if suffix == ".npy":
        return np.load(path, mmap_mode="r", allow_pickle=False), None
    raise ValueError(
        f"{name}: unsupported file type {path.name!r}; expected HDF5 (.h5/.hdf5), zarr, TIFF, "
        ".npy"
    )
