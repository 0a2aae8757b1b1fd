"""The data model shared by loaders, methods and the harness.

Arrays are ``(Z, Y, X)``; raw is uint8, labels are uint64 with 0 = background/boundary.
Arrays may be lazy (h5py / zarr datasets): slicing a :class:`Volume` slices them lazily and
:meth:`Volume.load` reads them into memory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Volume:
    raw: Any  # (Z, Y, X) uint8, numpy or lazy array
    labels: Any | None  # (Z, Y, X) uint64, 0 = background; None when unlabelled
    resolution_nm: tuple[float, float, float]
    name: str = ""
    #: optional extra arrays of the same shape (e.g. boundary probabilities, fragments)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.raw.shape)

    def sections(self, start: int, stop: int, name: str | None = None) -> Volume:
        """Sections ``[start, stop)`` along z (lazy for lazy arrays)."""
        sl = slice(start, stop)
        return Volume(
            raw=self.raw[sl],
            labels=None if self.labels is None else self.labels[sl],
            resolution_nm=self.resolution_nm,
            name=name or f"{self.name}[{start}:{stop}]",
            extras={k: v[sl] for k, v in self.extras.items()},
        )

    def load(self) -> Volume:
        """The same volume with every array read into memory as numpy."""
        return Volume(
            raw=_read(self.raw, self.name, "raw"),
            labels=None if self.labels is None else _read(self.labels, self.name, "labels"),
            resolution_nm=self.resolution_nm,
            name=self.name,
            extras={k: _read(v, self.name, k) for k, v in self.extras.items()},
        )


def _read(array: Any, volume: str, what: str) -> np.ndarray:
    """``array`` in memory; a read error of a damaged file names the file and the array (h5py's
    own message names neither)."""
    try:
        return np.asarray(array[...])
    except OSError as exc:
        where = getattr(getattr(array, "file", None), "filename", None)
        key = getattr(array, "name", None)
        source = f"{where}:{key}" if where else f"{volume} {what}"
        raise OSError(f"{source}: read failed, the file is damaged or truncated ({exc})") from None


@dataclass(frozen=True)
class Split:
    """A named, frozen range of sections ``[start, stop)`` of one of a dataset's volumes."""

    name: str  # "train", "val" or "test"
    volume: str  # key into Dataset.volumes
    start: int
    stop: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "volume": self.volume, "start": self.start, "stop": self.stop}


@dataclass
class Dataset:
    name: str
    volumes: dict[str, Volume]
    splits: dict[str, Split]
    description: str = ""

    def split(self, name: str) -> Volume:
        """The sections of split ``name`` as a (lazy) :class:`Volume`."""
        try:
            s = self.splits[name]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no split {name!r}; splits: {sorted(self.splits)}"
            ) from None
        return self.volumes[s.volume].sections(s.start, s.stop, name=f"{self.name}/{name}")

    @property
    def resolution_nm(self) -> tuple[float, float, float]:
        return next(iter(self.volumes.values())).resolution_nm

    def split_hash(self) -> str:
        """A short stable hash of the section ranges of every split (recorded with results)."""
        spec = [self.splits[k].as_dict() for k in sorted(self.splits)]
        spec_shapes = {k: list(v.shape) for k, v in sorted(self.volumes.items())}
        blob = json.dumps({"splits": spec, "shapes": spec_shapes}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
