"""Split specifications: which sections of a dataset's volumes form train, val and test.

A registered dataset names its splits declaratively with one of the two specs below, or with
any callable ``spec(dataset_name, volumes) -> {"train": Split, "val": Split, "test": Split}``.
Both specs work from the volumes' section counts as loaded, so a dataset of another length
needs no new code: :class:`SectionRanges` checks that the volume is long enough for its fixed
ranges (the CAD protocol), :class:`FractionSplits` scales with the volume (the phantom, files).
The validation split is always carved from training sections, never from test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.data.loaders import DataFormatError
from bench.data.types import Split, Volume

SPLIT_NAMES = ("train", "val", "test")

SplitSpec = Callable[[str, Mapping[str, Volume]], dict[str, Split]]


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


def _only_volume(dataset: str, volumes: Mapping[str, Volume]) -> str:
    if len(volumes) != 1:
        raise ValueError(f"dataset {dataset!r}: this split spec needs exactly one volume, the "
                         f"loader returned {sorted(volumes)}")
    return next(iter(volumes))


def source_of(volume: Volume, fallback: str) -> str:
    """The file a volume's raw array was read from (h5py arrays know it), else ``fallback``."""
    where = getattr(getattr(volume.raw, "file", None), "filename", None)
    return str(where) if where else fallback


@dataclass(frozen=True)
class FractionSplits:
    """~60 / 15 / 25 % of the consecutive sections of the dataset's one volume (test last),
    with at least ``min_test`` test and ``min_val`` validation sections."""

    min_test: int = 8
    min_val: int = 2

    def __call__(self, dataset: str, volumes: Mapping[str, Volume]) -> dict[str, Split]:
        name = _only_volume(dataset, volumes)
        return fraction_splits(name, volumes[name].shape[0], min_test=self.min_test,
                               min_val=self.min_val)

    def describe(self) -> dict[str, str]:
        return {"train": "first ~60 % of sections", "val": "next ~15 %",
                "test": f"last ~25 % (at least {self.min_test} sections)"}


@dataclass(frozen=True)
class SectionRanges:
    """Fixed section ranges ``[start, stop)`` per split; ``stop`` None = to the volume's end.

    ``ranges`` maps each split to ``(volume, start, stop)``; ``volume`` None means the
    dataset's only volume. A volume shorter than the ranges need is refused, naming the file,
    its section count and the count ``label`` (e.g. "the paper protocol") needs.
    """

    ranges: Mapping[str, tuple[str | None, int, int | None]]
    label: str = "the split"
    text: Mapping[str, str] = field(default_factory=dict)

    def _volume(self, dataset: str, volume: str | None,
                volumes: Mapping[str, Volume] | None) -> str | None:
        if volume is not None or volumes is None:
            return volume
        return _only_volume(dataset, volumes)

    def __call__(self, dataset: str, volumes: Mapping[str, Volume]) -> dict[str, Split]:
        splits = {}
        for split, (vol, start, stop) in self.ranges.items():
            vol = self._volume(dataset, vol, volumes)
            if vol not in volumes:
                raise ValueError(f"dataset {dataset!r}: split {split!r} names volume {vol!r}; "
                                 f"the loader returned {sorted(volumes)}")
            splits[split] = Split(split, vol, start, volumes[vol].shape[0] if stop is None
                                  else stop)
        for vol in dict.fromkeys(s.volume for s in splits.values()):
            n = volumes[vol].shape[0]
            need = max(s.stop if s.stop > s.start else s.start + 1
                       for s in splits.values() if s.volume == vol)
            if n < need:
                ranges = ", ".join(
                    f"{split} {start}-{'end' if stop is None else stop - 1}"
                    for split, (v, start, stop) in self.ranges.items()
                    if self._volume(dataset, v, volumes) == vol)
                raise DataFormatError(
                    f"{source_of(volumes[vol], f'dataset {dataset!r} volume {vol!r}')}: {n} "
                    f"sections; {self.label} needs {need} ({ranges})")
        return splits

    def describe(self) -> dict[str, str]:
        several = len({v for v, _, _ in self.ranges.values()}) > 1
        out = {}
        for split, (vol, start, stop) in self.ranges.items():
            where = f"{vol} " if several and vol else ""
            out[split] = self.text.get(split) or (
                f"{where}sections {start}-{stop - 1}" if stop is not None
                else f"{where}sections {start}-end")
        return out


def describe_splits(spec: Any) -> dict[str, str]:
    """Human descriptions of a split spec's splits (empty for a plain function)."""
    describe = getattr(spec, "describe", None)
    return dict(describe()) if callable(describe) else {}


def check_splits(dataset: str, splits: Mapping[str, Split],
                 volumes: Mapping[str, Volume]) -> dict[str, Split]:
    """``splits`` if it names train, val and test, each a non-empty range of a loaded volume."""
    missing = [s for s in SPLIT_NAMES if s not in splits]
    if missing:
        raise ValueError(f"dataset {dataset!r}: the split spec gave {sorted(splits)}; expected "
                         f"{', '.join(SPLIT_NAMES)}")
    for s in splits.values():
        if s.volume not in volumes or not 0 <= s.start < s.stop <= volumes[s.volume].shape[0]:
            shape = volumes[s.volume].shape if s.volume in volumes else "no such volume"
            raise ValueError(f"dataset {dataset!r}: split {s.name!r} = {s.volume}"
                             f"[{s.start}:{s.stop}] lies outside the loaded volumes ({shape})")
    return dict(splits)
