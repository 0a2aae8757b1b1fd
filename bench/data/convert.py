"""Conversions of downloaded releases into the layout the loaders read (docs/data.md).

Each takes the data root, reads what :mod:`bench.data.fetch` downloaded there and writes its
outputs atomically (a reader never sees a half-written file).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

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


CONVERSIONS: dict[str, Callable[[Path], None]] = {
    "snemi3d": _convert_snemi3d,
    "isbi2012": _convert_isbi2012,
}
