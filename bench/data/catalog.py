"""Dataset definitions: names, expected files, resolutions and frozen splits.

Splits are part of a dataset's definition (never a method's). Real datasets follow the CAD
paper's protocol (docs/data.md); the validation split is always carved from the end
of the training sections, so test sections are never used for checkpoint or threshold choice:

============  ==========================  =======================  =========================
dataset       train                       val                      test
============  ==========================  =======================  =========================
wafer4        sections 0-89               sections 90-99           sections 100-124
cremiA/B/C    sections 0-89               sections 90-99           sections 100-124
ac3ac4        AC4 sections 0-69           AC4 sections 70-79       AC3 sections 0-99
synthetic     first ~60 %                 next ~15 %               last ~25 % (>= 8 sections)
generic spec  first ~60 %                 next ~15 %               last ~25 %
============  ==========================  =======================  =========================
"""

from __future__ import annotations

import glob
import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.loaders import (
    CREMI_LABELS,
    CREMI_RAW,
    DataFormatError,
    load_cremi_file,
    load_volume,
    open_array,
)
from bench.data.synthetic import SyntheticParams, generate_synthetic
from bench.data.types import Dataset, Split, Volume

#: synthetic volume shape (Z, Y, X) per profile
SYNTHETIC_PROFILES: dict[str, tuple[int, int, int]] = {
    "smoke": (24, 96, 96),
    "quick": (64, 256, 256),
    "paper": (125, 512, 512),
}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    expected_files: tuple[str, ...]  # relative to --data-root ("" for embedded data)
    resolution_nm: tuple[float, float, float]
    splits: dict[str, str] = field(default_factory=dict)  # split name -> human description
    alternatives: tuple[str, ...] = ()  # other accepted file layouts


_CAD_REAL = {
    "wafer4": DatasetInfo(
        "wafer4",
        "Wafer4 multi-beam SEM, mouse olfactory cortex (CAD paper), 125 sections",
        ("wafer4/wafer4_inputs.h5", "wafer4/wafer4_labels.h5"),
        (35.0, 8.0, 8.0),
        {"train": "sections 0-89", "val": "sections 90-99", "test": "sections 100-124"},
    ),
    **{
        f"cremi{s}": DatasetInfo(
            f"cremi{s}",
            f"CREMI sample {s} (ssTEM, adult Drosophila), 125 sections",
            (f"cremi/cremi{s}_inputs.h5", f"cremi/cremi{s}_labels.h5"),
            (40.0, 4.0, 4.0),
            {"train": "sections 0-89", "val": "sections 90-99", "test": "sections 100-124"},
            (f"cremi/sample_{s}_*.hdf", f"sample_{s}_*.hdf"),
        )
        for s in "ABC"
    },
    "ac3ac4": DatasetInfo(
        "ac3ac4",
        "Kasthuri AC4 (train) / AC3 (test), ssSEM mouse cortex (SNEMI3D)",
        ("ac3_ac4/AC3_inputs.h5", "ac3_ac4/AC3_labels.h5", "ac3_ac4/AC4_inputs.h5",
         "ac3_ac4/AC4_labels.h5"),
        (30.0, 6.0, 6.0),
        {"train": "AC4 sections 0-69", "val": "AC4 sections 70-79", "test": "AC3 sections 0-99"},
        ("ac3_ac4/AC{3,4}_{inputs,labels}.tif", "ac3_ac4/train-input.tif + train-labels.tif "
         "(SNEMI3D = AC4)"),
    ),
    "gala_fib": DatasetInfo(
        "gala_fib",
        "FIB-SEM Drosophila medulla crops from the gala project (Janelia FlyEM), CREMI format; "
        "small real volumes for tests and a real-data leaderboard",
        ("gala_fib/train.cremi.h5", "gala_fib/test.cremi.h5"),
        (10.0, 10.0, 10.0),
        {"train": "train.cremi.h5 sections 0-39", "val": "train.cremi.h5 sections 40-49",
         "test": "test.cremi.h5 (all 50 sections)"},
    ),
}

SYNTHETIC_INFO = DatasetInfo(
    "synthetic",
    "embedded synthetic serial-section EM phantom (generated, no download); "
    + ", ".join(f"{p} {'x'.join(map(str, s))}" for p, s in SYNTHETIC_PROFILES.items()),
    (),
    SyntheticParams().resolution_nm,
    {"train": "first ~60 % of sections", "val": "next ~15 %",
     "test": "last ~25 % (at least 8 sections)"},
)


def list_datasets() -> list[DatasetInfo]:
    """Every named dataset, the embedded one first."""
    return [SYNTHETIC_INFO, *_CAD_REAL.values()]


def fraction_splits(volume: str, n_sections: int, *, min_test: int = 8,
                    min_val: int = 2) -> dict[str, Split]:
    """Train / val / test as ~60 / 15 / 25 % of consecutive sections (test last)."""
    n_test = max(min_test, round(0.25 * n_sections))
    n_val = max(min_val, round(0.15 * n_sections))
    if n_sections - n_test - n_val < 1:
        raise ValueError(f"{volume}: {n_sections} sections are too few for train/val/test "
                         f"splits (need at least {n_test + n_val + 1})")
    a = n_sections - n_test - n_val
    b = n_sections - n_test
    return {"train": Split("train", volume, 0, a), "val": Split("val", volume, a, b),
            "test": Split("test", volume, b, n_sections)}


_SYNTHETIC_CACHE: dict[tuple[str, int], Dataset] = {}


def synthetic_dataset(profile: str = "quick", seed: int = 0) -> Dataset:
    """The embedded dataset for ``profile`` (cached in memory per (profile, seed))."""
    if profile not in SYNTHETIC_PROFILES:
        raise ValueError(f"unknown profile {profile!r} for dataset 'synthetic'; valid: "
                         f"{sorted(SYNTHETIC_PROFILES)}")
    key = (profile, int(seed))
    if key not in _SYNTHETIC_CACHE:
        shape = SYNTHETIC_PROFILES[profile]
        vol = generate_synthetic(shape, seed=seed, name=f"synthetic-{profile}-s{seed}")
        vol.raw.setflags(write=False)  # shared by every caller of the cache
        vol.labels.setflags(write=False)
        _SYNTHETIC_CACHE[key] = Dataset(
            "synthetic", {"volume": vol}, fraction_splits("volume", shape[0]),
            SYNTHETIC_INFO.description)
    return _SYNTHETIC_CACHE[key]


def _protocol_splits(volume: str, n: int, path: str) -> dict[str, Split]:
    if n < 125:
        raise DataFormatError(f"{path}: {n} sections; the paper protocol needs 125 "
                              "(train 0-89, val 90-99, test 100-124)")
    return {"train": Split("train", volume, 0, 90), "val": Split("val", volume, 90, 100),
            "test": Split("test", volume, 100, 125)}


def _need_root(name: str, data_root) -> Path:
    """The data root (``--data-root``, else ``$EMSEG_BENCH_DATA``, else the user's cache
    folder that ``bench data fetch`` fills)."""
    from bench.data.fetch import resolve_data_root

    info = _CAD_REAL[name]
    root = resolve_data_root(data_root)
    if root.exists() and not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a directory (dataset {name!r} expects "
                                f"{', '.join(info.expected_files)} in it)")
    return root


def _missing(name: str, root: Path, missing: list[str]) -> FileNotFoundError:
    from bench.data.fetch import default_data_root
    from bench.data.sources import fetch_command

    info = _CAD_REAL[name]
    alt = f"; also accepted: {', '.join(info.alternatives)}" if info.alternatives else ""
    # the default root needs no option: the command then reads exactly as a user would type it
    cmd = fetch_command(name, None if root == default_data_root() else str(root))
    get = f"; get them with: {cmd}" if cmd else ""
    return FileNotFoundError(
        f"dataset {name!r}: missing {', '.join(str(root / m) for m in missing)} (expected "
        f"{', '.join(info.expected_files)} under {root}{alt}){get}")


def _load_pair(name: str, root: Path, rel_inputs: str, rel_labels: str, vol_name: str,
               default_res) -> Volume | None:
    """A CAD-layout pair (key 'main'), or the same stems as TIFF; None when both absent."""
    for suffix in (".h5", ".tif", ".tiff"):
        inp = (root / rel_inputs).with_suffix(suffix)
        lab = (root / rel_labels).with_suffix(suffix)
        if inp.exists() or lab.exists():
            missing = [str(p.relative_to(root)) for p in (inp, lab) if not p.exists()]
            if missing:
                raise _missing(name, root, missing)
            key = "main" if suffix == ".h5" else None
            return load_volume(inp, key, lab, key, name=vol_name,
                               default_resolution_nm=default_res)
    return None


def _load_cad_real(name: str, data_root) -> Dataset:
    info = _CAD_REAL[name]
    root = _need_root(name, data_root)
    res = info.resolution_nm
    if name == "ac3ac4":
        ac4 = _load_pair(name, root, "ac3_ac4/AC4_inputs.h5", "ac3_ac4/AC4_labels.h5", "AC4", res)
        if ac4 is None:  # the SNEMI3D release names AC4 train-input / train-labels
            ac4 = _load_pair(name, root, "ac3_ac4/train-input.tif", "ac3_ac4/train-labels.tif",
                             "AC4", res)
        ac3 = _load_pair(name, root, "ac3_ac4/AC3_inputs.h5", "ac3_ac4/AC3_labels.h5", "AC3", res)
        missing = ([] if ac4 is not None else ["ac3_ac4/AC4_inputs.h5", "ac3_ac4/AC4_labels.h5"])
        missing += [] if ac3 is not None else ["ac3_ac4/AC3_inputs.h5", "ac3_ac4/AC3_labels.h5"]
        if missing:
            raise _missing(name, root, missing)
        if ac4.shape[0] < 80 or ac3.shape[0] < 100:
            raise DataFormatError(f"{root / 'ac3_ac4'}: AC4 has {ac4.shape[0]} sections (need "
                                  f">= 80), AC3 has {ac3.shape[0]} (need >= 100)")
        splits = {"train": Split("train", "AC4", 0, 70), "val": Split("val", "AC4", 70, 80),
                  "test": Split("test", "AC3", 0, 100)}
        return Dataset(name, {"AC4": ac4, "AC3": ac3}, splits, info.description)
    if name == "gala_fib":
        files = [root / f for f in info.expected_files]
        missing = [f for f, path in zip(info.expected_files, files, strict=True)
                   if not path.exists()]
        if missing:
            raise _missing(name, root, missing)
        train, test = (load_cremi_file(f, name=f.name.split(".")[0], default_resolution_nm=res)
                       for f in files)
        if train.shape[0] < 50:
            raise DataFormatError(f"{files[0]}: {train.shape[0]} sections, need >= 50")
        splits = {"train": Split("train", "train", 0, 40), "val": Split("val", "train", 40, 50),
                  "test": Split("test", "test", 0, test.shape[0])}
        return Dataset(name, {"train": train, "test": test}, splits, info.description)
    inputs, labels = info.expected_files
    vol = _load_pair(name, root, inputs, labels, name, res)
    if vol is None and name.startswith("cremi"):
        sample = name[-1]
        hits = sorted(glob.glob(str(root / "cremi" / f"sample_{sample}_*.hdf"))
                      + glob.glob(str(root / f"sample_{sample}_*.hdf")))
        hits = [h for h in hits if "padded" not in Path(h).name]
        if hits:
            vol = load_cremi_file(hits[0], name=name, default_resolution_nm=res)
    if vol is None:
        raise _missing(name, root, [inputs, labels])
    splits = _protocol_splits(name, vol.shape[0], str(root / inputs))
    return Dataset(name, {name: vol}, splits, info.description)


def parse_spec(spec: str) -> tuple[str, str | None, str | None] | None:
    """``path:raw_key:labels_key`` (keys optional for CREMI files and TIFF) or None."""
    lowered = spec.lower()
    exts = (".h5", ".hdf", ".hdf5", ".zarr", ".tif", ".tiff")
    for ext in exts:
        i = lowered.find(ext + ":")
        if i >= 0:
            path = spec[: i + len(ext)]
            keys = spec[i + len(ext) + 1:].split(":")
            if len(keys) > 2:
                raise ValueError(f"dataset spec {spec!r}: expected path:raw_key[:labels_key]")
            return path, keys[0] or None, (keys[1] or None) if len(keys) > 1 else None
        if lowered.endswith(ext):
            return spec, None, None
    return None


def _load_spec(spec: str, parsed, data_root) -> Dataset:
    path, raw_key, labels_key = parsed
    p = Path(path)
    if not p.is_absolute() and not p.exists():  # relative to the data root (bench data fetch)
        from bench.data.fetch import resolve_data_root

        p = resolve_data_root(data_root) / p
    if not p.exists():
        raise FileNotFoundError(f"dataset spec {spec!r}: {p} not found")
    default_res = (40.0, 4.0, 4.0)
    if raw_key is None and p.suffix.lower() in (".h5", ".hdf", ".hdf5"):
        vol = load_cremi_file(p, name=p.stem, default_resolution_nm=default_res)
    elif p.suffix.lower() in (".tif", ".tiff"):
        lab = Path(raw_key) if raw_key else None  # for TIFF the second part is the labels file
        if lab is not None and not lab.is_absolute():
            lab = p.parent / lab
        vol = load_volume(p, None, lab, None, name=p.stem, default_resolution_nm=default_res)
    else:
        if raw_key is None:
            raise ValueError(f"dataset spec {spec!r}: give the raw key, e.g. {path}:raw:labels")
        vol = load_volume(p, raw_key, p if labels_key else None, labels_key, name=p.stem,
                          default_resolution_nm=default_res)
    return Dataset(spec_dataset_name(p, raw_key, labels_key), {"volume": vol},
                   fraction_splits("volume", vol.shape[0], min_test=1, min_val=1),
                   f"file {spec}")


def spec_dataset_name(path: str | Path, raw_key: str | None, labels_key: str | None) -> str:
    """A file spec's dataset name: the file stem (safe characters only) plus a hash of the
    resolved path and keys, e.g. ``sample_A-3f2a9c1e``. It goes into run ids, result rows and
    report file names, so it must never hold a path: a spec with a folder in it would nest run
    directories, and a relative one would land them outside the results folder."""
    resolved = f"{Path(path).resolve()}:{raw_key or ''}:{labels_key or ''}"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).name.split(".")[0]).strip("_") or "file"
    return f"{stem[:40]}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def load_dataset(name: str, *, data_root: str | Path | None = None, profile: str = "quick",
                 seed: int = 0) -> Dataset:
    """A dataset by name, with its frozen ``train`` / ``val`` / ``test`` splits.

    Parameters
    ----------
    name
        ``synthetic``, ``wafer4``, ``cremiA``, ``cremiB``, ``cremiC``, ``ac3ac4``, or a file
        spec ``path.h5:raw_key:labels_key`` (also ``.zarr``; ``path.hdf`` alone = CREMI format;
        ``raw.tif:labels.tif`` for TIFF stacks).
    data_root
        Folder holding the real datasets (CAD layout, see :func:`list_datasets`).
    profile, seed
        Only for ``synthetic``: size (``smoke``, ``quick``, ``paper``) and generator seed.
    """
    if name == "synthetic":
        return synthetic_dataset(profile, seed)
    if name in _CAD_REAL:
        return _load_cad_real(name, data_root)
    parsed = parse_spec(name)
    if parsed is not None:
        return _load_spec(name, parsed, data_root)
    valid = ", ".join(d.name for d in list_datasets())
    raise KeyError(f"unknown dataset {name!r}; valid names: {valid}, or a file spec "
                   "path.h5:raw_key:labels_key")


def describe_array(array: Any) -> dict[str, Any]:
    return {"shape": tuple(int(s) for s in array.shape), "dtype": str(np.dtype(array.dtype))}


def check_data_root(data_root: str | Path) -> list[dict[str, Any]]:
    """What is found under ``data_root`` for every real dataset.

    Returns one dict per dataset: ``name``, ``ok`` (loads with its splits), ``missing`` (files),
    ``volumes`` (name -> shape, dtypes, resolution), ``warnings`` and ``error`` (message or None).
    """
    report = []
    for name, info in _CAD_REAL.items():
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
    "spec_dataset_name",
    "synthetic_dataset",
]
