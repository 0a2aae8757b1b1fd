"""The CAD code's file layout: ``<dir>/<name>_inputs.h5`` and ``<dir>/<name>_labels.h5``, each
with key ``main`` (also read as ``.tif`` stacks of the same stems), and the CAD paper's split
protocol. Registers ``wafer4``; :mod:`cremi` and :mod:`snemi` read this layout first."""

from __future__ import annotations

from pathlib import Path

from bench.data.loaders import load_volume
from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.splits import SectionRanges
from bench.data.types import Volume

#: the CAD paper's protocol for a 125-section volume: test = the last 25 sections
CAD_PROTOCOL = SectionRanges(
    {"train": (None, 0, 90), "val": (None, 90, 100), "test": (None, 100, 125)},
    label="the paper protocol")


def load_pair(ctx: LoadContext, root: Path, rel_inputs: str, rel_labels: str,
              vol_name: str) -> Volume | None:
    """A CAD-layout pair (key ``main``), or the same stems as TIFF; None when both absent."""
    for suffix in (".h5", ".tif", ".tiff"):
        inp = (root / rel_inputs).with_suffix(suffix)
        lab = (root / rel_labels).with_suffix(suffix)
        if inp.exists() or lab.exists():
            missing = [str(p.relative_to(root)) for p in (inp, lab) if not p.exists()]
            if missing:
                raise ctx.missing(root, missing)
            key = "main" if suffix == ".h5" else None
            return load_volume(inp, key, lab, key, name=vol_name,
                               default_resolution_nm=ctx.info.resolution_nm)
    return None


def load_single(ctx: LoadContext) -> dict[str, Volume]:
    """The dataset's one CAD-layout pair (``expected_files`` = inputs, labels)."""
    root = ctx.root()
    inputs, labels = ctx.info.expected_files
    vol = load_pair(ctx, root, inputs, labels, ctx.name)
    if vol is None:
        raise ctx.missing(root, [inputs, labels])
    return {ctx.name: vol}


register_dataset(
    "wafer4",
    DatasetInfo(
        "Wafer4 multi-beam SEM, mouse olfactory cortex (CAD paper), 125 sections",
        (35.0, 8.0, 8.0),
        ("wafer4/wafer4_inputs.h5", "wafer4/wafer4_labels.h5"),
        sources=("wafer4",),
    ),
    load_single,
    CAD_PROTOCOL,
)
