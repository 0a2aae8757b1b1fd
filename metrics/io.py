"""The one reader of volume files in the project: ``FILE[:KEY...]`` specs and a lazy opener.

Every part that reads an array from a file goes through here: the metrics command line
(``--gt``/``--seg``), the dataset loaders (:mod:`bench.data`) and the blockwise runner. It lives
in ``metrics`` because that is the lowest layer (it imports nothing of ``bench``), so all of them
can use it.

Containers: HDF5 (``.h5``, ``.hdf``, ``.hdf5``, ``.cremi``) and zarr (a ``.zarr`` directory, v2
or v3) are opened lazily; TIFF stacks (``.tif``/``.tiff``) are read whole (a single 2D page
becomes one section); ``.npy`` is memory-mapped (never unpickled).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

HDF5_SUFFIXES = (".h5", ".hdf", ".hdf5", ".cremi")
ZARR_SUFFIXES = (".zarr",)
TIFF_SUFFIXES = (".tif", ".tiff")
NPY_SUFFIXES = (".npy",)
#: every container suffix a spec's path may end with
SUFFIXES = HDF5_SUFFIXES + ZARR_SUFFIXES + TIFF_SUFFIXES + NPY_SUFFIXES
#: dataset tried first when no key is given (CREMI layout)
DEFAULT_KEYS = ("volumes/labels/neuron_ids", "labels", "segmentation", "seg", "gt")


class DataFormatError(ValueError):
    """A data file exists but does not hold what the benchmark expects."""


def split_spec(spec: str | Path) -> tuple[Path, tuple[str, ...]]:
    """Split ``FILE[:KEY[:KEY...]]`` into the file and its keys.

    The file part ends at the first container suffix followed by ``:`` (so keys may hold
    ``/`` and the path may hold ``:`` before it); a spec naming an existing path is that path
    with no keys; otherwise a spec with an unknown suffix splits at its last ``:``. An empty
    key (``a.h5:``) is kept as ``""`` so callers can tell "no key" from "empty key".

    >>> split_spec("a.h5:volumes/raw:volumes/labels")
    (PosixPath('a.h5'), ('volumes/raw', 'volumes/labels'))
    """
    spec = str(spec)
    if Path(spec).exists():
        return Path(spec), ()
    lowered = spec.lower()
    hits = [i + len(suffix) for suffix in SUFFIXES
            if (i := lowered.find(suffix + ":")) >= 0]
    if hits:
        end = min(hits)
        return Path(spec[:end]), tuple(spec[end + 1:].split(":"))
    if ":" in spec:
        path, key = spec.rsplit(":", 1)
        return Path(path), (key,)
    return Path(spec), ()


def _is_zarr_folder(path: Path) -> bool:
    return path.is_dir() and any((path / marker).exists()
                                 for marker in (".zgroup", "zarr.json", ".zarray"))


def container_kind(path: Path, what: str = "") -> str:
    """``"h5"``, ``"zarr"``, ``"tif"`` or ``"npy"`` for ``path``; a clear error otherwise."""
    name = path.name.lower()
    if path.is_dir():
        if not (name.endswith(ZARR_SUFFIXES) or _is_zarr_folder(path)):
            raise DataFormatError(f"{what}{path}: is a folder, not a file; expected an HDF5, "
                                  "TIFF or .npy file, or a zarr folder (.zarr)")
        if name.endswith((*HDF5_SUFFIXES, *TIFF_SUFFIXES, *NPY_SUFFIXES)):
            raise DataFormatError(
                f"{what}{path}: is a zarr folder named like a file; rename it to end in .zarr "
                f"(e.g. {path.with_suffix('.zarr').name}), or give the file itself")
        return "zarr"
    if name.endswith(HDF5_SUFFIXES):
        return "h5"
    if name.endswith(TIFF_SUFFIXES):
        return "tif"
    if name.endswith(NPY_SUFFIXES):
        return "npy"
    if name.endswith(ZARR_SUFFIXES) or _is_zarr_folder(path):
        return "zarr"
    raise DataFormatError(
        f"{what}{path}: unknown format; expected HDF5 ({', '.join(HDF5_SUFFIXES)}), zarr (.zarr), "
        f"TIFF ({', '.join(TIFF_SUFFIXES)}) or .npy")


def open_h5(path: str | Path, what: str = ""):
    """``h5py.File(path, "r")``, with an error naming the file when it is not readable HDF5
    (zero bytes, truncated, corrupt, or another format)."""
    import h5py

    path = Path(path)
    if path.is_dir():
        raise DataFormatError(
            f"{what}{path}: is a folder{' (a zarr store)' if _is_zarr_folder(path) else ''}, "
            "not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:  # h5py's message names neither the file nor the option
        if not path.exists():
            raise FileNotFoundError(f"{what}{path}: file not found") from None
        raise DataFormatError(
            f"{what}{path}: cannot be read as HDF5 ({path.stat().st_size} bytes; corrupt, "
            f"truncated or not an HDF5 file): {exc}") from None


def refuse_virtual(dataset: Any, where: str) -> None:
    """Refuse an HDF5 virtual dataset, as external links are refused: it reads other files
    (which a link to them would not have been allowed to), and one whose source file is gone
    reads as its fill value, a blank volume, without any error."""
    if getattr(dataset, "is_virtual", False):
        try:
            sources = sorted({str(s.file_name) for s in dataset.virtual_sources()})
        except Exception:  # a damaged mapping: the refusal stands without the list
            sources = []
        raise DataFormatError(
            f"{where}: is an HDF5 virtual dataset (it reads "
            f"{', '.join(sources) or 'other files'}); virtual datasets and external links are "
            "not followed: copy the data into the file (e.g. h5py: f2[key] = f[key][...])")


def _pick_key(keys: list[str], key: str | None, default_keys: tuple[str, ...] | None,
              path: Path, what: str) -> str:
    if key is not None:
        if key.strip("/") not in keys:
            raise KeyError(f"{what}{path}: no array {key!r}; arrays in the file: "
                           f"{', '.join(keys) or 'none'}")
        return key
    if default_keys is None:
        raise DataFormatError(f"{what}{path}: an array key is needed (e.g. 'main' or "
                              f"'volumes/raw'); arrays in the file: {', '.join(keys) or 'none'}")
    for k in default_keys:
        if k in keys:
            return k
    if len(keys) == 1:
        return keys[0]
    raise DataFormatError(f"{what}{path}: holds several arrays, say which one as FILE:KEY; "
                          f"arrays: {', '.join(keys)}")


def _attrs_along(root: Any, key: str) -> dict[str, Any]:
    """The attributes of the root, of every group on the way to ``key`` and of the array
    itself, merged so that the innermost wins (a ``resolution`` stored on any is found)."""
    attrs = dict(root.attrs)
    parts = key.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        attrs.update(dict(root["/".join(parts[:depth])].attrs))
    return attrs


def open_array(path: str | Path, key: str | None = None, *,
               default_keys: tuple[str, ...] | None = None,
               what: str = "") -> tuple[Any, dict[str, Any]]:
    """Open array ``key`` of the file ``path`` lazily; return ``(array, attributes)``.

    Parameters
    ----------
    path
        HDF5, zarr, TIFF or ``.npy`` file.
    key
        The array inside an HDF5 file or zarr group (ignored for TIFF and ``.npy``).
    default_keys
        When ``key`` is None: the keys tried in turn, then the only array of the file. None
        (the default) requires a key.
    what
        Prefix of every error message (e.g. ``"--gt: "``), naming the option the file came from.

    Returns
    -------
    array, attributes
        The array (h5py / zarr arrays stay lazy, the file stays open for them) and the merged
        attributes of the container, its groups and the array (innermost wins).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what}{path}: file not found")
    kind = container_kind(path, what)
    if kind == "tif":
        import tifffile

        arr = np.asarray(tifffile.imread(path))
        return (arr[None] if arr.ndim == 2 else arr), {}
    if kind == "npy":
        return np.load(path, mmap_mode="r", allow_pickle=False), {}
    if kind == "h5":
        import h5py

        f = open_h5(path, what)
        keys: list[str] = []
        f.visititems(lambda n, o: keys.append(n) if isinstance(o, h5py.Dataset) else None)
        try:
            name = _pick_key(keys, key, default_keys, path, what)
            refuse_virtual(f[name], f"{what}{path}:{name}")
        except (KeyError, ValueError):
            f.close()
            raise
        return f[name], _attrs_along(f, name)  # the open file serves the lazy reads
    import zarr

    node = zarr.open(str(path), mode="r")
    if not isinstance(node, zarr.Group):
        if key:
            raise DataFormatError(f"{what}{path}: is a single zarr array; drop the :{key}")
        return node, dict(node.attrs)
    top = list(node.array_keys())
    if key is None:
        name = _pick_key(top, None, default_keys, path, what)
    else:
        name = key.strip("/")
        if not isinstance(node.get(name), zarr.Array):
            raise KeyError(f"{what}{path}: no array {key!r}; arrays at the top level: "
                           f"{', '.join(top) or 'none'}")
    return node[name], _attrs_along(node, name)


def resolution_of(attrs: dict[str, Any]) -> tuple[float, float, float] | None:
    """The ``resolution`` (or ``resolution_nm``) attribute as (z, y, x) nm, None if absent."""
    for name in ("resolution", "resolution_nm"):
        if name in attrs:
            res = tuple(float(v) for v in np.asarray(attrs[name]).ravel())
            if len(res) == 3:
                return res
    return None


def open_labels(spec: str, stack: ExitStack, name: str = "--gt"):
    """Open the label volume ``spec`` (``FILE[:KEY]``) given as option ``name``; returns
    ``(array, resolution_nm or None)``. HDF5 files close with ``stack``."""
    path, keys = split_spec(spec)
    if len(keys) > 1:
        raise ValueError(f"{name}: {spec!r} names {len(keys)} keys; expected FILE[:KEY]")
    if not path.exists():
        raise FileNotFoundError(f"{name}: {path} does not exist")
    arr, attrs = open_array(path, (keys[0] or None) if keys else None, default_keys=DEFAULT_KEYS,
                            what=f"{name}: ")
    file = getattr(arr, "file", None)
    if file is not None and hasattr(file, "close"):  # h5py: close with the caller's stack
        stack.callback(file.close)
    return arr, resolution_of(attrs)
