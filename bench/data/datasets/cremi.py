"""CREMI samples A, B, C: the CAD layout (``cremi/cremiX_{inputs,labels}.h5``) or the official
CREMI release (``sample_X_*.hdf``: ``volumes/raw``, ``volumes/labels/neuron_ids`` and a
``resolution`` attribute), with the CAD paper's protocol."""

from __future__ import annotations

import glob
from pathlib import Path

from bench.data.datasets.cad_h5 import CAD_PROTOCOL, load_pair
from bench.data.loaders import load_cremi_file
from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.types import Volume


def find_cremi_sample(root: Path, sample: str) -> Path | None:
    """The unpadded official file of ``sample`` under ``root`` or ``root/cremi`` (the padded
    realigned releases are a different volume and never used)."""
    hits = sorted(glob.glob(str(root / "cremi" / f"sample_{sample}_*.hdf"))
                  + glob.glob(str(root / f"sample_{sample}_*.hdf")))
    hits = [h for h in hits if "padded" not in Path(h).name]
    return Path(hits[0]) if hits else None


def _load(ctx: LoadContext) -> dict[str, Volume]:
    root = ctx.root()
    inputs, labels = ctx.info.expected_files
    vol = load_pair(ctx, root, inputs, labels, ctx.name)
    if vol is None:
        found = find_cremi_sample(root, ctx.name[-1])
        if found is not None:
            vol = load_cremi_file(found, name=ctx.name,
                                  default_resolution_nm=ctx.info.resolution_nm)
    if vol is None:
        raise ctx.missing(root, [inputs, labels])
    return {ctx.name: vol}


for _s in "ABC":
    register_dataset(
        f"cremi{_s}",
        DatasetInfo(
            f"CREMI sample {_s} (ssTEM, adult Drosophila), 125 sections",
            (40.0, 4.0, 4.0),
            (f"cremi/cremi{_s}_inputs.h5", f"cremi/cremi{_s}_labels.h5"),
            alternatives=(f"cremi/sample_{_s}_*.hdf", f"sample_{_s}_*.hdf"),
            sources=(f"cremi{_s}",),
        ),
        _load,
        CAD_PROTOCOL,
    )
