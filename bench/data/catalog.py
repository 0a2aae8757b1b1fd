"""Loading datasets by name: the registered ones (:mod:`bench.data.registry`) or a file spec.

Splits are part of a dataset's definition (never a method's). Real datasets follow the CAD
paper's protocol (docs/data.md); the validation split is always carved from the end
of the training sections, so test sections are never used for checkpoint or threshold choice:

============  ==========================  =======================  =========================
dataset       train                       val                      test
============  ==========================  =======================  =========================
wafer4        sections 0-89               sections 90-99           sections 100-124
cremiA/B/C    sections 0-89               sections 90-99           sections 100-124
ac3ac4        AC4 sections 0-69           AC4 sections 70-79       AC3 sections 0-99
gala_fib      train sections 0-39         train sections 40-49     test (all sections)
synthetic     first ~60 %                 next ~15 %               last ~25 % (>= 8 sections)
generic spec  first ~60 %                 next ~15 %               last ~25 %
============  ==========================  =======================  =========================

Each dataset is defined in one module of :mod:`bench.data.datasets`; a new one is one call of
:func:`bench.data.registry.register_dataset` (see docs/data.md, "Adding a dataset").
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.datasets.phantom import SYNTHETIC_PROFILES, synthetic_dataset
from bench.data.datasets.spec import load_spec, parse_spec, spec_dataset_name
from bench.data.loaders import CREMI_LABELS, CREMI_RAW, open_array
from bench.data.registry import (
    DATASETS,
    DatasetInfo,
    LoadContext,
    build,
    get_dataset,
    list_datasets,
    register_dataset,
)
from bench.data.splits import fraction_splits
from bench.data.types import Dataset


def load_dataset(name: str, *, data_root: str | Path | None = None, profile: str = "quick",
                 seed: int = 0) -> Dataset:
    """A dataset by name, with its frozen ``train`` / ``val`` / ``test`` splits.

    Parameters
    ----------
    name
        A registered name (``python -m bench data list``: ``synthetic``, ``wafer4``,
        ``cremiA``, ``cremiB``, ``cremiC``, ``ac3ac4``, ``gala_fib``, and any registered by a
        package), or a file spec ``path.h5:raw_key:labels_key`` (also ``.zarr``; ``path.hdf``
        alone = CREMI format; ``raw.tif:labels.tif`` for TIFF stacks).
    data_root
        Folder holding the real datasets (their ``expected_files``, see :func:`list_datasets`).
    profile, seed
        For generated datasets (``synthetic``): size (``smoke``, ``quick``, ``paper``) and
        generator seed.
    """
    if name in DATASETS:
        entry = get_dataset(name)
        return build(name, entry, LoadContext(entry.info, data_root, profile, seed))
    parsed = parse_spec(name)
    if parsed is not None:
        return load_spec(name, parsed, data_root)
    # a skipped plugin's reason, else the valid names
    raise DATASETS.unknown(name, hint=", or a file spec path.h5:raw_key:labels_key")


def describe_array(array: Any) -> dict[str, Any]:
    return {"shape": tuple(int(s) for s in array.shape), "dtype": str(np.dtype(array.dtype))}


def check_data_root(data_root: str | Path) -> list[dict[str, Any]]:
    """What is found under ``data_root`` for every registered dataset that reads files from it.

    Returns one dict per dataset: ``name``, ``ok`` (loads with its splits), ``missing`` (files),
    ``volumes`` (name -> shape, dtypes, resolution), ``warnings`` and ``error`` (message or None).
    """
    report = []
    for info in list_datasets():
        if not info.expected_files:  # embedded, or locates its own files
            continue
        name = info.name
        root = Path(data_root)
        entry: dict[str, Any] = {"name": name, "ok": False, "volumes": {}, "warnings": [],
                                 "error": None,
                                 "missing": [f for f in info.expected_files
                                             if not (root / f).exists()]}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = load_dataset(name, data_root=root)
                for vname, vol in ds.volumes.items():
                    entry["volumes"][vname] = {
                        "raw": describe_array(vol.raw),
                        "labels": None if vol.labels is None else describe_array(vol.labels),
                        "resolution_nm": vol.resolution_nm,
                    }
                entry["missing"] = []
                entry["ok"] = True
                entry["splits"] = {k: f"{s.volume}[{s.start}:{s.stop}]"
                                   for k, s in ds.splits.items()}
                entry["split_hash"] = ds.split_hash()
            except (FileNotFoundError, KeyError, ValueError, OSError) as exc:
                entry["error"] = str(exc.args[0] if isinstance(exc, KeyError) else exc)
        entry["warnings"] = [str(w.message) for w in caught]
        report.append(entry)
    return report


__all__ = [
    "CREMI_LABELS", "CREMI_RAW", "DatasetInfo", "SYNTHETIC_PROFILES", "check_data_root",
    "fraction_splits", "list_datasets", "load_dataset", "open_array", "parse_spec",
    "register_dataset", "spec_dataset_name", "synthetic_dataset",
]
