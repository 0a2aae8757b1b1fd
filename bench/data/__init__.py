"""Datasets: the embedded synthetic EM phantom, loaders for real releases, frozen splits.

Conventions: arrays ``(Z, Y, X)``; raw uint8; labels uint64 with 0 = background/boundary;
``resolution_nm`` is (z, y, x) in nm. Every :class:`Dataset` has splits ``train``, ``val`` and
``test`` (``val`` is carved from training sections, never from test). A dataset is added with
one :func:`register_dataset` call (:mod:`bench.data.registry`).
"""

from bench.data.catalog import (
    SYNTHETIC_PROFILES,
    check_data_root,
    fraction_splits,
    list_datasets,
    load_dataset,
)
from bench.data.loaders import DataFormatError, load_cremi_file, load_volume, open_array
from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.splits import FractionSplits, SectionRanges
from bench.data.synthetic import (
    SyntheticArray,
    SyntheticParams,
    generate_synthetic,
    generate_synthetic_block,
)
from bench.data.types import Dataset, Split, Volume

__all__ = [
    "SYNTHETIC_PROFILES",
    "DataFormatError",
    "Dataset",
    "DatasetInfo",
    "FractionSplits",
    "LoadContext",
    "SectionRanges",
    "Split",
    "SyntheticArray",
    "SyntheticParams",
    "Volume",
    "check_data_root",
    "fraction_splits",
    "generate_synthetic",
    "generate_synthetic_block",
    "list_datasets",
    "load_cremi_file",
    "load_dataset",
    "load_volume",
    "open_array",
    "register_dataset",
]
