"""Any file as a dataset: ``--dataset path.h5:raw_key:labels_key``.

Also ``.zarr``; ``path.h5`` (or ``.hdf``) alone is read as CREMI format; ``raw.tif:labels.tif``
for TIFF stacks. A relative path that does not exist is looked up in the data root. The spec is
parsed by :func:`metrics.io.split_spec`, the project's one ``file:key`` parser. Splits are
:class:`~bench.data.splits.FractionSplits` with at least one val and one test section.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bench.data.loaders import load_cremi_file, load_volume
from bench.data.splits import FractionSplits
from bench.data.types import Dataset
from metrics.io import HDF5_SUFFIXES, TIFF_SUFFIXES, ZARR_SUFFIXES, split_spec

#: containers a dataset spec may name (the metrics' ``.npy`` holds no raw/labels pair)
SPEC_SUFFIXES = (".h5", ".hdf", ".hdf5") + ZARR_SUFFIXES + TIFF_SUFFIXES
SPLITS = FractionSplits(min_test=1, min_val=1)
#: the voxel size assumed for a file without a ``resolution`` attribute (warned about)
DEFAULT_RESOLUTION_NM = (40.0, 4.0, 4.0)


def parse_spec(spec: str) -> tuple[str, str | None, str | None] | None:
    """``path:raw_key:labels_key`` (keys optional for CREMI files and TIFF) or None when
    ``spec`` names no file of a supported container."""
    path, keys = split_spec(spec)
    if not path.name.lower().endswith(SPEC_SUFFIXES):
        return None
    if len(keys) > 2:
        raise ValueError(f"dataset spec {spec!r}: expected path:raw_key[:labels_key]")
    raw_key = (keys[0] or None) if keys else None
    labels_key = (keys[1] or None) if len(keys) > 1 else None
    return str(path), raw_key, labels_key


def spec_dataset_name(path: str | Path, raw_key: str | None, labels_key: str | None) -> str:
    """A file spec's dataset name: the file stem (safe characters only) plus a hash of the
    resolved path and keys, e.g. ``sample_A-3f2a9c1e``. It goes into run ids, result rows and
    report file names, so it must never hold a path: a spec with a folder in it would nest run
    directories, and a relative one would land them outside the results folder."""
    resolved = f"{Path(path).resolve()}:{raw_key or ''}:{labels_key or ''}"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).name.split(".")[0]).strip("_") or "file"
    return f"{stem[:40]}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def load_spec(spec: str, parsed: tuple[str, str | None, str | None], data_root) -> Dataset:
    """The dataset of a parsed file spec (see :func:`parse_spec`)."""
    path, raw_key, labels_key = parsed
    p = Path(path)
    if not p.is_absolute() and not p.exists():  # relative to the data root (bench data fetch)
        from bench.data.fetch import resolve_data_root

        p = resolve_data_root(data_root) / p
    if not p.exists():
        raise FileNotFoundError(f"dataset spec {spec!r}: {p} not found")
    if raw_key is None and p.suffix.lower() in HDF5_SUFFIXES:
        vol = load_cremi_file(p, name=p.stem, default_resolution_nm=DEFAULT_RESOLUTION_NM)
    elif p.suffix.lower() in TIFF_SUFFIXES:
        lab = Path(raw_key) if raw_key else None  # for TIFF the second part is the labels file
        if lab is not None and not lab.is_absolute():
            lab = p.parent / lab
        vol = load_volume(p, None, lab, None, name=p.stem,
                          default_resolution_nm=DEFAULT_RESOLUTION_NM)
    else:
        if raw_key is None:
            raise ValueError(f"dataset spec {spec!r}: give the raw key, e.g. {path}:raw:labels")
        vol = load_volume(p, raw_key, p if labels_key else None, labels_key, name=p.stem,
                          default_resolution_nm=DEFAULT_RESOLUTION_NM)
    volumes = {"volume": vol}
    return Dataset(spec_dataset_name(p, raw_key, labels_key), volumes,
                   SPLITS("volume", volumes), f"file {spec}")
