"""The dataset registry: name -> (info, loader, splits), like the method registry.

A dataset registers itself where it is defined::

    register_dataset("toy", DatasetInfo("a tiny volume", resolution_nm=(40, 4, 4)),
                     loader=lambda ctx: {"volume": load_volume(...)},
                     splits=FractionSplits(min_test=1, min_val=1))

and is loaded by name with :func:`bench.data.load_dataset` (which ``python -m bench run
--dataset NAME``, ``score``, ``data list`` and ``data check`` use). Packages outside the project
register through the ``emseg_bench.datasets`` entry point group: ``name = "pkg.module"`` (a
module that calls :func:`register_dataset` on import) or ``name = "pkg.module:register"`` (a
function called without arguments that does). :data:`DATASETS` is an
:class:`emseg_registry.Registry`: an unknown name raises :class:`emseg_registry.UnknownName`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

from bench.data.splits import SplitSpec, check_splits, describe_splits
from bench.data.types import Dataset, Volume
from emseg_registry import DuplicateName, Registry

#: every module of this package registers its datasets on import (a new built-in dataset is
#: one new module there, nothing else); ``data list`` shows these first, in this order
_BUILTIN_PACKAGE = "bench.data.datasets"
_BUILTIN_ORDER = tuple(f"{_BUILTIN_PACKAGE}.{m}"
                       for m in ("phantom", "cad_h5", "cremi", "snemi", "gala", "lsd",
                                 "suites"))
ENTRY_POINT_GROUP = "emseg_bench.datasets"


@dataclass(frozen=True)
class DatasetInfo:
    """What ``data list`` shows about a dataset and what ``data check`` / ``data fetch`` need.

    Attributes
    ----------
    description
        One line: modality, tissue, size.
    resolution_nm
        Voxel size (z, y, x) in nm, used when a file carries no ``resolution`` attribute.
    expected_files
        Files relative to the data root; empty for embedded or self-locating datasets (these
        are left out of ``data check``).
    splits
        Split name -> human description; derived from the registered split spec when empty.
    alternatives
        Other accepted file layouts (shown, and named in the missing-files message).
    sources
        The ``bench data fetch`` names (:mod:`bench.data.sources`) that provide the files; the
        licence and citation live there.
    name
        Set by :func:`register_dataset`.
    """

    description: str
    resolution_nm: tuple[float, float, float]
    expected_files: tuple[str, ...] = ()
    splits: Mapping[str, str] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class LoadContext:
    """What a loader is given: the dataset's info and the user's options."""

    info: DatasetInfo
    data_root: str | Path | None = None
    profile: str = "quick"
    seed: int = 0

    @property
    def name(self) -> str:
        return self.info.name

    def root(self) -> Path:
        """The data root (``--data-root``, else ``$EMSEG_BENCH_DATA``, else the user's cache
        folder that ``bench data fetch`` fills)."""
        from bench.data.fetch import resolve_data_root

        root = resolve_data_root(self.data_root)
        if root.exists() and not root.is_dir():
            raise FileNotFoundError(
                f"data root {root} is not a directory (dataset {self.name!r} expects "
                f"{', '.join(self.info.expected_files)} in it)")
        return root

    def missing(self, root: Path, missing: list[str]) -> FileNotFoundError:
        """The error for absent files: what is missing, what is expected, the accepted
        alternatives, and the command that fetches them (last, so it can be copied)."""
        from bench.data.fetch import default_data_root

        info = self.info
        alt = f"; also accepted: {', '.join(info.alternatives)}" if info.alternatives else ""
        # the default root needs no option: the command then reads exactly as a user types it
        cmd = fetch_command(self.name, None if root == default_data_root() else str(root))
        get = f"; get them with: {cmd}" if cmd else ""
        return FileNotFoundError(
            f"dataset {self.name!r}: missing {', '.join(str(root / m) for m in missing)} "
            f"(expected {', '.join(info.expected_files)} under {root}{alt}){get}")


#: a loader returns the dataset's volumes by name (the names the splits refer to)
Loader = Callable[[LoadContext], Mapping[str, Volume]]


@dataclass(frozen=True)
class DatasetEntry:
    info: DatasetInfo
    loader: Loader
    splits: SplitSpec


class _Datasets(Registry[DatasetEntry]):
    """The datasets: the modules of :data:`_BUILTIN_PACKAGE`, then the entry points."""

    def __init__(self) -> None:
        super().__init__("dataset", ENTRY_POINT_GROUP,
                         register_entry_point=lambda reg, ep, obj: _register_entry_point(ep, obj))
        self._builtins_loaded = False

    def load(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            package = importlib.import_module(_BUILTIN_PACKAGE)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                importlib.import_module(f"{_BUILTIN_PACKAGE}.{info.name}")
        super().load()  # each entry point guarded: a broken plugin is logged and skipped

    def valid_names(self) -> list[str]:
        return dataset_names()


#: name -> :class:`DatasetEntry`
DATASETS = _Datasets()


def register_dataset(name: str, info: DatasetInfo, loader: Loader,
                     splits: SplitSpec) -> DatasetEntry:
    """Register dataset ``name``.

    Parameters
    ----------
    name
        What ``--dataset`` takes; letters, digits, ``_`` and ``-`` (it becomes part of run ids).
    info
        Description, resolution, expected files, fetch sources (:class:`DatasetInfo`).
    loader
        ``loader(ctx: LoadContext) -> {volume_name: Volume}``; raises ``FileNotFoundError``
        (``ctx.missing(...)``) when files are absent.
    splits
        A :class:`bench.data.splits.SectionRanges` or :class:`bench.data.splits.FractionSplits`,
        or any callable ``splits(name, volumes) -> {"train"|"val"|"test": Split}``.
    """
    # no loading of the other modules here: a built-in module registers while bench.data is
    # still being imported; lookups (get_dataset, list_datasets) load everything first
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"dataset name {name!r}: use letters, digits, '_' and '-' only")
    if DATASETS.has(name):
        raise DuplicateName(f"dataset {name!r} is registered twice")
    if not callable(loader) or not callable(splits):
        raise TypeError(f"dataset {name!r}: loader and splits must be callable")
    from bench.data.sources import SOURCES

    unknown = [s for s in info.sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"dataset {name!r}: unknown fetch source(s) {unknown}; valid: "
                         f"{', '.join(SOURCES)}")
    info = replace(info, name=name, splits=dict(info.splits) or describe_splits(splits))
    return DATASETS.register(name, DatasetEntry(info, loader, splits))


#: suite name -> the registered datasets it stands for (``bench run --dataset SUITE``), and
#: a line about it for ``bench data list``
_SUITES: dict[str, tuple[str, ...]] = {}
_SUITE_TEXT: dict[str, str] = {}


def register_suite(name: str, datasets: tuple[str, ...], description: str = "") -> None:
    """Register ``name`` as a suite: ``bench run --dataset NAME`` runs every method on each of
    ``datasets`` in turn (each under its own split, each with its own rows)."""
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"suite name {name!r}: use letters, digits, '_' and '-' only")
    if name in _SUITES or DATASETS.has(name):
        raise ValueError(f"suite {name!r}: the name is taken")
    if not datasets:
        raise ValueError(f"suite {name!r}: name at least one dataset")
    _SUITES[name] = tuple(datasets)
    _SUITE_TEXT[name] = description


def suites() -> dict[str, tuple[tuple[str, ...], str]]:
    """Every registered suite: its datasets and its description."""
    _load_builtins()
    return {name: (members, _SUITE_TEXT[name]) for name, members in _SUITES.items()}


def expand_suite(name: str) -> list[str]:
    """The datasets of suite ``name``; ``[name]`` for anything that is not a suite. A suite
    naming an unregistered dataset is refused here, before any run."""
    _load_builtins()
    if name not in _SUITES:
        return [name]
    unknown = [d for d in _SUITES[name] if not DATASETS.has(d)]
    if unknown:
        raise KeyError(f"suite {name!r} names unregistered datasets {unknown}")
    return list(_SUITES[name])


def unregister_dataset(name: str) -> None:
    """Remove ``name`` (for tests that register a dataset of their own)."""
    DATASETS.pop(name, None)


def _load_builtins() -> None:
    DATASETS.load()


def _register_entry_point(ep: metadata.EntryPoint, target: object) -> None:
    if callable(target) and not DATASETS.has(ep.name):
        target()
    if not DATASETS.has(ep.name):
        raise ValueError(f"it did not register a dataset named {ep.name!r}")


def get_dataset(name: str) -> DatasetEntry:
    """The entry registered as ``name``; :class:`emseg_registry.UnknownName` when none is."""
    return DATASETS.get(name)


def _rank(entry: DatasetEntry) -> int:
    """Built-in datasets in the order of :data:`_BUILTIN_ORDER` (whatever order the modules
    were imported in), then every other one in the order registered."""
    module = getattr(entry.loader, "__module__", "")
    return _BUILTIN_ORDER.index(module) if module in _BUILTIN_ORDER else len(_BUILTIN_ORDER)


def _ordered() -> list[DatasetEntry]:
    return sorted(DATASETS.values(), key=_rank)  # stable: registration order within a rank


def dataset_names() -> list[str]:
    return [e.info.name for e in _ordered()]


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, the built-in ones first (the embedded phantom leading)."""
    return [e.info for e in _ordered()]


def fetch_command(dataset: str, data_root: str | None = None) -> str | None:
    """The ``bench data fetch`` command that provides dataset ``dataset``, or None."""
    entry = DATASETS.get(dataset, None)
    if entry is None or not entry.info.sources:
        return None
    root = f" --data-root {data_root}" if data_root else ""
    return f"python -m bench data fetch {' '.join(entry.info.sources)}{root}"


def build(name: str, entry: DatasetEntry, context: LoadContext) -> Dataset:
    """Load ``entry`` and cut its splits."""
    volumes = dict(entry.loader(context))
    splits = check_splits(name, entry.splits(name, volumes), volumes)
    return Dataset(name, volumes, splits, entry.info.description)
