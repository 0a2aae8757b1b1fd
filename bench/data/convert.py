"""Conversions of downloaded releases into the layout the loaders read (docs/data.md).

Each takes the data root, reads what :mod:`bench.data.fetch` downloaded there and writes its
outputs atomically (a reader never sees a half-written file).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.atomic import atomic_path
from bench.data.loaders import DataFormatError

_CHUNK = 1 << 20
#: the most bytes one archive member may unpack to (SNEMI3D's largest, the labels stack, is
#: well under 1 GiB): a small zip that claims, or inflates to, more is refused
MAX_UNPACKED_BYTES = 4 << 30


def _unzip_single_tif(archive: Path, dest: Path) -> None:
    """The one ``.tif`` inside ``archive`` written to ``dest`` (member names are never used
    as paths, so an archive cannot write outside the data root)."""
    with zipfile.ZipFile(archive) as zf:
        tifs = [m for m in zf.namelist() if m.lower().endswith((".tif", ".tiff"))]
        if len(tifs) != 1:
            raise DataFormatError(f"{archive}: expected one TIFF stack inside, found "
                                  f"{zf.namelist()}")
        info = zf.getinfo(tifs[0])
        if info.file_size > MAX_UNPACKED_BYTES:
            raise DataFormatError(f"{archive}: {tifs[0]} unpacks to {info.file_size:,} bytes, "
                                  f"more than the {MAX_UNPACKED_BYTES:,} allowed")
        with atomic_path(dest) as tmp, zf.open(info) as fin, open(tmp, "wb") as fout:
            # counted as well: the size in the archive's header is the archive's own claim
            while chunk := fin.read(_CHUNK):
                if fout.tell() + len(chunk) > MAX_UNPACKED_BYTES:
                    raise DataFormatError(f"{archive}: {tifs[0]} unpacks to more than the "
                                          f"{MAX_UNPACKED_BYTES:,} bytes allowed")
                fout.write(chunk)


def _convert_snemi3d(root: Path) -> None:
    for stem in ("train-input", "train-labels"):
        _unzip_single_tif(root / "snemi3d" / f"{stem}.zip", root / "ac3_ac4" / f"{stem}.tif")


def _convert_isbi2012(root: Path) -> None:
    """The ISBI 2012 TIFFs as one CREMI-format file. The labels are a membrane mask (255 inside
    cells, 0 on membranes), so ids are the 4-connected regions of each section, numbered
    consecutively over the stack (not linked across sections)."""
    import h5py
    import numpy as np
    import tifffile
    from scipy import ndimage

    src = root / "isbi2012"
    raw = np.asarray(tifffile.imread(src / "train-volume.tif"))
    mask = np.asarray(tifffile.imread(src / "train-labels.tif"))
    if raw.ndim != 3 or raw.shape != mask.shape or raw.dtype != np.uint8:
        raise DataFormatError(f"{src}: expected two uint8 stacks of one shape, got raw "
                              f"{raw.shape} {raw.dtype}, labels {mask.shape} {mask.dtype}")
    labels = np.zeros(mask.shape, np.uint64)
    offset = 0
    for z in range(mask.shape[0]):
        ids, n = ndimage.label(mask[z] > 0)
        labels[z] = np.where(ids > 0, ids.astype(np.uint64) + offset, 0)
        offset += n
    with atomic_path(src / "isbi2012_train.h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["resolution"] = (50.0, 4.0, 4.0)
        f.create_dataset("volumes/raw", data=raw, compression="gzip")
        f.create_dataset("volumes/labels/neuron_ids", data=labels, compression="gzip")


#: the lsd sample's two stacks of source files (file numbers [start, stop))
LSD_STACKS = ((0, 50), (50, 100))


def lsd_sample_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """raw, labels and the file number of each section in z order, from the lsd sample's
    ``raw/raw_N.tif`` and ``labels/labels_N.tif`` under ``folder``: within each stack of
    :data:`LSD_STACKS` the sections are chained on label overlap
    (:func:`bench.data.section_order.chain_sections`)."""
    import tifffile

    from bench.data.section_order import chain_sections

    n = LSD_STACKS[-1][1]
    raw = np.stack([np.asarray(tifffile.imread(folder / "raw" / f"raw_{i}.tif"))
                    for i in range(n)])
    labels = np.stack([np.asarray(tifffile.imread(folder / "labels" / f"labels_{i}.tif"))
                       for i in range(n)])
    if raw.shape != labels.shape or raw.dtype != np.uint8 or labels.dtype.kind not in "ui":
        raise DataFormatError(f"{folder}: expected uint8 raw and integer label sections of one "
                              f"shape, got raw {raw.shape} {raw.dtype}, labels {labels.shape} "
                              f"{labels.dtype}")
    order = [start + k for start, stop in LSD_STACKS
             for k in chain_sections(labels[start:stop])]
    return raw[order], labels[order].astype(np.uint64), order


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (how the converted lsd sample is pinned)."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _convert_lsd_sample(root: Path) -> None:
    """The lsd sample's TIFFs (``lsd_sample/source``) in z order as one CREMI-format file,
    written only when its arrays have the pinned SHA-256 (a different ordering, or other
    files, fail here instead of giving a different dataset under the same name)."""
    import h5py

    from bench.data.sources import LSD_ARRAY_SHA256

    raw, labels, order = lsd_sample_arrays(root / "lsd_sample" / "source")
    for key, array in (("raw", raw), ("labels", labels)):
        got = array_sha256(array)
        if got != LSD_ARRAY_SHA256[key]:
            raise DataFormatError(
                f"lsd sample: the converted {key} array has sha256 {got}, expected "
                f"{LSD_ARRAY_SHA256[key]} (section order found: {' '.join(map(str, order))}); "
                f"nothing was written. Delete {root / 'lsd_sample' / 'source'} and fetch again")
    resolution = (40.0, 4.0, 4.0)  # not stated by the source; CREMI's, which it resembles
    with atomic_path(root / "lsd_sample" / "lsd_sample.cremi.h5") as tmp, \
            h5py.File(tmp, "w") as f:
        f.attrs["resolution"] = resolution
        f.attrs["section_files"] = order
        for key, array in (("volumes/raw", raw), ("volumes/labels/neuron_ids", labels)):
            f.create_dataset(key, data=array, compression="gzip", chunks=True)
            f[key].attrs["resolution"] = resolution


CONVERSIONS: dict[str, Callable[[Path], None]] = {
    "snemi3d": _convert_snemi3d,
    "isbi2012": _convert_isbi2012,
    "lsd_sample": _convert_lsd_sample,
}
